"""Specification of the corpus config: YAML one to one, errors naming fields, presets."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from lemur_core.config import ConfigError
from lemur_data.corpus import CorpusConfig, estimate_corpus


def test_yaml_round_trip_is_exact(tmp_path: Path) -> None:
    config = CorpusConfig.tiny()
    path = tmp_path / "corpus.yaml"
    path.write_text(config.to_yaml())
    assert CorpusConfig.from_yaml(path) == config


def test_errors_name_the_field_before_any_work() -> None:
    data = CorpusConfig.tiny().model_dump(mode="json")
    data["sources"][1]["weight"] = -1
    with pytest.raises(ConfigError, match=r"sources\.1\.weight"):
        CorpusConfig.from_mapping(data)
    data = CorpusConfig.tiny().model_dump(mode="json")
    data["pack"]["seq_lenn"] = 3
    with pytest.raises(
        ConfigError, match=r"unknown field 'pack\.seq_lenn' \(did you mean 'seq_len'\?\)"
    ):
        CorpusConfig.from_mapping(data)


def test_unknown_language_and_preset_suggest_the_right_name() -> None:
    with pytest.raises(ConfigError, match="did you mean 'python'"):
        CorpusConfig.from_mapping(
            {
                "sources": [
                    {
                        "name": "a",
                        "type": "code",
                        "kind": "files",
                        "weight": 1,
                        "paths": ["x"],
                        "language": "pyhton",
                    }
                ]
            }
        )
    with pytest.raises(ConfigError, match="did you mean 'lemur-v1'"):
        CorpusConfig.preset("lemur-v2")


def test_missing_reader_field_is_an_error() -> None:
    with pytest.raises(ConfigError, match="needs 'dataset'"):
        CorpusConfig.from_mapping(
            {"sources": [{"name": "a", "type": "text", "kind": "hf", "weight": 1}]}
        )


def test_lemur_v1_is_paper_table_8() -> None:
    config = CorpusConfig.preset("lemur-v1")
    shares = config.target_shares()
    code = sum(shares[s.name] for s in config.sources if s.type == "code")
    assert abs(code - 0.909) < 0.005
    assert abs(shares["python"] - 0.7273) < 0.003
    assert config.mix.token_budget == 90_000_000_000
    assert config.executor.kind == "slurm"
    estimate = estimate_corpus(config)
    assert abs(float(estimate["epochs:python"]) - 2.98) < 0.05


def test_tiny_estimate_measures_the_stdlib_on_disk() -> None:
    estimate = estimate_corpus(CorpusConfig.tiny())
    assert float(estimate["input_bytes"]) > 1e6
    assert float(estimate["output_tokens"]) > 0


def test_lemur_v1_stages_form_a_slurm_dependency_chain(tmp_path: Path) -> None:
    from lemur_data.corpus import corpus_stages
    from lemur_data.corpus.build import slurm_chain

    config = CorpusConfig.preset("lemur-v1")
    stages = corpus_stages(config, tmp_path / "artifact", tmp_path, None)
    assert [(name, tasks) for name, _, tasks in stages] == [
        ("1-prepare", 2000),
        ("2-lsh-buckets", config.dedup.bands),
        ("3-dedup-clusters", 1),
        ("4-tokenizer", 1),
        ("5-tokenize", 2000),
        ("6-mix", 1),
        ("7-pack", 2000),
        ("8-finalize", 1),
    ]
    chain = slurm_chain(config, stages, tmp_path)
    assert len(chain) == len(stages)
    assert all(later.depends is earlier for earlier, later in itertools.pairwise(chain))
    assert chain[0].partition == "cpu" and chain[0].tasks == 2000


def test_a_yaml_preset_with_overrides_deep_merges(tmp_path: Path) -> None:
    # The same dialect as every stage: the preset, then nested keys merged onto it.
    path = tmp_path / "corpus.yaml"
    path.write_text("preset: tiny\npack:\n  seq_len: 128\n")
    config = CorpusConfig.from_yaml(path)
    tiny = CorpusConfig.tiny()
    assert config.pack.seq_len == 128
    assert config.pack.rows_per_shard == tiny.pack.rows_per_shard
    assert config.sources == tiny.sources


def test_cli_show_config_prints_the_preset_with_overrides() -> None:
    import yaml
    from lemur_data.cli import app
    from typer.testing import CliRunner

    out = CliRunner().invoke(
        app, ["corpus", "show-config", "tiny", "--set", "sources.0.max_documents=5"]
    )
    assert out.exit_code == 0, out.output
    shown = CorpusConfig.model_validate(yaml.safe_load(out.output))
    assert shown == CorpusConfig.tiny().with_overrides(["sources.0.max_documents=5"])
    assert shown.sources[0].max_documents == 5
    bad = CliRunner().invoke(app, ["corpus", "estimate", "tiny", "--set", "mix.sede=1"])
    assert bad.exit_code == 2
    assert bad.output.strip().splitlines() == [
        "error: --set mix.sede: unknown field 'mix.sede' (did you mean 'mix.seed'?); "
        "MixConfig has: token_budget, seed, share_tolerance"
    ]
