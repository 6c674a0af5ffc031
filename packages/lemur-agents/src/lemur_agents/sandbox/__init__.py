"""A sandbox for every piece of model-written code.

Public API::

    from lemur_agents.sandbox import Sandbox, SandboxLimits, PythonSession, ExecResult

    limits = SandboxLimits(cpu_seconds=10, memory_bytes=1 << 30, max_processes=64,
                           max_file_bytes=64 << 20, max_open_files=256,
                           wall_seconds=30, max_output_bytes=1 << 20)   # clamped to hard limits
    with Sandbox(limits, network=False) as sandbox:
        work = sandbox.scratch_dir()                     # fresh dir, removed on close()
        result = sandbox.run(["python3", "-c", "print(1)"], cwd=work)   # or a shell string
        result = sandbox.run("sqlite3 db.sqlite < q.sql", cwd=work, stdin=None, timeout=5,
                             env={"EXTRA": "1"})
        result.stdout, result.stderr, result.exit_code        # exit_code < 0: killed by signal
        result.timed_out, result.truncated, result.killed_reason
        sandbox.isolation_level
        # e.g. "cgroup-pids+userns+netns+pidns+mountns-ro+home-hidden+data-hidden+tmp-private
        #       +secrets-hidden+nocaps+rlimits"
    Sandbox(limits, hidden_paths=None, visible_paths=("/root/data",))   # defaults hide homes
    Sandbox(limits, warm=False)   # cold exec chain instead of the warm zygote (same isolation)

    with PythonSession(limits) as session:               # state persists across run() calls
        session.run("x = 1")
        session.run("x + 1").stdout == "2\\n"
        session.run(code).restarted    # True: the interpreter was replaced, variables are gone

:func:`isolation_plan` says what this machine allows; record ``isolation_level`` in every run.
"""

from lemur_agents.sandbox.isolation import IsolationPlan, isolation_plan
from lemur_agents.sandbox.limits import SandboxLimits
from lemur_agents.sandbox.process import ExecResult, Sandbox
from lemur_agents.sandbox.session import PythonSession

__all__ = [
    "ExecResult",
    "IsolationPlan",
    "PythonSession",
    "Sandbox",
    "SandboxLimits",
    "isolation_plan",
]
