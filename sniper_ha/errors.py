"""Typed errors shared by the API, the Raft bridge and the clients.

Every error knows its HTTP status and a stable machine-readable code, so the API's error
middleware turns any of them into the same JSON body and a client can map the body back.
"""

from __future__ import annotations

from typing import Any


class SniperError(Exception):
    status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str = "", *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.field = field
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        out.update(self.extra)
        return out


class BadRequest(SniperError):
    status = 400
    code = "bad_request"


class Unauthorized(SniperError):
    status = 401
    code = "unauthorized"


class Forbidden(SniperError):
    status = 403
    code = "forbidden"


class NotFound(SniperError):
    status = 404
    code = "not_found"


class Conflict(SniperError):
    status = 409
    code = "conflict"


class StaleLease(Conflict):
    code = "stale_lease"


class PayloadTooLarge(SniperError):
    status = 413
    code = "payload_too_large"


class RateLimited(SniperError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many requests for this token", retry_after=round(retry_after, 3))


class RequestTimeout(SniperError):
    status = 408
    code = "request_timeout"


class NoLeader(SniperError):
    """No leader is known (election in progress or no quorum); safe to retry later."""

    status = 503
    code = "no_leader"

    def __init__(self, message: str = "no leader is currently elected", retry_after: float = 1.0):
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class NotLeader(SniperError):
    """This replica lost leadership while handling the request; the caller retries."""

    status = 503
    code = "not_leader"

    def __init__(self, message: str = "this replica is not the leader", leader: str | None = None):
        super().__init__(message, leader=leader, retry_after=0.2)


class UnknownOutcome(SniperError):
    """The write may or may not have committed: retry with the same idempotency key."""

    status = 503
    code = "unknown_outcome"

    def __init__(self, message: str = "outcome unknown, retry with the same Idempotency-Key"):
        super().__init__(message, retry_after=0.5)


class Overloaded(SniperError):
    status = 503
    code = "overloaded"

    def __init__(self, message: str = "the replica's command queue is full"):
        super().__init__(message, retry_after=1.0)


class ClientError(Exception):
    """Raised by the HTTP client when every master failed or answered with an error."""

    def __init__(self, message: str, status: int | None = None, body: dict | None = None):
        super().__init__(message)
        self.status = status
        self.body = body or {}


class UnknownWorker(NotFound):
    """The cluster does not know this worker id: the worker registers again and carries on."""

    code = "unknown_worker"
