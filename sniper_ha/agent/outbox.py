"""Results kept on the worker's disk until a master acknowledges them.

A worker that dies after finishing a scan but before the master acknowledged the result
re-sends it after restart; the lease id makes the re-send idempotent (or a clean 409).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)

    def _path(self, task_id: str) -> Path:
        return self.dir / f"{task_id}.json"

    def put(self, task_id: str, write: dict[str, Any]) -> None:
        tmp = self._path(task_id).with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump(write, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self._path(task_id))

    def remove(self, task_id: str) -> None:
        self._path(task_id).unlink(missing_ok=True)

    def pending(self) -> dict[str, dict[str, Any]]:
        out = {}
        for path in sorted(self.dir.glob("*.json")):
            try:
                out[path.stem] = json.loads(path.read_text())
            except (OSError, ValueError):
                path.unlink(missing_ok=True)
        return out
