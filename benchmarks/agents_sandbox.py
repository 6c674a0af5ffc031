"""Cost of isolation: sandboxed calls (warm zygote and cold exec chain) vs plain subprocesses,
persistent session vs a fresh interpreter per cell (what a harness without a session pays).

    uv run python benchmarks/agents_sandbox.py [--calls 30] [--json PATH]

Like with like: the plain subprocess runs the same interpreter and code with the sandbox's own
scrubbed environment. The three ways of starting a program run interleaved (plain, warm, cold,
plain, ...), so a change of the machine's load hits all of them alike; best-of-N and the median
are printed, with the load average before and after. A warm call leaves work behind (its
namespaces are torn down and a new spare prepares its jail after it has returned), which an
interleaved plain call would pay for: so plain and warm calls also run in alternating blocks
of back-to-back calls (the per-call time of a block includes that work), and the CPU seconds
per call are counted for both (for warm calls: the zygote and everything it reaped, plus the
host). The warm and cold sandboxes must report the same isolation level.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _results import Results, add_json_option
from lemur_agents.sandbox import PythonSession, Sandbox, warm

_BLOCK = 10  # back-to-back calls per block


def _interleaved(fns: dict[str, Callable[[], object]], calls: int) -> dict[str, list[float]]:
    """Milliseconds per call of each function, the functions taking turns."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(calls):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - started) * 1000)
    return times


def _blocks(fns: dict[str, Callable[[], object]], blocks: int) -> dict[str, list[float]]:
    """Milliseconds per call of each block of ``_BLOCK`` back-to-back calls, blocks alternating."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(blocks):
        for name, fn in fns.items():
            started = time.perf_counter()
            for _ in range(_BLOCK):
                fn()
            times[name].append((time.perf_counter() - started) * 1000 / _BLOCK)
    return times


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_self() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _cpu_zygote() -> float:
    """CPU seconds of the zygote and of every process it reaped (spares, calls, programs)."""
    pid = warm.zygote_pid()
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime, stime, cutime, cstime are fields 14-17 of proc(5); fields[0] is field 3.
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _cpu_per_call(fn: Callable[[], object], calls: int, counter: Callable[[], float]) -> float:
    """Milliseconds of CPU per call: the host's own plus what ``counter`` counts."""
    before = counter() + _cpu_self()
    for _ in range(calls):
        fn()
    return (counter() + _cpu_self() - before) * 1000 / calls


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
        Sandbox() as hot,
        Sandbox(warm=False) as cold,
        PythonSession() as session,
        tempfile.TemporaryDirectory() as tmp,
    ):
        if hot.isolation_level != cold.isolation_level:
            sys.exit(
                f"warm and cold isolation differ: {hot.isolation_level} / {cold.isolation_level}"
            )
        work = hot.scratch_dir()
        for _ in range(3):  # start the zygote, let its spares learn this sandbox's settings
            hot.run("true", cwd=work)
        env = hot.child_env(Path(tmp))
        argv = [sys.executable, "-c", code]

        def plain_python() -> object:
            return subprocess.run(argv, capture_output=True, cwd=tmp, env=env)

        def warm_python() -> object:
            return hot.run(argv, cwd=work)

        python = _interleaved(
            {
                "plain": plain_python,
                "warm": warm_python,
                "cold": lambda: cold.run(argv, cwd=work),
            },
            args.calls,
        )
        blocks = _blocks({"plain": plain_python, "warm": warm_python}, max(3, args.calls // _BLOCK))
        cpu = {
            "plain": _cpu_per_call(plain_python, args.calls, _cpu_children),
            "warm": _cpu_per_call(warm_python, args.calls, _cpu_zygote),
        }
        shell = _interleaved(
            {
                "plain": lambda: subprocess.run(
                    ["/bin/sh", "-c", "echo hi"], capture_output=True, cwd=tmp, env=env
                ),
                "warm": lambda: hot.run("echo hi", cwd=work),
                "cold": lambda: cold.run("echo hi", cwd=work),
            },
            args.calls,
        )
        session.run("pass")
        cell = _interleaved({"cell": lambda: session.run(code)}, args.calls)["cell"]
        warm_started = hot.warm_starts
    load_after = os.getloadavg()
    print(f"isolation (warm and cold alike): {hot.isolation_level}")
    print(f"warm calls started by the zygote: {warm_started}")
    print(
        f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f} ({os.cpu_count()} CPUs)"
    )
    print(f"{args.calls} interleaved calls each; ratio = best/best and median/median")
    print(_line("python -c, plain subprocess", python["plain"], None))
    print(_line("python -c, sandboxed warm", python["warm"], python["plain"]))
    print(_line("python -c, sandboxed cold", python["cold"], python["plain"]))
    print(f"back-to-back blocks of {_BLOCK} calls, per call (median of blocks / best block):")
    print(_line("python -c, plain, in blocks", blocks["plain"], None))
    print(_line("python -c, warm, in blocks", blocks["warm"], blocks["plain"]))
    print(
        f"CPU per python -c call (host + children): plain {cpu['plain']:.1f} ms, "
        f"warm {cpu['warm']:.1f} ms (zygote, spares, calls)"
    )
    print(_line("sh -c echo, plain subprocess", shell["plain"], None))
    print(_line("sh -c echo, sandboxed warm", shell["warm"], shell["plain"]))
    print(_line("sh -c echo, sandboxed cold", shell["cold"], shell["plain"]))
    print(f"persistent sandboxed session : {statistics.median(cell):7.2f} ms per cell (median)")
    level = {
        "isolation": str(hot.isolation_level),
        "calls": args.calls,
        "load_after": round(load_after[0], 2),
    }
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
        f"sandboxed python -c, warm, back-to-back blocks of {_BLOCK} (median)",
        metric="ms",
        ours=statistics.median(blocks["warm"]),
        peer="plain subprocess",
        peers=statistics.median(blocks["plain"]),
        better="lower",
        parameters=level,
    )
    results.add(
        "sandboxed python -c, warm, CPU per call",
        metric="ms",
        ours=cpu["warm"],
        peer="plain subprocess",
        peers=cpu["plain"],
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
