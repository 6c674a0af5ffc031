"""The eval stage's speed knobs (threads, batch size) reach the local models and are transport:
changing them never makes another report."""

from __future__ import annotations

from pathlib import Path

from lemur_agents.models.spec import HFSpec

from lemur.eval_stage import EVAL, EvalConfig, EvalModel


def _config(**fields: object) -> EvalConfig:
    models = (EvalModel(name="chat", spec="stage:sft"), EvalModel(name="x", spec="hf:/m#threads=3"))
    return EvalConfig.model_validate({"suite": "mmlu", "models": models, **fields})


def test_threads_and_batch_size_are_not_part_of_the_report_identity() -> None:
    base = _config()
    tuned = _config(threads=2, batch_size=16, concurrency=32)
    assert base.identity() == tuned.identity()
    assert base.identity() != _config(limit_per_task=3).identity()


def test_recipe_models_get_the_stage_threads_and_batch_size_explicit_specs_keep_theirs(
    tmp_path: Path,
) -> None:
    config = _config(threads=1, batch_size=16)
    own = EVAL.model_spec(config.models[0], {"sft": tmp_path}, config)
    assert isinstance(own, HFSpec)
    assert (own.path, own.speed.threads, own.speed.batch_size) == (str(tmp_path), 1, 16)
    given = EVAL.model_spec(config.models[1], {}, config)
    assert isinstance(given, HFSpec) and given.speed.threads == 3  # the spec's own #threads=3
