"""Agreement of lemur-bench's ``mint`` scoring mode with MINT's own recorded verdicts.

MINT's repository (github.com/xingyaoww/mint-bench) ships the outputs of its runs:
``data/outputs/<model>/F=<feedback>/.../<task>/results.jsonl``, each reply of each model with
the observation MINT answered it with. This harness imports every reasoning and code file under
a directory (``lemur_bench.importers.mint``) and measures, in ``mint`` mode:

* **parse agreement** — per reply whose treatment MINT logged: our parser's decision (invalid /
  a proposal / code to run) equals MINT's, read off its observation;
* **verdict agreement** — per proposal MINT judged: our check's verdict (answer rules; code
  solutions run in the sandbox) equals MINT's ("Your answer is wrong." / solved).

Usage (MINT's data is not part of this project; clone it anywhere)::

    git clone https://github.com/xingyaoww/mint-bench /tmp/mint-bench
    uv run python benchmarks/mint_agreement.py /tmp/mint-bench/data/outputs \\
        --json mint_agreement.json --disagreements mint_disagreements.jsonl

``--no-code`` skips the code checks (they run one sandboxed process per proposal); identical
checks run once, and ``--code-sample N`` runs a deterministic 1-in-N sample of the distinct
ones (by hash), for a machine that cannot spare the CPU for all of them.

Each disagreement is classified: ``before 3f7f12c`` (a negative reference: MINT's logs predate
its fix of the tolerance ``0.05 * float(ref)`` to ``0.05 * abs(float(ref))``, June 2024, and the
pre-fix rule gives the logged verdict), ``before cc4fbc1`` (a TheoremQA option answer: logged
before MINT's fix of its option check, October 2023), ``fenced-code harness`` (runs whose logs
show Markdown code blocks executed, which MINT's parser never does: those outputs were produced
by another harness), ``environment`` (a code solution importing a package MINT's machine had and
the sandbox has not, e.g. ``nltk`` with a download; or a slow solution that runs past MINT's
10 s limit on this machine), or ``unexplained``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lemur_bench.importers.mint import MintImportError, read_mint_results, run_info_from_path
from lemur_bench.rescore import _task_of, scorer_for
from lemur_core import EpisodeRecord

# The runs whose logs show Markdown ```python blocks executed (added to MINT's repository in
# April 2024 with the Eurus configs, commits 9ebb125..a6c6bcb): MINT's public parser never runs
# them, so these runs came from another harness; they are parsed with ``fenced_code=True``
# (lemur_agents.actions.tags) unless --mint-parser-everywhere.
FENCED_CODE_RUNS = (
    "Eurus-70B-KTO",
    "Eurus-70B-NCA",
    "Eurus-70B-SFT",
    "Eurus-7B-KTO",
    "Eurus-7B-SFT",
    "OpenCodeInterpreter-DS-6.7B",
)


def _explain_parse(mint_label: str, ours: str, reply: str, fenced: bool) -> str:
    if fenced:
        return "unexplained (a fenced-code run)"
    if mint_label == "execute" and ours == "invalid" and "```" in reply:
        return "fenced-code harness"
    return "unexplained"


def _before_3f7f12c(content: str, reference: Any) -> bool:
    ref, ans = str(reference).strip().lower(), content.lower().strip()
    try:
        return abs(float(ref) - float(ans)) <= 0.05 * float(ref)
    except ValueError:
        return ref in ans


def _explain_verdict(task: str, content: str, reference: Any, mint_ok: bool) -> str:
    from lemur_bench.scorers.mint_answers import theoremqa_value

    if task in ("gsm8k", "math", "hotpotqa") and _before_3f7f12c(content, reference) == mint_ok:
        return "before 3f7f12c"
    if task == "theoremqa" and getattr(reference, "answer_type", None) in ("option", "Option"):
        try:
            old = theoremqa_value(content) == reference.answer
        except ValueError:
            old = False
        if old == mint_ok:
            return "before cc4fbc1"
    return "unexplained"


def _our_label(turn_info: dict[str, Any], parse_error: str | None) -> str:
    if parse_error is not None:
        return "invalid"
    return str(turn_info.get("parsed_kind"))


def _parse_agrees(mint_label: str, ours: str, our_kind: str | None) -> bool | None:
    if mint_label == "unknown":
        return None
    if mint_label == "final_proposal":  # MINT took it as a proposal; it logged nothing more
        return our_kind == "solution"
    if mint_label == "solution_error":
        return ours == "solution"
    return ours == mint_label


def _proposals(record: EpisodeRecord) -> list[tuple[int, str, bool]]:
    """(turn, content, MINT's verdict) of each proposal MINT judged and we parse."""
    out = []
    for turn in record.turns:
        label = turn.info.get("mint_label")
        content = turn.info.get("parsed_content")
        if turn.parse_error is not None or turn.info.get("parsed_kind") != "solution":
            continue
        if label == "solution":
            out.append((turn.index, str(content), bool(turn.info.get("mint_correct"))))
        elif label == "final_proposal":
            out.append((turn.index, str(content), False))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "outputs",
        nargs="?",
        default=os.environ.get("LEMUR_MINT_OUTPUTS"),
        help="MINT's data/outputs directory (default: $LEMUR_MINT_OUTPUTS)",
    )
    parser.add_argument("--no-code", action="store_true", help="skip HumanEval/MBPP checks")
    parser.add_argument("--workers", type=int, default=2, help="parallel code checks")
    parser.add_argument(
        "--code-sample", type=int, default=1, help="check 1 in N distinct code solutions"
    )
    parser.add_argument(
        "--mint-parser-everywhere",
        action="store_true",
        help="parse the fenced-code runs with MINT's public parser too",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--disagreements", type=Path, help="write each disagreement here")
    args = parser.parse_args()
    if not args.outputs or not Path(args.outputs).is_dir():
        print("pass MINT's data/outputs directory (or set LEMUR_MINT_OUTPUTS)", file=sys.stderr)
        return 2
    files = sorted(
        p for p in Path(args.outputs).rglob("results.jsonl") if "alfworld" not in p.parts
    )
    started = time.time()
    parse: Counter[tuple[str, bool]] = Counter()
    by_harness: Counter[tuple[str, bool]] = Counter()
    verdict: Counter[tuple[str, bool]] = Counter()
    unknown = 0
    bad: list[dict[str, Any]] = []
    jobs: list[tuple[str, str, Any, Any, bool, dict[str, Any]]] = []
    for path in files:
        try:
            model = path.relative_to(args.outputs).parts[0]
            fenced = model in FENCED_CODE_RUNS and not args.mint_parser_everywhere
            run = run_info_from_path(path, fenced_code=fenced)
            records = list(read_mint_results(path, run))
        except MintImportError as exc:
            print(f"skip {path}: {exc}", file=sys.stderr)
            continue
        task = run.task
        code = task in ("humaneval", "mbpp")
        scorer = scorer_for(run.benchmark).with_mode("mint")
        where = str(path.relative_to(args.outputs))
        for rec in records:
            for turn in rec.turns:
                ours = _our_label(turn.info, turn.parse_error)
                agree = _parse_agrees(
                    str(turn.info.get("mint_label")), ours, turn.info.get("parsed_kind")
                )
                if agree is None:
                    unknown += 1
                    continue
                parse[(task, agree)] += 1
                by_harness[("fenced-code" if fenced else "mint", agree)] += 1
                if not agree:
                    bad.append(
                        {
                            "kind": "parse",
                            "why": _explain_parse(
                                str(turn.info.get("mint_label")), ours, turn.raw_output, fenced
                            ),
                            "file": where,
                            "task_id": rec.task_id,
                            "turn": turn.index,
                            "mint": turn.info.get("mint_label"),
                            "ours": ours,
                            "reply": turn.raw_output,
                        }
                    )
            if code and args.no_code:
                continue
            reference = scorer.reference_of(_task_of(rec))
            for index, content, mint_ok in _proposals(rec):
                meta = {"file": where, "task_id": rec.task_id, "turn": index}
                key = hashlib.sha1(f"{content}\0{reference!r}".encode()).hexdigest()
                if code and int(key[:8], 16) % max(1, args.code_sample):
                    continue
                jobs.append((task, content, scorer, reference, mint_ok, {**meta, "key": key}))

    done: dict[str, tuple[bool, str]] = {}

    def judge(job: tuple[str, str, Any, Any, bool, dict[str, Any]]) -> tuple[str, bool, bool]:
        task, content, scorer, reference, mint_ok, meta = job
        if meta["key"] not in done:  # same solution, same tests: same verdict
            res = scorer.score(content, reference)
            done[meta["key"]] = (res.correct, str(res.details.get("result", "")))
        return task, mint_ok, done[meta["key"]][0]

    with ThreadPoolExecutor(max_workers=max(1, args.workers)) as pool:
        for job, (task, mint_ok, ours_ok) in zip(jobs, pool.map(judge, jobs), strict=True):
            verdict[(task, mint_ok == ours_ok)] += 1
            if mint_ok != ours_ok:
                why = _explain_verdict(task, job[1], job[3], mint_ok)
                result = done.get(job[5]["key"], (False, ""))[1]
                if why == "unexplained" and "No module named" in result:
                    why = "environment (a package MINT's machine had)"
                elif why == "unexplained" and "timed out" in result:
                    why = "environment (slower here: MINT's 10 s limit)"
                bad.append(
                    {
                        "kind": "verdict",
                        "why": why,
                        **job[5],
                        "mint": mint_ok,
                        "ours": ours_ok,
                        "solution": job[1],
                        "reference": repr(job[3])[:300],
                    }
                )

    def rate(counter: Counter[tuple[str, bool]], task: str | None = None) -> tuple[int, int]:
        keys = [k for k in counter if task is None or k[0] == task]
        n = sum(counter[k] for k in keys)
        return sum(counter[k] for k in keys if k[1]), n

    print(f"{len(files)} results files, {time.time() - started:.0f} s")
    print(f"{'task':<10} {'parse agree':>22} {'verdict agree':>22}")
    figures: dict[str, Any] = {"files": len(files), "unjudged_last_replies": unknown, "tasks": {}}
    tasks = sorted({k[0] for k in parse} | {k[0] for k in verdict})
    for task in [*tasks, None]:
        pa, pn = rate(parse, task)
        va, vn = rate(verdict, task)
        name = task or "all"
        figures["tasks"][name] = {"parse": [pa, pn], "verdict": [va, vn]}
        print(
            f"{name:<10} {pa:>8}/{pn:<7} {100 * pa / max(pn, 1):6.2f}% "
            f"{va:>8}/{vn:<7} {100 * va / max(vn, 1):6.2f}%"
        )
    figures["parse_by_harness"] = {}
    for harness in ("mint", "fenced-code"):
        ok, n = rate(by_harness, harness)
        if n:
            figures["parse_by_harness"][harness] = [ok, n]
            print(f"parse agreement, runs of the {harness} harness: {ok}/{n} ({100 * ok / n:.2f}%)")
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for b in bad:
        by_kind[b["kind"]][b["why"]] += 1
    figures["disagreements"] = {k: dict(v) for k, v in by_kind.items()}
    for kind, why in by_kind.items():
        print(f"{kind} disagreements by cause: {dict(why)}")
    explained = {
        k: sum(n for w, n in v.items() if not w.startswith("unexplained"))
        for k, v in by_kind.items()
    }
    for name, counter in (("parse", parse), ("verdict", verdict)):
        ok, n = rate(counter)
        n_expl = explained.get(name, 0)
        share = 100 * ok / max(n - n_expl, 1)
        figures[f"{name}_agreement_excluding_explained"] = share
        print(f"{name} agreement leaving out the explained disagreements: {share:.2f}%")
    print(f"replies whose treatment MINT did not log: {unknown}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    if args.disagreements:
        with args.disagreements.open("w", encoding="utf-8") as fh:
            for b in bad:
                fh.write(json.dumps(b, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
