"""MINT's recorded outputs (``results.jsonl``) as lemur-bench episode records.

MINT writes one line per task: ``{"state": {history, success, terminate_reason,
agent_action_count, ...}, "task": {task_name, task_id, prompt, reference, metadata}}``, where
``history`` alternates the user prompt, the model's replies (``"Assistant:\\n" + reply + "\\n"``)
and MINT's observations. :func:`read_mint_results` turns each line into an
:class:`~lemur_core.EpisodeRecord`: one turn per reply with its raw output, the conversation the
model saw, MINT's observation, and the reply parsed in ``mint`` mode; MINT's own verdict is kept
in ``info["mint"]`` (``success``, ``terminate_reason``, ``action_count``) and each turn's
``info["mint_label"]`` says how MINT treated the reply, read off its observation:

* ``solution`` — a proposal MINT judged (``Your answer is wrong.``, or the last reply of a
  solved episode), with ``info["mint_correct"]``;
* ``invalid`` — MINT answered with its format hint;
* ``solution_error`` — the check raised (MINT shows the traceback);
* ``execute`` — code MINT ran;
* ``final_proposal`` — the last reply of an episode that ran out of proposals (MINT logs no
  observation for it, so whether it parsed is not recorded);
* ``unknown`` — the last reply of an episode that ran out of steps.

The path MINT writes to (``<model>/F=<feedback>/.../max<k>_p<n>+tool+cd/<type>/<task>/``) gives
the model, the turn and proposal budgets and the sub-task; each can be passed explicitly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lemur_agents.actions import MintParseError, MintTagMapper
from lemur_core import EpisodeRecord, Message, Role, TerminationReason, TurnRecord

MINT_TASKS = ("gsm8k", "math", "theoremqa", "hotpotqa", "mmlu", "humaneval", "mbpp")
_INVALID = "I don't understand your input."
_WRONG = "Your answer is wrong."
_TRACEBACK = "Traceback (most recent call last)"


class MintImportError(ValueError):
    """A results file that is not MINT's format (the message names the line and the fix)."""


@dataclass(frozen=True)
class MintRunInfo:
    """What MINT's output path says about a run (each part may be given explicitly)."""

    model: str
    task: str
    max_steps: int = 5
    max_propose: int = 2
    feedback: str | None = None
    # The run was produced by the harness that runs Markdown ```python blocks as code (six of
    # MINT's published runs; see lemur_agents.actions.tags): replies are parsed that way.
    fenced_code: bool = False

    @property
    def benchmark(self) -> str:
        """Our task name for this MINT sub-task (``mint-gsm8k``, ``mint-mbpp-nl`` ...)."""
        return f"mint-{self.task}" + ("-nl" if self.feedback else "")


def run_info_from_path(
    path: Path,
    *,
    model: str | None = None,
    task: str | None = None,
    max_steps: int | None = None,
    max_propose: int | None = None,
    fenced_code: bool = False,
) -> MintRunInfo:
    """The run description encoded in MINT's output directory layout, with overrides."""
    parts = path.resolve().parts
    budget = next((p for p in parts if re.fullmatch(r"max\d+_p\d+.*", p)), None)
    steps, propose = (5, 2)
    if budget is not None:
        m = re.match(r"max(\d+)_p(\d+)", budget)
        assert m is not None
        steps, propose = int(m.group(1)), int(m.group(2))
    fb = next((p[2:] for p in parts if p.startswith("F=")), None)
    found_task = next((p for p in reversed(parts) if p in MINT_TASKS), None)
    found_model = next(
        (parts[i - 1] for i, p in enumerate(parts) if p.startswith("F=") and i > 0), None
    )
    chosen_task = task or found_task
    if chosen_task is None:
        raise MintImportError(
            f"{path}: cannot tell which MINT task this is from its path; pass --task "
            f"(one of {', '.join(MINT_TASKS)})"
        )
    if chosen_task not in MINT_TASKS:
        raise MintImportError(
            f"unknown MINT task '{chosen_task}'; known: {', '.join(MINT_TASKS)} "
            "(MINT's ALFWorld runs are not imported)"
        )
    return MintRunInfo(
        model=model or found_model or "mint-import",
        task=chosen_task,
        max_steps=max_steps or steps,
        max_propose=max_propose or propose,
        feedback=None if fb in (None, "None") else fb,
        fenced_code=fenced_code,
    )


def _reply_of(content: str) -> str:
    # MINT logs "Assistant:\n" + reply + "\n" unless the reply itself starts with "Assistant:".
    text = content[:-1] if content.endswith("\n") else content
    return text[len("Assistant:\n") :] if text.startswith("Assistant:\n") else text


def _observation_label(observation: str, reply: str) -> str:
    body = observation.removeprefix("Observation:\n")
    if body.startswith(_INVALID):
        return "invalid"
    if body.startswith(_WRONG):
        return "solution"
    # A traceback follows a check that raised, or code that did: MINT's own rule for which
    # one the reply was is whether it holds "<solution>".
    if body.startswith(_TRACEBACK) and "<solution>" in reply:
        return "solution_error"
    return "execute"


