"""The task registry: every benchmark of the paper as a typed, frozen spec, grouped into suites.

A :class:`TaskSpec` says where the data comes from (a Hugging Face dataset by name, or a path
relative to a tasks directory, optionally pinned by sha256), how the prompt is formatted (shots,
chain of thought), how many turns it gets and whether feedback is given, and it holds the
objects that run it: the environment (:mod:`lemur_bench.envs`: ``SingleTurn``, ``Mint``,
``AgentEnv`` ...), the action format (:mod:`lemur_bench.formats`) and the scorer
(:mod:`lemur_bench.scorers`; ``None`` when the environment's reward decides), each with its own
options, so the runner calls them instead of branching on names. Suites are named after the paper's tables: ``text`` and ``code``
(Table 3), ``tools`` (Table 4), ``self-debug`` (Table 5), ``nl-feedback`` (Table 6), ``explore``
(Table 7), and ``all``.

``get_task(name)`` and ``suite_tasks(suite)`` are the lookups; unknown names raise with the
closest known name.
"""

from __future__ import annotations

import difflib
import unicodedata
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lemur_bench.envs import (
    AgentEnv,
    Alfworld,
    Environment,
    InterCodeCtf,
    InterCodeSql,
    Mint,
    SingleTurn,
    WebArenaEnv,
)
from lemur_bench.formats import (
    ActionFormatSpec,
    CodeBlocks,
    MintReplies,
    RawReplies,
    WebActions,
)
from lemur_bench.scorers import TaskScorer, get_scorer


class Suite(StrEnum):
    """Suites named after the paper's tables."""

    TEXT = "text"
    CODE = "code"
    TOOLS = "tools"
    SELF_DEBUG = "self-debug"
    NL_FEEDBACK = "nl-feedback"
    EXPLORE = "explore"
    ALL = "all"


SUITE_TABLE: dict[Suite, str] = {
    Suite.TEXT: "Table 3 (text)",
    Suite.CODE: "Table 3 (code)",
    Suite.TOOLS: "Table 4",
    Suite.SELF_DEBUG: "Table 5",
    Suite.NL_FEEDBACK: "Table 6",
    Suite.EXPLORE: "Table 7",
}


class DataSource(BaseModel):
    """Where a benchmark's rows come from.

    ``local_path`` is relative to the tasks directory given at run time (fixtures, or a checkout
    of the upstream data); ``hf_name`` is used when no local file is there. ``sha256`` pins the
    local file: a mismatch is an error, so results never silently mix data versions.
    ``local_dir`` names a directory in the upstream's own layout (ALFWorld's game files), read by
    the loader's directory reader (``lemur_bench.loaders.DIR_LOADERS``) before ``local_path``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hf_name: str | None = None
    hf_config: str | None = None
    hf_split: str = "test"
    local_path: str | None = None
    local_dir: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    url: str | None = None

    @model_validator(mode="after")
    def _some_source(self) -> DataSource:
        if self.hf_name is None and self.local_path is None:
            raise ValueError("a data source needs hf_name or local_path (or both)")
        return self


FeedbackMode = Literal["none", "env", "nl"]


class TaskSpec(BaseModel):
    """One benchmark as the paper ran it."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str
    suites: tuple[Suite, ...] = Field(min_length=1)
    column: str = Field(description="the column header in the paper's table")
    source: DataSource
    loader: str = Field(description="key of lemur_bench.loaders.LOADERS")
    prompt_format: str = Field(description="key of lemur_bench.prompts.PROMPT_FORMATS")
    shots: int = Field(default=0, ge=0)
    chain_of_thought: bool = False
    max_turns: int = Field(default=1, ge=1)
    environment: Environment = Field(description="the environment object that runs an episode")
    scorer: TaskScorer | None = Field(
        default=None, description="the scorer object (None: the environment's reward decides)"
    )
    action_format: ActionFormatSpec = Field(
        default_factory=RawReplies, description="how a reply becomes the env's action"
    )
    feedback: FeedbackMode = "none"
    metric: str = "success rate"
    paper_setting: str = Field(description="the paper's setting in words, shown by `list`")
    baseline: str | None = Field(
        default=None, description="for feedback runs: the no-feedback task it is paired with"
    )
    needs: tuple[str, ...] = Field(
        default=(), description="external programs or services a faithful run needs"
    )

    @property
    def env(self) -> str:
        """The gymnasium id of the environment."""
        return self.environment.env_id

    @property
    def scorer_name(self) -> str:
        """The scorer's registry name, or ``env`` when the environment's reward decides."""
        return self.scorer.name if self.scorer is not None else "env"

    @property
    def multi_turn(self) -> bool:
        """Whether an episode may take more than one model call."""
        return self.max_turns > 1


