"""Bearer tokens and roles.

Tokens are compared by SHA-256 digest in constant time, so the table never keeps the
plaintext. Roles are ordered for humans (admin > operator > viewer); `worker` is a separate
role for agents, and admin may do everything.
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
    "worker": frozenset({"worker", "admin"}),
}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    tenant: str = ""

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
        if record["revoked_at"] is not None:
            raise TokenExpired("token was revoked")
        if record["expires_at"] is not None and record["expires_at"] <= self._clock():
            raise TokenExpired("token has expired")
        return Principal(record["name"], record["role"], record["tenant"])
