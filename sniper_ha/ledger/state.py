"""The state store: plain records plus the indexes the API and the scheduler need.

Records are plain dicts so that a snapshot is ordinary data (no classes pickled) and a
rolling upgrade can read an older snapshot. Indexes are derived and rebuilt on restore.
The store is mutated only by ledger/fsm.py, on the Raft thread, under the ledger's lock.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from typing import Any

SNAPSHOT_FORMAT = 1
STATUSES = ("pending", "assigned", "running", "succeeded", "failed", "cancelled")
ACTIVE = frozenset({"assigned", "running"})
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

Record = dict[str, Any]


class StateStore:
    def __init__(self) -> None:
        self.tasks: dict[str, Record] = {}
        self.workers: dict[str, Record] = {}
        self.nodes: dict[str, Record] = {}
        self.idempotency: dict[str, Record] = {}
        #: Bearer tokens by id (digest, role, tenant, expiry; never the token itself).
        self.tokens: dict[str, Record] = {}
        #: Append-only audit trail of security-relevant actions.
        self.audit: list[Record] = []
        #: Raft index of the last ledger command applied (no-ops excluded).
        self.applied_index = 0
        #: Next task sequence number: a total order of submission, one per task, even for
        #: the tasks of one batch (which share a create_index). List cursors are sequences.
        self.next_seq = 1
        self._rebuild_indexes()

    # ---- indexes -------------------------------------------------------------------------

    def _rebuild_indexes(self) -> None:
        self.by_status: dict[str, dict[str, None]] = {s: {} for s in STATUSES}
        self.pending_by_priority: dict[int, dict[str, None]] = {}
        self.by_worker: dict[str, dict[str, None]] = {}
        self._order_ids: list[str] = []
        self._order_keys: list[int] = []
        self._token_digests = {t["digest"]: t for t in getattr(self, "tokens", {}).values()}
        self._worker_credentials = {w["credential_digest"]: w["id"]
                                    for w in getattr(self, "workers", {}).values()
                                    if w.get("credential_digest")}
        for task in sorted(self.tasks.values(), key=lambda t: t["seq"]):
            self._order_ids.append(task["id"])
            self._order_keys.append(task["seq"])
            if task["status"] != "pending":
                self._index_add(task)
        # The ready queue is FIFO by the index at which a task (re)entered pending, so a
        # requeued task queues behind newer ones exactly as it did in the live store.
        pending = [t for t in self.tasks.values() if t["status"] == "pending"]
        for task in sorted(pending, key=lambda t: (t["queued_index"], t["seq"])):
            self._index_add(task)

    def token_by_digest(self, digest: str) -> Record | None:
        """An API token, or a worker's credential ({"kind": "worker", "worker_id"})."""
        token = self._token_digests.get(digest)
        if token is not None:
            return token
        worker_id = self._worker_credentials.get(digest)
        if worker_id is None or worker_id not in self.workers:
            return None
        return {"kind": "worker", "worker_id": worker_id}

    def _index_add(self, task: Record) -> None:
        status = task["status"]
        self.by_status[status][task["id"]] = None
        if status == "pending":
            self.pending_by_priority.setdefault(task["priority"], {})[task["id"]] = None
        elif status in ACTIVE and task.get("worker_id"):
            self.by_worker.setdefault(task["worker_id"], {})[task["id"]] = None

    def _index_remove(self, task: Record) -> None:
        status = task["status"]
        self.by_status[status].pop(task["id"], None)
        if status == "pending":
            bucket = self.pending_by_priority.get(task["priority"])
            if bucket is not None:
                bucket.pop(task["id"], None)
                if not bucket:
                    del self.pending_by_priority[task["priority"]]
        elif status in ACTIVE and task.get("worker_id"):
            bucket = self.by_worker.get(task["worker_id"])
            if bucket is not None:
                bucket.pop(task["id"], None)
                if not bucket:
                    del self.by_worker[task["worker_id"]]

    # ---- mutation (fsm only) -------------------------------------------------------------

    def insert_task(self, task: Record) -> None:
        """Add a new task, giving it the next sequence number."""
        task["seq"] = self.next_seq
        task["queued_index"] = task["create_index"]
        self.next_seq += 1
        self.tasks[task["id"]] = task
        self._order_ids.append(task["id"])
        self._order_keys.append(task["seq"])
        self._index_add(task)

    def remove_tasks(self, task_ids: list[str]) -> int:
        """Delete finished tasks (retention) and idempotency keys left pointing at nothing."""
        removed = 0
        for task_id in task_ids:
            task = self.tasks.get(task_id)
            if task is None or task["status"] not in TERMINAL:
                continue
            self._index_remove(task)
            del self.tasks[task_id]
            removed += 1
        if removed:
            keep = [(i, k) for i, k in zip(self._order_ids, self._order_keys, strict=True)
                    if i in self.tasks]
            self._order_ids = [i for i, _ in keep]
            self._order_keys = [k for _, k in keep]
            for key, entry in list(self.idempotency.items()):
                alive = [t for t in entry["task_ids"] if t in self.tasks]
                if not alive:
                    del self.idempotency[key]
                elif len(alive) != len(entry["task_ids"]):
                    entry["task_ids"] = alive
        return removed

    def update_task(self, task: Record, index: int, **changes: Any) -> None:
        """Apply changes to a task, keeping every index in step with its status and worker."""
        self._index_remove(task)
        if changes.get("status") == "pending" and task["status"] != "pending":
            task["queued_index"] = index
        task.update(changes)
        task["modify_index"] = index
        self._index_add(task)

    # ---- queries -------------------------------------------------------------------------

    def pending_in_order(self) -> list[str]:
        """Pending task ids, highest priority first, FIFO within a priority."""
        out: list[str] = []
        for prio in sorted(self.pending_by_priority, reverse=True):
            out.extend(self.pending_by_priority[prio])
        return out

    def list_tasks(
        self, status: str | None, after: int, limit: int
    ) -> tuple[list[Record], int | None]:
        """Tasks in submission order after the cursor (a task `seq`); returns the next cursor."""
        start = bisect.bisect_right(self._order_keys, after)
        out: list[Record] = []
        for pos in range(start, len(self._order_ids)):
            task = self.tasks.get(self._order_ids[pos])
            if task is None or (status is not None and task["status"] != status):
                continue
            out.append(task)
            if len(out) >= limit:
                more = pos + 1 < len(self._order_ids)
                return out, (task["seq"] if more else None)
        return out, None

    def counts(self) -> dict[str, int]:
        return {s: len(ids) for s, ids in self.by_status.items()}

    # ---- snapshot ------------------------------------------------------------------------

    def to_snapshot(self) -> dict[str, Any]:
        return {
            "format": SNAPSHOT_FORMAT,
            "applied_index": self.applied_index,
            "next_seq": self.next_seq,
            "tasks": self.tasks,
            "workers": self.workers,
            "nodes": self.nodes,
            "idempotency": self.idempotency,
            "tokens": self.tokens,
            "audit": self.audit,
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> StateStore:
        if data.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(f"unsupported snapshot format {data.get('format')!r}")
        store = cls()
        store.applied_index = int(data["applied_index"])
        store.next_seq = int(data["next_seq"])
        store.tasks = dict(data["tasks"])
        store.workers = dict(data["workers"])
        store.nodes = dict(data["nodes"])
        store.idempotency = dict(data["idempotency"])
        store.tokens = dict(data["tokens"])
        store.audit = list(data["audit"])
        store._rebuild_indexes()
        return store

    def digest(self) -> str:
        """A hash of the replicated content; equal on every replica at the same applied index.

        It hashes the whole store (tens of ms for thousands of records), so it is cached per
        applied index: every mutation goes through apply, which moves the index."""
        cached = getattr(self, "_digest_cache", None)
        if cached is not None and cached[0] == self.applied_index:
            return cached[1]
        blob = json.dumps(self.to_snapshot(), sort_keys=True, separators=(",", ":"))
        value = hashlib.sha256(blob.encode()).hexdigest()
        self._digest_cache = (self.applied_index, value)
        return value
