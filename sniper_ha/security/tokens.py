"""Bearer tokens and roles.

Tokens are compared by SHA-256 digest in constant time, so the table never keeps the
plaintext. Roles are ordered for humans (admin > operator > viewer); `worker` is a separate
role for agents, and admin may do everything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

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


class TokenTable:
    def __init__(self, tokens: list[TokenConfig]) -> None:
        self._by_digest = {digest(t.token): Principal(t.name, t.role, t.tenant or t.name)
                           for t in tokens}

    def lookup(self, token: str) -> Principal | None:
        wanted = digest(token)
        found = None
        for known, principal in self._by_digest.items():
            if hmac.compare_digest(known, wanted):
                found = principal
        return found
