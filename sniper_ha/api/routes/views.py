"""Shape ledger records for responses (copies, taken under the ledger lock)."""

from __future__ import annotations

import copy
from typing import Any

SUMMARY_FIELDS = ("id", "seq", "type", "target", "priority", "status", "attempt", "max_attempts",
                  "worker_id", "progress", "submitted_at", "updated_at", "finished_at",
                  "create_index", "modify_index")


def task_full(task: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(task)


def task_summary(task: dict[str, Any]) -> dict[str, Any]:
    return {k: task[k] for k in SUMMARY_FIELDS}


def worker_view(worker: dict[str, Any], active: int) -> dict[str, Any]:
    out = copy.deepcopy(worker)
    out["active_tasks"] = active
    return out
