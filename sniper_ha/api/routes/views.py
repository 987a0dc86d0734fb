"""Shape ledger records for responses (copies, taken under the ledger lock)."""

from __future__ import annotations

import copy
from typing import Any

from sniper_ha.security.data_keys import DataKeys, Undecryptable
from sniper_ha.security.tokens import Principal

SUMMARY_FIELDS = ("id", "seq", "type", "target", "priority", "status", "attempt", "max_attempts",
                  "worker_id", "progress", "submitted_at", "updated_at", "finished_at",
                  "create_index", "modify_index")


def task_full(task: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(task)


def reveal(task: dict[str, Any], principal: Principal, keys: DataKeys) -> dict[str, Any]:
    """Decrypt a copied task's result for its tenant and for admins; hide it from others."""
    if task.get("result") is None:
        return task
    if principal.role != "admin" and principal.tenant != task.get("tenant"):
        task["result"] = None
        task["result_hidden"] = True
        return task
    sealed = task["result"]
    try:
        task["result"] = keys.decrypt(sealed, task["id"])
        if isinstance(sealed, dict) and "kid" in sealed:
            task["result_key_id"] = sealed["kid"]  # which data key sealed it (for rotation)
    except Undecryptable as exc:
        task["result"] = None
        task["result_error"] = str(exc)
    return task


def task_summary(task: dict[str, Any]) -> dict[str, Any]:
    return {k: task[k] for k in SUMMARY_FIELDS}


def worker_view(worker: dict[str, Any], active: int) -> dict[str, Any]:
    out = copy.deepcopy(worker)
    out.pop("credential_digest", None)
    out["active_tasks"] = active
    return out
