"""Near-dedup quality and speed: lemur-data's MinHash-LSH against exact Jaccard and datasketch.

Two document sets, each with a ground truth of exact Jaccard similarities (of the very shingles
dedup uses: 5-grams of words and punctuation, after datatrove's normalization):

* planted: generated code-like and text-like documents with planted near-duplicates at chosen
  Jaccard levels;
* code: real ``.py`` files of this machine's Python stdlib (files that are near-duplicates of
  each other are left out first) plus planted near-clones of some of them: identifiers renamed,
  top-level functions reordered, comments edited, indentation and blank lines changed.

Ground truth = every pair with exact Jaccard >= the threshold implied by bands x rows, among the
planted pairs and the candidates of a very sensitive LSH (30 x 2, so no true pair is missed).

Printed, per set: precision / recall / F1 of lemur-data's near dedup (its datatrove steps
``VectorMinhashSignature`` and ``VectorMinhashBuckets`` on datatrove's LocalPipelineExecutor,
then its union-find clusters) and of datasketch's ``MinHashLSH`` with the same bands x rows on the
same shingles; documents per second of both (one core each, best of ``--repeats`` alternating
runs) and their ratio; peak traced memory of each (tracemalloc, in a separate untimed run). Then
the S-curve: the detection rate of pairs of exact Jaccard s against 1 - (1 - s^r)^b, for both.

    uv run python benchmarks/dedup_near.py                 # ~4 minutes on 2 busy cores
    uv run python benchmarks/dedup_near.py --json benchmarks/results/dedup_near.json
    uv run python benchmarks/dedup_near.py --docs 400 --code-files 150 --bands 14 --rows 8
"""

from __future__ import annotations

import argparse
import itertools
import keyword
import os
import random
import re
import struct
import sysconfig
import tempfile
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from _results import Results, add_json_option
from datatrove.data import Document
from datatrove.executor.local import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep
from datatrove.utils.text import simplify_text
from lemur_data.corpus.config import DedupConfig
from lemur_data.corpus.dedup import (
    CodeWordTokenizer,
    cluster_duplicates,
    lsh_match_probability,
    minhash_config,
)
from lemur_data.corpus.minhash import (
    MinhashPermutations,
    ShingleHasher,
    VectorMinhashBuckets,
    VectorMinhashSignature,
)
from loguru import logger

PUNCT = list("()[]{}:;,.=+-*/<>")
Docs = list[tuple[str, str]]
Pairs = set[tuple[int, int]]


class ListReader(PipelineStep):
    """Yields this task's share of an in-memory document list."""

    name = "list reader"

    def __init__(self, docs: Docs) -> None:
        super().__init__()
        self.docs = docs

    def run(self, data: object = None, rank: int = 0, world_size: int = 1) -> Iterator[Document]:  # type: ignore[override]
        for doc_id, text in self.docs[rank::world_size]:
            yield Document(text=text, id=doc_id, metadata={})


def shingles(text: str, config: DedupConfig) -> set[str]:
    """The exact shingle set lemur-data's MinHash sees (same normalization and tokenizer)."""
    mh = minhash_config(config)
    words = CodeWordTokenizer().word_tokenize(simplify_text(text, mh.norm_config))
    n = config.ngram_size
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


# --- the planted set --------------------------------------------------------------------------


def _random_doc(rng: random.Random, vocab: list[str], code: bool) -> list[str]:
    length = rng.randint(150, 400)
    if code:
        return [
            rng.choice(PUNCT) if rng.random() < 0.35 else rng.choice(vocab) for _ in range(length)
        ]
    return [rng.choice(vocab) for _ in range(length)]


def _mutate(rng: random.Random, tokens: list[str], rate: float, vocab: list[str]) -> list[str]:
    out = list(tokens)
    for i in range(len(out)):
        if rng.random() < rate:
            out[i] = rng.choice(vocab) + "_x"
    return out