def _src(
    hf: str | None = None,
    local: str | None = None,
    *,
    config: str | None = None,
    split: str = "test",
    url: str | None = None,
) -> DataSource:
    return DataSource(hf_name=hf, hf_config=config, hf_split=split, local_path=local, url=url)


_T3T = (Suite.TEXT, Suite.ALL)
_T3C = (Suite.CODE, Suite.ALL)
# MINT's no-feedback runs are also the baselines Table 6 pairs its feedback runs with.
_T4 = (Suite.TOOLS, Suite.NL_FEEDBACK, Suite.ALL)
_T5 = (Suite.SELF_DEBUG, Suite.ALL)
_T5M = (Suite.SELF_DEBUG, Suite.NL_FEEDBACK, Suite.ALL)
_T6 = (Suite.NL_FEEDBACK, Suite.ALL)
_T7 = (Suite.EXPLORE, Suite.ALL)

_SINGLE = SingleTurn()
_MINT_PY = Mint()
_MINT_WIKI = Mint(tools=("wikipedia_search",))
# MINT's scorer per sub-task (its task classes: ReasoningTask, MultipleChoiceTask,
# TheoremqaTask, HumanEvalTask/MBPPTask) and the tool its Python session has.
_MINT_SCORER = {
    "gsm8k": "mint_answer",
    "math": "mint_answer",
    "theoremqa": "mint_theoremqa",
    "hotpotqa": "mint_answer",
    "mmlu": "mint_choice",
    "humaneval": "mint_code",
    "mbpp": "mint_code",
}
_MINT_ENV = {"hotpotqa": _MINT_WIKI, "mmlu": _MINT_WIKI}

