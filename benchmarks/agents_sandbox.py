"""Cost of isolation: sandboxed calls (warm zygote and cold exec chain) vs plain subprocesses,
persistent session vs a fresh interpreter per cell (what a harness without a session pays).

    uv run python benchmarks/agents_sandbox.py [--calls 30] [--json PATH]

The three ways of starting a program run interleaved (plain, warm, cold, plain, ...), so a change
of the machine's load hits all of them alike; best-of-N and the median are printed, with the load
average before and after. The warm and cold sandboxes must report the same isolation level.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from _results import Results, add_json_option
from lemur_agents.sandbox import PythonSession, Sandbox


def _interleaved(fns: dict[str, Callable[[], object]], calls: int) -> dict[str, list[float]]:
    """Milliseconds per call of each function, the functions taking turns."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(calls):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def _line(label: str, ms: list[float], base: list[float] | None) -> str:
    best, median = min(ms), statistics.median(ms)
    text = f"{label:<28}: best {best:7.1f} ms  median {median:7.1f} ms"
    if base is not None:
        text += f"  -> {best / min(base):.2f}x / {median / statistics.median(base):.2f}x plain"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    add_json_option(parser)
    args = parser.parse_args()
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    results = Results("agents_sandbox", vars(args))
    load_before = os.getloadavg()
    code = "print(sum(range(1000)))"
    with (
        Sandbox() as warm,
        Sandbox(warm=False) as cold,
        PythonSession() as session,
        tempfile.TemporaryDirectory() as tmp,
    ):
        if warm.isolation_level != cold.isolation_level:
            sys.exit(
                f"warm and cold isolation differ: {warm.isolation_level} / {cold.isolation_level}"
            )
        work = warm.scratch_dir()
        warm.run("true", cwd=work)  # start the zygote outside the measurement
        python = _interleaved(
            {
                "plain": lambda: subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, cwd=tmp
                ),
                "warm": lambda: warm.run([sys.executable, "-c", code], cwd=work),
                "cold": lambda: cold.run([sys.executable, "-c", code], cwd=work),
            },
            args.calls,
        )
        shell = _interleaved(
            {
                "plain": lambda: subprocess.run(["/bin/sh", "-c", "echo hi"], capture_output=True),
                "warm": lambda: warm.run("echo hi", cwd=work),
                "cold": lambda: cold.run("echo hi", cwd=work),
            },
            args.calls,
        )
        session.run("pass")
        cell = _interleaved({"cell": lambda: session.run(code)}, args.calls)["cell"]
        warm_started = warm.warm_starts
    load_after = os.getloadavg()
    print(f"isolation (warm and cold alike): {warm.isolation_level}")
    print(f"warm calls started by the zygote: {warm_started}")
    print(
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} ({os.cpu_count()} CPUs)"
    )
    print(f"{args.calls} interleaved calls each; ratio = best/best and median/median")
    print(_line("python -c, plain subprocess", python["plain"], None))
    print(_line("python -c, sandboxed warm", python["warm"], python["plain"]))
    print(_line("python -c, sandboxed cold", python["cold"], python["plain"]))
    print(_line("sh -c echo, plain subprocess", shell["plain"], None))
    print(_line("sh -c echo, sandboxed warm", shell["warm"], shell["plain"]))
    print(_line("sh -c echo, sandboxed cold", shell["cold"], shell["plain"]))
    print(f"persistent sandboxed session : {statistics.median(cell):7.2f} ms per cell (median)")
    level = {"isolation": str(warm.isolation_level), "calls": args.calls}
    best = {k: min(v) for k, v in python.items()}
    median = {k: statistics.median(v) for k, v in python.items()}
    results.add(
        "sandboxed python -c, warm (best of N)",
        metric="ms",
        ours=best["warm"],
        peer="plain subprocess",
        peers=best["plain"],
        better="lower",
        parameters=level,
    )
    results.add(
        "sandboxed python -c, warm (median)",
        metric="ms",
        ours=median["warm"],
        peer="plain subprocess",
        peers=median["plain"],
        better="lower",
        parameters=level,
    )
    results.add(
        "sandboxed python -c, warm vs cold (median)",
        metric="ms",
        ours=median["warm"],
        peer="cold exec chain",
        peers=median["cold"],
        better="lower",
        parameters=level,
    )
    results.add(
        "sandboxed sh -c echo, warm (median)",
        metric="ms",
        ours=statistics.median(shell["warm"]),
        peer="plain subprocess",
        peers=statistics.median(shell["plain"]),
        better="lower",
        parameters=level,
    )
    results.add(
        "persistent sandboxed session cell (median)",
        metric="ms",
        ours=statistics.median(cell),
        peer="fresh sandboxed interpreter (warm)",
        peers=median["warm"],
        better="lower",
        parameters=level,
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
