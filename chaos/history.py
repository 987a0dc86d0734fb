"""The operation history: every client operation as invoke / ok / fail / info, in JSONL.

`ok` and `fail` are definite outcomes; `info` means unknown (a timeout, a connection cut, a
503 unknown_outcome): the operation may or may not have taken effect. Times are monotonic
seconds since the run started; the answering replica and, for writes the leader served, its
Raft address and term are kept.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Op:
    index: int
    process: str
    type: str  # invoke | ok | fail | info
    f: str  # submit | read | nemesis
    key: str | None = None
    time: float = 0.0
    replica: str | None = None
    leader: str | None = None
    term: int | None = None
    task_ids: list[str] = field(default_factory=list)
    status: int | None = None
    error: str | None = None
    duration: float | None = None
    value: Any = None


class History:
    def __init__(self, path: Path | None = None) -> None:
        self.ops: list[Op] = []
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._file = open(path, "a") if path is not None else None

    def now(self) -> float:
        return time.monotonic() - self.started

    def record(self, **fields: Any) -> Op:
        with self._lock:
            op = Op(index=len(self.ops), time=self.now(), **fields)
            self.ops.append(op)
            if self._file is not None:
                self._file.write(json.dumps(asdict(op)) + "\n")
                self._file.flush()
            return op

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    @staticmethod
    def load(path: Path) -> list[Op]:
        return [Op(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
