"""The ``--json PATH`` output every harness in ``benchmarks/`` writes besides its printed table.

A harness adds the option, records each figure it prints, and writes them once at the end::

    from _results import Results, add_json_option

    parser = argparse.ArgumentParser(...)
    add_json_option(parser)
    args = parser.parse_args()
    results = Results("dedup_near", parameters=vars(args))   # load average taken here
    ...
    results.add("near dedup docs/s (planted set)", metric="docs/s", ours=5012.0,
                peer="datasketch", peers=1480.0, better="higher")
    results.write(args.json)                                  # no-op when --json was not given

The file is one JSON object: the harness, the command line, when and where it ran (load
average at start, CPU count) and a list of figures, each with ``ratio`` oriented so that above
1 means lemur is ahead (``ours / peer's`` when higher is better, ``peer's / ours`` when lower is
better). ``benchmarks/render_docs.py`` turns a set of these files into the results table of
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any, Literal

SCHEMA = "lemur-benchmark-results/1"


JSON_HELP = "also write the figures to PATH as JSON (see benchmarks/_results.py)"


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json PATH`` (where to write the figures as JSON)."""
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help=JSON_HELP,
    )


def machine_load() -> dict[str, Any]:
    """1/5/15-minute load average and CPU count, now."""
    load = os.getloadavg()
    return {
        "load_average": [round(x, 2) for x in load],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def ratio_of(ours: float, peers: float, better: Literal["higher", "lower"]) -> float | None:
    """``ours / peers`` (higher is better) or ``peers / ours`` (lower is better); >1 = ahead."""
    num, den = (ours, peers) if better == "higher" else (peers, ours)
    return num / den if den else None


class Results:
    """Figures of one harness run; the machine's load is recorded when this is made."""

    def __init__(self, harness: str, parameters: dict[str, Any] | None = None) -> None:
        self.harness = harness
        self.parameters = {k: _plain(v) for k, v in (parameters or {}).items() if k != "json"}
        self.started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.machine = machine_load()
        self.figures: list[dict[str, Any]] = []

    def add(
        self,
        name: str,
        *,
        metric: str,
        ours: float,
        peer: str | None = None,
        peers: float | None = None,
        better: Literal["higher", "lower"] = "higher",
        ratio: float | None = None,
        note: str = "",
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Record one figure (``peer``/``peers`` empty for a figure without a peer)."""
        if ratio is None and peers is not None:
            ratio = ratio_of(ours, peers, better)
        self.figures.append(
            {
                "name": name,
                "metric": metric,
                "ours": ours,
                "peer": peer,
                "peers": peers,
                "better": better,
                "ratio": ratio,
                "note": note,
                "parameters": {k: _plain(v) for k, v in (parameters or {}).items()},
            }
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "harness": self.harness,
            "command": " ".join(["uv run python", *_command_line()]),
            "started": self.started,
            "machine": self.machine,
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "parameters": self.parameters,
            "figures": self.figures,
        }

    def write(self, path: Path | None) -> None:
        """Write the JSON file atomically (a temporary file, then a rename); None: do nothing."""
        if path is None:
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        print(f"figures written to {path}")


def _command_line() -> list[str]:
    argv = list(sys.argv)
    if argv:
        script = Path(argv[0])
        try:
            argv[0] = str(script.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            argv[0] = script.name
    return argv


def _plain(value: Any) -> Any:
    """JSON-friendly form of an argparse value (paths as strings)."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
