"""``lemur/CTF-v0``: InterCode-CTF in the sandbox.

The task's files are copied into a fresh sandbox directory, seen by the agent as ``/ctf``.
Actions are bash commands; a fenced ```` ```python ```` block runs as a Python program (the
paper's agents use both). ``submit <flag>`` ends the episode with reward 1 when the flag
equals the gold case-insensitively (upstream's ``get_reward``: the first word after
``submit``). Tasks that need the internet (a ``wget`` setup, a remote ``nc``/web service)
are marked ``needs_internet`` and left out by default, with a logged count.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lemur_agents.envs.base import EnvTask, TextTaskEnv
from lemur_agents.envs.bash.env import give_to
from lemur_agents.envs.shell import SandboxShell
from lemur_agents.sandbox import Sandbox, SandboxLimits

logger = logging.getLogger(__name__)

MOUNT = "/ctf"
_FENCE = re.compile(r"^\s*```(python|py|python3|bash|sh)?[ \t]*\n(.*?)\n?```\s*$", re.S)
_REMOTE = re.compile(r"\bnc\b|netcat|https?://|\.picoctf\.net|\bssh\b", re.I)


class CtfTask(EnvTask):
    """A capture-the-flag challenge: its files, the flag, and whether it needs the internet."""

    gold: str = Field(min_length=1, description="the flag")
    files_dir: Path | None = Field(None, description="directory whose files the agent gets")
    needs_internet: bool = False
    tags: tuple[str, ...] = ()
    source: str | None = None


def load_tasks(
    path: str | Path, files_root: str | Path | None = None, *, include_internet: bool = False
) -> list[CtfTask]:
    """Read InterCode-CTF's ``ic_ctf.json``; task files come from ``files_root/<task_id>/``
    (InterCode's ``task_assets`` layout) when given. Tasks needing the internet are skipped
    (and counted in the log) unless ``include_internet``."""
    rows = json.loads(Path(path).read_text(encoding="utf-8"))
    tasks, skipped = [], 0
    for row in rows:
        needs_internet = bool(re.search(r"\b(wget|curl)\b", row.get("setup", ""))) or bool(
            _REMOTE.search(row["query"])
        )
        if needs_internet and not include_internet:
            skipped += 1
            continue
        files = Path(files_root) / str(row["task_id"]) if files_root is not None else None
        tasks.append(
            CtfTask(
                task_id=str(row["task_id"]),
                instruction=row["query"],
                gold=row["gold"],
                files_dir=files if files is not None and files.is_dir() else None,
                needs_internet=needs_internet,
                tags=tuple(row.get("tags", ())),
                source=row.get("source"),
            )
        )
    if skipped:
        logger.info("skipped %d of %d CTF tasks that need the internet", skipped, len(rows))
    return tasks


def write_fixture_tasks(root: str | Path) -> list[CtfTask]:
    """Write two offline challenges under ``root`` and return their tasks: a base64-encoded
    flag in a file, and a flag a Python script assembles only when run."""
    base = Path(root)
    encoded = base / "encoded"
    encoded.mkdir(parents=True, exist_ok=True)
    flag_a = "picoCTF{b4s3_64_1s_n0t_3ncrypt10n}"
    (encoded / "message.txt").write_text(base64.b64encode(flag_a.encode()).decode() + "\n")
    script = base / "script"
    script.mkdir(parents=True, exist_ok=True)
    flag_b = "picoCTF{run_1t_t0_s33_1t}"
    (script / "unpack.py").write_text(
        "parts = " + repr([flag_b[i : i + 4][::-1] for i in range(0, len(flag_b), 4)]) + "\n"
        "print(''.join(p[::-1] for p in parts))\n"
    )
    return [
        CtfTask(
            task_id="fixture/encoded",
            instruction="The file 'message.txt' hides the flag. Find it.",
            gold=flag_a,
            files_dir=encoded,
            tags=("General Skills",),
        ),
        CtfTask(
            task_id="fixture/script",
            instruction="Run or read 'unpack.py' to recover the flag.",
            gold=flag_b,
            files_dir=script,
            tags=("Reverse Engineering",),
        ),
    ]


def flag_of(action: str) -> str | None:
    """The flag of a ``submit <flag>`` action (its first word, as upstream), else ``None``."""
    words = action.strip().split()
    if not words or words[0] != "submit":
        return None
    return words[1] if len(words) > 1 else ""


class CtfEnvConfig(BaseModel):
    """Configuration of :class:`CtfEnv`; without ``tasks_path`` it writes fixture tasks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks_path: Path | None = Field(None, description="InterCode-CTF ic_ctf.json")
    files_root: Path | None = Field(None, description="InterCode's task_assets directory")
    include_internet: bool = False
    max_turns: int = Field(10, ge=1)
    command_timeout_s: float = Field(15.0, gt=0)
    max_observation_chars: int = Field(2000, ge=1)
    limits: SandboxLimits = Field(default_factory=SandboxLimits)


class CtfEnv(TextTaskEnv[CtfTask]):
    """InterCode-CTF semantics in the sandbox; see the module docstring."""

    engine = "bash+python (sandboxed subprocess)"

    def __init__(
        self,
        config: CtfEnvConfig | Mapping[str, Any] | None = None,
        *,
        tasks: Sequence[CtfTask] | None = None,
    ) -> None:
        cfg = config if isinstance(config, CtfEnvConfig) else CtfEnvConfig(**(config or {}))
        self.config = cfg
        self.sandbox = Sandbox(cfg.limits)
        self.isolation = self.sandbox.isolation_level
        self._fixture_dir: Path | None = None
        if tasks is None:
            if cfg.tasks_path is not None:
                tasks = load_tasks(
                    cfg.tasks_path, cfg.files_root, include_internet=cfg.include_internet
                )
            else:
                import tempfile

                self._fixture_dir = Path(tempfile.mkdtemp(prefix="lemur-ctf-fixture-"))
                tasks = write_fixture_tasks(self._fixture_dir)
        super().__init__(tasks, cfg.max_turns)
        self.shell: SandboxShell | None = None

    def _start(self, task: CtfTask) -> str:
        self.sandbox.close()
        root = self.sandbox.scratch_dir(prefix="lemur-ctf-")
        files = root / MOUNT.strip("/")
        files.mkdir()
        if task.files_dir is not None:
            shutil.copytree(task.files_dir, files, dirs_exist_ok=True)
        give_to(root, self.sandbox.uid)
        self.shell = SandboxShell(self.sandbox, root, {MOUNT: files}, self.config.command_timeout_s)
        return task.instruction

    def _act(self, action: str) -> tuple[str, float, bool, dict[str, Any]]:
        assert self.shell is not None and self.task is not None
        flag = flag_of(action)
        if flag is not None:
            solved = flag.lower() == self.task.gold.lower()
            return (
                "Correct flag!" if solved else "Wrong flag.",
                float(solved),
                True,
                {"action_executed": True, "submitted_flag": flag},
            )
        command = action
        fence = _FENCE.match(action)
        if fence:
            language, body = (fence.group(1) or "bash").lower(), fence.group(2)
            command = body if language in ("bash", "sh") else _python_command(body)
        output, ok = self.shell.run(command)
        return output[: self.config.max_observation_chars], 0.0, False, {"action_executed": ok}

    def close(self) -> None:
        """Remove every directory this env made."""
        self.sandbox.close()
        if self._fixture_dir is not None:
            shutil.rmtree(self._fixture_dir, ignore_errors=True)
            self._fixture_dir = None


def _python_command(code: str) -> str:
    marker = "LEMUR_PY_EOF"
    while marker in code:
        marker += "_"
    return f"python3 - <<'{marker}'\n{code}\n{marker}"
