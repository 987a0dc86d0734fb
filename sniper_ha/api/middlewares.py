"""Error and auth middlewares.

Errors: every failure leaves as JSON `{"error": code, "message": ..., "field": ...}`; a bug
becomes a logged 500 with no traceback in the body. Auth: each handler declares the role it
needs with @requires; a handler without a declaration is public (health checks only).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from sniper_ha.api.context import ctx_of
from sniper_ha.errors import Forbidden, RateLimited, SniperError, Unauthorized
from sniper_ha.ledger import commands as c
from sniper_ha.security.tokens import TokenExpired

log = logging.getLogger(__name__)

#: How long a follower waits for a just-created token to replicate before refusing it.
REPLICATION_GRACE = 0.3

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def requires(role: str) -> Callable[[Handler], Handler]:
    def mark(handler: Handler) -> Handler:
        handler.required_role = role  # type: ignore[attr-defined]
        return handler

    return mark


def error_body(exc: SniperError) -> web.Response:
    headers = {}
    retry = exc.extra.get("retry_after")
    if retry is not None:
        headers["Retry-After"] = str(max(1, round(retry)))
    return web.json_response(exc.body(), status=exc.status, headers=headers)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except SniperError as exc:
        return error_body(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status, "http_error"
        )
        body = {"error": code, "message": exc.reason}
        if exc.status == 413:
            body["field"] = "body"
        return web.json_response(body, status=exc.status)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response(
            {"error": "internal_error", "message": "internal error; see the replica's log"},
            status=500,
        )


def _audit_refusal(ctx: Any, principal: Any, request: web.Request) -> None:
    """An authenticated caller tried an admin route: keep that in the audit trail (in the
    background; the caller gets its 403 at once). Unauthenticated calls are not recorded,
    so that nobody can fill the replicated log without a token."""
    cmd = c.Audit(action="admin.refused", actor=principal.name, role=principal.role,
                  target=f"{request.method} {request.path}", outcome="refused",
                  detail="role below admin", now=time.time())

    async def record() -> None:
        try:
            await ctx.propose(c.encode(c.CommandType.AUDIT, cmd))
        except SniperError:
            log.info("audit of a refused admin call not committed")

    task = asyncio.get_running_loop().create_task(record())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


_BACKGROUND: set[asyncio.Task[None]] = set()


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    required: Any = getattr(handler, "required_role", None)
    if required is None:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing 'Authorization: Bearer TOKEN' header", field="Authorization")
    ctx = ctx_of(request)
    try:
        principal = ctx.tokens.lookup(token.strip())
        # A token (or worker credential) created a moment ago may not be applied on this
        # follower yet: give replication a few append periods before calling it unknown.
        deadline = asyncio.get_running_loop().time() + REPLICATION_GRACE
        while principal is None and not ctx.role.is_ready():
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.02)
            principal = ctx.tokens.lookup(token.strip())
    except TokenExpired as exc:
        raise Unauthorized(str(exc), field="Authorization") from None
    if principal is None:
        raise Unauthorized("unknown token", field="Authorization")
    if not principal.may(required):
        if required == "admin":
            _audit_refusal(ctx, principal, request)
        raise Forbidden(f"role {principal.role!r} may not do this; needs {required!r}")
    if required in ("worker", "agent") and ctx_of(request).settings.tls.require_worker_cert:
        # Verified against the cluster CA during the handshake (a certificate from another
        # CA fails it); here we only insist one was presented. A forwarding replica
        # presents its own, so the leader's check holds at the second hop too.
        if not request.transport or not request.transport.get_extra_info("peercert"):
            raise Unauthorized("worker calls need a client certificate from the cluster CA",
                               field="certificate")
    if not request.headers.get("X-Sniper-Forwarded"):  # counted once, where it arrived
        wait = ctx_of(request).limiter.take(f"{principal.role}:{principal.name}")
        if wait > 0:
            raise RateLimited(wait)
    request["principal"] = principal
    return await handler(request)
