"""lemur-bench's fixture suite against a flaky OpenAI-compatible server: nothing lost, nothing
doubled, the fault-free numbers, and what the faults cost in wall time.

The server is lemur-agents' loopback server (a real HTTP server, in its own process so its CPU
time is not the harness's) answering from the fixtures' scripted agent, so the fault-free run
scores exactly what ``lemur-bench run --model scripted:...`` scores. The flaky run uses the same
server with a fault plan: a share of the distinct requests (``--rate``) first fail
``--repeats`` times, the kinds taking turns: 500s, hangs past the client's timeout, 200s with
truncated JSON, torn bodies, connection resets, 429 with Retry-After, HTML and choices-less
200s. Both runs use the same model spec but for the port, after one unmeasured warm-up run.

    uv run python benchmarks/bench_flaky_server.py [--rate 0.3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lemur_agents.models.loopback_server import FAULTS, FaultPlan, LoopbackServer
from lemur_bench import read_episodes, run_suite, write_fixtures
from lemur_bench.fixtures import SCRIPT_NAME
from lemur_bench.runner import RunIncompleteError
from lemur_core import atomic_write_text


def _serve(script: str, plan: FaultPlan, ports: Any, stop: Any, stats: Any) -> None:
    server = LoopbackServer.scripted(script, plan=plan).start()
    ports.put(server.port)
    stop.wait()
    stats.put(
        {"requests": server.requests, "completions": server.completions, **dict(server.stats)}
    )
    server.stop()


def _run(fixtures: Path, out: Path, plan: FaultPlan, args: argparse.Namespace) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    ports, stats, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    script = str(fixtures / SCRIPT_NAME)
    proc = ctx.Process(target=_serve, args=(script, plan, ports, stop, stats), daemon=True)
    proc.start()
    port = ports.get(timeout=60)
    spec = (
        f"openai:http://127.0.0.1:{port}/v1?timeout={args.timeout}&max_retries={args.max_retries}"
        f"&backoff_seconds={args.backoff}&concurrency={args.concurrency}#lemur"
    )
    started = time.perf_counter()
    try:
        summary = run_suite(
            args.suite,
            spec,
            out,
            tasks_dir=fixtures,
            concurrency=args.concurrency,
            progress=False,
        )
    except RunIncompleteError as exc:
        summary = exc.summary
    wall = time.perf_counter() - started
    stop.set()
    server = stats.get(timeout=60)
    proc.join(timeout=30)
    lines = read_episodes(out / "episodes.jsonl")
    counts = Counter(r.episode_id for r in lines)
    status = summary["status"]
    finished = [r for r in lines if r.termination.value != "model_error"]
    return {
        "wall_seconds": round(wall, 2),
        "planned": status["planned"],
        "lost": status["planned"] - status["finished"],
        "duplicated": sum(n - 1 for n in counts.values() if n > 1),
        "success_rate": sum(r.success for r in finished) / max(1, status["planned"]),
        "task_rates": {name: t["rate"] for name, t in summary["tasks"].items()},
        "server": server,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="all")
    parser.add_argument("--rate", type=float, default=0.3, help="share of requests faulted")
    parser.add_argument("--repeats", type=int, default=2, help="failures per faulted request")
    parser.add_argument("--faults", default=",".join(FAULTS), help="kinds, comma-separated")
    parser.add_argument("--hang", type=float, default=3.0, help="seconds a hung answer takes")
    parser.add_argument("--timeout", type=float, default=1.0, help="client timeout, seconds")
    parser.add_argument("--max-retries", type=int, default=4)
    parser.add_argument("--backoff", type=float, default=0.05, help="first retry delay")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    kinds = tuple(k for k in args.faults.split(",") if k)
    unknown = sorted(set(kinds) - set(FAULTS))
    if unknown:
        parser.error(f"unknown fault kind(s) {unknown}; known: {', '.join(FAULTS)}")
    with tempfile.TemporaryDirectory() as tmp:
        fixtures = write_fixtures(Path(tmp) / "fixtures")
        # A first run warms what both would otherwise pay once (imports, sandboxes, page
        # caches); it is not measured.
        _run(fixtures, Path(tmp) / "warmup", FaultPlan(), args)
        clean = _run(fixtures, Path(tmp) / "clean", FaultPlan(), args)
        plan = FaultPlan(
            rate=args.rate,
            faults=kinds,  # type: ignore[arg-type]  # checked against FAULTS above
            repeats=args.repeats,
            hang_seconds=args.hang,
            retry_after_seconds=0.05,
        )
        flaky = _run(fixtures, Path(tmp) / "flaky", plan, args)
    injected = {k: v for k, v in flaky["server"].items() if k in FAULTS}
    equal = flaky["task_rates"] == clean["task_rates"]
    print(f"suite {args.suite}: {clean['planned']} planned episodes")
    print(
        f"faults injected: {sum(injected.values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(injected.items()))}); "
        f"server requests {flaky['server']['requests']} vs {clean['server']['requests']} fault-free"
    )
    print(f"episodes lost: {flaky['lost']}   duplicated: {flaky['duplicated']}")
    print(
        f"success rate: {100 * flaky['success_rate']:.1f}% vs {100 * clean['success_rate']:.1f}% "
        f"fault-free (every task equal: {equal})"
    )
    print(
        f"wall time: {flaky['wall_seconds']:.1f} s vs {clean['wall_seconds']:.1f} s fault-free "
        f"({flaky['wall_seconds'] / max(clean['wall_seconds'], 1e-9):.2f}x)"
    )
    if args.json:
        figures = {
            "suite": args.suite,
            "planned_episodes": clean["planned"],
            "episodes_lost": flaky["lost"],
            "episodes_duplicated": flaky["duplicated"],
            "success_rate": flaky["success_rate"],
            "success_rate_fault_free": clean["success_rate"],
            "task_rates_equal": equal,
            "wall_seconds": flaky["wall_seconds"],
            "wall_seconds_fault_free": clean["wall_seconds"],
            "faults_injected": injected,
            "server_requests": flaky["server"]["requests"],
            "server_requests_fault_free": clean["server"]["requests"],
            "settings": {k: str(v) for k, v in vars(args).items() if k != "json"},
        }
        atomic_write_text(args.json, json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
