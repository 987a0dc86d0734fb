"""Bearer tokens and roles.

Tokens are compared by SHA-256 digest in constant time, so the table never keeps the
plaintext. Roles are ordered for humans (admin > operator > viewer). Workers hold two kinds of secret:
a `worker` token is a join token, good only to register; registration answers a per-worker
credential (role `agent`, bound to that worker id) for everything else, so a worker can act
only as itself. Admin may do everything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sniper_ha.config import TokenConfig

Role = Literal["admin", "operator", "viewer", "worker"]

#: For each route requirement, the roles that satisfy it.
GRANTS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"viewer", "operator", "admin"}),
    "operator": frozenset({"operator", "admin"}),
    "admin": frozenset({"admin"}),
    "worker": frozenset({"worker", "agent", "admin"}),
    # A registered worker's own credential (issued at registration); bound to its worker id.
    "agent": frozenset({"agent", "admin"}),
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    tenant: str = ""
    #: Set for a worker's own credential: the only worker it may act as.
    worker_id: str | None = None

    def may_act_as(self, worker_id: str | None) -> bool:
        return self.role == "admin" or (self.worker_id is not None and self.worker_id == worker_id)

    def may(self, required: str) -> bool:
        return self.role in GRANTS[required]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


class TokenExpired(Exception):
    """The token exists but has expired or was revoked."""


class TokenTable:
    """Bootstrap tokens from the config, then tokens created through the API (replicated,
    digests only). `replicated` looks a digest up in the ledger (under its lock)."""

    def __init__(
        self,
        tokens: list[TokenConfig],
        replicated: Callable[[str], dict[str, Any] | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._by_digest = {digest(t.token): Principal(t.name, t.role, t.tenant or t.name)
                           for t in tokens}
        self._replicated = replicated
        self._clock = clock

    def lookup(self, token: str) -> Principal | None:
        """The token's principal, None if unknown; raises TokenExpired if expired/revoked."""
        wanted = digest(token)
        found = None
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, wanted):
                found = principal
        if found is not None or self._replicated is None:
            return found
        record = self._replicated(wanted)
        if record is None:
            return None
        if record.get("kind") == "worker":
            return Principal(record["worker_id"], "agent", "", record["worker_id"])
        if record["revoked_at"] is not None:
            raise TokenExpired("token was revoked")
        if record["expires_at"] is not None and record["expires_at"] <= self._clock():
            raise TokenExpired("token has expired")
        return Principal(record["name"], record["role"], record["tenant"])
