"""Per-source converters: raw rows in a source's published schema -> :class:`InstructExample`.

One module per family of sources; each converter yields an example or a
:class:`~lemur_data.instruct.converters.rows.Rejected` row with its reason, in row order, and
counts repairs in the ``fixes`` counter it is given:

* :mod:`.oasst`: OpenAssistant/oasst1 message trees -> threads (by a selectable policy)
* :mod:`.sharegpt`: ShareGPT-style conversations (HTML cleaned by :mod:`.markup`)
* :mod:`.simple_sources`: single-turn OpenOrca and Evol-CodeAlpaca rows
* :mod:`.stdlib_gen`: conversations generated from the interpreter's standard library (no rows)

:func:`convert` picks the converter of a :class:`~lemur_data.instruct.config.SourceSpec`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from lemur_data.instruct.config import SourceFormat, SourceSpec
from lemur_data.instruct.converters.oasst import OASST_POLICIES, convert_oasst1
from lemur_data.instruct.converters.rows import ConvertResult, Fixes, Rejected
from lemur_data.instruct.converters.sharegpt import convert_sharegpt
from lemur_data.instruct.converters.simple_sources import (
    convert_evol_codealpaca,
    convert_openorca,
)
from lemur_data.instruct.converters.stdlib_gen import generate_stdlib

__all__ = [
    "OASST_POLICIES",
    "ConvertResult",
    "Fixes",
    "Rejected",
    "convert",
    "convert_evol_codealpaca",
    "convert_oasst1",
    "convert_openorca",
    "convert_sharegpt",
    "generate_stdlib",
]


def convert(spec: SourceSpec, rows: Iterable[Any], fixes: Fixes) -> Iterator[ConvertResult]:
    """The examples (and rejected rows) of ``spec``'s converter over ``rows``.

    A ``stdlib`` source generates its conversations and reads no rows (``rows`` is ignored).
    """
    if spec.format is SourceFormat.STDLIB:
        assert spec.stdlib is not None  # checked by SourceSpec
        yield from generate_stdlib(spec.stdlib, spec.name)
    elif spec.format is SourceFormat.OASST1:
        yield from convert_oasst1(rows, spec.name, fixes, spec.oasst_languages, spec.oasst_policy)
    elif spec.format is SourceFormat.OPENORCA:
        yield from convert_openorca(rows, spec.name, fixes)
    elif spec.format is SourceFormat.SHAREGPT:
        yield from convert_sharegpt(rows, spec.name, fixes)
    else:
        yield from convert_evol_codealpaca(rows, spec.name, fixes)
