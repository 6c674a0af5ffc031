"""WebArena fixture tasks on the Lemur Shop, and a scripted web agent in both action
representations (paper Fig. 5).

``write_web_fixtures(out, scripts)`` writes ``out/webarena/test.raw.json`` in WebArena's
published config format (``task_id``, ``intent``, ``start_url``, ``sites``, ``eval`` ...) with
``__LEMUR_SHOP__`` start URLs, which lemur-agents' ``lemur/Web-v0`` serves on loopback: the
Lemur Shop tasks of ``lemur_agents.envs.web.fixture_tasks`` (one per WebArena evaluator) and
one that checks the last page's HTML. It appends to ``scripts`` one scripted agent per
representation, told apart by the system prompt's notation sentence (``system_match``). Both
replay the tasks' reference actions, with ``{id:NAME}`` placeholders that the scripted model
fills from the current page; the symbolic agent opens the wrong product on the price question,
so the two representations score differently (all tasks vs all but one).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lemur_agents.actions import WEBARENA_SCHEMA, PythonCallMapper, SymbolicMapper
from lemur_agents.envs.web import LOCAL_SITE, WebArenaEval, WebTask, fixture_tasks
from lemur_core import atomic_write_text

from lemur_bench.prompts import WEBARENA_NOTATION, Representation

TASKS_FILE = Path("webarena") / "test.raw.json"
# What the symbolic agent does instead of the reference actions: it opens the product next to
# the one asked about and reports that price.
SYMBOLIC_SLIPS: dict[str, tuple[str, ...]] = {
    "shop/price": ("click [Lemur Plush Toy]", "stop [$15.00]"),
}
_ON_ELEMENT = re.compile(r"^(click|type|hover) \[([^\]]+)\](.*)$")
_SENTINEL = 987_654_321  # an id no fixture page has; replaced by a placeholder after rendering


def web_tasks() -> list[WebTask]:
    """The fixture tasks: lemur-agents' Lemur Shop tasks and one scored on the last page."""
    return [
        *fixture_tasks(),
        WebTask(
            task_id="shop/plush-page",
            instruction="Show me the product page of the Lemur Plush Toy.",
            start_url=LOCAL_SITE,
            sites=("lemur_shop",),
            eval=WebArenaEval(
                eval_types=("program_html",),
                program_html=(
                    {
                        "url": "last",
                        "locator": "",
                        "required_contents": {"must_include": ["Lemur Plush Toy", "Price:"]},
                    },
                ),
            ),
            reference_actions=("click [Lemur Plush Toy]", "stop [N/A]"),
        ),
    ]


def task_config(task: WebTask, task_id: int) -> dict[str, Any]:
    """``task`` as a WebArena config row (the fields and null conventions of test.raw.json)."""
    spec = task.eval
    answers = spec.reference_answers
    evaluation: dict[str, Any] = {
        "eval_types": list(spec.eval_types),
        "reference_answers": answers,
        "reference_url": spec.reference_url,
        "program_html": [dict(p) for p in spec.program_html],
    }
    for note in ("url_note", "string_note"):
        if getattr(spec, note) is not None:
            evaluation[note] = getattr(spec, note)
    if "string_match" in spec.eval_types:
        raw = next(iter(answers.values())) if answers else ""
        evaluation["reference_answer_raw_annotation"] = (
            " |OR| ".join(raw) if isinstance(raw, list) else str(raw)
        )
    return {
        "sites": list(task.sites),
        "task_id": task_id,
        "require_login": task.require_login,
        "storage_state": task.storage_state,
        "start_url": task.start_url,
        "geolocation": None,
        "intent_template": task.instruction,
        "instantiation_dict": {},
        "intent": task.instruction,
        "require_reset": task.require_reset,
        "eval": evaluation,
        "intent_template_id": task_id,
    }


def replay_completions(actions: tuple[str, ...], representation: Representation) -> list[str]:
    """Symbolic actions that name elements (``click [Save]``) as completions in
    ``representation`` whose ids are ``{id:NAME}`` placeholders (``{id@textbox:NAME}`` for
    ``type``, whose field usually shares its name with a label)."""
    mapper = (PythonCallMapper if representation == "python" else SymbolicMapper)(WEBARENA_SCHEMA)
    out = []
    for text in actions:
        named = _ON_ELEMENT.match(text)
        placeholder = ""
        if named:
            verb, name, rest = named.groups()
            placeholder = "{id@textbox:" + name + "}" if verb == "type" else "{id:" + name + "}"
            text = f"{verb} [{_SENTINEL}]{rest}"
        rendered = mapper.render(SymbolicMapper(WEBARENA_SCHEMA).parse(text))
        out.append(rendered.replace(str(_SENTINEL), placeholder) if named else rendered)
    return out


def write_web_fixtures(out: Path, scripts: list[dict[str, Any]]) -> None:
    """Write ``out/webarena/test.raw.json`` and append the web agent's scripts to ``scripts``
    (``ScriptFile`` entries; they must precede any catch-all script)."""
    tasks = web_tasks()
    rows = [task_config(task, i) for i, task in enumerate(tasks)]
    atomic_write_text(Path(out) / TASKS_FILE, json.dumps(rows, indent=1) + "\n")
    representations: tuple[Representation, ...] = ("python", "symbolic")
    for representation in representations:
        for task in tasks:
            actions = task.reference_actions
            if representation == "symbolic":
                actions = SYMBOLIC_SLIPS.get(task.task_id, actions)
            scripts.append(
                {
                    "match": f"OBJECTIVE: {task.instruction}",
                    "system_match": WEBARENA_NOTATION[representation],
                    "fill_element_ids": True,
                    "completions": replay_completions(actions, representation),
                }
            )
