"""Admin routes: API tokens (created, listed, revoked) and the audit trail.

Token creation and revocation are audited by apply itself (with the actor in the command);
other admin calls are audited by @audited, which proposes one AUDIT entry per call.
"""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any

from aiohttp import web
from pydantic import Field

from sniper_ha.api.bodies import parse, query_int, read_json
from sniper_ha.api.context import ctx_of
from sniper_ha.api.forwarding import leader_read, on_leader
from sniper_ha.api.middlewares import Handler, requires
from sniper_ha.errors import Conflict, NotFound, SniperError
from sniper_ha.ledger import commands as c
from sniper_ha.models import Strict
from sniper_ha.security.tokens import digest, new_token

routes = web.RouteTableDef()


def audited(action: str) -> Any:
    """Record an admin call (who, what, outcome) in the replicated audit trail. Runs on the
    leader (inside on_leader), after the handler, whether it succeeded or not."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            ctx = ctx_of(request)
            principal = request["principal"]
            target = "/".join(request.match_info.values())
            try:
                resp = await handler(request)
            except SniperError as exc:
                await _record(ctx, action, principal, target, "refused", exc.code)
                raise
            await _record(ctx, action, principal, target, "ok", "")
            return resp

        return wrapped

    return wrap


async def _record(ctx: Any, action: str, principal: Any, target: str, outcome: str,
                  detail: str) -> None:
    cmd = c.Audit(action=action, actor=principal.name, role=principal.role, target=target,
                  outcome=outcome, detail=detail, now=time.time())
    try:
        await ctx.propose(c.encode(c.CommandType.AUDIT, cmd))
    except SniperError:
        pass  # the action itself already answered; a lost audit entry is logged by the bridge


class NewToken(Strict):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    role: str = Field(pattern=r"^(admin|operator|viewer|worker)$")
    tenant: str | None = Field(default=None, min_length=1, max_length=64)
    ttl_seconds: float | None = Field(default=None, gt=0, le=10 * 365 * 86400)


def _public(token: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in token.items() if k != "digest"}


@routes.post("/v1/tokens")
@requires("admin")
@on_leader
async def create_token(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    spec = parse(NewToken, await read_json(request))
    secret = new_token()
    now = time.time()
    cmd = c.TokenCreate(
        token_id=f"tok-{uuid.uuid4().hex[:12]}", name=spec.name, role=spec.role,
        tenant=spec.tenant or spec.name, digest=digest(secret),
        expires_at=None if spec.ttl_seconds is None else now + spec.ttl_seconds,
        created_by=request["principal"].name, now=now,
    )
    outcome = await ctx.propose(c.encode(c.CommandType.TOKEN_CREATE, cmd))
    if not outcome.ok:
        raise Conflict(outcome.reason)
    body = ctx.read(lambda s: _public(dict(outcome.value)))
    body["token"] = secret  # shown once; only its digest is stored
    return web.json_response(body, status=201)


@routes.get("/v1/tokens")
@requires("admin")
@leader_read
@audited("token.list")
async def list_tokens(request: web.Request) -> web.Response:
    tokens = ctx_of(request).read(lambda s: [_public(dict(t)) for t in s.tokens.values()])
    return web.json_response({"tokens": tokens})


@routes.delete("/v1/tokens/{token_id}")
@requires("admin")
@on_leader
async def revoke_token(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    cmd = c.TokenRevoke(token_id=request.match_info["token_id"],
                        by=request["principal"].name, now=time.time())
    outcome = await ctx.propose(c.encode(c.CommandType.TOKEN_REVOKE, cmd))
    if outcome.kind == "not_found":
        raise NotFound(outcome.reason, field="token_id")
    return web.json_response(ctx.read(lambda s: _public(dict(outcome.value))))


@routes.get("/v1/audit")
@requires("admin")
@leader_read
@audited("audit.read")
async def audit(request: web.Request) -> web.Response:
    """The audit trail, oldest first, filtered by action prefix and actor, paged by seq."""
    action = request.query.get("action")
    actor = request.query.get("actor")
    after = query_int(request, "after", 0, 0, 2**62)
    limit = query_int(request, "limit", 100, 1, 1000)

    def page(store: Any) -> list[dict[str, Any]]:
        out = []
        for record in store.audit[after:]:
            if action and not record["action"].startswith(action):
                continue
            if actor and record["actor"] != actor:
                continue
            out.append(dict(record))
            if len(out) >= limit:
                break
        return out

    records = ctx_of(request).read(page)
    nxt = records[-1]["seq"] if len(records) >= limit else None
    return web.json_response({"records": records, "next_after": nxt})