def _answer_type(reference: Any) -> str:
    # MINT does not log TheoremQA's answer_type, but its check only depends on the reference's
    # type (bool / list / number / option letter), so the type is recovered from the value.
    if isinstance(reference, bool):
        return "bool"
    if isinstance(reference, list):
        return (
            "list of float" if any(isinstance(x, float) for x in reference) else ("list of integer")
        )
    if isinstance(reference, float):
        return "float"
    if isinstance(reference, int):
        return "integer"
    return "option"


def _termination(state: dict[str, Any]) -> TerminationReason:
    reason = state.get("terminate_reason")
    if state.get("success"):
        return TerminationReason.SOLVED
    if reason == "max_propose_steps":
        return TerminationReason.SUBMITTED
    if reason == "error":
        return TerminationReason.CONTEXT_LIMIT
    return TerminationReason.MAX_TURNS


def mint_record(line: dict[str, Any], run: MintRunInfo, where: str) -> EpisodeRecord:
    """One ``results.jsonl`` line as an episode record (see the module docstring)."""
    try:
        state, task = line["state"], line["task"]
        history: list[dict[str, str]] = state["history"]
        task_id = str(task.get("task_id", task.get("id")))
    except (KeyError, TypeError) as exc:
        raise MintImportError(
            f"{where}: not a MINT results line (missing {exc}); expected "
            '{"state": {"history": ...}, "task": {...}} as MINT\'s main.py writes'
        ) from None
    mapper = MintTagMapper("mint", fenced_code=run.fenced_code)
    messages = [
        Message(
            role=Role.ASSISTANT if m["role"] == "assistant" else Role.USER, content=m["content"]
        )
        for m in history
    ]
    replies = [i for i, m in enumerate(history) if m["role"] == "assistant"]
    turns = []
    for n, i in enumerate(replies):
        raw = _reply_of(history[i]["content"])
        nxt = history[i + 1]["content"] if i + 1 < len(history) else None
        if nxt is not None:
            label = _observation_label(nxt, raw)
        elif state.get("success"):
            label = "solution"
        elif state.get("terminate_reason") == "max_propose_steps":
            label = "final_proposal"
        else:
            label = "unknown"
        info: dict[str, Any] = {"mint_label": label}
        if label == "solution":
            info["mint_correct"] = nxt is None and bool(state.get("success"))
        parsed, error = None, None
        try:
            action = mapper.parse(raw)
            parsed = mapper.render(action) if _renderable(action.content) else raw
            info["parsed_kind"] = action.kind
            info["parsed_content"] = action.content
        except MintParseError as exc:
            error = str(exc)
            info["parsed_kind"] = exc.kind
        turns.append(
            TurnRecord(
                index=n,
                prompt=tuple(messages[:i]),
                raw_output=raw,
                parsed_action=parsed,
                action_representations={"mint": parsed} if parsed else {},
                parse_error=error,
                observation=nxt or "",
                reward=1.0 if info.get("mint_correct") else 0.0,
                info=info,
            )
        )
    reference = task.get("reference")
    metadata = dict(task.get("metadata") or {})
    if run.task == "theoremqa":
        metadata.setdefault("answer_type", _answer_type(reference))
    success = bool(state.get("success"))
    return EpisodeRecord(
        episode_id=f"{run.benchmark}/{task_id}",
        benchmark=run.benchmark,
        task_id=task_id,
        env_id="mint",
        model=run.model,
        max_turns=run.max_steps,
        turns=tuple(turns),
        termination=_termination(state),
        success=success,
        score=float(success),
        feedback_mode="nl" if run.feedback else None,
        info={
            "scoring_mode": "mint",
            "source": "mint-import",
            "max_propose": run.max_propose,
            **({"fenced_code": True} if run.fenced_code else {}),
            "mint": {
                "success": success,
                "terminate_reason": state.get("terminate_reason"),
                "action_count": state.get("agent_action_count"),
            },
            "task": {
                "prompt": task.get("prompt", ""),
                "reference": reference,
                "metadata": metadata,
            },
        },
    )


def _renderable(content: str) -> bool:
    return not any(t in content for t in ("<execute>", "</execute>", "<solution>", "</solution>"))


def read_mint_results(path: Path, run: MintRunInfo | None = None) -> Iterator[EpisodeRecord]:
    """The episode records of one MINT ``results.jsonl`` (``run`` defaults to its path's)."""
    path = Path(path)
    if not path.is_file():
        raise MintImportError(f"{path} does not exist: pass MINT's results.jsonl")
    run = run or run_info_from_path(path)
    with path.open(encoding="utf-8") as handle:
        for lineno, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError as exc:
                raise MintImportError(f"{path}:{lineno}: not JSON ({exc})") from None
            if not isinstance(line, dict):
                raise MintImportError(f"{path}:{lineno}: not a JSON object")
            yield mint_record(line, run, f"{path}:{lineno}")
