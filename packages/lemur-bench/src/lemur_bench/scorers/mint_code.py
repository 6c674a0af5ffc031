"""MINT's HumanEval/MBPP check (``mint/utils/exec.py``) as a program for the sandbox.

MINT runs ``solution + "\\n" + test`` with ``exec`` in an empty globals dict, in a child process
after its ``reliability_guard`` (``exit``/``quit`` and the destructive ``os``/``shutil``/
``subprocess`` functions set to ``None``), with stdout/stderr swallowed and stdin unreadable, and
passes the solution iff ``exec`` returns within 10 s. So, in ``mint`` mode:

* nothing from the prompt is prepended: a solution that restates ``def f(x: List[int])`` without
  ``from typing import List`` fails, as it fails in MINT;
* ``__name__`` inside the program resolves to the builtins module's (``"builtins"``), so an
  ``if __name__ == "__main__":`` demo block is skipped;
* ``sys.exit()`` raises ``SystemExit``, which MINT's ``except BaseException`` counts as a
  failure; ``exit()``/``quit()`` are ``None``.

The program below reproduces that inside lemur-agents' sandbox (run by
:func:`lemur_bench.scorers.execution.run_check`, which passes a program only when it ran to its
end) and raises when the solution's ``exec`` did not return normally, so a solution that ends
the process early (``sys.exit(0)``, ``os._exit(0)``) cannot pass. ``corrected`` mode prepends the
prompt's imports (a solution restating the signature needs them); everything else is the same.
"""

from __future__ import annotations

import re

from lemur_core import ScoreResult

from lemur_bench.scorers.execution import run_check
from lemur_bench.scorers.mint_answers import ScoringMode

MINT_CHECK_TIMEOUT_S = 10.0

_HARNESS = """\
import builtins, contextlib, faulthandler, io, os, shutil, subprocess, sys
_SRC = {source!r}
_OS_NAMES = {os_names!r}


class _WriteOnly(io.StringIO):
    def read(self, *a, **k):
        raise IOError
    def readline(self, *a, **k):
        raise IOError
    def readlines(self, *a, **k):
        raise IOError
    def readable(self, *a, **k):
        return False


class MintCheckFailed(Exception):
    pass


def _guard():
    os.environ["OMP_NUM_THREADS"] = "1"  # before putenv is disabled, as in MINT
    saved = [(os, n, getattr(os, n, None)) for n in _OS_NAMES]
    saved += [(shutil, n, getattr(shutil, n)) for n in ("rmtree", "move", "chown")]
    saved += [(subprocess, "Popen", subprocess.Popen)]
    saved += [(builtins, n, getattr(builtins, n, None)) for n in ("exit", "quit", "help")]
    for owner, name, _ in saved:
        setattr(owner, name, None)
    faulthandler.disable()
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None
    return saved


_stdin, _stream = sys.stdin, _WriteOnly()
_saved = _guard()
_error = None
try:
    with contextlib.redirect_stdout(_stream), contextlib.redirect_stderr(_stream):
        sys.stdin = _stream
        exec(_SRC, {{}})
except BaseException as _exc:
    _error = _exc
finally:
    sys.stdin = _stdin
    for _owner, _name, _value in _saved:
        setattr(_owner, _name, _value)
if _error is not None:
    raise MintCheckFailed("failed: " + repr(_error)[:500])
"""

# The os functions MINT's reliability_guard disables, plus os._exit (MINT leaves it, but there
# an early exit leaves no result and counts as a failure, which disabling it reproduces here).
# They are restored once the solution has run, so the check's own driver can report.
_OS_NAMES = (
    "kill",
    "system",
    "putenv",
    "remove",
    "removedirs",
    "rmdir",
    "fchdir",
    "setuid",
    "fork",
    "forkpty",
    "killpg",
    "rename",
    "renames",
    "truncate",
    "replace",
    "unlink",
    "fchmod",
    "fchown",
    "chmod",
    "chown",
    "chroot",
    "lchflags",
    "lchmod",
    "lchown",
    "getcwd",
    "chdir",
    "_exit",
)


def prompt_imports(prompt: str) -> str:
    """The ``import``/``from`` lines of a prompt (HumanEval's ``from typing import List``)."""
    return "\n".join(ln for ln in prompt.splitlines() if re.match(r"\s*(import|from)\s+\w", ln))


def mint_check_program(solution: str, test: str, *, prompt: str = "", mode: ScoringMode) -> str:
    """The sandbox program whose exit status is MINT's verdict on ``solution``."""
    source = solution + "\n" + test
    if mode == "corrected":
        source = prompt_imports(prompt) + "\n" + source
    return _HARNESS.format(source=source, os_names=_OS_NAMES)


def score_mint_code(solution: str, test: str, *, prompt: str, mode: ScoringMode) -> ScoreResult:
    """MINT HumanEval/MBPP verdict of a proposed solution (see the module docstring)."""
    res = run_check(
        mint_check_program(solution, test, prompt=prompt, mode=mode),
        "python",
        timeout=MINT_CHECK_TIMEOUT_S,
    )
    return ScoreResult(
        score=float(res.passed),
        correct=res.passed,
        details={"mode": mode, "result": res.result, "isolation": res.isolation},
    )