def make_planted(
    n_docs: int, levels: list[float], seed: int, config: DedupConfig
) -> tuple[Docs, dict[tuple[int, int], float]]:
    """Documents, and the exact Jaccard of every planted pair (indices into the list)."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(20000)]
    docs: list[str] = []
    planted: dict[tuple[int, int], float] = {}
    n_pairs = n_docs // 4
    for k in range(n_docs - n_pairs):
        docs.append(" ".join(_random_doc(rng, vocab, code=k % 2 == 0)))
    # Distinct bases: every planted pair is its own group.
    bases = rng.sample(range(len(docs)), n_pairs)
    for p, base_index in enumerate(bases):
        base = docs[base_index].split(" ")
        target = levels[p % len(levels)]
        base_sh = shingles(docs[base_index], config)
        lo, hi, best = 0.0, 1.0, base
        for _ in range(14):  # bisect the mutation rate to hit the target Jaccard
            mid = (lo + hi) / 2
            cand = _mutate(random.Random(seed * 7919 + p), base, mid, vocab)
            j = jaccard(base_sh, shingles(" ".join(cand), config))
            best = cand
            if j > target:
                lo = mid
            else:
                hi = mid
        docs.append(" ".join(best))
        new_index = len(docs) - 1
        planted[(base_index, new_index)] = jaccard(base_sh, shingles(docs[new_index], config))
    return [(f"doc{i:06d}", t) for i, t in enumerate(docs)], planted


# --- the code set -----------------------------------------------------------------------------

_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]{3,}\b")
_TOP_LEVEL = re.compile(r"^(?=(?:async def|def|class) )", re.MULTILINE)
_COMMENT = re.compile(r"#[^\n]*")
_RESERVED = set(keyword.kwlist) | set(dir(__builtins__)) | {"self", "None", "True", "False"}


def near_clone(src: str, rng: random.Random, intensity: float) -> str:
    """A near-clone of Python source: the edits a copy-paste-and-adapt leaves behind."""
    names = sorted(set(_IDENT.findall(src)) - _RESERVED)
    renamed = rng.sample(names, min(len(names), round(intensity * 0.25 * len(names))))
    if renamed:
        mapping = {n: f"{n}_{rng.choice(['v2', 'new', 'alt', 'tmp'])}" for n in renamed}
        src = re.sub(
            r"\b(" + "|".join(map(re.escape, renamed)) + r")\b", lambda m: mapping[m[1]], src
        )
    blocks = _TOP_LEVEL.split(src)
    if len(blocks) > 3 and rng.random() < 0.5 + intensity / 2:  # reorder top-level functions
        body = blocks[1:]
        for _ in range(max(1, round(intensity * len(body) / 2))):
            i, j = rng.randrange(len(body)), rng.randrange(len(body))
            body[i], body[j] = body[j], body[i]
        src = blocks[0] + "".join(b if b.endswith("\n") else b + "\n" for b in body)
    words = ["note", "fixme", "see", "issue", "changed", "keep", "fast", "path", "here"]
    src = _COMMENT.sub(
        lambda m: (
            "# " + " ".join(rng.choices(words, k=rng.randint(2, 6)))
            if rng.random() < intensity
            else m[0]
        ),
        src,
    )
    lines = []
    for line in src.split("\n"):  # whitespace: re-indent, trailing spaces, blank lines
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if rng.random() < 0.3:
            line = " " * (indent // 2) + stripped + "  "
        lines.append(line)
        if rng.random() < 0.05:
            lines.append("")
    return "\n".join(lines)


def _stdlib_files(limit: int, seed: int) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(
        p
        for p in root.rglob("*.py")
        if "site-packages" not in p.parts and 2_000 <= p.stat().st_size <= 60_000
    )
    return sorted(random.Random(seed).sample(files, min(limit, len(files))))


def make_code(
    n_files: int, n_clones: int, seed: int, config: DedupConfig
) -> tuple[Docs, dict[tuple[int, int], float]]:
    """Stdlib files (no two of them alike) plus planted near-clones, and the clones' Jaccard."""
    rng = random.Random(seed)
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in _stdlib_files(n_files, seed)]
    # Leave out files that already are near-duplicates of an earlier one (J >= 0.5).
    candidates = sensitive_candidates(texts, config)
    sets = [shingles(t, config) for t in texts]
    drop = {b for a, b in candidates if jaccard(sets[a], sets[b]) >= 0.5}
    keep = [i for i in range(len(texts)) if i not in drop and len(sets[i]) >= 20]
    texts, sets = [texts[i] for i in keep], [sets[i] for i in keep]
    planted: dict[tuple[int, int], float] = {}
    for base in rng.sample(range(len(texts)), min(n_clones, len(texts))):
        clone = near_clone(texts[base], rng, rng.uniform(0.0, 1.0))
        texts.append(clone)
        planted[(base, len(texts) - 1)] = jaccard(sets[base], shingles(clone, config))
    return [(f"code{i:06d}", t) for i, t in enumerate(texts)], planted


