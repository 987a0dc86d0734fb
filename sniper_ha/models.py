"""Pydantic models at the edges: what the API accepts and returns.

The replicated ledger stores plain dicts (see ledger/state.py) so that snapshots stay
independent of these classes; these models validate input and shape output.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TaskStatus(str, Enum):
    pending = "pending"
    assigned = "assigned"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


TERMINAL_STATUSES = frozenset({TaskStatus.succeeded, TaskStatus.failed, TaskStatus.cancelled})

_TARGET_RE = re.compile(r"^[A-Za-z0-9._:\-\[\]/]+$")
_LABEL_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,63}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskSpec(Strict):
    """One scan as a client submits it; params are checked against the scanner's own model."""

    type: str = Field(min_length=1, max_length=64)
    target: str = Field(min_length=1, max_length=253)
    params: dict[str, Any] = Field(default_factory=dict)
    priority: int = Field(default=5, ge=0, le=10)
    max_attempts: int = Field(default=3, ge=1, le=20)

    @field_validator("target")
    @classmethod
    def _target_shape(cls, v: str) -> str:
        if not _TARGET_RE.match(v):
            raise ValueError("target must be a hostname, an IP address or a CIDR")
        return v

    def normalized(self) -> TaskSpec:
        """A copy with params checked and normalised by the scanner's own model.

        Raises ParamsError naming the field; kept out of validation so the API can prefix
        the field with the task's position in a batch.
        """
        from sniper_ha.scanners.registry import validate_params

        return self.model_copy(update={"params": validate_params(self.type, self.params)})


class TaskBatch(Strict):
    tasks: list[TaskSpec] = Field(min_length=1, max_length=1000)


class WorkerRegistration(Strict):
    worker_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]{1,64}$")
    name: str = Field(min_length=1, max_length=128)
    capabilities: list[str] = Field(default_factory=list, max_length=64)
    labels: dict[str, str] = Field(default_factory=dict)
    max_concurrent_tasks: int = Field(default=2, ge=1, le=1024)
    resources: dict[str, float] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for k, val in v.items():
            if not _LABEL_RE.match(k) or len(val) > 253:
                raise ValueError(f"bad label {k!r}")
        return v


class Heartbeat(Strict):
    running_tasks: list[str] = Field(default_factory=list, max_length=4096)
    resources: dict[str, float] = Field(default_factory=dict)


class StatusUpdate(Strict):
    lease_id: str = Field(min_length=1, max_length=64)
    status: TaskStatus
    progress: float | None = Field(default=None, ge=0.0, le=1.0)
    message: str | None = Field(default=None, max_length=1000)

    @field_validator("status")
    @classmethod
    def _only_running(cls, v: TaskStatus) -> TaskStatus:
        if v is not TaskStatus.running:
            raise ValueError("status updates may only set 'running'; finish with PUT .../result")
        return v


class ResultWrite(Strict):
    lease_id: str = Field(min_length=1, max_length=64)
    status: TaskStatus
    result: dict[str, Any] | None = None
    error: str | None = Field(default=None, max_length=4000)

    @field_validator("status")
    @classmethod
    def _terminal(cls, v: TaskStatus) -> TaskStatus:
        if v not in TERMINAL_STATUSES:
            raise ValueError("result status must be 'succeeded', 'failed' or 'cancelled'")
        return v
