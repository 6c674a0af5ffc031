"""Cost of isolation: sandboxed calls vs plain subprocesses, persistent session vs a fresh
interpreter per cell (what a harness without a session pays).

    uv run python benchmarks/agents_sandbox.py [--calls 30] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from _results import Results, add_json_option
from lemur_agents.sandbox import PythonSession, Sandbox


def _median_ms(fn: Callable[[], object], calls: int) -> float:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    add_json_option(parser)
    args = parser.parse_args()
    results = Results("agents_sandbox", vars(args))
    code = "print(sum(range(1000)))"
    with Sandbox() as sandbox, PythonSession() as session, tempfile.TemporaryDirectory() as tmp:
        work = sandbox.scratch_dir()
        plain = _median_ms(
            lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=tmp),
            args.calls,
        )
        boxed = _median_ms(lambda: sandbox.run([sys.executable, "-c", code], cwd=work), args.calls)
        shell_plain = _median_ms(
            lambda: subprocess.run(["/bin/sh", "-c", "echo hi"], capture_output=True), args.calls
        )
        shell_boxed = _median_ms(lambda: sandbox.run("echo hi", cwd=work), args.calls)
        session.run("pass")
        cell = _median_ms(lambda: session.run(code), args.calls)
    print(f"isolation: {sandbox.isolation_level}")
    print(f"python -c, plain subprocess   : {plain:7.1f} ms (median of {args.calls})")
    print(
        f"python -c, sandboxed          : {boxed:7.1f} ms  -> overhead ratio {boxed / plain:.2f}x"
    )
    print(f"sh -c echo, plain subprocess  : {shell_plain:7.1f} ms")
    print(
        f"sh -c echo, sandboxed         : {shell_boxed:7.1f} ms  -> overhead ratio {shell_boxed / shell_plain:.2f}x"
    )
    print(f"persistent sandboxed session  : {cell:7.2f} ms per cell")
    print(f"fresh sandboxed interpreter / session cell: {boxed / cell:.1f}x")
    level = {"isolation": str(sandbox.isolation_level)}
    results.add(
        "sandboxed python -c",
        metric="ms (median)",
        ours=boxed,
        peer="plain subprocess",
        peers=plain,
        better="lower",
        parameters=level,
    )
    results.add(
        "sandboxed sh -c echo",
        metric="ms (median)",
        ours=shell_boxed,
        peer="plain subprocess",
        peers=shell_plain,
        better="lower",
        parameters=level,
    )
    results.add(
        "persistent sandboxed session cell",
        metric="ms (median)",
        ours=cell,
        peer="fresh sandboxed interpreter",
        peers=boxed,
        better="lower",
        parameters=level,
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
