"""Deterministic apply: one function per command type, results returned as values.

Every replica runs exactly this code over exactly the same commands, so nothing here reads a
clock, draws a random number, does I/O or depends on dict iteration of anything but the
store itself. A rejected command is still a committed log entry: it answers with an
`Outcome` instead of raising, so replicas stay in lockstep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from sniper_ha.ledger import commands as c
from sniper_ha.ledger.state import ACTIVE, TERMINAL, Record, StateStore

#: What a worker is told about a task it was leased.
LEASE_FIELDS = ("id", "type", "target", "params", "priority", "attempt", "lease_id",
                "lease_expires_at", "max_attempts", "worker_id")

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
STALE_LEASE = "stale_lease"
NOT_FOUND = "not_found"
CONFLICT = "conflict"
REJECTED = "rejected"


@dataclass
class Outcome:
    kind: str
    value: Any = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.kind in (ACCEPTED, DUPLICATE)


def apply(store: StateStore, command: dict[str, Any], index: int) -> Outcome:
    """Apply one committed command at Raft log `index`."""
    try:
        ctype = c.CommandType(command["type"])
        version = int(command.get("version", 1))
        if version > c.SUPPORTED_VERSION[ctype]:
            return Outcome(REJECTED, reason=f"{ctype.value} v{version} is newer than this replica")
        payload = c.PAYLOADS[ctype].model_validate(command["payload"])
    except (KeyError, ValueError, TypeError, ValidationError) as exc:
        return Outcome(REJECTED, reason=f"malformed command: {exc}")
    outcome = _HANDLERS[ctype](store, payload, index)
    store.applied_index = index
    return outcome


# ---- replicas and workers ------------------------------------------------------------------


def _node_announce(store: StateStore, p: c.NodeAnnounce, index: int) -> Outcome:
    node = store.nodes.get(p.raft)
    if node is not None and node["api"] == p.api:
        node["last_announce_index"] = index
        return Outcome(DUPLICATE, node)
    node = {"raft": p.raft, "api": p.api, "create_index": index, "last_announce_index": index}
    store.nodes[p.raft] = node
    return Outcome(ACCEPTED, node)


def _node_forget(store: StateStore, p: c.NodeForget, index: int) -> Outcome:
    node = store.nodes.pop(p.raft, None)
    return Outcome(ACCEPTED if node is not None else DUPLICATE, node)


def _token_create(store: StateStore, p: c.TokenCreate, index: int) -> Outcome:
    if p.token_id in store.tokens or store.token_by_digest(p.digest) is not None:
        return Outcome(CONFLICT, reason="token already exists")
    if p.role not in ("admin", "operator", "viewer", "worker"):
        return Outcome(REJECTED, reason=f"unknown role {p.role!r}")
    token = {"id": p.token_id, "name": p.name, "role": p.role, "tenant": p.tenant,
             "digest": p.digest, "expires_at": p.expires_at, "created_by": p.created_by,
             "created_at": p.now, "revoked_at": None, "create_index": index,
             "modify_index": index}
    store.tokens[p.token_id] = token
    store._token_digests[p.digest] = token
    _audit(store, index, p.now, "token.create", p.created_by, target=p.token_id,
           detail=f"{p.name} role={p.role} tenant={p.tenant}")
    return Outcome(ACCEPTED, token)


def _token_revoke(store: StateStore, p: c.TokenRevoke, index: int) -> Outcome:
    token = store.tokens.get(p.token_id)
    if token is None:
        return Outcome(NOT_FOUND, reason=f"token {p.token_id} not found")
    if token["revoked_at"] is not None:
        return Outcome(DUPLICATE, token)
    token.update(revoked_at=p.now, modify_index=index)
    _audit(store, index, p.now, "token.revoke", p.by, target=p.token_id)
    return Outcome(ACCEPTED, token)


def _audit_command(store: StateStore, p: c.Audit, index: int) -> Outcome:
    record = _audit(store, index, p.now, p.action, p.actor, role=p.role, target=p.target,
                    outcome=p.outcome, detail=p.detail)
    return Outcome(ACCEPTED, record)


def _audit(store: StateStore, index: int, now: float, action: str, actor: str, *,
           role: str = "", target: str = "", outcome: str = "ok", detail: str = "") -> Record:
    record = {"seq": len(store.audit) + 1, "index": index, "at": now, "action": action,
              "actor": actor, "role": role, "target": target, "outcome": outcome,
              "detail": detail}
    store.audit.append(record)
    return record


def _task_purge(store: StateStore, p: c.TaskPurge, index: int) -> Outcome:
    if p.results_only:
        cleared = 0
        for task_id in p.task_ids:
            task = store.tasks.get(task_id)
            if task is not None and task["status"] in TERMINAL and task["result"] is not None:
                task.update(result=None, result_purged_at=p.now, modify_index=index)
                cleared += 1
        _audit(store, index, p.now, "retention.results", "leader", detail=f"{cleared} results")
        return Outcome(ACCEPTED, cleared)
    removed = store.remove_tasks(p.task_ids)
    _audit(store, index, p.now, "retention.tasks", "leader", detail=f"{removed} tasks")
    return Outcome(ACCEPTED, removed)


def _worker_register(store: StateStore, p: c.WorkerRegister, index: int) -> Outcome:
    worker = store.workers.get(p.worker_id)
    fields: dict[str, Any] = {
        "name": p.name,
        "capabilities": sorted(set(p.capabilities)),
        "labels": dict(p.labels),
        "max_concurrent_tasks": p.max_concurrent_tasks,
        "resources": dict(p.resources),
        "status": "ready",
        "status_reason": None,
        "last_seen_at": p.now,
        "modify_index": index,
        "credential_digest": p.credential_digest,
    }
    old = None if worker is None else worker.get("credential_digest")
    if old:
        store._worker_credentials.pop(old, None)
    if p.credential_digest:
        store._worker_credentials[p.credential_digest] = p.worker_id
    if worker is None:
        worker = {"id": p.worker_id, "registered_at": p.now, "create_index": index,
                  "control": None, **fields}
        store.workers[p.worker_id] = worker
        _audit(store, index, p.now, "worker.register", p.worker_id, role="worker",
               target=p.worker_id, detail=p.name)
        return Outcome(ACCEPTED, worker)
    if worker.get("control") == "shutdown":
        fields["control"] = None  # a worker started again after a shutdown starts afresh
    worker.update(fields)
    return Outcome(DUPLICATE, worker)


def _worker_status(store: StateStore, p: c.WorkerStatusChange, index: int) -> Outcome:
    worker = store.workers.get(p.worker_id)
    if worker is None:
        return Outcome(NOT_FOUND, reason=f"worker {p.worker_id} is not registered")
    if p.status not in ("ready", "down"):
        return Outcome(REJECTED, reason=f"unknown worker status {p.status!r}")
    if worker["status"] == p.status:
        return Outcome(DUPLICATE, worker)
    worker.update(status=p.status, status_reason=p.reason, last_seen_at=p.now, modify_index=index)
    if p.status == "down":
        # Requeue in submission order so the ready queue is the same on a restored replica.
        active = sorted(store.by_worker.get(p.worker_id, {}), key=lambda t: store.tasks[t]["seq"])
        for task_id in active:
            _end_attempt(store, store.tasks[task_id], index, p.now, "lost", f"worker down: {p.reason}")
    return Outcome(ACCEPTED, worker)


def _worker_control(store: StateStore, p: c.WorkerControl, index: int) -> Outcome:
    worker = store.workers.get(p.worker_id)
    if worker is None:
        return Outcome(NOT_FOUND, reason=f"worker {p.worker_id} is not registered")
    if p.action not in ("drain", "shutdown", "resume"):
        return Outcome(REJECTED, reason=f"unknown control action {p.action!r}")
    control = None if p.action == "resume" else p.action
    if worker.get("control") == control:
        return Outcome(DUPLICATE, worker)
    worker.update(control=control, control_by=p.by, control_at=p.now, modify_index=index)
    _audit(store, index, p.now, f"worker.{p.action}", p.by, target=p.worker_id)
    return Outcome(ACCEPTED, worker)


def _worker_resources(store: StateStore, p: c.WorkerResources, index: int) -> Outcome:
    worker = store.workers.get(p.worker_id)
    if worker is None:
        return Outcome(NOT_FOUND, reason=f"worker {p.worker_id} is not registered")
    worker.update(resources=dict(p.resources), last_seen_at=p.now, modify_index=index)
    return Outcome(ACCEPTED, worker)


# ---- tasks -----------------------------------------------------------------------------------


def _task_submit(store: StateStore, p: c.TaskSubmit, index: int) -> Outcome:
    if p.idempotency_key is not None:
        seen = store.idempotency.get(p.idempotency_key)
        if seen is not None:
            if seen["request_hash"] != p.request_hash:
                return Outcome(CONFLICT, reason="Idempotency-Key was used for a different request")
            return Outcome(DUPLICATE, [store.tasks[t] for t in seen["task_ids"] if t in store.tasks])
    ids = [t.task_id for t in p.tasks]
    if len(set(ids)) != len(ids) or any(i in store.tasks for i in ids):
        return Outcome(CONFLICT, reason="task id already exists")
    created = []
    for new in p.tasks:
        task: Record = {
            "id": new.task_id,
            "type": new.type,
            "target": new.target,
            "params": dict(new.params),
            "priority": new.priority,
            "max_attempts": new.max_attempts,
            "status": "pending",
            "attempt": 0,
            "attempts": [],
            "lease_id": None,
            "lease_expires_at": None,
            "worker_id": None,
            "progress": None,
            "message": None,
            "result": None,
            "error": None,
            "submitted_by": p.submitted_by,
            "tenant": p.tenant or p.submitted_by,
            "idempotency_key": p.idempotency_key,
            "submitted_at": p.now,
            "updated_at": p.now,
            "finished_at": None,
            "create_index": index,
            "modify_index": index,
        }
        store.insert_task(task)
        created.append(task)
    if p.idempotency_key is not None:
        store.idempotency[p.idempotency_key] = {
            "task_ids": [t.task_id for t in p.tasks],
            "request_hash": p.request_hash,
            "create_index": index,
        }
    return Outcome(ACCEPTED, created)


def _task_assign(store: StateStore, p: c.TaskAssign, index: int) -> Outcome:
    """Grant leases; each one applies only if its task is still pending (compare-and-set)."""
    granted: list[Record] = []
    refused: list[str] = []
    for a in p.assignments:
        task = store.tasks.get(a.task_id)
        worker = store.workers.get(a.worker_id)
        if task is None or task["status"] != "pending" or worker is None:
            refused.append(a.task_id)
            continue
        if worker["status"] != "ready" or worker.get("control"):
            refused.append(a.task_id)
            continue
        attempt = task["attempt"] + 1
        store.update_task(
            task,
            index,
            status="assigned",
            attempt=attempt,
            lease_id=a.lease_id,
            lease_expires_at=a.expires_at,
            worker_id=a.worker_id,
            updated_at=p.now,
            progress=None,
        )
        task["attempts"].append(
            {
                "attempt": attempt,
                "lease_id": a.lease_id,
                "worker_id": a.worker_id,
                "assigned_at": p.now,
                "outcome": None,
                "error": None,
                "finished_at": None,
            }
        )
        granted.append(task)
    # The grants as they are now: the records may change (requeue, cancel) before the
    # leader's endpoint reads them, and the worker must get the lease it was given.
    leases = [{k: task[k] for k in LEASE_FIELDS} for task in granted]
    return Outcome(ACCEPTED, granted, extra={"refused": refused, "leases": leases})


def _lease_check(
    store: StateStore, task_id: str, lease_id: str, write_hash: str | None = None
) -> tuple[Record | None, Outcome | None]:
    """Fencing: the write must carry the task's current lease, else it is stale.

    A lease that already reported answers a repeat of the same write as DUPLICATE, and a
    different second write (another hash) as CONFLICT: the first result stands.
    """
    task = store.tasks.get(task_id)
    if task is None:
        return None, Outcome(NOT_FOUND, reason=f"task {task_id} not found")
    if task["lease_id"] != lease_id or task["status"] not in ACTIVE:
        attempt = _attempt_for(task, lease_id)
        if attempt is not None and attempt["outcome"] in ("succeeded", "failed"):
            recorded = attempt.get("write_hash")
            if write_hash is not None and recorded is not None and recorded != write_hash:
                return task, Outcome(CONFLICT, task, reason="this lease already reported another result")
            return task, Outcome(DUPLICATE, task, extra={"attempt": attempt})
        cancelled = task["status"] == "cancelled"
        why = "task was cancelled" if cancelled else "lease is no longer current"
        return task, Outcome(STALE_LEASE, task, reason=why)
    return task, None


def _task_start(store: StateStore, p: c.TaskStart, index: int) -> Outcome:
    task, early = _lease_check(store, p.task_id, p.lease_id)
    if early is not None:
        return early
    assert task is not None
    store.update_task(
        task, index, status="running", progress=p.progress, message=p.message, updated_at=p.now
    )
    return Outcome(ACCEPTED, task)


def _task_complete(store: StateStore, p: c.TaskComplete, index: int) -> Outcome:
    if p.status not in ("succeeded", "failed", "cancelled"):
        return Outcome(REJECTED, reason=f"bad result status {p.status!r}")
    if p.status == "cancelled":
        # A worker acknowledging a cancel it was told about: fine for the cancelled lease only.
        task = store.tasks.get(p.task_id)
        attempt = None if task is None else _attempt_for(task, p.lease_id)
        if task is None:
            return Outcome(NOT_FOUND, reason=f"task {p.task_id} not found")
        if attempt is not None and attempt["outcome"] == "cancelled":
            return Outcome(DUPLICATE, task, extra={"attempt": attempt})
        return Outcome(CONFLICT, task, reason="only a cancelled lease may report 'cancelled'")
    task, early = _lease_check(store, p.task_id, p.lease_id, p.write_hash)
    if early is not None:
        return early
    assert task is not None
    attempt = _attempt_for(task, p.lease_id)
    if attempt is not None:
        attempt["write_hash"] = p.write_hash
    if p.status == "succeeded":
        if attempt is not None:
            attempt.update(outcome="succeeded", finished_at=p.now)
        store.update_task(
            task,
            index,
            status="succeeded",
            result=p.result,
            error=None,
            progress=1.0,
            updated_at=p.now,
            finished_at=p.now,
        )
        return Outcome(ACCEPTED, task, extra={"attempt": attempt})
    _end_attempt(store, task, index, p.now, "failed", p.error or "scanner failed", p.result)
    return Outcome(ACCEPTED, task, extra={"attempt": attempt})


def _task_cancel(store: StateStore, p: c.TaskCancel, index: int) -> Outcome:
    task = store.tasks.get(p.task_id)
    if task is None:
        return Outcome(NOT_FOUND, reason=f"task {p.task_id} not found")
    if task["status"] == "cancelled":
        return Outcome(DUPLICATE, task)
    if task["status"] in TERMINAL:
        return Outcome(CONFLICT, task, reason=f"task already {task['status']}")
    attempt = _attempt_for(task, task["lease_id"]) if task["lease_id"] else None
    if attempt is not None and attempt["outcome"] is None:
        attempt.update(outcome="cancelled", finished_at=p.now)
    store.update_task(
        task, index, status="cancelled", error=p.reason, updated_at=p.now, finished_at=p.now
    )
    _audit(store, index, p.now, "task.cancel", p.by, target=p.task_id, detail=p.reason)
    return Outcome(ACCEPTED, task)


def _task_expire(store: StateStore, p: c.TaskExpire, index: int) -> Outcome:
    task, early = _lease_check(store, p.task_id, p.lease_id)
    if early is not None:
        # The lease moved on (result written, reassigned, cancelled): nothing to expire.
        return Outcome(STALE_LEASE, task, reason="lease already ended")
    assert task is not None
    _end_attempt(store, task, index, p.now, "lost", p.reason)
    return Outcome(ACCEPTED, task)


def _attempt_for(task: Record, lease_id: str | None) -> Record | None:
    for attempt in reversed(task["attempts"]):
        if attempt["lease_id"] == lease_id:
            return attempt
    return None


def _end_attempt(
    store: StateStore,
    task: Record,
    index: int,
    now: float,
    outcome: str,
    error: str,
    result: dict[str, Any] | None = None,
) -> None:
    """Close the current attempt; requeue the task, or fail it once attempts are used up."""
    attempt = _attempt_for(task, task["lease_id"])
    if attempt is not None:
        attempt.update(outcome=outcome, error=error, finished_at=now)
    if task["attempt"] >= task["max_attempts"]:
        reasons = "; ".join(
            f"attempt {a['attempt']}: {a['outcome']}: {a['error']}" for a in task["attempts"]
        )
        store.update_task(
            task,
            index,
            status="failed",
            error=f"gave up after {task['attempt']} attempts ({reasons})",
            result=result,
            updated_at=now,
            finished_at=now,
        )
    else:
        store.update_task(
            task,
            index,
            status="pending",
            lease_id=None,
            lease_expires_at=None,
            worker_id=None,
            progress=None,
            updated_at=now,
        )


_HANDLERS: dict[c.CommandType, Callable[[StateStore, Any, int], Outcome]] = {
    c.CommandType.NODE_ANNOUNCE: _node_announce,
    c.CommandType.WORKER_REGISTER: _worker_register,
    c.CommandType.WORKER_STATUS: _worker_status,
    c.CommandType.TASK_SUBMIT: _task_submit,
    c.CommandType.TASK_ASSIGN: _task_assign,
    c.CommandType.TASK_START: _task_start,
    c.CommandType.TASK_COMPLETE: _task_complete,
    c.CommandType.TASK_CANCEL: _task_cancel,
    c.CommandType.TASK_EXPIRE: _task_expire,
    c.CommandType.WORKER_CONTROL: _worker_control,
    c.CommandType.WORKER_RESOURCES: _worker_resources,
    c.CommandType.NODE_FORGET: _node_forget,
    c.CommandType.TOKEN_CREATE: _token_create,
    c.CommandType.TOKEN_REVOKE: _token_revoke,
    c.CommandType.AUDIT: _audit_command,
    c.CommandType.TASK_PURGE: _task_purge,
}
