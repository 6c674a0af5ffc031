"""`lemur-bench import mint` and `rescore`: MINT's recorded results.jsonl (written here in
MINT's published format) become episode records that keep MINT's verdict, and re-judging them
in `mint` mode gives MINT's verdicts back, in `corrected` mode the fixes. A test on MINT's real
outputs runs when LEMUR_MINT_OUTPUTS points at a checkout's data/outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from lemur_agents.actions import MINT_FORMAT_HINT
from lemur_bench.cli import app
from lemur_bench.envs import BenchEnvTask, MintEnv
from lemur_bench.importers import MintImportError, import_mint, read_mint_results
from lemur_bench.loaders import BenchTask
from lemur_bench.report import write_report
from lemur_bench.rescore import read_records, rescore_dir
from lemur_bench.scorers import get_scorer
from typer.testing import CliRunner

PROMPT = "You are a helpful assistant ...\n\n---\n\nTask:\n{task}"


def _obs(body: str, steps: int, proposals: int) -> str:
    text = f"Observation:\n{body}\nYou have {steps} steps left and {proposals} chances to propose solution left.\n"
    return text + ("You should take the last step to propose a solution.\n" if steps <= 1 else "")


def mint_line(
    task_id: str,
    prompt: str,
    reference: Any,
    turns: list[tuple[str, str | None]],
    *,
    success: bool,
    reason: str,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One line as MINT's main.py writes it; ``turns`` are (reply, observation body or None)."""
    history = [{"role": "user", "content": PROMPT.format(task=prompt)}]
    steps, proposals = 5, 2
    for reply, body in turns:
        history.append({"role": "assistant", "content": "Assistant:\n" + reply + "\n"})
        steps -= 1
        if "<solution>" in reply:
            proposals -= 1
        if body is not None:
            history.append({"role": "user", "content": _obs(body, steps, proposals)})
    return {
        "state": {
            "history": history,
            "finished": True,
            "success": success,
            "latest_output": {},
            "agent_action_count": {},
            "token_counter": {},
            "terminate_reason": reason,
            "error": None,
        },
        "task": {
            "task_name": "reasoning",
            "task_id": task_id,
            "prompt": prompt,
            "reference": reference,
            "metadata": metadata or {},
        },
    }


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def gsm8k_results(tmp_path: Path) -> Path:
    # The layout MINT writes: <model>/F=None/max5_p2+tool+cd/reasoning/<task>/results.jsonl
    path = tmp_path / "outputs/toy-7b/F=None/max5_p2+tool+cd/reasoning/gsm8k/results.jsonl"
    return _write(
        path,
        [
            # Solved at turn 2 after running code.
            mint_line(
                "0",
                "3 pens with 4 goats each: how many goats?",
                "12",
                [("<execute> print(3 * 4) </execute>", "12"), ("<solution> 12 </solution>", None)],
                success=True,
                reason="task_success",
            ),
            # MINT's substring quirk: "3" occurs in "48 - 3*H", so MINT solved it.
            mint_line(
                "1",
                "How old is Helene?",
                "3",
                [("I think <solution> 48 - 3*H </solution>", None)],
                success=True,
                reason="task_success",
            ),
            # An unclosed tag gets MINT's hint; then two wrong proposals end the episode.
            mint_line(
                "2",
                "2 + 2?",
                "4",
                [
                    ("<execute> print(2 + 2)", MINT_FORMAT_HINT),
                    ("<solution> 5 </solution>", "Your answer is wrong."),
                    ("<solution> 22 </solution>", None),
                ],
                success=False,
                reason="max_propose_steps",
            ),
        ],
    )


def test_import_keeps_turns_raw_outputs_parses_and_mints_verdict(
    gsm8k_results: Path, tmp_path: Path
) -> None:
    records = list(read_mint_results(gsm8k_results))
    assert [r.benchmark for r in records] == ["mint-gsm8k"] * 3
    assert records[0].model == "toy-7b" and records[0].max_turns == 5
    first = records[0].turns
    assert first[0].raw_output == "<execute> print(3 * 4) </execute>"
    assert first[0].info["mint_label"] == "execute" and first[0].observation.startswith(
        "Observation:\n12"
    )
    assert first[1].info == {
        "mint_label": "solution",
        "mint_correct": True,
        "parsed_kind": "solution",
        "parsed_content": "12",
    }
    third = records[2].turns
    assert third[0].parse_error == MINT_FORMAT_HINT and third[0].info["mint_label"] == "invalid"
    assert [r.info["mint"]["success"] for r in records] == [True, True, False]
    summary = import_mint([gsm8k_results], tmp_path / "run")
    assert summary["mint_recorded"] == {"mint-gsm8k": pytest.approx(2 / 3)}
    assert summary["tasks"]["mint-gsm8k"]["rate"] == pytest.approx(2 / 3)


