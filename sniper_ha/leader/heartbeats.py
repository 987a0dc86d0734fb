"""Heartbeats on the leader, kept in memory and never written to Raft one by one.

Each heartbeat lists the leases its worker still holds (running, or finished with the result
not yet acknowledged). A lease the ledger gives to a worker that the worker does not report,
older than a grace period, was lost in flight (for example the leader died between commit
and answer): it is expired with a compare-and-set TASK_EXPIRE so the task is leased again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sniper_ha.config import Settings
from sniper_ha.errors import SniperError
from sniper_ha.ledger import commands as c
from sniper_ha.models import Heartbeat
from sniper_ha.raft.bridge import RaftBridge
from sniper_ha.raft.node import Replica

log = logging.getLogger(__name__)


class HeartbeatMonitor:
    def __init__(self, replica: Replica, bridge: RaftBridge, settings: Settings) -> None:
        self.replica = replica
        self.bridge = bridge
        self.settings = settings
        self.last_seen: dict[str, float] = {}
        self.resources: dict[str, dict[str, float]] = {}
        self.orphan_grace = max(2 * settings.workers.heartbeat_interval, 5.0)

    async def beat(self, worker_id: str, beat: Heartbeat) -> None:
        self.last_seen[worker_id] = time.monotonic()
        self.resources[worker_id] = dict(beat.resources)
        for task_id, lease_id in self._orphans(worker_id, set(beat.running_tasks)):
            cmd = c.TaskExpire(task_id=task_id, lease_id=lease_id, now=time.time(),
                               reason=f"worker {worker_id} does not hold this lease")
            try:
                await self.bridge.propose(c.encode(c.CommandType.TASK_EXPIRE, cmd),
                                          self.settings.api.propose_timeout)
            except SniperError as exc:
                log.info("could not expire orphan lease of %s: %s", task_id, exc)

    def _orphans(self, worker_id: str, held: set[str]) -> list[tuple[str, str]]:
        cutoff = time.time() - self.orphan_grace
        out: list[tuple[str, Any]] = []
        with self.replica.ledger.lock:
            store = self.replica.ledger.store
            for task_id in store.by_worker.get(worker_id, ()):
                task = store.tasks[task_id]
                assigned_at = task["attempts"][-1]["assigned_at"] if task["attempts"] else 0.0
                if task_id not in held and assigned_at < cutoff:
                    out.append((task_id, task["lease_id"]))
        return out

