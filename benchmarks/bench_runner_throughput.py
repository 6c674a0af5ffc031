"""Episodes per second of lemur-bench's runner against the same episodes played one by one.

A fake OpenAI-compatible server on loopback answers every chat completion after a fixed latency
(default 50 ms, as a remote model would), so the model's speed is taken out and what is measured
is the harness: the runner (batched rounds over live episodes through lemur-agents' loop, the
request cache, per-episode persistence) versus the upstream harnesses' way (one episode after
another, one request at a time). It also reports the harness's own overhead: wall time not spent
waiting on the server, as a share of the runner's wall time, the runner's CPU time per episode
(which load on the machine does not inflate the way it inflates wall time), the ideal speed-up
at this concurrency (episodes / ceil(episodes / concurrency) for one-turn episodes), how late
the server's answers went out beyond the latency (median and 90th percentile, measured in the
server, so that its own queueing is not mistaken for the runner's) and the machine's load
average before and after. The runner is timed ``--repeats`` times (fresh run
directories, the same episodes) and its median is reported; the one-by-one peer runs once
(it lasts ``episodes x latency``, long enough to average over load).

    uv run python benchmarks/bench_runner_throughput.py [--episodes 256] [--latency 0.05] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _results import Results, add_json_option
from lemur_agents.models import load_model
from lemur_bench import run_suite
from lemur_core import atomic_write_text


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog (5) drops connections under 32 concurrent clients and the
    # kernel's SYN retry (1 s) would then be measured as harness time.
    request_queue_size = 256
    latency = 0.05
    requests: Any = None  # a multiprocessing.Value shared with the parent
    late: list[float]  # per answer: seconds it went out after arrival + latency


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as real OpenAI-compatible servers do
    # TCP_NODELAY, as uvicorn (vLLM) sets it: the headers and the body go out in two writes,
    # and with Nagle's algorithm the body waited for the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # /stats: the answers' lateness since the last call
        late, self.server.late = sorted(self.server.late) or [0.0], []
        data = json.dumps(
            {
                "median_ms": 1000 * statistics.median(late),
                "p90_ms": 1000 * late[int(0.9 * (len(late) - 1))],
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        arrived = time.perf_counter()
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length))
        time.sleep(self.server.latency)
        with self.server.requests.get_lock():
            self.server.requests.value += 1
        question = body["messages"][-1]["content"]
        # A GSM8K-style answer: the scorer runs on real text.
        reply = "The answer is 12." if "fixture" in question else "The answer is 3."
        data = json.dumps(
            {
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": body.get("model", "m"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": reply},
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.server.late.append(time.perf_counter() - arrived - self.server.latency)


def _lateness(port: int) -> dict[str, float]:
    """The server's answers' lateness (median, p90 in ms) since the last call."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as answer:
        return dict(json.loads(answer.read()))


def _tasks(root: Path, n: int) -> Path:
    rows = [
        {
            "question": f"A fixture shop sells {i} pens and 12 more. Total? ({i})",
            "answer": f"#### {i + 12}",
        }
        for i in range(n)
    ]
    atomic_write_text(root / "text" / "gsm8k.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return root


def _serve(latency: float, requests: Any, ports: Any) -> None:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.latency = latency
    server.requests = requests
    server.late = []
    ports.put(server.server_port)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="runner timings (median)")
    add_json_option(parser)
    args = parser.parse_args()
    results = Results("bench_runner_throughput", vars(args))
    start_load = os.getloadavg()
    # The server runs in its own process, as a real one would: its CPU time must not be
    # taken from the harness under measurement (they would share one GIL in a thread).
    ctx = multiprocessing.get_context("spawn")
    requests, ports = ctx.Value("i", 0), ctx.Queue()
    server = ctx.Process(target=_serve, args=(args.latency, requests, ports), daemon=True)
    server.start()
    port = ports.get(timeout=60)
    url = f"openai:http://127.0.0.1:{port}/v1?concurrency={args.concurrency}#fake"
    with tempfile.TemporaryDirectory() as tmp:
        root = _tasks(Path(tmp) / "tasks", args.episodes)
        model = load_model(url)
        # Sequential: one episode per run_suite call with concurrency 1, as upstream loops do.
        t0 = time.perf_counter()
        seq_dir = Path(tmp) / "seq"
        run_suite("gsm8k", url, seq_dir, tasks_dir=root, concurrency=1, model=model, progress=False)
        seq = time.perf_counter() - t0
        seq_late = _lateness(port)
        walls, cpus = [], []
        for i in range(max(1, args.repeats)):
            t0, c0 = time.perf_counter(), time.process_time()
            run_suite(
                "gsm8k",
                url,
                Path(tmp) / f"batched-{i}",
                tasks_dir=root,
                concurrency=args.concurrency,
                model=model,
                progress=False,
            )
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        runner_late = _lateness(port)
        batched = statistics.median(walls)
        cpu = statistics.median(cpus)
        # Harness overhead: wall time beyond the server's latency on the critical path
        # (rounds = ceil(episodes / concurrency) with one-turn episodes).
        rounds = -(-args.episodes // args.concurrency)
        overhead = max(0.0, batched - rounds * args.latency) / batched
        ideal = args.episodes / rounds
    server.terminate()
    n = args.episodes
    print(f"episodes: {n}, latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}")
    print(f"server requests: {requests.value}")
    for who, late in (("one by one", seq_late), ("runner", runner_late)):
        print(
            f"server answers' lateness beyond the latency ({who}): "
            f"median {late['median_ms']:.2f} ms, p90 {late['p90_ms']:.2f} ms"
        )
    print(f"sequential (one by one): {seq:.2f} s = {n / seq:.1f} episodes/s")
    print(f"lemur-bench runner:      {batched:.2f} s = {n / batched:.1f} episodes/s")
    print(
        f"speed-up over sequential: {seq / batched:.1f}x (ideal at this concurrency: {ideal:.1f}x)"
    )
    print(f"harness overhead (runner wall time not waiting on the model): {100 * overhead:.0f}%")
    print(f"runner CPU time: {1000 * cpu / n:.2f} ms per episode (median of {len(walls)} runs)")
    print(
        f"runner wall times: {', '.join(f'{w:.2f}' for w in walls)} s; load average "
        f"{' '.join(f'{x:.2f}' for x in start_load)} at start, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at end ({os.cpu_count()} CPUs)"
    )
    results.add(
        f"evaluation runner ({n} episodes, {args.latency * 1000:.0f} ms latency, "
        f"concurrency {args.concurrency})",
        metric="episodes/s",
        ours=n / batched,
        peer="one by one",
        peers=n / seq,
        note=(
            f"ideal speed-up {ideal:.1f}x at this concurrency; runner: median of {len(walls)} "
            f"runs; server answers late by p90 {runner_late['p90_ms']:.1f} ms (runner), "
            f"{seq_late['p90_ms']:.1f} ms (one by one)"
        ),
    )
    results.add(
        "evaluation runner harness overhead",
        metric="share of wall time",
        ours=overhead,
        better="lower",
    )
    results.add(
        "evaluation runner CPU time per episode",
        metric="ms/episode",
        ours=1000 * cpu / n,
        better="lower",
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