def test_rescore_in_mint_mode_reproduces_mints_verdicts_and_corrected_fixes_the_quirk(
    gsm8k_results: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    import_mint([gsm8k_results], run)
    summary = rescore_dir(run, "mint", workers=1)
    records = read_records(run / "episodes.jsonl")
    assert [r.success for r in records] == [r.info["mint"]["success"] for r in records]
    assert all(r.info["scoring_mode"] == "mint" for r in records)
    assert summary["tasks"]["mint-gsm8k"]["rate"] == pytest.approx(2 / 3)
    summary = rescore_dir(run, "corrected", workers=1)
    records = read_records(run / "episodes.jsonl")
    assert [r.success for r in records] == [True, False, False]  # "48 - 3*H" is not 3
    assert records[1].info["mint"]["success"] is True  # MINT's own verdict stays
    assert summary["mint_recorded"] == {"mint-gsm8k": pytest.approx(2 / 3)}
    report = write_report([run], tmp_path / "report")
    md = next(p for p in report if p.name == "report.md").read_text()
    assert (
        "MINT recorded SR" in md and "| toy-7b | mint-gsm8k | corrected | 3 | 33.3 | 66.7 |" in md
    )


def test_cli_import_and_rescore_print_our_sr_beside_mints(
    gsm8k_results: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "cli-run"
    res = runner.invoke(app, ["import", "mint", str(gsm8k_results), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "mint-gsm8k" in res.output and "66.7" in res.output
    res = runner.invoke(app, ["rescore", str(out), "--mode", "corrected", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "33.3" in res.output and "66.7" in res.output


def test_bad_inputs_give_one_line_naming_the_fix(tmp_path: Path) -> None:
    runner = CliRunner()
    junk = tmp_path / "outputs/m/F=None/max5_p2+tool+cd/reasoning/gsm8k/results.jsonl"
    _write(junk, [{"not": "mint"}])
    res = runner.invoke(app, ["import", "mint", str(junk), "--out", str(tmp_path / "o")])
    assert res.exit_code == 3 and "not a MINT results line" in res.output
    anywhere = _write(tmp_path / "results.jsonl", [])
    res = runner.invoke(app, ["import", "mint", str(anywhere), "--out", str(tmp_path / "o")])
    assert res.exit_code == 3 and "pass --task" in res.output
    res = runner.invoke(app, ["rescore", str(tmp_path / "nothing")])
    assert res.exit_code == 3 and "episodes.jsonl" in res.output
    with pytest.raises(MintImportError, match="ALFWorld"):
        import_mint([anywhere], tmp_path / "o", task="alfworld")


def _env(reference: str, mode: str = "mint", max_steps: int = 5) -> MintEnv:
    task = BenchTask(task_id="0", prompt="2 + 2?", reference=reference)
    env = MintEnv(
        [BenchEnvTask(task_id="0", instruction="Task:\n2 + 2?", task=task)],
        scorer=get_scorer("mint_answer", mode),  # type: ignore[arg-type]
        max_steps=max_steps,
    )
    env.reset(options={"task_id": "0"})
    return env


def test_mint_env_counts_steps_and_proposals_as_mint_does() -> None:
    env = _env("4")
    try:
        obs, reward, done, _, info = env.step("I will answer with <solution> later")
        # A reply holding "<solution>" that does not parse still costs a proposal in MINT.
        # MINT's hint ends with a newline and its StepOutput adds one: a blank line follows.
        assert (
            obs
            == MINT_FORMAT_HINT
            + "\nYou have 4 steps left and 1 chances to propose solution left.\n"
        )
        assert info["mint_counts"] == {"propose_solution": 1, "use_tool": 0, "invalid_action": 0}
        obs, *_ = env.step("no tags at all")
        assert obs.endswith("You have 3 steps left and 1 chances to propose solution left.\n")
        obs, reward, done, _, _ = env.step("<solution> 5 </solution>")
        assert done and reward == 0.0  # the second proposal was the last allowed
    finally:
        env.close()
    env = _env("4", max_steps=2)
    try:
        obs, _, done, _, _ = env.step("<solution> 5 </solution>")
        assert obs == (
            "Your answer is wrong.\nYou have 1 steps left and 1 chances to propose solution left.\n"
            "You should take the last step to propose a solution.\n"
        )
        _, reward, done, _, info = env.step("<solution> 4 </solution>")
        assert done and reward == 1.0 and info["success"] and info["scoring_mode"] == "mint"
    finally:
        env.close()


def test_mint_env_in_corrected_mode_does_not_charge_a_mentioned_tag_as_a_proposal() -> None:
    reply = "I will answer with <solution> after this: <execute>print(2 + 2)</execute>"
    env = _env("4", mode="mint")
    try:
        obs, _, _, _, info = env.step(reply)
        assert obs.startswith(MINT_FORMAT_HINT) and info["mint_counts"]["propose_solution"] == 1
    finally:
        env.close()
    env = _env("4", mode="corrected")
    try:
        obs, _, _, _, info = env.step(reply)
        assert obs.startswith("4\n")
        assert info["mint_counts"] == {"propose_solution": 0, "use_tool": 1, "invalid_action": 0}
    finally:
        env.close()


OUTPUTS = os.environ.get("LEMUR_MINT_OUTPUTS")
NEEDS_MINT_OUTPUTS = pytest.mark.skipif(
    not OUTPUTS or not Path(OUTPUTS).is_dir(),
    reason="set LEMUR_MINT_OUTPUTS to MINT's data/outputs (git clone xingyaoww/mint-bench)",
)


@NEEDS_MINT_OUTPUTS
def test_mint_mode_agrees_with_mints_recorded_verdicts_on_its_own_outputs() -> None:
    from lemur_bench.rescore import rescore_record

    assert OUTPUTS is not None
    pattern = "gpt-3.5-turbo-0613/F=None/max5_p2+tool+cd/reasoning/*/results.jsonl"
    files = sorted(Path(OUTPUTS).glob(pattern))
    if not files:
        pytest.skip(f"no {pattern} under {OUTPUTS}")
    total, differ = 0, []
    for path in files:
        for rec in read_mint_results(path):
            total += 1
            if rescore_record(rec, "mint").success != rec.info["mint"]["success"]:
                differ.append(rec)
    # The only differences are logs older than two fixes in MINT's code (docs/scoring-modes.md):
    # negative references (3f7f12c, June 2024) and TheoremQA option letters (cc4fbc1, Oct 2023).
    for rec in differ:
        ref = rec.info["task"]["reference"]
        pre_fix = (
            str(ref).startswith("-") or rec.info["task"]["metadata"].get("answer_type") == "option"
        )
        assert pre_fix, rec.episode_id
    assert total > 300 and (total - len(differ)) / total >= 0.98


def test_fenced_code_runs_import_and_rescore_their_markdown_blocks_as_code(tmp_path: Path) -> None:
    # The shape of MINT's Eurus runs: a ```python block that MINT's log shows executed.
    path = tmp_path / "outputs/Eurus-7B-KTO/F=None/max5_p2+tool+cd/reasoning/gsm8k/results.jsonl"
    reply = "<thought> multiply </thought>\n```python\nprint(3 * 4)\n```"
    _write(
        path,
        [
            mint_line(
                "0",
                "3 pens with 4 goats each: how many goats?",
                "12",
                [(reply, "12"), ("<solution> 12 </solution>", None)],
                success=True,
                reason="task_success",
            )
        ],
    )
    plain = next(read_mint_results(path)).turns[0]
    assert plain.info["mint_label"] == "execute" and plain.parse_error == MINT_FORMAT_HINT
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["import", "mint", str(path), "--out", str(out), "--fenced-code"])
    assert res.exit_code == 0, res.output
    record = read_records(out / "episodes.jsonl")[0]
    assert record.info["fenced_code"] is True
    assert record.turns[0].parse_error is None
    assert record.turns[0].info["parsed_content"] == "print(3 * 4)"
    rescore_dir(out, "mint", workers=1)
    verdicts = read_records(out / "episodes.jsonl")[0].info["verdicts"]
    assert verdicts[0] == {"index": 0, "kind": "execute", "valid": True}
    assert verdicts[1]["correct"] is True


@NEEDS_MINT_OUTPUTS
def test_fenced_code_parse_agrees_with_the_logs_of_mints_eurus_run() -> None:
    from lemur_bench.importers import run_info_from_path

    assert OUTPUTS is not None
    pattern = "Eurus-70B-SFT/F=None/max5_p2+tool+cd/*/*/results.jsonl"
    files = sorted(p for p in Path(OUTPUTS).glob(pattern) if "alfworld" not in p.parts)
    if not files:
        pytest.skip(f"no {pattern} under {OUTPUTS}")

    def agreement(fenced: bool) -> float:
        ok = n = 0
        for path in files:
            for rec in read_mint_results(path, run_info_from_path(path, fenced_code=fenced)):
                for turn in rec.turns:
                    label = turn.info["mint_label"]
                    if label not in ("execute", "invalid", "solution"):
                        continue
                    ours = "invalid" if turn.parse_error else turn.info["parsed_kind"]
                    n += 1
                    ok += ours == label
        return ok / n

    assert agreement(fenced=True) >= 0.995
    assert agreement(fenced=False) < 0.9  # MINT's public parser runs none of its code blocks
