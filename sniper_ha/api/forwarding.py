"""Route a request to the leader: handle it here if this replica leads, else proxy it.

The caller never handles redirects. While no leader is known the request is held for at most
`api.no_leader_hold` seconds, then answered 503 `no_leader` with a retry hint. A proxied
request carries X-Sniper-Forwarded so that two replicas that disagree about the leader can
never bounce a request between them. A connection that failed before the request was sent is
retried against the next leader; one that broke after sending answers `unknown_outcome`,
because the leader may have applied it (the caller retries with its Idempotency-Key).
"""

from __future__ import annotations

import asyncio
import functools

import aiohttp
from aiohttp import web

from sniper_ha.api.bodies import query_bool, read_body
from sniper_ha.api.context import Context, ctx_of
from sniper_ha.api.middlewares import Handler
from sniper_ha.errors import NoLeader, NotLeader, UnknownOutcome

FORWARDED = "X-Sniper-Forwarded"
PASS_HEADERS = ("Authorization", "Idempotency-Key", "Content-Type")


async def _wait_for_leader(ctx: Context, deadline: float) -> str | None:
    """None when this replica is the ready leader, else the leader's API URL."""
    loop = asyncio.get_running_loop()
    while True:
        if ctx.role.is_ready():
            return None
        url = ctx.leader_api()
        if url is not None and not ctx.replica.is_leader and url != ctx.api_url:
            return url
        if loop.time() >= deadline:
            raise NoLeader(retry_after=1.0)
        await asyncio.sleep(0.02)


def _proxy_timeout(request: web.Request, ctx: Context) -> float:
    base = ctx.settings.api.propose_timeout + 5.0
    if request.path.endswith("/lease"):
        try:
            base += min(float(request.query.get("wait", "0")), ctx.settings.api.max_lease_wait)
        except ValueError:
            pass
    return base


async def route_to_leader(request: web.Request) -> web.StreamResponse | None:
    """Return None if the caller should handle the request locally, else the proxied answer."""
    ctx = ctx_of(request)
    if ctx.role.is_ready():
        return None
    if request.headers.get(FORWARDED):
        # The sender thought we lead. Hold briefly in case we are about to; never re-forward.
        deadline = asyncio.get_running_loop().time() + min(1.0, ctx.settings.api.no_leader_hold)
        while asyncio.get_running_loop().time() < deadline:
            if ctx.role.is_ready():
                return None
            await asyncio.sleep(0.02)
        raise NotLeader(leader=ctx.replica.leader_addr)
    body = await read_body(request)
    headers = {h: request.headers[h] for h in PASS_HEADERS if h in request.headers}
    headers[FORWARDED] = ctx.replica.self_addr
    deadline = asyncio.get_running_loop().time() + ctx.settings.api.no_leader_hold
    timeout = aiohttp.ClientTimeout(total=_proxy_timeout(request, ctx))
    while True:
        leader = await _wait_for_leader(ctx, deadline)
        if leader is None:
            return None
        try:
            async with ctx.session.request(
                request.method, leader + request.path_qs, data=body or None, headers=headers,
                timeout=timeout,
            ) as resp:
                payload = await resp.read()
                out_headers = {k: v for k, v in resp.headers.items()
                               if k == "Retry-After" or k.startswith("X-Sniper-")}
                return web.Response(
                    status=resp.status,
                    body=payload,
                    content_type=resp.content_type or "application/json",
                    headers=out_headers,
                )
        except aiohttp.ClientConnectorError:
            if asyncio.get_running_loop().time() >= deadline:
                raise NoLeader("the leader is unreachable from this replica") from None
            await asyncio.sleep(0.05)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            raise UnknownOutcome("the leader stopped answering mid-request") from None


async def _served_here(handler: Handler, request: web.Request) -> web.StreamResponse:
    """Run the handler locally as leader and say which leader, in which term, answered: the
    chaos checker verifies that at most one leader accepted writes per term."""
    ctx = ctx_of(request)
    term = ctx.role.term
    resp = await handler(request)
    resp.headers["X-Sniper-Leader"] = ctx.replica.self_addr
    resp.headers["X-Sniper-Term"] = str(term)
    return resp


def on_leader(handler: Handler) -> Handler:
    """Run the handler on the ready leader; elsewhere proxy the request there."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        resp = await route_to_leader(request)
        return resp if resp is not None else await _served_here(handler, request)

    return wrapped


def leader_read(handler: Handler) -> Handler:
    """Like on_leader, but `?stale=true` answers from this replica's own state."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if not query_bool(request, "stale"):
            resp = await route_to_leader(request)
            return resp if resp is not None else await _served_here(handler, request)
        return await handler(request)

    return wrapped
