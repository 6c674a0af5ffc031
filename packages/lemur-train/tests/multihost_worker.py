"""One process of the multi-host test: ``python multihost_worker.py JOB.json [PROCESS_ID]``.

``JOB.json`` holds the train config, the corpus and output directories, and for a multi-process
run the coordinator address, the process count and optionally ``late_s``: seconds process 1
waits once the job's backend is up, before it trains (a host slow to reach the run). XLA_FLAGS
(the CPU device count) comes from the parent's environment, before JAX is imported here.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from lemur_train.config import TrainConfig
from lemur_train.distributed import Launch, join
from lemur_train.trainer import train


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    launch = None
    if len(sys.argv) > 2:
        launch = Launch(job["coordinator"], job["num_processes"], int(sys.argv[2]))
        if launch.process_id == 1 and job.get("late_s"):
            join(launch)
            import jax

            jax.devices()  # the backend exists on every process (its start is a rendezvous)
            time.sleep(job["late_s"])
    config = TrainConfig.model_validate(job["config"])
    result = train(config, Path(job["corpus"]), Path(job["out"]), launch=launch)
    import jax

    print(
        json.dumps(
            {
                "process_index": jax.process_index(),
                "process_count": jax.process_count(),
                "devices": jax.device_count(),
                "local_devices": jax.local_device_count(),
                "status": str(result.status),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
