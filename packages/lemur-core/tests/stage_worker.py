"""A minimal stage run as its own process, for the lifecycle tests of ``lemur_core.stage``.

``python stage_worker.py OUT CONFIG_JSON [--hold] [--force] [--verify]`` claims ``OUT``, writes
one piece of work into scratch (``--hold`` then waits to be killed), stages two files and
publishes. It prints one JSON line (status, changed fields, reason, whether it found a dead
writer's piece); a :class:`StageError` is printed as one line on stderr with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from lemur_core.manifest import ArtifactManifest, ManifestError, Producer
from lemur_core.stage import StageError, StageStatus, claim


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("config")
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args()
    config = json.loads(args.config)
    try:
        with claim(
            args.out, "toy", config, (), args.force, schema_version=1, verify=args.verify
        ) as c:
            report: dict[str, Any] = {
                "status": c.status.value,
                "changed": list(c.changed_fields),
                "reason": c.reason,
            }
            if c.status is StageStatus.REUSED:
                print(json.dumps(report), flush=True)
                return 0
            piece = c.scratch / "piece.txt"
            report["found_piece"] = piece.exists()
            piece.write_text("work done before a kill\n")
            if args.hold:
                print("HOLDING", flush=True)
                time.sleep(600)
            c.staging.mkdir(parents=True, exist_ok=True)
            (c.staging / "data.bin").write_bytes(bytes(range(256)) * 8)
            (c.staging / "sub").mkdir(exist_ok=True)
            (c.staging / "sub" / "notes.txt").write_text(json.dumps(config))
            manifest = ArtifactManifest.create(
                kind="toy",
                schema_version=1,
                producer=Producer(package="lemur-core-tests", version="0"),
                config=config,
            )
            result = c.publish(manifest)
            report["published_files"] = [f.path for f in result.manifest.files]
            print(json.dumps(report), flush=True)
            return 0
    except (StageError, ManifestError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
