"""Cluster and health routes. These answer from any replica: they describe the replicas."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from sniper_ha.api.bodies import read_json
from sniper_ha.api.context import Context, ctx_of
from sniper_ha.api.forwarding import on_leader
from sniper_ha.api.middlewares import requires
from sniper_ha.api.routes.admin import audited
from sniper_ha.errors import BadRequest, Conflict, NotFound
from sniper_ha.ledger import commands as c

routes = web.RouteTableDef()


async def self_view(ctx: Context) -> dict[str, Any]:
    status = ctx.replica.status()

    def ledger(store: Any) -> dict[str, Any]:
        return {"ledger_index": store.applied_index, "state_digest": store.digest(),
                "tasks": store.counts(), "workers": len(store.workers)}

    # Hashing a large store takes a while: do it off the event loop.
    status.update(await asyncio.to_thread(ctx.read, ledger))
    status["api"] = ctx.api_url
    status["leader_api"] = ctx.leader_api()
    status["leader_ready"] = ctx.role.is_ready()
    status["leader_changes"] = ctx.role.leader_changes
    return status


@routes.get("/v1/cluster/self")
@requires("viewer")
async def cluster_self(request: web.Request) -> web.Response:
    return web.json_response(await self_view(ctx_of(request)))


@routes.get("/v1/cluster")
@requires("viewer")
async def cluster(request: web.Request) -> web.Response:
    """Every replica the ledger knows, each asked for its own view (briefly; down is shown)."""
    ctx = ctx_of(request)
    members = set(_members(ctx))
    known = ctx.read(lambda s: {addr: dict(n) for addr, n in s.nodes.items() if addr in members})
    for peer in members:
        known.setdefault(peer, {"raft": peer, "api": None})
    auth = {"Authorization": request.headers["Authorization"]}

    async def ask(node: dict[str, Any]) -> dict[str, Any]:
        if node["raft"] == ctx.replica.self_addr:
            return await self_view(ctx)
        if not node.get("api"):
            return {"raft": node["raft"], "api": None, "reachable": False}
        try:
            async with ctx.session.get(
                node["api"] + "/v1/cluster/self", headers=auth,
                timeout=aiohttp.ClientTimeout(total=1.0),
            ) as resp:
                data = await resp.json()
                data["reachable"] = resp.status == 200
                return data
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            return {"raft": node["raft"], "api": node["api"], "reachable": False}

    replicas = await asyncio.gather(*(ask(n) for n in known.values()))
    for r in replicas:
        r.setdefault("reachable", True)
    leader = ctx.replica.leader_addr
    return web.json_response({
        "leader": leader,
        "leader_api": ctx.leader_api(),
        "term": ctx.replica.term,
        "replicas": sorted(replicas, key=lambda r: r["raft"]),
    })


@routes.post("/v1/cluster/members")
@requires("admin")
@on_leader
@audited("cluster.member.add")
async def add_member(request: web.Request) -> web.Response:
    """Add a replica to the Raft group; start it afterwards with an empty data dir."""
    ctx = ctx_of(request)
    body = await read_json(request)
    raft = _raft_addr(body.get("raft") if isinstance(body, dict) else None)
    if raft == ctx.replica.self_addr or raft in ctx.replica.peer_addrs():
        raise Conflict(f"{raft} is already a member", field="raft")
    await ctx.bridge.submit(ctx.replica.addNodeToCluster, raft,
                            timeout=ctx.settings.api.propose_timeout)
    return web.json_response({"added": raft, "members": _members(ctx)}, status=201)


@routes.delete("/v1/cluster/members/{raft}")
@requires("admin")
@on_leader
@audited("cluster.member.remove")
async def remove_member(request: web.Request) -> web.Response:
    """Remove a replica from the Raft group (stop it first; wipe it before adding it back)."""
    ctx = ctx_of(request)
    raft = _raft_addr(request.match_info["raft"])
    if raft == ctx.replica.self_addr:
        raise Conflict("the leader cannot remove itself; remove it from another leader",
                       field="raft")
    if raft not in ctx.replica.peer_addrs():
        raise NotFound(f"{raft} is not a member", field="raft")
    await ctx.bridge.submit(ctx.replica.removeNodeFromCluster, raft,
                            timeout=ctx.settings.api.propose_timeout)
    await ctx.propose(c.encode(c.CommandType.NODE_FORGET, c.NodeForget(raft=raft)))
    return web.json_response({"removed": raft, "members": _members(ctx)})


def _raft_addr(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("raft must be HOST:PORT", field="raft")
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadRequest("raft must be HOST:PORT", field="raft")
    return value


def _members(ctx: Context) -> list[str]:
    return sorted([ctx.replica.self_addr, *ctx.replica.peer_addrs()])


@routes.get("/v1/health/leader")
async def health_leader(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    if ctx.role.is_ready():
        return web.json_response({"leader": True, "term": ctx.replica.term})
    return web.json_response({"leader": False, "leader_api": ctx.leader_api()}, status=503)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Ready once a leader is known and this replica has applied what it knows is committed."""
    ctx = ctx_of(request)
    st = ctx.replica.status()
    ready = st["leader"] is not None and st["applied_index"] >= st["commit_index"]
    return web.json_response(
        {"ready": ready, "leader": st["leader"], "applied_index": st["applied_index"],
         "commit_index": st["commit_index"]},
        status=200 if ready else 503,
    )