# --- ground truth -----------------------------------------------------------------------------


def sensitive_candidates(texts: list[str], config: DedupConfig) -> Pairs:
    """Pairs sharing a band of a 30 x 2 MinHash (P(found) > 1 - 1e-9 at Jaccard 0.6)."""
    hasher = ShingleHasher(config.ngram_size, minhash_config(config).norm_config)
    hashes, counts = hasher.hash_batch(texts)
    sigs = MinhashPermutations(60, seed=12345).signatures(hashes, counts)
    index = np.flatnonzero(counts > 0)
    found: Pairs = set()
    for band in range(30):
        buckets: dict[bytes, list[int]] = defaultdict(list)
        for row, doc in zip(sigs[:, 2 * band : 2 * band + 2], index, strict=True):
            buckets[row.tobytes()].append(int(doc))
        for members in buckets.values():
            found.update(itertools.combinations(members, 2))
    return found


def ground_truth(
    docs: Docs, planted: dict[tuple[int, int], float], config: DedupConfig, threshold: float
) -> Pairs:
    """Pairs with exact Jaccard >= threshold among planted groups and sensitive candidates."""
    groups: dict[int, set[int]] = defaultdict(set)
    for a, b in planted:
        groups[a].update((a, b))
    candidates = {p for m in groups.values() for p in itertools.combinations(sorted(m), 2)}
    candidates |= sensitive_candidates([t for _, t in docs], config)
    cache: dict[int, set[str]] = {}

    def sh(i: int) -> set[str]:
        if i not in cache:
            cache[i] = shingles(docs[i][1], config)
        return cache[i]

    return {(a, b) for a, b in candidates if jaccard(sh(a), sh(b)) >= threshold}


# --- the two systems --------------------------------------------------------------------------


