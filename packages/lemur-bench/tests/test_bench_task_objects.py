"""Task specs hold the objects that run them (environment, action format, scorer, each with
its options) and the runner calls them; the run's scoring mode reaches every episode record."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from lemur_bench import RunConfig, read_episodes, run_suite, runner
from lemur_bench.envs import AgentEnv, Mint, SingleTurn
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_bench.formats import CodeBlocks, MintReplies
from lemur_bench.registry import TASKS, get_task
from lemur_bench.scorers import SCORERS


def test_every_task_holds_env_format_and_registered_scorer_objects() -> None:
    for spec in TASKS:
        assert isinstance(spec.environment, SingleTurn | Mint | AgentEnv), spec.name
        assert spec.env == spec.environment.env_id
        assert spec.scorer is None or SCORERS[spec.scorer.name].name == spec.scorer.name
        if isinstance(spec.environment, SingleTurn | Mint):
            assert spec.scorer is not None, spec.name  # the bench's own envs need a scorer
        if spec.prompt_format == "mint":
            assert isinstance(spec.environment, Mint) and isinstance(
                spec.action_format, MintReplies
            )


def test_mint_tools_and_scorers_come_from_the_spec_not_from_its_prose() -> None:
    assert get_task("mint-hotpotqa").environment == Mint(tools=("wikipedia_search",))
    assert get_task("mint-gsm8k").environment == Mint()
    assert get_task("mint-mmlu").scorer.name == "mint_choice"  # type: ignore[union-attr]
    assert get_task("mint-theoremqa").scorer.name == "mint_theoremqa"  # type: ignore[union-attr]
    assert get_task("mint-humaneval").scorer.name == "mint_code"  # type: ignore[union-attr]
    assert get_task("intercode-ctf").action_format == CodeBlocks(
        ("bash", "sh", "python"), keep_fence_for=("python",)
    )
    source = inspect.getsource(runner)
    assert "paper_setting" not in source and "spec.env ==" not in source


def test_the_runs_scoring_mode_is_recorded_in_every_episode(fixtures: Path, tmp_path: Path) -> None:
    model = f"scripted:{fixtures / SCRIPT_NAME}"
    for mode in ("mint", "corrected"):
        out = tmp_path / mode
        run_suite(
            "mint-gsm8k,mint-mmlu,gsm8k",
            model,
            out,
            tasks_dir=fixtures,
            scoring_mode=mode,  # type: ignore[arg-type]
            progress=False,
        )
        records = read_episodes(out / "episodes.jsonl")
        assert records and all(r.info["scoring_mode"] == mode for r in records)
        assert json.loads((out / "run_config.json").read_text())["scoring_mode"] == mode


def test_a_run_config_pinned_with_mint_mode_reads_as_its_scoring_mode() -> None:
    old = {"suite": "tools", "model": "scripted:x.json", "mint_mode": "exact"}
    assert RunConfig.model_validate(old).scoring_mode == "corrected"
    assert RunConfig.model_validate({**old, "mint_mode": "mint"}).scoring_mode == "mint"
