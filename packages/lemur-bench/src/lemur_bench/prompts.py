"""Prompt formats: how a task becomes the first user message (few-shot exemplars included),
and the system prompt of each format.

The formats follow the paper's settings (Table 3: MMLU 5-shot, BBH 3-shot CoT, GSM8K 8-shot CoT,
HumanEval 0-shot, MBPP 3-shot; MINT's instruction for the agent tasks). Exemplars are written
into the user message, which works for base and chat models alike. The web system prompt lists
WebArena's action space in the run's action representation (paper Fig. 5).
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Literal

from lemur_bench.loaders import BenchTask
from lemur_bench.registry import TaskSpec

MINT_SYSTEM = (
    "You are a helpful assistant assigned with the task of problem-solving. To achieve this, you "
    "will be using an interactive coding environment equipped with a variety of tool functions to "
    "assist you throughout the process.\n\nAt each turn, you should first provide your step-by-step "
    "thinking for solving the task. After that, you have two options:\n"
    "1) Interact with a Python programming environment and receive the corresponding output. Your "
    'code should be enclosed using "<execute>" tag, for example: <execute> print("Hello World!") '
    "</execute>.\n2) Directly provide a solution that adheres to the required format for the given "
    'task. Your solution should be enclosed using "<solution>" tag, for example: The answer is '
    "<solution> A </solution>.\n\nYou have {max_turns} chances to interact with the environment or "
    "propose a solution. You can only propose a solution 2 times."
)

SYSTEM_PROMPTS: dict[str, str] = {
    "intercode": (
        "You are an agent in an interactive terminal. Reply with exactly one command in a fenced "
        "code block (```sql ... ``` or ```bash ... ```); you will see its output. When the last "
        "output answers the task, reply `submit`."
    ),
    "alfworld": (
        "You are in a household. Reply with exactly one command per turn, such as 'go to "
        "countertop 1', 'take apple 1 from countertop 1', 'open fridge 1', 'heat apple 1 with "
        "microwave 1', 'put apple 1 in/on diningtable 1', 'look', 'inventory'."
    ),
    "robocodegen": "Write the requested Python function using the robotics API described.",
    "webarena": (
        "You are an agent completing a task in a web browser. Each turn shows you the open tabs, "
        "the accessibility tree of the current page (every element begins with its id in square "
        "brackets, e.g. [7] textbox 'Search products'), the page URL, the objective and your "
        "previous action.\n\n"
        "Reply with exactly one action per turn and nothing else. {notation}, for example "
        "{example}. The actions:\n"
        "{actions}\n\n"
        "Ids are renumbered whenever the page changes: take them from the latest page only. "
        "When the objective is reached, finish with the stop action and your answer, e.g. "
        "{stop_example}; answer N/A when the objective asks for no answer."
    ),
}

Representation = Literal["python", "symbolic"]
# How the model is told to write actions; scripted fixtures key on it (``system_match``).
WEBARENA_NOTATION: dict[Representation, str] = {
    "python": "Write the action as one Python function call",
    "symbolic": "Write the action in WebArena's bracket notation",
}


def _mc_block(question: str, choices: list[str]) -> str:
    lines = [question.strip()]
    lines += [f"{'ABCDEFGHIJ'[i]}. {c}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def _gsm_cot(answer: str) -> str:
    reasoning, _, final = answer.partition("####")
    reasoning = re.sub(r"<<[^>]*>>", "", reasoning).strip()
    return f"{reasoning} The answer is {final.strip()}."


def sqlite_schema(db: Path) -> str:
    """The CREATE statements of a SQLite database (Spider's schema-in-prompt setting)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT sql FROM sqlite_master WHERE type='table' AND sql IS NOT NULL")
        return "\n".join(r[0] for r in rows)
    finally:
        con.close()


def render_task(spec: TaskSpec, task: BenchTask, *, data_root: Path | None = None) -> str:
    """The first user message of ``task`` in ``spec``'s prompt format and shot count."""
    fmt, meta = spec.prompt_format, task.metadata
    if fmt == "multiple_choice":
        shots = meta.get("shots", [])[: spec.shots]
        parts = [
            f"The following are multiple choice questions (with answers) about "
            f"{meta.get('subject', 'general').replace('_', ' ')}."
        ]
        parts += [f"{_mc_block(s['question'], s['choices'])}\nAnswer: {s['answer']}" for s in shots]
        parts.append(f"{_mc_block(task.prompt, meta['choices'])}\nAnswer:")
        return "\n\n".join(parts)
    if fmt == "gsm8k_cot":
        shots = meta.get("shots", [])[: spec.shots]
        parts = [f"Question: {s['question']}\nAnswer: {_gsm_cot(s['answer'])}" for s in shots]
        parts.append(f"Question: {task.prompt}\nAnswer:")
        return "\n\n".join(parts)
    if fmt == "bbh_cot":
        shots = meta.get("shots", [])[: spec.shots]
        parts = [
            f"Q: {s['input']}\nA: {(s.get('rationale') or '').strip()} So the answer is {s['target']}."
            for s in shots
        ]
        parts.append(f"Q: {task.prompt}\nA: Let's think step by step.")
        return "\n\n".join(parts)
    if fmt == "code_completion":
        lang = (
            (task.reference or {}).get("language", "python")
            if isinstance(task.reference, dict)
            else "python"
        )
        return f"Complete the following {lang} code:\n```{lang}\n{task.prompt}\n```"
    if fmt == "mbpp":

        def one(text: str, tests: list[str]) -> str:
            return (
                f"You are an expert Python programmer, and here is your task: {text} "
                f"Your code should pass these tests:\n\n" + "\n".join(tests)
            )

        shots = meta.get("shots", [])[: spec.shots]
        parts = [f"{one(s['text'], s['test_list'])}\n[BEGIN]\n{s['code']}\n[DONE]" for s in shots]
        parts.append(f"{one(task.prompt, task.reference['test_list'])}\n[BEGIN]\n")
        return "\n\n".join(parts)
    if fmt == "text_to_sql":
        schema = ""
        if data_root is not None:
            db = data_root / "database" / meta["db_id"] / f"{meta['db_id']}.sqlite"
            if db.exists():
                schema = sqlite_schema(db)
        return (
            f"Database schema:\n{schema}\n\nWrite one SQLite query that answers: {task.prompt}\n"
            "Answer with the query in a ```sql``` block."
        )
    if fmt == "ds1000":
        return task.prompt
    if fmt == "mint":
        return "Task:\n" + mint_task_prompt(task)
    return task.prompt


def mint_task_prompt(task: BenchTask) -> str:
    """The task text MINT shows for a row of its ``test_prompts.json`` (its task classes'
    ``prompt``): HumanEval gets "Complete the following code:", MBPP loses its triple quotes,
    TheoremQA is told the answer forms, MMLU keeps its options as written."""
    meta = task.metadata
    if "entry_point" in meta:
        return "Complete the following code:\n\n" + task.prompt
    if "test_list" in meta:
        return task.prompt.replace('"""', "").strip()
    if "answer_type" in meta:
        return (
            "Answer the following question with a number, a list of numbers or True or False. "
            + task.prompt.strip()
        )
    if "Options:" in task.prompt:
        return task.prompt
    return task.prompt.strip()


def _webarena_system(representation: Representation) -> str:
    from lemur_agents.actions import WEBARENA_SCHEMA, Action, PythonCallMapper, SymbolicMapper

    mapper = (PythonCallMapper if representation == "python" else SymbolicMapper)(WEBARENA_SCHEMA)
    example = mapper.render(
        WEBARENA_SCHEMA.bind("type", {"id": 7, "content": "lemur", "press_enter_after": True})
    )
    stop = mapper.render(Action(name="stop", args={"answer": "42"}))
    return SYSTEM_PROMPTS["webarena"].format(
        notation=WEBARENA_NOTATION[representation],
        example=example,
        actions=WEBARENA_SCHEMA.describe(representation),
        stop_example=stop,
    )


def system_prompt(spec: TaskSpec, action_representation: Representation = "python") -> str | None:
    """The system prompt of ``spec``'s format (``None`` for the single-turn formats); the web
    format describes the action space in ``action_representation`` (paper Fig. 5)."""
    if spec.prompt_format == "mint":
        return MINT_SYSTEM.format(max_turns=spec.max_turns)
    if spec.prompt_format == "webarena":
        return _webarena_system(action_representation)
    return SYSTEM_PROMPTS.get(spec.prompt_format)
