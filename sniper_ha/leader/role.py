"""Leadership lifecycle on one replica.

pysyncobj reports state changes on its own thread; they are moved onto the event loop and
handled in order. On becoming leader the replica first commits a barrier (its NODE_ANNOUNCE
for the new term): once that entry is applied, every earlier entry is applied too, so the
machinery it then builds (dispatcher, timers) starts from the complete state. Until then
`ready` is False and writes wait or are answered 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sniper_ha.config import Settings
from sniper_ha.errors import SniperError
from sniper_ha.leader.heartbeats import HeartbeatMonitor
from sniper_ha.leader.retention import RetentionSweeper
from sniper_ha.ledger import commands as c
from sniper_ha.raft.bridge import RaftBridge
from sniper_ha.raft.node import ROLE_NAMES, Replica
from sniper_ha.scheduling.dispatcher import Dispatcher
from sniper_ha.scheduling.strategy import make_strategy

log = logging.getLogger(__name__)

LEADER_STATE = 2


class LeaderRole:
    def __init__(
        self, replica: Replica, bridge: RaftBridge, settings: Settings, api_url: str
    ) -> None:
        self.replica = replica
        self.bridge = bridge
        self.settings = settings
        self.api_url = api_url
        self.term: int | None = None
        self.dispatcher: Dispatcher | None = None
        self.heartbeats: HeartbeatMonitor | None = None
        self.retention: RetentionSweeper | None = None
        self.leader_changes = 0
        self._ready = False
        self._establishing: asyncio.Task[None] | None = None
        self._on_ready: list[Callable[[], None]] = []
        self._lock = asyncio.Lock()

    def is_ready(self) -> bool:
        """True only while this replica leads, in the term it established, with machinery up,
        and is connected to a majority (an isolated leader stops answering before
        pysyncobj's leader_fallback_timeout demotes it)."""
        return (
            self._ready
            and self.replica.is_leader
            and self.replica.term == self.term
            and self.replica.hasQuorum
        )

    def on_state_changed(self, old: int, new: int) -> None:
        """Called on the loop thread, in order, for every pysyncobj state change."""
        self.leader_changes += 1
        log.info("raft state %s -> %s in term %d (leader %s)", ROLE_NAMES.get(old, old),
                 ROLE_NAMES.get(new, new), self.replica.term, self.replica.leader_addr)
        asyncio.get_running_loop().create_task(self._transition(new == LEADER_STATE))

    def not_ready_reason(self) -> str | None:
        """Why a replica that pysyncobj calls leader does not act as one (for logs/health)."""
        if not self.replica.is_leader:
            return None
        if not self.replica.hasQuorum:
            return "not connected to a majority"
        if self.term != self.replica.term:
            return f"established term {self.term} but raft term is {self.replica.term}"
        if not self._ready:
            return "barrier of this term not committed yet"
        return None

    def poke(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.poke()

    async def _transition(self, leading: bool) -> None:
        async with self._lock:
            await self._teardown()
            if leading and self.replica.is_leader:
                term = self.replica.term
                self.term = term
                self._establishing = asyncio.get_running_loop().create_task(self._establish(term))

    async def _establish(self, term: int) -> None:
        barrier = c.encode(
            c.CommandType.NODE_ANNOUNCE,
            c.NodeAnnounce(raft=self.replica.self_addr, api=self.api_url, term=term),
        )
        while self.replica.is_leader and self.replica.term == term:
            try:
                await self.bridge.propose(barrier, self.settings.api.propose_timeout)
                break
            except SniperError as exc:
                log.info("leader barrier for term %d not committed yet: %s", term, exc)
                await asyncio.sleep(0.05)
        else:
            return
        self.dispatcher = Dispatcher(
            self.replica,
            self.bridge,
            make_strategy(self.settings.master.distribution_strategy),
            self.settings,
        )
        self.dispatcher.start()
        self.heartbeats = HeartbeatMonitor(self.replica, self.bridge, self.settings)
        self.heartbeats.start()
        self.retention = RetentionSweeper(self.replica, self.bridge, self.settings)
        self.retention.start()
        self._ready = True
        log.info("leader for term %d is ready", term)

    async def _teardown(self) -> None:
        self._ready = False
        if self._establishing is not None and not self._establishing.done():
            self._establishing.cancel()
        self._establishing = None
        if self.dispatcher is not None:
            await self.dispatcher.stop()
            self.dispatcher = None
        if self.heartbeats is not None:
            await self.heartbeats.stop()
            self.heartbeats = None
        if self.retention is not None:
            await self.retention.stop()
            self.retention = None

    async def close(self) -> None:
        async with self._lock:
            await self._teardown()
