"""Which process of a multi-host job this is — told by the launcher — and joining the job.

A multi-host run is one config on every host; what differs per host (the process id, and the
coordinator a launcher chose) comes from the launcher, in this order:

1. explicit values: ``lemur-train run --coordinator HOST:PORT --num-processes N --process-id I``
   (or :class:`Launch` passed to :func:`lemur_train.trainer.train`);
2. the environment: ``LEMUR_COORDINATOR``, ``LEMUR_NUM_PROCESSES``, ``LEMUR_PROCESS_ID``;
3. the config's ``distributed`` section (``enabled: true``, optionally the coordinator and count);
4. a Slurm job step with more than one task (``SLURM_NTASKS``), or a multi-host TPU slice
   (``TPU_WORKER_HOSTNAMES``): JAX reads the rest from the cluster's own environment.

None of this is part of a run's identity: the trainer leaves the ``distributed`` section out of
the config it hashes, so every host claims the same run. :func:`join` must run before any JAX
computation (``jax.distributed.initialize`` refuses afterwards), which is why the trainer calls
it before reading the corpus or the ``init_from`` checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import jax
from lemur_core.cli_errors import EnvError, UsageError

from lemur_train.config import DistributedConfig

ENV_COORDINATOR = "LEMUR_COORDINATOR"
ENV_NUM_PROCESSES = "LEMUR_NUM_PROCESSES"
ENV_PROCESS_ID = "LEMUR_PROCESS_ID"


@dataclass(frozen=True)
class Launch:
    """How this process joins a multi-host job. ``None`` fields are left to JAX's cluster
    detection (Slurm, TPU, Open MPI, Kubernetes); ``source`` says where the values came from."""

    coordinator_address: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    source: str = "flags"

    def check(self) -> Launch:
        """``self``, or a :class:`UsageError` naming the missing or inconsistent value."""
        given = [
            v is not None for v in (self.coordinator_address, self.num_processes, self.process_id)
        ]
        if any(given) and not all(given):
            raise UsageError(
                f"multi-host launch from {self.source}: give all three of the coordinator address "
                "(HOST:PORT), the number of processes and this process's id "
                f"(--coordinator/--num-processes/--process-id or {ENV_COORDINATOR}/"
                f"{ENV_NUM_PROCESSES}/{ENV_PROCESS_ID}), or none of them to let JAX read them "
                "from Slurm or the TPU environment"
            )
        n, i = self.num_processes, self.process_id
        if n is not None and i is not None and (n < 1 or not 0 <= i < n):
            raise UsageError(
                f"multi-host launch from {self.source}: process id {i} is not in 0..{n - 1} "
                f"(num_processes={n})"
            )
        return self


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{name}={value!r} is not an integer") from None


def detect_launch(
    explicit: Launch | None,
    config: DistributedConfig,
    environ: Mapping[str, str] | None = None,
) -> Launch | None:
    """The launch of this process by the order in the module doc; None for a single process."""
    env = os.environ if environ is None else environ
    if explicit is not None and any(
        v is not None
        for v in (explicit.coordinator_address, explicit.num_processes, explicit.process_id)
    ):
        return explicit.check()
    from_env = Launch(
        env.get(ENV_COORDINATOR) or None,
        _env_int(env, ENV_NUM_PROCESSES),
        _env_int(env, ENV_PROCESS_ID),
        source="environment",
    )
    if any(
        v is not None
        for v in (from_env.coordinator_address, from_env.num_processes, from_env.process_id)
    ):
        return from_env.check()
    if config.enabled:
        return Launch(
            config.coordinator_address, config.num_processes, config.process_id, source="config"
        )
    if (_env_int(env, "SLURM_NTASKS") or 1) > 1 and "SLURM_PROCID" in env:
        return Launch(source="slurm")
    if "," in env.get("TPU_WORKER_HOSTNAMES", ""):
        return Launch(source="tpu")
    return None


def join(launch: Launch | None) -> None:
    """``jax.distributed.initialize`` for ``launch`` (nothing for None or when already joined).
    Must come before any JAX computation of the process."""
    if launch is None or jax.distributed.is_initialized():
        return
    jax.distributed.initialize(
        coordinator_address=launch.coordinator_address,
        num_processes=launch.num_processes,
        process_id=launch.process_id,
    )


def barrier(name: str, timeout_s: float) -> None:
    """Wait until every process of the job reaches ``name`` (nothing in a one-process run).

    The wait is the coordination service's barrier, not a device collective: on CPU the first
    collective of a device group opens a Gloo context whose rendezvous gives up after a fixed
    30 s, so processes that arrive unevenly (process 0 claims the run directory while the
    others have nothing to do) must meet here first, under a timeout the config chooses.
    """
    if jax.process_count() == 1:
        return
    from jax._src import distributed as jax_distributed  # the barrier has no public spelling

    client = jax_distributed.global_state.client
    if client is None:  # a TPU slice without jax.distributed: the runtime syncs by itself
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
        return
    try:
        client.wait_at_barrier(name, int(timeout_s * 1000))
    except jax.errors.JaxRuntimeError as exc:
        if "DEADLINE_EXCEEDED" not in str(exc):
            raise
        raise EnvError(
            f"process {jax.process_index()} of {jax.process_count()} waited {timeout_s:g} s at "
            f"'{name}' and not every process arrived",
            fix="look at the other hosts' logs (one failed or is slower), or raise "
            "distributed.barrier_timeout_s",
        ) from exc
