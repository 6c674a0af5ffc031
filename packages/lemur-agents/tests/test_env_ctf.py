"""lemur/CTF-v0: InterCode-CTF semantics — sandboxed bash/python, case-insensitive flags."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import lemur_agents.envs  # noqa: F401 - registers the envs
import pytest
from gymnasium.utils.env_checker import check_env
from lemur_agents.envs.ctf import CtfEnv, flag_of, load_tasks

REPO_ROOT = Path(__file__).resolve().parents[3]
IC_CTF = REPO_ROOT.parent / "shared" / "benchmarks" / "intercode" / "ctf" / "ic_ctf.json"

ORACLE = {
    "fixture/encoded": ["base64 -d /ctf/message.txt"],
    "fixture/script": ["```python\nimport runpy\nrunpy.run_path('/ctf/unpack.py')\n```"],
}


@pytest.fixture(scope="module")
def env() -> Iterator[CtfEnv]:
    environment = CtfEnv()
    yield environment
    environment.close()


def test_ctf_env_passes_gymnasium_check_env() -> None:
    environment = gym.make("lemur/CTF-v0")
    check_env(environment.unwrapped)
    environment.close()


def test_oracle_recovers_each_flag_with_tools_and_submits_it(env: CtfEnv) -> None:
    for task in env.tasks:
        env.reset(options={"task_id": task.task_id})
        observation = ""
        for command in ORACLE[task.task_id]:
            observation, _, _, _, info = env.step(command)
            assert info["action_executed"], observation
        flag = observation.strip().splitlines()[-1]
        assert flag == task.gold
        # upstream compares case-insensitively
        _, reward, terminated, _, _ = env.step(f"submit {flag.upper()}")
        assert (reward, terminated) == (1.0, True)


def test_a_wrong_flag_ends_the_episode_with_zero(env: CtfEnv) -> None:
    env.reset(options={"task_id": "fixture/encoded"})
    encoded = env.step("cat message.txt")[0].strip()
    _, reward, terminated, _, _ = env.step(f"submit {encoded}")  # still base64: not the flag
    assert (reward, terminated) == (0.0, True)
    assert base64.b64decode(encoded).decode() == env.task.gold  # type: ignore[union-attr]


def test_the_sandbox_has_no_network(env: CtfEnv) -> None:
    env.reset(options={"task_id": "fixture/encoded"})
    observation, _, _, _, info = env.step(
        "```python\nimport socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\n```"
    )
    assert not info["action_executed"] and "Error" in observation


def test_submit_takes_the_first_word_as_upstream() -> None:
    assert flag_of("submit picoCTF{x} trailing") == "picoCTF{x}"
    assert flag_of("ls submit") is None


@pytest.mark.shared_data
def test_published_ctf_tasks_load_and_internet_tasks_are_skipped() -> None:
    if not IC_CTF.exists():
        pytest.skip(f"{IC_CTF} is absent")
    everything = load_tasks(IC_CTF, include_internet=True)
    offline = load_tasks(IC_CTF)
    assert len(everything) == 100
    assert 0 < len(offline) < len(everything)
    assert all(not t.needs_internet for t in offline)
    assert {t.task_id for t in everything if t.needs_internet}.isdisjoint(
        {t.task_id for t in offline}
    )


def test_code_block_format_hands_python_blocks_over_fenced_so_they_run_as_python(
    env: CtfEnv,
) -> None:
    from lemur_agents.loop import CodeBlockFormat

    fmt = CodeBlockFormat(("bash", "sh", "python"), keep_fence_for=("py",))
    env.reset(options={"task_id": "fixture/script"})
    python = fmt.parse("Let me unpack it.\n```python\nprint(sum(range(7)) * 2)\n```")
    assert python.env_action.startswith("```python\n")
    observation, *_ = env.step(python.env_action)
    assert observation.strip() == "42"  # as bash, `print(...)` would be a syntax error
    bash = fmt.parse("```bash\necho $((6 * 7))\n```")
    assert bash.env_action == "echo $((6 * 7))"
    assert env.step(bash.env_action)[0].strip() == "42"