TASKS: tuple[TaskSpec, ...] = (
    # --- Table 3: foundational abilities (single turn, greedy) ---
    TaskSpec(
        name="mmlu",
        title="MMLU",
        suites=_T3T,
        column="MMLU",
        source=_src("cais/mmlu", "text/mmlu.jsonl", config="all"),
        loader="mmlu",
        prompt_format="multiple_choice",
        shots=5,
        environment=_SINGLE,
        scorer=get_scorer("option_match"),
        metric="accuracy",
        paper_setting="5-shot, greedy, answer letter",
    ),
    TaskSpec(
        name="bbh",
        title="BBH",
        suites=_T3T,
        column="BBH",
        source=_src("lukaemon/bbh", "text/bbh.jsonl"),
        loader="bbh",
        prompt_format="bbh_cot",
        shots=3,
        chain_of_thought=True,
        environment=_SINGLE,
        scorer=get_scorer("bbh_match"),
        metric="accuracy",
        paper_setting="3-shot CoT, greedy",
    ),
    TaskSpec(
        name="gsm8k",
        title="GSM8K",
        suites=_T3T,
        column="GSM8K",
        source=_src("openai/gsm8k", "text/gsm8k.jsonl", config="main"),
        loader="gsm8k",
        prompt_format="gsm8k_cot",
        shots=8,
        chain_of_thought=True,
        environment=_SINGLE,
        scorer=get_scorer("numeric_exact"),
        metric="accuracy",
        paper_setting="8-shot CoT, greedy",
    ),
    TaskSpec(
        name="humaneval",
        title="HumanEval",
        suites=_T3C,
        column="HumanEval",
        source=_src("openai/openai_humaneval", "code/humaneval.jsonl"),
        loader="humaneval",
        prompt_format="code_completion",
        environment=_SINGLE,
        scorer=get_scorer("humaneval_exec"),
        metric="pass@1",
        paper_setting="0-shot, greedy, pass@1",
    ),
    TaskSpec(
        name="mbpp",
        title="MBPP",
        suites=_T3C,
        column="MBPP",
        source=_src("google-research-datasets/mbpp", "code/mbpp.jsonl", config="full"),
        loader="mbpp",
        prompt_format="mbpp",
        shots=3,
        environment=_SINGLE,
        scorer=get_scorer("mbpp_exec"),
        metric="pass@1",
        paper_setting="3-shot, greedy, pass@1",
    ),
    TaskSpec(
        name="spider",
        title="Spider",
        suites=_T3C,
        column="Spider",
        source=_src("xlangai/spider", "code/spider.jsonl", split="validation"),
        loader="spider",
        prompt_format="text_to_sql",
        environment=_SINGLE,
        scorer=get_scorer("sql_execution"),
        metric="execution accuracy",
        paper_setting="0-shot, schema in prompt, execution accuracy",
    ),
    TaskSpec(
        name="multipl-e",
        title="MultiPL-E",
        suites=_T3C,
        column="MultiPL-E",
        source=_src("nuprl/MultiPL-E", "code/multipl_e.jsonl", config="humaneval-sh"),
        loader="multipl_e",
        prompt_format="code_completion",
        environment=_SINGLE,
        scorer=get_scorer("multipl_e_exec"),
        metric="pass@1",
        paper_setting="0-shot pass@1, averaged over languages whose toolchains are present",
        needs=("language toolchains (bash, node, ...)",),
    ),
    TaskSpec(
        name="ds-1000",
        title="DS-1000",
        suites=_T3C,
        column="DS-1000",
        source=_src("xlangai/DS-1000", "code/ds1000.jsonl"),
        loader="ds1000",
        prompt_format="ds1000",
        environment=_SINGLE,
        scorer=get_scorer("ds1000_exec"),
        metric="pass@1",
        paper_setting="0-shot completion, pass@1",
        needs=("numpy", "pandas", "..."),
    ),
    # --- Table 4: tool use (MINT, Python or WikiSearch, 5 turns, no feedback) ---
    *(
        TaskSpec(
            name=f"mint-{key}",
            title=f"MINT {col}",
            suites=_T4,
            column=col,
            source=_src(
                None, f"mint/{key}/test_prompts.json", url="https://github.com/xingyaoww/mint-bench"
            ),
            loader="mint",
            prompt_format="mint",
            max_turns=5,
            environment=_MINT_ENV.get(key, _MINT_PY),
            scorer=get_scorer(_MINT_SCORER[key]),
            action_format=MintReplies(),
            paper_setting=f"MINT, {tool}, k=5 turns, no feedback",
        )
        for key, col, tool in (
            ("gsm8k", "GSM8K", "Python"),
            ("math", "MATH", "Python"),
            ("theoremqa", "TheoremQA", "Python"),
            ("hotpotqa", "HotpotQA", "WikiSearch"),
            ("mmlu", "MMLU", "WikiSearch"),
        )
    ),
    # --- Table 5: self-debugging with environment feedback ---
    TaskSpec(
        name="mint-humaneval",
        title="MINT HumanEval",
        suites=_T5M,
        column="M-HumanEval",
        source=_src(None, "mint/humaneval/test_prompts.json"),
        loader="mint",
        prompt_format="mint",
        max_turns=5,
        environment=_MINT_PY,
        scorer=get_scorer("mint_code"),
        action_format=MintReplies(),
        feedback="env",
        paper_setting="MINT, Python, 5 turns, execution feedback",
    ),
    TaskSpec(
        name="mint-mbpp",
        title="MINT MBPP",
        suites=_T5M,
        column="M-MBPP",
        source=_src(None, "mint/mbpp/test_prompts.json"),
        loader="mint",
        prompt_format="mint",
        max_turns=5,
        environment=_MINT_PY,
        scorer=get_scorer("mint_code"),
        action_format=MintReplies(),
        feedback="env",
        paper_setting="MINT, Python, 5 turns, execution feedback",
    ),
    TaskSpec(
        name="intercode-bash",
        title="InterCode-Bash",
        suites=_T5,
        column="IC-Bash",
        source=_src(
            None,
            "intercode/bash/nl2bash_fs_1.json",
            url="https://github.com/princeton-nlp/intercode",
        ),
        loader="intercode_bash",
        prompt_format="intercode",
        max_turns=10,
        environment=AgentEnv("lemur/Bash-v0"),
        action_format=CodeBlocks(("bash", "sh")),
        feedback="env",
        paper_setting="InterCode, 10 turns, reward = 1.0",
    ),
    TaskSpec(
        name="intercode-sql",
        title="InterCode-SQL",
        suites=_T5,
        column="IC-SQL",
        source=_src(None, "intercode/sql/ic_spider_dev.json"),
        loader="intercode_sql",
        prompt_format="intercode",
        max_turns=10,
        environment=InterCodeSql(),
        action_format=CodeBlocks(("sql",)),
        feedback="env",
        paper_setting="InterCode, 10 turns, reward = 1.0 (Fig. 4 by turn)",
    ),
    TaskSpec(
        name="robocodegen",
        title="RoboCodeGen",
        suites=_T5,
        column="RoboCodeGen",
        source=_src(None, "robocodegen/tasks.json"),
        loader="robocodegen",
        prompt_format="robocodegen",
        max_turns=5,
        environment=AgentEnv("lemur/RoboticsAPI-v0"),
        feedback="env",
        paper_setting="5 turns, execution feedback",
    ),
    # --- Table 6: with natural-language feedback from a simulated user (MINT) ---
    *(
        TaskSpec(
            name=f"mint-{key}-nl",
            title=f"MINT {col} + NL feedback",
            suites=_T6,
            column=col,
            source=_src(None, f"mint/{key}/test_prompts.json"),
            loader="mint",
            prompt_format="mint",
            max_turns=5,
            environment=_MINT_ENV.get(key, _MINT_PY),
            scorer=get_scorer(_MINT_SCORER[key]),
            action_format=MintReplies(),
            feedback="nl",
            baseline=f"mint-{key}",
            paper_setting="MINT, 5 turns, simulated-user feedback (paired with no-feedback run)",
        )
        for key, col in (
            ("gsm8k", "GSM8K"),
            ("math", "MATH"),
            ("theoremqa", "TheoremQA"),
            ("hotpotqa", "HotpotQA"),
            ("mmlu", "MMLU"),
            ("humaneval", "HumanEval"),
            ("mbpp", "MBPP"),
        )
    ),
    # --- Table 7: exploration in partially observable environments ---
    TaskSpec(
        name="intercode-ctf",
        title="InterCode-CTF",
        suites=_T7,
        column="IC-CTF",
        source=_src(None, "intercode/ctf/ic_ctf.json"),
        loader="intercode_ctf",
        prompt_format="intercode",
        max_turns=10,
        environment=InterCodeCtf(),
        # The env runs Python blocks as Python, the rest as bash.
        action_format=CodeBlocks(("bash", "sh", "python"), keep_fence_for=("python",)),
        feedback="env",
        paper_setting="InterCode-CTF, 10 turns, flag match",
    ),
    TaskSpec(
        name="webarena",
        title="WebArena",
        suites=_T7,
        column="WebArena",
        source=_src(None, "webarena/test.raw.json"),
        loader="webarena",
        prompt_format="webarena",
        max_turns=15,
        environment=WebArenaEnv(),
        action_format=WebActions(),
        paper_setting="Python-call actions (Fig. 5 compares symbolic)",
        needs=("chromium", "a WebArena deployment for the original sites"),
    ),
    # ALFWorld's own games when --tasks-dir has them as alfworld/ (MINT's data/processed/
    # alfworld: 134 valid_unseen games), else the offline Household stand-in's tasks.json.
    # One command a turn; a game ends when won or at its 50th command (MINT's count, in
    # which `think:` turns send none), so the turn budget is ALFWorld's 50.
    TaskSpec(
        name="alfworld",
        title="ALFWorld",
        suites=_T7,
        column="ALFWorld",
        source=DataSource(
            local_path="alfworld/tasks.json",
            local_dir="alfworld",
            # Named in the "does not exist" message: --tasks-dir is the directory above alfworld/.
            url="https://github.com/xingyaoww/mint-bench: --tasks-dir mint-bench/data/processed",
        ),
        loader="alfworld",
        prompt_format="alfworld",
        max_turns=50,
        environment=Alfworld(),
        paper_setting=(
            "MINT's ALFWorld (134 valid_unseen TextWorld games, success = won, 50 commands); "
            "offline: the Household stand-in"
        ),
        needs=("textworld[pddl] for the real games: pip install 'lemur-agents[alfworld]'",),
    ),
)

