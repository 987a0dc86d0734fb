"""Worker routes: register, heartbeat, lease (long poll), list."""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiohttp import web

from sniper_ha.api.bodies import parse, query_float, query_int, read_json
from sniper_ha.api.context import ctx_of
from sniper_ha.api.forwarding import leader_read, on_leader
from sniper_ha.api.middlewares import requires
from sniper_ha.api.routes.views import worker_view
from sniper_ha.errors import Forbidden, NotFound, NotLeader, UnknownWorker
from sniper_ha.ledger import commands as c
from sniper_ha.models import Heartbeat, WorkerRegistration
from sniper_ha.security.tokens import digest, new_token

routes = web.RouteTableDef()


def own_worker(request: web.Request) -> str:
    """The path's worker id, if the caller may act as that worker (its credential, or admin)."""
    wid = request.match_info["worker_id"]
    if not request["principal"].may_act_as(wid):
        raise Forbidden("this credential belongs to another worker", field="worker_id")
    return wid


@routes.post("/v1/workers")
@requires("worker")  # a join token; a worker's own credential may re-register itself
@on_leader
async def register(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    reg = parse(WorkerRegistration, await read_json(request))
    worker_id = reg.worker_id or f"w-{uuid.uuid4().hex[:12]}"
    principal = request["principal"]
    if principal.role == "agent" and principal.worker_id != worker_id:
        raise Forbidden("a worker credential may only re-register its own worker id",
                        field="worker_id")
    credential = new_token()
    cmd = c.WorkerRegister(
        worker_id=worker_id,
        name=reg.name,
        capabilities=reg.capabilities,
        labels=reg.labels,
        max_concurrent_tasks=reg.max_concurrent_tasks,
        resources=reg.resources,
        credential_digest=digest(credential),
        now=time.time(),
    )
    outcome = await ctx.propose(c.encode(c.CommandType.WORKER_REGISTER, cmd))
    if ctx.role.heartbeats is not None:
        ctx.role.heartbeats.registered(worker_id)
    worker = ctx.read(lambda s: worker_view(outcome.value, len(s.by_worker.get(worker_id, ()))))
    worker["heartbeat_interval"] = ctx.settings.workers.heartbeat_interval
    # This worker's own credential, for every later call; shown once, stored as a digest.
    worker["credential"] = credential
    return web.json_response(worker, status=201 if outcome.kind == "accepted" else 200)


@routes.get("/v1/workers")
@requires("viewer")
@leader_read
async def list_workers(request: web.Request) -> web.Response:
    def rows(store: Any) -> list[dict[str, Any]]:
        return [worker_view(w, len(store.by_worker.get(w["id"], ())))
                for w in store.workers.values()]

    return web.json_response({"workers": ctx_of(request).read(rows)})


@routes.get("/v1/workers/{worker_id}")
@requires("viewer")
@leader_read
async def get_worker(request: web.Request) -> web.Response:
    wid = request.match_info["worker_id"]
    worker = ctx_of(request).read(
        lambda s: worker_view(s.workers[wid], len(s.by_worker.get(wid, ())))
        if wid in s.workers else None
    )
    if worker is None:
        raise NotFound(f"worker {wid} not found", field="worker_id")
    return web.json_response(worker)


@routes.post("/v1/workers/{worker_id}/heartbeat")
@requires("agent")
@on_leader
async def heartbeat(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    wid = own_worker(request)
    beat = parse(Heartbeat, await read_json(request))
    known = ctx.read(lambda s: s.workers.get(wid, {}).get("status"))
    if known is None:
        raise UnknownWorker(f"worker {wid} is not registered", field="worker_id")
    monitor = ctx.role.heartbeats
    if monitor is None:
        raise NotLeader()
    commands = await monitor.beat(wid, beat)
    status = ctx.read(lambda s: s.workers[wid]["status"])
    return web.json_response({"status": status, "commands": commands,
                              "heartbeat_interval": ctx.settings.workers.heartbeat_interval})


@routes.post("/v1/workers/{worker_id}/lease")
@requires("agent")
@on_leader
async def lease(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    max_tasks = query_int(request, "max", 1, 1, 256)
    wait = query_float(request, "wait", 0.0, 0.0, ctx.settings.api.max_lease_wait)
    dispatcher = ctx.role.dispatcher
    if dispatcher is None:
        raise NotLeader()
    tasks = await dispatcher.lease(own_worker(request), max_tasks, wait)
    return web.json_response({"tasks": tasks})


async def _control(request: web.Request, action: str) -> web.Response:
    ctx = ctx_of(request)
    wid = request.match_info["worker_id"]
    cmd = c.WorkerControl(worker_id=wid, action=action, by=request["principal"].name,
                          now=time.time())
    outcome = await ctx.propose(c.encode(c.CommandType.WORKER_CONTROL, cmd))
    if outcome.kind == "not_found":
        raise NotFound(outcome.reason, field="worker_id")
    worker = ctx.read(lambda s: worker_view(outcome.value, len(s.by_worker.get(wid, ()))))
    return web.json_response(worker)


@routes.post("/v1/workers/{worker_id}/drain")
@requires("operator")
@on_leader
async def drain(request: web.Request) -> web.Response:
    """Finish running tasks, take no new ones (delivered in the worker's next heartbeat)."""
    return await _control(request, "drain")


@routes.post("/v1/workers/{worker_id}/shutdown")
@requires("operator")
@on_leader
async def shutdown(request: web.Request) -> web.Response:
    """Stop the worker: its running scans are stopped and their tasks leased elsewhere."""
    return await _control(request, "shutdown")


@routes.post("/v1/workers/{worker_id}/resume")
@requires("operator")
@on_leader
async def resume(request: web.Request) -> web.Response:
    """Undo a drain."""
    return await _control(request, "resume")


@routes.post("/v1/workers/{worker_id}/leave")
@requires("agent")
@on_leader
async def leave(request: web.Request) -> web.Response:
    """A worker stopping on purpose: mark it down now so its leases are requeued at once."""
    ctx = ctx_of(request)
    wid = own_worker(request)
    cmd = c.WorkerStatusChange(worker_id=wid, status="down", reason="worker left", now=time.time())
    outcome = await ctx.propose(c.encode(c.CommandType.WORKER_STATUS, cmd))
    if outcome.kind == "not_found":
        raise UnknownWorker(outcome.reason, field="worker_id")
    if ctx.role.heartbeats is not None:
        ctx.role.heartbeats.deadlines.pop(wid, None)
    return web.json_response({"id": wid, "status": "down"})
