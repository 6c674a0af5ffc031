"""The bench's own environments, and the environment objects a task spec holds.

* :class:`SingleTurnEnv` — a Table-3 benchmark (MMLU, GSM8K, HumanEval, ...) as a one-turn
  episode: the observation is the formatted prompt, the action is the model's answer, the
  reward is the task's scorer. So single-turn benchmarks run through the same runner, cache,
  resume and records as the agent benchmarks.
* :class:`MintEnv` — MINT's ``GeneralEnv`` for its reasoning tasks (GSM8K, MATH, TheoremQA,
  HotpotQA, MMLU) and code tasks (HumanEval, MBPP): the raw reply is parsed in the run's scoring
  mode (:class:`~lemur_agents.actions.MintTagMapper`); ``<execute>`` runs code in lemur-agents'
  persistent sandboxed :class:`~lemur_agents.sandbox.PythonSession`, ``<solution>`` is judged by
  the task's scorer, anything else gets MINT's format hint. The accounting is MINT's: proposals,
  tool uses and invalid replies each cost a step; the episode ends on a correct solution, at
  ``max_propose`` proposals (MINT's 2) or at ``max_steps`` steps; observations read as MINT's
  (``Your answer is wrong.``, ``You have N steps left and M chances to propose solution
  left.``, ``You should take the last step to propose a solution.``).

The environment objects (:class:`SingleTurn`, :class:`Mint`, :class:`AgentEnv` and its
variants) are what :class:`~lemur_bench.registry.TaskSpec` holds: each knows its gymnasium id
and builds, for a run, either a zero-argument env factory or ``(env id, kwargs)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lemur_agents.actions import MINT_FORMAT_HINT, MintParseError, MintTagMapper
from lemur_agents.envs.base import EnvTask, TextTaskEnv
from lemur_agents.sandbox import PythonSession, SandboxLimits

from lemur_bench.scorers import ScoringMode, TaskScorer

if TYPE_CHECKING:
    from lemur_bench.loaders.base import BenchTask


class BenchEnvTask(EnvTask):
    """An env task that carries the bench task it came from."""

    task: Any  # a BenchTask (typed loosely: the loaders import this module's users)


def env_tasks(tasks: Sequence[BenchTask], render: Callable[[BenchTask], str]) -> list[BenchEnvTask]:
    """Wrap bench tasks for the envs, with the instruction rendered by ``render``."""
    return [BenchEnvTask(task_id=t.task_id, instruction=render(t), task=t) for t in tasks]


class SingleTurnEnv(TextTaskEnv[BenchEnvTask]):
    """One prompt, one answer, scored (see the module docstring)."""

    engine = "lemur-bench single-turn scorer"
    isolation = "sandboxed execution for code scorers"

    def __init__(
        self,
        tasks: Sequence[BenchEnvTask],
        *,
        scorer: TaskScorer,
        data_root: Path | None = None,
    ) -> None:
        super().__init__(tasks, max_turns=1)
        self.scorer = scorer
        self.data_root = data_root

    def _start(self, task: BenchEnvTask) -> str:
        return task.instruction

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self.task is not None
        reference = self.scorer.reference_of(self.task.task, data_root=self.data_root)
        result = self.scorer.score(action, reference)
        return (
            "correct" if result.correct else "incorrect",
            result.score,
            True,
            {
                "success": result.correct,
                "score_details": result.details,
                "scoring_mode": self.scorer.mode,
            },
        )


# MINT's REPL cuts long outputs here and says so.
MINT_OUTPUT_CHARS = 2000


class MintEnv(TextTaskEnv[BenchEnvTask]):
    """MINT's interaction rules for one task (see the module docstring)."""

    engine = "MINT GeneralEnv rules, lemur-agents Python session"

    def __init__(
        self,
        tasks: Sequence[BenchEnvTask],
        *,
        scorer: TaskScorer,
        max_steps: int = 5,
        max_propose: int = 2,
        tools: Mapping[str, Callable[..., Any]] | None = None,
        limits: SandboxLimits | None = None,
    ) -> None:
        super().__init__(tasks, max_turns=max_steps)
        self.scorer = scorer
        self.mode: ScoringMode = scorer.mode
        self.max_steps = max_steps
        self.max_propose = max_propose
        self.tools = dict(tools or {})
        self.limits = limits or SandboxLimits(wall_seconds=30)
        self.mapper = MintTagMapper(self.mode)
        self._session: PythonSession | None = None
        self.counts = {"propose_solution": 0, "use_tool": 0, "invalid_action": 0}
        self.isolation = "not started"
        self._session_restarted = False

    def _start(self, task: BenchEnvTask) -> str:
        self._close_session()
        self.counts = dict.fromkeys(self.counts, 0)
        return task.instruction

    def _session_for_turn(self) -> PythonSession:
        if self._session is None:
            self._session = PythonSession(self.limits, tools=self.tools)
            self.isolation = self._session.sandbox.isolation_level
        return self._session

    def _run_code(self, code: str) -> str:
        out = self._session_for_turn().run(code)
        # A restarted session lost the episode's state; the turn record must say so.
        self._session_restarted = out.restarted
        text = (out.stdout + out.stderr).strip() or "[Executed Successfully with No Output]"
        if len(text) > MINT_OUTPUT_CHARS:
            text = text[:MINT_OUTPUT_CHARS] + "...\n[Output Truncated]"
        return text

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self.task is not None
        observation: str | None
        success = False
        info: dict[str, Any] = {"scoring_mode": self.mode}
        try:
            parsed = self.mapper.parse(action)
        except MintParseError as exc:
            # MINT counts a reply holding "<solution>" as a proposal even when it fails to parse.
            self.counts["propose_solution" if exc.kind == "solution" else "invalid_action"] += 1
            observation = MINT_FORMAT_HINT
            info.update(kind=exc.kind, valid=False)
        else:
            info.update(kind=parsed.kind, valid=True)
            if parsed.kind == "solution":
                self.counts["propose_solution"] += 1
                reference = self.scorer.reference_of(self.task.task)
                result = self.scorer.score(parsed.content, reference)
                success = result.correct
                info["score_details"] = result.details
                observation = None  # MINT then says "Your answer is wrong."
            else:
                self.counts["use_tool"] += 1
                observation = self._run_code(parsed.content)
                info["session_restarted"] = self._session_restarted
        steps_left = self.max_steps - sum(self.counts.values())
        proposals_left = self.max_propose - self.counts["propose_solution"]
        done = success or proposals_left <= 0 or steps_left <= 0
        info.update(success=success, mint_counts=dict(self.counts))
        return (
            self._observation(observation, steps_left, proposals_left),
            float(success),
            done,
            info,
        )

    @staticmethod
    def _observation(observation: str | None, steps_left: int, proposals_left: int) -> str:
        # MINT's StepOutput.to_str without its leading "Observation:\n" (the loop adds it).
        text = f"{observation}\n" if observation is not None else "Your answer is wrong.\n"
        text += (
            f"You have {steps_left} steps left and {proposals_left} chances to propose solution "
            "left.\n"
        )
        if steps_left <= 1:
            text += "You should take the last step to propose a solution.\n"
        return text

    def _close_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def close(self) -> None:
        """Stop the Python session."""
        self._close_session()
        super().close()