_BY_NAME: dict[str, TaskSpec] = {t.name: t for t in TASKS}


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def get_task(name: str) -> TaskSpec:
    """The registered task called ``name``; ``KeyError`` naming the closest known task."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown task '{name}'{_suggest(name, list(_BY_NAME))}") from None


def parse_suite(suite: str) -> Suite:
    """The suite named ``suite``; ``ValueError`` naming the known suites otherwise."""
    try:
        return Suite(suite)
    except ValueError:
        known = [s.value for s in Suite]
        raise ValueError(
            f"unknown suite '{suite}'{_suggest(suite, known)}; known: {', '.join(known)}"
        ) from None


def suite_tasks(suite: str) -> list[TaskSpec]:
    """Tasks of a suite or task name, or of a comma-separated list of them
    (``tools,self-debug``, ``gsm8k,humaneval``): each task once, suites in registry order.

    An unknown name is a ``ValueError`` (a lemur_core ``UsageError``) naming the closest suite
    or task; names are matched exactly, so a full-width ``ｍｍｌｕ`` is refused, not guessed.
    """
    from lemur_core.cli_errors import UsageError

    parts = [p.strip() for p in suite.split(",")]
    if not any(parts):
        raise UsageError(
            f"empty suite {suite!r}", "--suite", "name a suite (text, code, tools, ...) or tasks"
        )
    known = [s.value for s in Suite] + list(_BY_NAME)
    chosen: dict[str, TaskSpec] = {}
    for part in parts:
        if not part:
            continue
        if part in _BY_NAME:
            chosen.setdefault(part, _BY_NAME[part])
            continue
        if part in {s.value for s in Suite}:
            wanted = Suite(part)
            for t in TASKS:
                if wanted in t.suites:
                    chosen.setdefault(t.name, t)
            continue
        # Full-width or other look-alike letters: suggest the ASCII name they stand for.
        hint = _suggest(unicodedata.normalize("NFKC", part).lower(), known)
        raise UsageError(
            f"unknown suite or task '{part}'{hint}",
            fix=f"suites: {', '.join(s.value for s in Suite)}; tasks: lemur-bench list",
        )
    return list(chosen.values())
