"""Task routes: submit, read, list, cancel, and the worker's status and result writes."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from aiohttp import web

from sniper_ha.api.bodies import parse, query_int, read_json
from sniper_ha.api.context import ctx_of
from sniper_ha.api.forwarding import leader_read, on_leader
from sniper_ha.api.middlewares import requires
from sniper_ha.api.routes.views import reveal, task_full, task_summary
from sniper_ha.errors import BadRequest, Conflict, Forbidden, NotFound, SniperError, StaleLease
from sniper_ha.ledger import commands as c
from sniper_ha.ledger import fsm
from sniper_ha.ledger.state import STATUSES
from sniper_ha.models import ResultWrite, StatusUpdate, TaskBatch, TaskSpec
from sniper_ha.scanners.registry import ParamsError

routes = web.RouteTableDef()

MAX_IDEMPOTENCY_KEY = 128


def _specs(body: Any) -> list[TaskSpec]:
    batch = isinstance(body, dict) and "tasks" in body
    specs = parse(TaskBatch, body).tasks if batch else [parse(TaskSpec, body)]
    out = []
    for pos, spec in enumerate(specs):
        try:
            out.append(spec.normalized())
        except ParamsError as exc:
            field = f"tasks.{pos}.{exc.field}" if batch else exc.field
            raise BadRequest(f"{field}: {str(exc).split(': ', 1)[1]}", field=field) from None
    return out


def _known_submit(store: Any, key: str) -> tuple[str | None, list[dict[str, Any]]] | None:
    seen = store.idempotency.get(key)
    if seen is None:
        return None
    return seen["request_hash"], [task_full(store.tasks[t]) for t in seen["task_ids"]
                                  if t in store.tasks]


def _lease_holder(request: web.Request, lease_id: str) -> None:
    """Only the worker a lease was granted to may write with it. The lease's worker never
    changes, so this check cannot race with apply (which fences stale leases itself)."""
    task_id = request.match_info["task_id"]

    def holder(store: Any) -> str | None:
        task = store.tasks.get(task_id)
        if task is None:
            return None
        for attempt in task["attempts"]:
            if attempt["lease_id"] == lease_id:
                return attempt["worker_id"]
        return None

    owner = ctx_of(request).read(holder)
    if owner is not None and not request["principal"].may_act_as(owner):
        raise Forbidden("this lease belongs to another worker", field="lease_id")


def _outcome_error(outcome: fsm.Outcome) -> SniperError:
    if outcome.kind == fsm.NOT_FOUND:
        return NotFound(outcome.reason, field="task_id")
    if outcome.kind == fsm.STALE_LEASE:
        return StaleLease(outcome.reason, field="lease_id")
    return Conflict(outcome.reason)


@routes.post("/v1/tasks")
@requires("operator")
@on_leader
async def submit(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    specs = _specs(await read_json(request))
    principal = request["principal"]
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise BadRequest(f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} characters",
                         field="Idempotency-Key")
    scoped_key = None if key is None else f"{principal.name}:{key}"
    canonical = json.dumps([s.model_dump(mode="json") for s in specs], sort_keys=True)
    request_hash = hashlib.sha256(canonical.encode()).hexdigest()
    cmd = c.TaskSubmit(
        tasks=[c.NewTask(task_id=uuid.uuid4().hex, **s.model_dump(mode="json")) for s in specs],
        idempotency_key=scoped_key,
        request_hash=request_hash,
        submitted_by=principal.name,
        tenant=principal.tenant,
        now=time.time(),
    )
    if scoped_key is not None:
        # Answer a known key without a Raft write; apply checks again for racing retries.
        known = ctx.read(lambda s: _known_submit(s, scoped_key))
        if known is not None:
            if known[0] != request_hash:
                raise Conflict("Idempotency-Key was used for a different request",
                               field="Idempotency-Key")
            return web.json_response({"tasks": known[1], "created": False}, status=200)
    outcome = await ctx.propose(c.encode(c.CommandType.TASK_SUBMIT, cmd))
    if outcome.kind == fsm.CONFLICT:
        raise Conflict(outcome.reason, field="Idempotency-Key")
    if not outcome.ok:
        raise _outcome_error(outcome)
    tasks = ctx.read(lambda s: [task_full(t) for t in outcome.value])
    status = 201 if outcome.kind == fsm.ACCEPTED else 200
    return web.json_response({"tasks": tasks, "created": status == 201}, status=status)


@routes.get("/v1/tasks")
@requires("viewer")
@leader_read
async def list_tasks(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    status = request.query.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}", field="status")
    limit = query_int(request, "limit", 100, 1, 1000)
    cursor = query_int(request, "cursor", 0, 0, 2**62)
    view = request.query.get("view", "summary")
    if view not in ("summary", "full"):
        raise BadRequest("view must be 'summary' or 'full'", field="view")
    shape = task_full if view == "full" else task_summary

    def page(store: Any) -> dict[str, Any]:
        tasks, nxt = store.list_tasks(status, cursor, limit)
        return {"tasks": [shape(t) for t in tasks], "next_cursor": nxt,
                "counts": store.counts()}

    body = ctx.read(page)
    if view == "full":
        body["tasks"] = [reveal(t, request["principal"], ctx.keys) for t in body["tasks"]]
    return web.json_response(body)


@routes.get("/v1/tasks/{task_id}")
@requires("viewer")
@leader_read
async def get_task(request: web.Request) -> web.Response:
    task_id = request.match_info["task_id"]
    task = ctx_of(request).read(
        lambda s: task_full(s.tasks[task_id]) if task_id in s.tasks else None
    )
    if task is None:
        raise NotFound(f"task {task_id} not found", field="task_id")
    return web.json_response(reveal(task, request["principal"], ctx_of(request).keys))


@routes.post("/v1/tasks/{task_id}/cancel")
@requires("operator")
@on_leader
async def cancel_task(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await read_json(request)
    reason = body.get("reason") if isinstance(body, dict) else None
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise BadRequest("reason must be a string of at most 500 characters", field="reason")
    cmd = c.TaskCancel(
        task_id=request.match_info["task_id"],
        reason=reason or "cancelled by request",
        by=request["principal"].name,
        now=time.time(),
    )
    outcome = await ctx.propose(c.encode(c.CommandType.TASK_CANCEL, cmd))
    if not outcome.ok:
        raise _outcome_error(outcome)
    task = ctx.read(lambda s: task_full(outcome.value))
    return web.json_response(reveal(task, request["principal"], ctx.keys), status=200)


@routes.post("/v1/tasks/{task_id}/status")
@requires("agent")
@on_leader
async def task_status(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    update = parse(StatusUpdate, await read_json(request))
    _lease_holder(request, update.lease_id)
    cmd = c.TaskStart(
        task_id=request.match_info["task_id"],
        lease_id=update.lease_id,
        progress=update.progress,
        message=update.message,
        now=time.time(),
    )
    outcome = await ctx.propose(c.encode(c.CommandType.TASK_START, cmd))
    if not outcome.ok:
        raise _outcome_error(outcome)
    return web.json_response(ctx.read(lambda s: task_summary(outcome.value)))


@routes.put("/v1/tasks/{task_id}/result")
@requires("agent")
@on_leader
async def task_result(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    write = parse(ResultWrite, await read_json(request))
    task_id = request.match_info["task_id"]
    _lease_holder(request, write.lease_id)
    canonical = json.dumps(write.model_dump(mode="json"), sort_keys=True)
    # Sealed before proposing: the log, journals and snapshots only ever hold ciphertext.
    sealed = None if write.result is None else ctx.keys.encrypt(write.result, task_id)
    cmd = c.TaskComplete(
        task_id=task_id,
        lease_id=write.lease_id,
        status=write.status.value,
        result=sealed,
        error=write.error,
        write_hash=ctx.keys.fingerprint(canonical),
        now=time.time(),
    )
    outcome = await ctx.propose(c.encode(c.CommandType.TASK_COMPLETE, cmd))
    if not outcome.ok:
        raise _outcome_error(outcome)
    # The answer describes this lease's attempt, not the task's current state, so a repeat
    # of the write gets the same body; the header only tells an operator it was a repeat.
    attempt = outcome.extra["attempt"]
    body = ctx.read(lambda s: {"id": cmd.task_id, "lease_id": cmd.lease_id,
                               "attempt": attempt["attempt"], "outcome": attempt["outcome"]})
    headers = {"X-Sniper-Duplicate": "true"} if outcome.kind == fsm.DUPLICATE else {}
    return web.json_response(body, headers=headers)