# ---------------------------------------------------------------- env objects of task specs


@dataclass(frozen=True)
class EnvContext:
    """What a run tells an environment object: the task file, the scoring mode, deployment
    settings. ``render`` formats a task's first message in the spec's prompt format."""

    scoring_mode: ScoringMode = "mint"
    path: Path | None = None
    tasks_dir: Path | None = None
    site_urls: Mapping[str, str] = field(default_factory=dict)
    auth_dir: str | None = None
    judge_model: str | None = None


EnvBuild = Callable[[], Any] | tuple[str, dict[str, Any]] | None


@dataclass(frozen=True)
class SingleTurn:
    """The bench's one-turn env, scored by the spec's scorer."""

    env_id: str = "lemur_bench/SingleTurn-v0"

    def build(
        self,
        tasks: Sequence[BenchEnvTask],
        *,
        scorer: TaskScorer | None,
        max_turns: int,
        ctx: EnvContext,
    ) -> EnvBuild:
        """A factory of :class:`SingleTurnEnv` over ``tasks``."""
        if scorer is None:
            raise ValueError("a single-turn task needs a scorer")
        mode_scorer = scorer.with_mode(ctx.scoring_mode)
        root = ctx.path.parent if ctx.path is not None else None
        return lambda: SingleTurnEnv(tasks, scorer=mode_scorer, data_root=root)


@dataclass(frozen=True)
class Mint:
    """MINT's env (:class:`MintEnv`); ``tools`` names the functions its Python session gets
    (``wikipedia_search`` reads ``wiki/pages.jsonl`` of the tasks directory)."""

    tools: tuple[str, ...] = ()
    max_propose: int = 2
    env_id: str = "lemur_bench/Mint-v0"

    def build(
        self,
        tasks: Sequence[BenchEnvTask],
        *,
        scorer: TaskScorer | None,
        max_turns: int,
        ctx: EnvContext,
    ) -> EnvBuild:
        """A factory of :class:`MintEnv` over ``tasks``, judged in the run's scoring mode."""
        if scorer is None:
            raise ValueError("a MINT task needs a scorer")
        mode_scorer = scorer.with_mode(ctx.scoring_mode)
        tools = _tools(self.tools, ctx.tasks_dir)
        return lambda: MintEnv(
            tasks,
            scorer=mode_scorer,
            max_steps=max_turns,
            max_propose=self.max_propose,
            tools=tools,
        )