def run_lemur(
    docs: Docs, config: DedupConfig, seed: int | None = None
) -> tuple[Pairs, float, dict[str, float]]:
    """Pairs in the same cluster after lemur-data's near dedup, the seconds its steps took
    (datatrove's own per-step timing, plus the clustering), and the seconds of each part
    including ``wall``: the same with each executor's fixed start-up (a manager process, task
    loggers, stats files; about the same for any number of documents). ``seed`` overrides the
    permutations' seed."""
    mh = minhash_config(config)
    if seed is not None:
        mh.seed = seed
    parts: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        stats = LocalPipelineExecutor(
            [ListReader(docs), VectorMinhashSignature(str(work / "sigs"), config=mh)],
            tasks=1,
            workers=1,
            logging_dir=str(work / "logs1"),
        ).run()
        parts["signatures"] = stats.stats[-1].time_stats.total
        # One task for all bands here; a build may run one task per band (same output).
        stats = LocalPipelineExecutor(
            [VectorMinhashBuckets(str(work / "sigs"), str(work / "dups"), config=mh)],
            tasks=1,
            workers=1,
            logging_dir=str(work / "logs2"),
        ).run()
        parts["buckets"] = stats.stats[-1].time_stats.total
        clusters_start = time.perf_counter()
        pairs: list[tuple[int, int, int, int]] = []
        for path in sorted((work / "dups").glob("*.dups")):
            pairs.extend(struct.iter_unpack("<4I", path.read_bytes()))  # type: ignore[arg-type]
        removed, _ = cluster_duplicates(
            [[(doc_id, doc_id) for doc_id, _ in docs]], pairs, exact=False, near=True
        )
        parts["clusters"] = time.perf_counter() - clusters_start
        parts["wall"] = time.perf_counter() - start
    elapsed = parts["signatures"] + parts["buckets"] + parts["clusters"]
    # Pair-level scoring: every pair inside a cluster (the union-find closure of the matches).
    parent = list(range(len(docs)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, d1, _, d2 in pairs:
        ra, rb = find(d1), find(d2)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in range(len(docs)):
        clusters[find(i)].append(i)
    predicted = {
        (a, b)
        for members in clusters.values()
        if len(members) > 1
        for a, b in itertools.combinations(sorted(members), 2)
    }
    assert len(removed.get(0, {})) == sum(len(m) - 1 for m in clusters.values())
    return predicted, elapsed, parts


def run_datasketch(docs: Docs, config: DedupConfig, seed: int | None = None) -> tuple[Pairs, float]:
    """Candidate pairs from datasketch's MinHashLSH with the same bands x rows."""
    from datasketch import MinHash, MinHashLSH

    start = time.perf_counter()
    lsh = MinHashLSH(num_perm=config.num_permutations, params=(config.bands, config.rows_per_band))
    predicted = set()
    for i, (_, text) in enumerate(docs):
        m = MinHash(num_perm=config.num_permutations, seed=config.seed if seed is None else seed)
        m.update_batch([s.encode("utf-8") for s in shingles(text, config)])
        for j in lsh.query(m):
            predicted.add((int(j), i))
        lsh.insert(str(i), m)
    return predicted, time.perf_counter() - start


def prf(predicted: Pairs, truth: Pairs) -> tuple[float, float, float]:
    tp = len(predicted & truth)
    p = tp / len(predicted) if predicted else 1.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def peak_mib(fn: Callable[[], object]) -> float:
    """Peak memory traced by tracemalloc (Python and numpy allocations) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def evaluate_set(
    label: str,
    docs: Docs,
    planted: dict[tuple[int, int], float],
    config: DedupConfig,
    seeds: list[int],
    results: Results,
) -> None:
    threshold = config.implied_threshold
    truth = ground_truth(docs, planted, config, threshold)
    chars = sum(len(t) for _, t in docs)
    print(
        f"\n== {label} set: {len(docs)} documents ({chars / 1e6:.1f} M characters), "
        f"{len(planted)} planted pairs, {len(truth)} true pairs (exact Jaccard >= {threshold:.3f})"
    )
    # One run of each per permutation seed, alternating: F1 is averaged over the seeds (a single
    # draw of permutations moves it by a few near-threshold pairs), speed is the best run (a
    # burst of load on a shared machine does not decide the ratio).
    t_ours = t_wall = t_theirs = float("inf")
    best_parts: dict[str, float] = {}
    runs: dict[str, list[Pairs]] = {"lemur-data": [], "datasketch": []}
    for seed in seeds:
        ours, elapsed, parts = run_lemur(docs, config, seed)
        if elapsed < t_ours:
            t_ours, best_parts = elapsed, parts
        t_wall = min(t_wall, parts["wall"])
        theirs, elapsed = run_datasketch(docs, config, seed)
        t_theirs = min(t_theirs, elapsed)
        runs["lemur-data"].append(ours)
        runs["datasketch"].append(theirs)
    mem_ours = peak_mib(lambda: run_lemur(docs, config))
    mem_theirs = peak_mib(lambda: run_datasketch(docs, config))
    scores = {}
    for name, preds in runs.items():
        prfs = np.array([prf(pred, truth) for pred in preds])
        p, r, f = prfs.mean(axis=0)
        scores[name] = f
        print(
            f"{name:>11}: precision {p:.3f}  recall {r:.3f}  F1 {f:.3f} ± {prfs[:, 2].std():.3f}"
            f"  (mean over {len(seeds)} permutation seeds; per seed "
            + " ".join(f"{x:.3f}" for x in prfs[:, 2])
            + ")"
        )
    print("planted J    n  S-curve  lemur-data  datasketch   (detection rate over all seeds)")
    by_bin: dict[float, list[tuple[int, int]]] = defaultdict(list)
    for pair, j in planted.items():
        by_bin[round(j * 20) / 20].append(pair)  # bins 0.05 wide
    for level in sorted(by_bin):
        pairs = by_bin[level]
        rate, rate_ds = (
            sum(p in pred for pred in runs[name] for p in pairs) / (len(pairs) * len(seeds))
            for name in ("lemur-data", "datasketch")
        )
        theory = lsh_match_probability(level, config.bands, config.rows_per_band)
        print(f"{level:9.2f} {len(pairs):4d}  {theory:7.3f}  {rate:10.3f}  {rate_ds:10.3f}")
    speed = t_theirs / t_ours
    print(
        f"throughput: lemur-data {len(docs) / t_ours:,.0f} docs/s ({t_ours:.2f} s), "
        f"datasketch {len(docs) / t_theirs:,.0f} docs/s ({t_theirs:.2f} s), "
        f"ratio lemur/datasketch = {speed:.2f}x (best of {len(seeds)})"
    )
    print(
        f"  with the executors' fixed start-up (wall): lemur-data {len(docs) / t_wall:,.0f} docs/s "
        f"({t_wall:.2f} s), ratio {t_theirs / t_wall:.2f}x"
    )
    print(
        "lemur-data time by part: "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in best_parts.items())
    )
    print(f"peak traced memory: lemur-data {mem_ours:.1f} MiB, datasketch {mem_theirs:.1f} MiB")
    print(
        f"F1 lemur-data - datasketch = {scores['lemur-data'] - scores['datasketch']:+.3f} "
        f"(target >= -0.005); speed ratio target >= 3x"
    )
    common: dict[str, object] = {"set": label, "documents": len(docs), "true_pairs": len(truth)}
    results.add(
        f"near dedup throughput ({label} set)",
        metric="docs/s",
        ours=len(docs) / t_ours,
        peer="datasketch",
        peers=len(docs) / t_theirs,
        note="steps' own time (datatrove stats) + clustering; executor start-up excluded",
        parameters={**common, "seconds_by_part": best_parts},
    )
    results.add(
        f"near dedup throughput incl. executor start-up ({label} set)",
        metric="docs/s",
        ours=len(docs) / t_wall,
        peer="datasketch",
        peers=len(docs) / t_theirs,
        parameters=common,
    )
    results.add(
        f"near dedup F1 ({label} set)",
        metric="F1",
        ours=scores["lemur-data"],
        peer="datasketch",
        peers=scores["datasketch"],
        note=f"difference {scores['lemur-data'] - scores['datasketch']:+.3f}",
        parameters=common,
    )
    results.add(
        f"near dedup peak traced memory ({label} set)",
        metric="MiB",
        ours=mem_ours,
        peer="datasketch",
        peers=mem_theirs,
        better="lower",
        parameters=common,
    )


def s_curve(config: DedupConfig, pairs_per_level: int, seed: int, results: Results) -> None:
    """Detection rate of pairs of exactly known Jaccard, both systems, against theory."""
    from datasketch import MinHash

    rng = np.random.default_rng(seed)
    b, r = config.bands, config.rows_per_band
    perms = MinhashPermutations(config.num_permutations, config.seed)
    size = 200
    print(f"\n== S-curve: {pairs_per_level} pairs per level, {size}-shingle sets, {b} x {r}")
    print("  Jaccard   theory  lemur-data  datasketch   (± one standard error of the rate)")
    worst = 0.0
    for s in (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        inter = round(2 * size * s / (1 + s))  # |A & B| for |A| = |B| = size
        exact = inter / (2 * size - inter)
        ours = theirs = 0
        for _ in range(pairs_per_level):
            pool = rng.choice(1 << 32, 2 * size - inter, replace=False).astype(np.uint32)
            a, c = pool[:size], np.concatenate([pool[:inter], pool[size:]])
            sig = perms.signatures(np.concatenate([a, c]), np.array([size, size]))
            ours += bool(np.any(np.all((sig[0] == sig[1]).reshape(b, r), axis=1)))
            ma, mc = (MinHash(num_perm=b * r, seed=config.seed) for _ in range(2))
            ma.update_batch([x.tobytes() for x in a])
            mc.update_batch([x.tobytes() for x in c])
            same = (ma.hashvalues == mc.hashvalues).reshape(b, r)
            theirs += bool(np.any(np.all(same, axis=1)))
        theory = lsh_match_probability(exact, b, r)
        se = (theory * (1 - theory) / pairs_per_level) ** 0.5
        worst = max(worst, abs(ours / pairs_per_level - theory))
        print(
            f"  {exact:7.3f}  {theory:7.3f}  {ours / pairs_per_level:10.3f}  "
            f"{theirs / pairs_per_level:10.3f}   (± {se:.3f})"
        )
    print(f"largest |lemur-data - theory|: {worst:.3f}")
    results.add(
        "near dedup S-curve: largest gap to 1-(1-s^r)^b",
        metric="detection-rate gap",
        ours=worst,
        better="lower",
        parameters={"pairs_per_level": pairs_per_level},
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=2000, help="planted set size")
    parser.add_argument("--code-files", type=int, default=600, help="stdlib files sampled")
    parser.add_argument("--code-clones", type=int, default=300, help="near-clones planted")
    parser.add_argument("--bands", type=int, default=DedupConfig().bands)
    parser.add_argument("--rows", type=int, default=DedupConfig().rows_per_band)
    parser.add_argument("--ngram", type=int, default=DedupConfig().ngram_size)
    parser.add_argument("--levels", type=str, default="0.3,0.5,0.55,0.9,0.95,1.0")
    parser.add_argument("--s-curve-pairs", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats", type=int, default=5, help="runs of each, one per permutation seed"
    )
    add_json_option(parser)
    args = parser.parse_args()
    results = Results("dedup_near", vars(args))
    logger.disable("datatrove")  # the executors' per-task logs would drown the tables
    config = DedupConfig(bands=args.bands, rows_per_band=args.rows, ngram_size=args.ngram)
    print(
        f"bands x rows = {config.bands} x {config.rows_per_band} -> threshold "
        f"{config.implied_threshold:.3f}; load average at start {results.machine['load_average']}"
        f" on {os.cpu_count()} CPUs"
    )
    levels = [float(x) for x in args.levels.split(",")]
    docs, planted = make_planted(args.docs, levels, args.seed, config)
    seeds = [config.seed + i for i in range(args.repeats)]
    evaluate_set("planted", docs, planted, config, seeds, results)
    docs, planted = make_code(args.code_files, args.code_clones, args.seed, config)
    evaluate_set("code", docs, planted, config, seeds, results)
    s_curve(config, args.s_curve_pairs, args.seed, results)
    print(f"load average at end {[round(x, 2) for x in os.getloadavg()]}")
    results.write(args.json)


if __name__ == "__main__":
    main()
