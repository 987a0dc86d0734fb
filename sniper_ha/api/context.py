"""What every handler needs from its replica, in one place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from sniper_ha.config import Settings
from sniper_ha.leader.role import LeaderRole
from sniper_ha.ledger.state import StateStore
from sniper_ha.raft.bridge import RaftBridge
from sniper_ha.raft.node import Replica
from sniper_ha.security.data_keys import DataKeys
from sniper_ha.security.ratelimit import RateLimiter
from sniper_ha.security.tokens import TokenTable

T = TypeVar("T")


@dataclass
class Context:
    settings: Settings
    replica: Replica
    bridge: RaftBridge
    role: LeaderRole
    tokens: TokenTable
    api_url: str
    session: aiohttp.ClientSession
    keys: DataKeys
    limiter: RateLimiter

    def read(self, fn: Callable[[StateStore], T]) -> T:
        """Run `fn` against the store under the ledger lock; `fn` must copy what it returns."""
        with self.replica.ledger.lock:
            return fn(self.replica.ledger.store)

    def api_of(self, raft_addr: str | None) -> str | None:
        if raft_addr is None:
            return None
        return self.read(lambda s: (s.nodes.get(raft_addr) or {}).get("api"))

    def leader_api(self) -> str | None:
        return self.api_of(self.replica.leader_addr)

    async def propose(self, command: dict[str, Any]) -> Any:
        return await self.bridge.propose(command, self.settings.api.propose_timeout)


CTX_KEY: web.AppKey[Context] = web.AppKey("ctx", Context)


def ctx_of(request: web.Request) -> Context:
    return request.app[CTX_KEY]
