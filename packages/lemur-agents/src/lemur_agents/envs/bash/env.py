"""``lemur/Bash-v0``: InterCode-Bash in the sandbox.

Each episode builds a fresh testbed from the task's :class:`TestbedSpec` in a sandbox scratch
directory, its top-level directories seen at their virtual paths (``/testbed``, ``/system``,
``/workspace`` ...; :mod:`lemur_agents.envs.shell`). An action is
one shell command; its combined output is the observation (cut to ``max_observation_chars``,
as InterCode's policy cuts it). ``submit`` ends the episode: the gold command runs in a second
fresh testbed and :mod:`lemur_agents.envs.bash.reward` compares file-system changes, changed
files' hashes and the last output with the gold's. ``reward_mode="every_turn"`` scores after
every command and ends on reward 1, as InterCode's multi-turn evaluation script does.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.envs.base import EnvTask, TextTaskEnv
from lemur_agents.envs.bash.filesystems import TASK_FILE_TESTBEDS, TESTBEDS
from lemur_agents.envs.bash.reward import intercode_bash_reward
from lemur_agents.envs.bash.testbed import snapshot, status, tree_hash
from lemur_agents.envs.shell import SandboxShell
from lemur_agents.sandbox import Sandbox, SandboxLimits


def give_to(root: Path, uid: int | None) -> None:
    """Hand a tree the project built to the sandbox user (when the sandbox drops to one)."""
    if uid is None:
        return
    for dirpath, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(dirpath, name), uid, uid)
    os.chown(root, uid, uid)


class BashTask(EnvTask):
    """A natural-language request, its gold command, and the testbed it runs on."""

    gold: str = Field(min_length=1)
    testbed: str = Field(description="a key of TESTBEDS, e.g. nl2bash_fs_1")


def load_tasks(path: str | Path, testbed: str | None = None) -> list[BashTask]:
    """Read InterCode-Bash's task files (a JSON list of ``{query, gold}``).

    The testbed defaults to the file's name (``nl2bash_fs_1.json`` -> ``nl2bash_fs_1``); task
    ids are ``<file stem>/<index>``.
    """
    source = Path(path)
    name = testbed or TASK_FILE_TESTBEDS.get(source.stem, source.stem)
    if name not in TESTBEDS:
        raise ValueError(
            f"no testbed {name!r} for {source.name}; pass testbed= one of {sorted(TESTBEDS)}"
        )
    rows = json.loads(source.read_text(encoding="utf-8"))
    return [
        BashTask(task_id=f"{source.stem}/{i}", instruction=r["query"], gold=r["gold"], testbed=name)
        for i, r in enumerate(rows)
    ]


def fixture_tasks() -> list[BashTask]:
    """Offline tasks over the NL2Bash file system 1: outputs, new files, deletions, edits."""
    rows = [
        ("Count the .txt files under /testbed.", "find /testbed -type f -name '*.txt' | wc -l"),
        (
            "Print the names of the executable Python scripts under /testbed/dir1, sorted.",
            "find /testbed/dir1 -name '*.py' -perm -u+x -printf '%f\\n' | sort",
        ),
        (
            "Create /testbed/backup containing a copy of every .java file directly in /testbed.",
            "mkdir /testbed/backup && cp /testbed/*.java /testbed/backup/",
        ),
        (
            "Delete every shell script under /testbed/dir2.",
            "find /testbed/dir2 -name '*.sh' -delete",
        ),
        (
            "Replace 'World' by 'Lemur' in /testbed/dir1/textfile1.txt in place.",
            "sed -i 's/World/Lemur/' /testbed/dir1/textfile1.txt",
        ),
    ]
    return [
        BashTask(task_id=f"fixture/{i}", instruction=q, gold=g, testbed="nl2bash_fs_1")
        for i, (q, g) in enumerate(rows)
    ]


class BashEnvConfig(BaseModel):
    """Configuration of :class:`BashEnv` (InterCode's 10 turns by default)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks_path: Path | None = Field(None, description="InterCode-Bash JSON (nl2bash_fs_N.json)")
    testbed: str | None = Field(None, description="testbed for tasks_path (default: file name)")
    max_turns: int = Field(10, ge=1)
    reward_mode: Literal["submit", "every_turn"] = "submit"
    command_timeout_s: float = Field(10.0, gt=0)
    max_observation_chars: int = Field(1000, ge=1)
    limits: SandboxLimits = Field(default_factory=SandboxLimits)


class BashEnv(TextTaskEnv[BashTask]):
    """InterCode-Bash semantics in the sandbox; see the module docstring."""

    engine = "bash (sandboxed subprocess)"

    def __init__(
        self,
        config: BashEnvConfig | Mapping[str, Any] | None = None,
        *,
        tasks: Sequence[BashTask] | None = None,
    ) -> None:
        cfg = config if isinstance(config, BashEnvConfig) else BashEnvConfig(**(config or {}))
        self.config = cfg
        if tasks is None:
            tasks = load_tasks(cfg.tasks_path, cfg.testbed) if cfg.tasks_path else fixture_tasks()
        super().__init__(tasks, cfg.max_turns)
        self.sandbox = Sandbox(cfg.limits)
        self.isolation = self.sandbox.isolation_level
        self.shell: SandboxShell | None = None
        self._initial: dict[str, str] = {}
        self._last_output = ""

    def _fresh_shell(self, task: BashTask, root: Path | None = None) -> SandboxShell:
        if root is None:
            root = self.sandbox.scratch_dir(prefix="lemur-testbed-")
        else:
            root.mkdir()
        spec = TESTBEDS[task.testbed]
        spec.build(root)
        give_to(root, self.sandbox.uid)
        return SandboxShell(self.sandbox, root, spec.mounts(root), self.config.command_timeout_s)

    def _start(self, task: BashTask) -> str:
        self.sandbox.close()  # removes the previous episode's testbeds
        self.shell = self._fresh_shell(task)
        self._initial = snapshot(self.shell.root)
        self._last_output = ""
        return task.instruction

    def score(self) -> tuple[float, dict[str, Any]]:
        """Run the gold command in a fresh testbed and compare (InterCode's ``get_reward``)."""
        assert self.task is not None and self.shell is not None
        # The gold runs at the very host path the agent's testbed has (the agent's tree is
        # moved aside meanwhile), so outputs that hash or list host paths agree as they do
        # in InterCode's two identical containers.
        root = self.shell.root
        agent_root = root.with_name(root.name + ".agent")
        gold_root = root.with_name(root.name + ".gold")
        for stale in (agent_root, gold_root):
            shutil.rmtree(stale, ignore_errors=True)
        root.rename(agent_root)
        try:
            gold_shell = self._fresh_shell(self.task, root)
            gold_output, _ = gold_shell.run(self.task.gold)
            root.rename(gold_root)
        finally:
            if root.exists():
                shutil.rmtree(root, ignore_errors=True)
            agent_root.rename(root)
        try:
            agent_changes = status(self._initial, snapshot(root))
            gold_changes = status(self._initial, snapshot(gold_root))
            return self._reward(agent_changes, gold_changes, root, gold_root, gold_output)
        finally:
            shutil.rmtree(gold_root, ignore_errors=True)

    def _reward(
        self,
        agent_changes: list[tuple[str, str]],
        gold_changes: list[tuple[str, str]],
        agent_root: Path,
        gold_root: Path,
        gold_output: str,
    ) -> tuple[float, dict[str, Any]]:
        return intercode_bash_reward(
            agent_changes,
            gold_changes,
            lambda path: tree_hash(agent_root, path) == tree_hash(gold_root, path),
            self._last_output,
            gold_output,
        )

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self.shell is not None
        if action.strip() == "submit":
            reward, info = self.score()
            return self._last_output, reward, True, {"action_executed": True, **info}
        output, ok = self.shell.run(action)
        self._last_output = output
        observation = output[: self.config.max_observation_chars]
        if self.config.reward_mode == "every_turn":
            reward, info = self.score()
            return observation, reward, reward == 1.0, {"action_executed": ok, **info}
        return observation, 0.0, False, {"action_executed": ok}

    def close(self) -> None:
        """Remove every testbed this env built."""
        self.sandbox.close()
