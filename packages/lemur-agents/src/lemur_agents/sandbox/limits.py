"""Resource limits for sandboxed processes, clamped to what the machine allows."""

from __future__ import annotations

import resource

from pydantic import BaseModel, ConfigDict, Field

# rlimit name -> (resource constant, SandboxLimits field)
_RLIMIT_FIELDS: dict[str, tuple[int, str]] = {
    "cpu": (resource.RLIMIT_CPU, "cpu_seconds"),
    "as": (resource.RLIMIT_AS, "memory_bytes"),
    "nproc": (resource.RLIMIT_NPROC, "max_processes"),
    "fsize": (resource.RLIMIT_FSIZE, "max_file_bytes"),
    "nofile": (resource.RLIMIT_NOFILE, "max_open_files"),
}


class SandboxLimits(BaseModel):
    """What one sandboxed call may consume. Frozen; loadable from YAML one to one.

    ``cpu_seconds`` .. ``max_open_files`` become rlimits of the child (CPU time, address
    space, processes of the sandbox user, size of any file written, open descriptors);
    ``wall_seconds`` is the wall-clock timeout after which the whole process tree is killed;
    ``max_output_bytes`` caps stdout and stderr together (the child is killed past it).
    Use :meth:`clamped` to get the values the machine's hard limits actually allow.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_seconds: int = Field(default=10, ge=1, description="RLIMIT_CPU of the child")
    memory_bytes: int = Field(
        default=1 << 30, ge=64 << 20, description="RLIMIT_AS (address space) of the child"
    )
    max_processes: int = Field(
        default=64, ge=1, description="RLIMIT_NPROC: processes the sandbox user may hold"
    )
    max_file_bytes: int = Field(default=64 << 20, ge=0, description="RLIMIT_FSIZE")
    max_open_files: int = Field(default=256, ge=16, description="RLIMIT_NOFILE")
    wall_seconds: float = Field(default=30.0, gt=0, description="wall-clock timeout of one call")
    max_output_bytes: int = Field(
        default=1 << 20, ge=1024, description="cap on stdout+stderr bytes kept from one call"
    )

    def clamped(self) -> SandboxLimits:
        """These limits with every rlimit lowered to the machine's hard limit where it is lower.

        A process cannot raise a soft limit above its hard limit, so asking for more than the
        machine allows would fail in the child; clamping makes the request succeed with the
        strongest limit that is actually possible.
        """
        updates: dict[str, int] = {}
        for _name, (res, field) in _RLIMIT_FIELDS.items():
            _soft, hard = resource.getrlimit(res)
            wanted = int(getattr(self, field))
            if hard != resource.RLIM_INFINITY and wanted > hard:
                updates[field] = int(hard)
        return self.model_copy(update=updates) if updates else self

    def cpu_limits(self) -> tuple[int, int]:
        """(soft, hard) RLIMIT_CPU. At the soft limit the kernel sends SIGXCPU, which ends a
        program with a signal that names the cause (when soft equals hard it sends SIGKILL,
        which the sandbox could only attribute by measuring CPU time, and rusage under-reports
        by up to 10% on a loaded machine); a program that ignores SIGXCPU is SIGKILLed one
        second later at the hard limit."""
        soft = int(self.clamped().cpu_seconds)
        _soft, hard_max = resource.getrlimit(resource.RLIMIT_CPU)
        hard = soft + 1 if hard_max == resource.RLIM_INFINITY else min(soft + 1, int(hard_max))
        return soft, hard

    def rlimits(self) -> dict[int, tuple[int, int]]:
        """The rlimits to set in the child (resource constant -> (soft, hard)), clamped, plus
        no core dumps (a crashing child must not litter the scratch directory with gigabytes)."""
        limits = self.clamped()
        out: dict[int, tuple[int, int]] = {}
        for res, field in _RLIMIT_FIELDS.values():
            value = int(getattr(limits, field))
            out[res] = (value, value)
        out[resource.RLIMIT_CPU] = self.cpu_limits()
        out[resource.RLIMIT_CORE] = (0, 0)
        return out

    def prlimit_args(self) -> list[str]:
        """The same limits as ``prlimit(1)`` options (``--cpu=SOFT:HARD`` ...), for an exec wrapper."""
        args = [f"--{name}={soft}:{hard}" for name, (soft, hard) in self._named().items()]
        return [*args, "--core=0"]

    def _named(self) -> dict[str, tuple[int, int]]:
        limits = self.rlimits()
        return {name: limits[res] for name, (res, _field) in _RLIMIT_FIELDS.items()}
