"""Typed, versioned commands: the only things that ever enter the Raft log.

`CommandType` is append-only: values are written into journals and snapshots, so a value is
never renamed or reused. Every payload carries the ids and timestamps the leader chose, so
apply never reads a clock or draws a random number.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CommandType(str, Enum):
    NODE_ANNOUNCE = "node_announce"
    WORKER_REGISTER = "worker_register"
    WORKER_STATUS = "worker_status"
    TASK_SUBMIT = "task_submit"
    TASK_ASSIGN = "task_assign"
    TASK_START = "task_start"
    TASK_COMPLETE = "task_complete"
    TASK_CANCEL = "task_cancel"
    TASK_EXPIRE = "task_expire"
    WORKER_CONTROL = "worker_control"
    WORKER_RESOURCES = "worker_resources"
    NODE_FORGET = "node_forget"
    TOKEN_CREATE = "token_create"
    TOKEN_REVOKE = "token_revoke"
    AUDIT = "audit"
    TASK_PURGE = "task_purge"


#: Highest payload version this code applies, per command type.
SUPPORTED_VERSION: dict[CommandType, int] = {t: 1 for t in CommandType}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NodeAnnounce(Payload):
    raft: str
    api: str
    term: int = 0


class WorkerRegister(Payload):
    worker_id: str
    name: str
    capabilities: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    max_concurrent_tasks: int = 1
    resources: dict[str, float] = Field(default_factory=dict)
    #: SHA-256 of the credential issued with this registration (replaces the previous one).
    credential_digest: str | None = None
    now: float


class WorkerStatusChange(Payload):
    worker_id: str
    status: str
    reason: str = ""
    now: float


class NewTask(Payload):
    task_id: str
    type: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    priority: int = 5
    max_attempts: int = 3


class TaskSubmit(Payload):
    tasks: list[NewTask]
    idempotency_key: str | None = None
    request_hash: str | None = None
    submitted_by: str = ""
    tenant: str = ""
    now: float


class Assignment(Payload):
    task_id: str
    worker_id: str
    lease_id: str
    expires_at: float


class TaskAssign(Payload):
    assignments: list[Assignment]
    now: float


class TaskStart(Payload):
    task_id: str
    lease_id: str
    progress: float | None = None
    message: str | None = None
    now: float


class TaskComplete(Payload):
    task_id: str
    lease_id: str
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None
    #: Hash of the worker's write, so a repeat is told apart from a different second write.
    write_hash: str | None = None
    now: float


class TaskCancel(Payload):
    task_id: str
    reason: str = "cancelled by request"
    by: str = ""
    now: float


class TaskExpire(Payload):
    task_id: str
    lease_id: str
    reason: str = "lease expired"
    now: float


class WorkerControl(Payload):
    """An operator's intent for a worker: drain, shutdown, or resume (clears either)."""

    worker_id: str
    action: str
    by: str = ""
    now: float


class WorkerResources(Payload):
    """A coarse-interval resource snapshot (heartbeats themselves never enter the log)."""

    worker_id: str
    resources: dict[str, float] = Field(default_factory=dict)
    now: float


class NodeForget(Payload):
    """A replica removed from the Raft group: drop its API address from the table."""

    raft: str


class TokenCreate(Payload):
    """A bearer token: only its SHA-256 digest enters the log, never the token."""

    token_id: str
    name: str
    role: str
    tenant: str
    digest: str
    expires_at: float | None = None
    created_by: str = ""
    now: float


class TokenRevoke(Payload):
    token_id: str
    by: str = ""
    now: float


class Audit(Payload):
    """A security-relevant action that is not itself a ledger change (an admin call, a
    refused worker), recorded so it survives failover like everything else."""

    action: str
    actor: str
    role: str = ""
    target: str = ""
    outcome: str = "ok"
    detail: str = ""
    now: float


class TaskPurge(Payload):
    """Retention: delete finished tasks, or only their result payloads."""

    task_ids: list[str]
    results_only: bool = False
    now: float


PAYLOADS: dict[CommandType, type[Payload]] = {
    CommandType.NODE_ANNOUNCE: NodeAnnounce,
    CommandType.WORKER_REGISTER: WorkerRegister,
    CommandType.WORKER_STATUS: WorkerStatusChange,
    CommandType.TASK_SUBMIT: TaskSubmit,
    CommandType.TASK_ASSIGN: TaskAssign,
    CommandType.TASK_START: TaskStart,
    CommandType.TASK_COMPLETE: TaskComplete,
    CommandType.TASK_CANCEL: TaskCancel,
    CommandType.TASK_EXPIRE: TaskExpire,
    CommandType.WORKER_CONTROL: WorkerControl,
    CommandType.WORKER_RESOURCES: WorkerResources,
    CommandType.NODE_FORGET: NodeForget,
    CommandType.TOKEN_CREATE: TokenCreate,
    CommandType.TOKEN_REVOKE: TokenRevoke,
    CommandType.AUDIT: Audit,
    CommandType.TASK_PURGE: TaskPurge,
}


def encode(ctype: CommandType, payload: Payload, version: int = 1) -> dict[str, Any]:
    """The wire form of a command: plain JSON-compatible data, safe to journal and snapshot."""
    if not isinstance(payload, PAYLOADS[ctype]):
        raise TypeError(f"{ctype.value} takes {PAYLOADS[ctype].__name__}")
    return {"type": ctype.value, "version": version, "payload": payload.model_dump(mode="json")}
