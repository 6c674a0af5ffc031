"""Single-turn sources: Open-Orca/OpenOrca and the Evol-CodeAlpaca sets.

* OpenOrca rows: ``id``, ``system_prompt``, ``question``, ``response`` (the GPT-4 completions
  are the ``1M-GPT4-Augmented.parquet`` file; the preset reads only that file and samples
  200,000 with the build seed).
* theblackcat102/evol-codealpaca-v1 and nickrosh/Evol-Instruct-Code-80k-v1 rows:
  ``instruction``, ``output`` (an optional Alpaca-style ``input`` is appended to the
  instruction).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from lemur_core import Message, Role

from lemur_data.instruct.converters.rows import (
    ConvertResult,
    Fixes,
    Rejected,
    Row,
    make_example,
    row_identity,
    text_field,
)


def convert_openorca(rows: Iterable[Row], source: str, fixes: Fixes) -> Iterator[ConvertResult]:
    """Yield system (when non-empty) + question + response examples; rows missing a
    question or response are ``malformed_row``, blank ones ``empty_turn``."""
    for index, row in enumerate(rows):
        row_id = f"{source}/{row_identity(row, str(index))}"
        if not isinstance(row, dict):
            yield Rejected(row_id, "malformed_row", "row is not an object")
            continue
        question, response = text_field(row, "question"), text_field(row, "response")
        if question is None or response is None:
            yield Rejected(row_id, "malformed_row", "needs string fields question and response")
            continue
        if not question.strip() or not response.strip():
            yield Rejected(row_id, "empty_turn")
            continue
        messages = []
        system = text_field(row, "system_prompt")
        if system and system.strip():
            messages.append(Message(role=Role.SYSTEM, content=system.strip()))
        messages.append(Message(role=Role.USER, content=question.strip()))
        messages.append(Message(role=Role.ASSISTANT, content=response.strip()))
        yield make_example(row_id, source, messages)


def convert_evol_codealpaca(
    rows: Iterable[Row], source: str, fixes: Fixes
) -> Iterator[ConvertResult]:
    """Yield instruction (+ input) -> output examples; missing fields are ``malformed_row``,
    blank ones ``empty_turn``."""
    for index, row in enumerate(rows):
        row_id = f"{source}/{row_identity(row, str(index))}"
        if not isinstance(row, dict):
            yield Rejected(row_id, "malformed_row", "row is not an object")
            continue
        instruction, output = text_field(row, "instruction"), text_field(row, "output")
        if instruction is None or output is None:
            yield Rejected(row_id, "malformed_row", "needs string fields instruction and output")
            continue
        extra = text_field(row, "input")
        if extra and extra.strip():
            instruction = f"{instruction.rstrip()}\n\n{extra.strip()}"
            fixes["evol_input_appended"] += 1
        if not instruction.strip() or not output.strip():
            yield Rejected(row_id, "empty_turn")
            continue
        yield make_example(
            row_id,
            source,
            [
                Message(role=Role.USER, content=instruction.strip()),
                Message(role=Role.ASSISTANT, content=output.strip()),
            ],
        )
