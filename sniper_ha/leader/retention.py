"""Retention on the leader: purge finished tasks and result payloads past their age.

The leader decides with its clock and proposes TASK_PURGE batches; apply removes the same
records on every replica (it re-checks that each task is finished), so the ledger, and after
the next compaction every snapshot, shrinks.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sniper_ha.aio import stop_task
from sniper_ha.config import Settings
from sniper_ha.errors import SniperError
from sniper_ha.ledger import commands as c
from sniper_ha.ledger.state import TERMINAL
from sniper_ha.raft.bridge import RaftBridge
from sniper_ha.raft.node import Replica

log = logging.getLogger(__name__)

BATCH = 500


class RetentionSweeper:
    def __init__(self, replica: Replica, bridge: RaftBridge, settings: Settings) -> None:
        self.replica = replica
        self.bridge = bridge
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        r = self.settings.retention
        return r.completed_tasks is not None or r.results is not None

    def start(self) -> None:
        if self.active:
            self._task = asyncio.get_running_loop().create_task(self._forever(), name="retention")

    async def stop(self) -> None:
        if self._task is not None:
            await stop_task(self._task)

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.retention.sweep_interval)
            try:
                await self.sweep_once()
            except SniperError as exc:
                log.info("retention sweep not committed: %s", exc)

    def _due(self) -> tuple[list[str], list[str]]:
        r = self.settings.retention
        now = time.time()
        tasks, results = [], []
        with self.replica.ledger.lock:
            store = self.replica.ledger.store
            for status in TERMINAL:
                for task_id in store.by_status[status]:
                    finished = store.tasks[task_id]["finished_at"] or 0.0
                    if r.completed_tasks is not None and finished < now - r.completed_tasks:
                        tasks.append(task_id)
                    elif (r.results is not None and finished < now - r.results
                          and store.tasks[task_id]["result"] is not None):
                        results.append(task_id)
        return tasks, results

    async def sweep_once(self) -> tuple[int, int]:
        tasks, results = self._due()
        timeout = self.settings.api.propose_timeout
        for ids, only in ((tasks, False), (results, True)):
            for start in range(0, len(ids), BATCH):
                cmd = c.TaskPurge(task_ids=ids[start:start + BATCH], results_only=only,
                                  now=time.time())
                await self.bridge.propose(c.encode(c.CommandType.TASK_PURGE, cmd), timeout)
        if tasks or results:
            log.info("retention: purged %d tasks and %d results", len(tasks), len(results))
        return len(tasks), len(results)