def _tools(names: tuple[str, ...], tasks_dir: Path | None) -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = {}
    if "wikipedia_search" in names:
        from lemur_agents.tools import LocalIndex, WikipediaSearch

        pages = tasks_dir / "wiki" / "pages.jsonl" if tasks_dir else None
        if pages is not None and pages.exists():
            out["wikipedia_search"] = WikipediaSearch(LocalIndex.from_jsonl(pages)).search
    return out


@dataclass(frozen=True)
class AgentEnv:
    """A lemur-agents gymnasium env reading the task file (``tasks_path``) itself."""

    env_id: str

    def kwargs(self, path: Path, max_turns: int, ctx: EnvContext | None = None) -> dict[str, Any]:
        """``gymnasium.make`` keyword arguments for the task file at ``path``."""
        return {"config": {"tasks_path": str(path), "max_turns": max_turns}}

    def build(
        self,
        tasks: Sequence[BenchEnvTask],
        *,
        scorer: TaskScorer | None,
        max_turns: int,
        ctx: EnvContext,
    ) -> EnvBuild:
        """``(env id, kwargs)``; ``None`` when there is no local task file to read."""
        if ctx.path is None:
            return None
        return (self.env_id, self.kwargs(ctx.path, max_turns, ctx))


@dataclass(frozen=True)
class InterCodeCtf(AgentEnv):
    """InterCode-CTF: the task files live in ``task_assets/`` beside the task list."""

    env_id: str = "lemur/CTF-v0"

    def kwargs(self, path: Path, max_turns: int, ctx: EnvContext | None = None) -> dict[str, Any]:
        """Adds ``files_root`` when InterCode's ``task_assets`` directory is there."""
        out = super().kwargs(path, max_turns, ctx)
        if (path.parent / "task_assets").is_dir():
            out["config"]["files_root"] = str(path.parent / "task_assets")
        return out


@dataclass(frozen=True)
class InterCodeSql(AgentEnv):
    """InterCode-SQL: the databases as a directory or InterCode's SQL dump beside the tasks."""

    env_id: str = "lemur/SQL-v0"

    def kwargs(self, path: Path, max_turns: int, ctx: EnvContext | None = None) -> dict[str, Any]:
        """Adds ``databases_dir`` or ``dump_path`` when present."""
        out = super().kwargs(path, max_turns, ctx)
        dbs, dump = path.parent / "databases", path.parent / "ic_spider_dbs.sql"
        if dbs.is_dir():
            out["config"]["databases_dir"] = str(dbs)
        elif dump.exists():
            out["config"]["dump_path"] = str(dump)
        return out


@dataclass(frozen=True)
class WebArenaEnv(AgentEnv):
    """The web env: the run's WebArena deployment (site URLs, login states)."""

    env_id: str = "lemur/Web-v0"

    def kwargs(self, path: Path, max_turns: int, ctx: EnvContext | None = None) -> dict[str, Any]:
        """Adds ``site_urls`` and ``auth_dir`` from the run."""
        out = super().kwargs(path, max_turns, ctx)
        if ctx is not None:
            out["config"]["site_urls"] = dict(ctx.site_urls)
            if ctx.auth_dir is not None:
                out["config"]["auth_dir"] = ctx.auth_dir
            if ctx.judge_model is not None:
                out["config"]["judge_model"] = ctx.judge_model
        return out


@dataclass(frozen=True)
class Alfworld(AgentEnv):
    """ALFWorld: the real games when ``TASKS_DIR/alfworld`` holds them, else the stand-in.

    What is on disk decides (:mod:`lemur_bench.loaders.alfworld`): the stand-in's
    ``alfworld/tasks.json`` is read by ``env_id`` (lemur-agents' offline ``lemur/Household-v0``)
    like any task file; ALFWorld's own game files are played by ``games_env_id``
    (``lemur/ALFWorld-v0``, TextWorld's engine) in MINT's setting, with MINT's game order when
    its ``gamefile_id.txt`` is there. The env id in the build is what every episode record
    names, so a run says which of the two it played.
    """

    env_id: str = "lemur/Household-v0"
    games_env_id: str = "lemur/ALFWorld-v0"
    games_dir: str = "alfworld"

    def build(
        self,
        tasks: Sequence[BenchEnvTask],
        *,
        scorer: TaskScorer | None,
        max_turns: int,
        ctx: EnvContext,
    ) -> EnvBuild:
        """The stand-in's ``(env id, kwargs)`` when its task file was read, else the games'
        (after checking TextWorld's engine is installed: one line saying how if not)."""
        if ctx.path is not None:
            return super().build(tasks, scorer=scorer, max_turns=max_turns, ctx=ctx)
        from lemur_bench.loaders.alfworld import find_games, require_engine

        root = ctx.tasks_dir / self.games_dir if ctx.tasks_dir is not None else None
        games = find_games(root)
        if games is None:
            return None
        require_engine(games)
        return (self.games_env_id, games.env_kwargs(max_turns))


Environment = SingleTurn | Mint | AgentEnv
