"""Heartbeats on the leader: TTL timers in memory, only transitions go through Raft.

Nomad's pattern: each heartbeat resets its worker's timer; only `ready -> down` (the timer
fired) and `down -> ready` (a heartbeat came back) are replicated, plus a resource snapshot
at a coarse interval. A fleet of N workers heartbeating every I seconds therefore costs the
log about N / resource_report_interval entries per second, not N / I.

A new leader rebuilds the timers from the registry and gives every worker a grace period
(one full TTL on top of the usual one) before declaring anyone down: the workers may not have
found the new leader yet.

Each heartbeat also lists the tasks its worker holds. Three reconciliations follow from that:
- a lease the ledger gives this worker that it does not report, older than a grace period,
  was lost in flight: expire it (compare-and-set) so the task is leased again;
- a task it reports that the ledger no longer gives it (cancelled, reassigned while the
  worker was paused) gets a `cancel` command in the answer;
- the worker's control intent (drain, shutdown) is answered as a command.
Commands are derived from replicated state, so a failover cannot lose them.

The reaper also expires leases past their `lease_expires_at` (assignment time plus
`workers.task_execution_timeout`): stale tasks on a worker that is alive but stuck.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from sniper_ha.aio import stop_task
from sniper_ha.config import Settings
from sniper_ha.errors import SniperError
from sniper_ha.ledger import commands as c
from sniper_ha.models import Heartbeat
from sniper_ha.raft.bridge import RaftBridge
from sniper_ha.raft.node import Replica

log = logging.getLogger(__name__)


class HeartbeatMonitor:
    def __init__(
        self,
        replica: Replica,
        bridge: RaftBridge,
        settings: Settings,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.replica = replica
        self.bridge = bridge
        self.settings = settings
        self.clock = clock
        self.wall = wall
        w = settings.workers
        self.ttl = w.heartbeat_interval * w.heartbeat_ttl_multiplier
        self.orphan_grace = max(2 * w.heartbeat_interval, 5.0)
        #: worker id -> monotonic deadline of its TTL timer.
        self.deadlines: dict[str, float] = {}
        self._last_report: dict[str, float] = {}
        self._pending: set[asyncio.Task[Any]] = set()
        self._reaper: asyncio.Task[None] | None = None
        self._stopped = False
        self.transitions = 0

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Rebuild timers from the registry; everyone gets a grace period first."""
        now = self.clock()
        interval = self.settings.workers.resource_report_interval
        with self.replica.ledger.lock:
            workers = list(self.replica.ledger.store.workers.values())
        for worker in workers:
            if worker["status"] == "ready":
                self.deadlines[worker["id"]] = now + 2 * self.ttl
                # Spread the fleet's resource reports over the interval instead of in step.
                self._last_report[worker["id"]] = now - random.uniform(0, interval)
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever(), name="reaper")

    async def stop(self) -> None:
        self._stopped = True
        for task in [t for t in [self._reaper, *self._pending] if t is not None]:
            await stop_task(task)
        self._pending.clear()

    # ---- heartbeats ----------------------------------------------------------------------

    def registered(self, worker_id: str) -> None:
        """A (re-)registration counts as a heartbeat: a worker that dies right after it is
        still declared down."""
        now = self.clock()
        self.deadlines[worker_id] = now + self.ttl
        self._last_report[worker_id] = now  # registration just stored its resources

    async def beat(self, worker_id: str, beat: Heartbeat) -> list[dict[str, Any]]:
        """Reset the worker's timer and answer the commands it should act on."""
        now = self.clock()
        self.deadlines[worker_id] = now + self.ttl
        held = set(beat.running_tasks)
        status, commands, orphans = self._reconcile(worker_id, held)
        if status == "down":
            await self._propose_status(worker_id, "ready", "heartbeats resumed")
        interval = self.settings.workers.resource_report_interval
        report_due = now - self._last_report.get(worker_id, 0.0) >= interval
        if beat.resources and report_due:
            self._last_report[worker_id] = now
            cmd = c.WorkerResources(worker_id=worker_id, resources=beat.resources, now=self.wall())
            self._background(c.encode(c.CommandType.WORKER_RESOURCES, cmd))
        for task_id, lease_id in orphans:
            cmd = c.TaskExpire(task_id=task_id, lease_id=lease_id, now=self.wall(),
                               reason=f"worker {worker_id} does not hold this lease")
            self._background(c.encode(c.CommandType.TASK_EXPIRE, cmd))
        return commands

    def _reconcile(
        self, worker_id: str, held: set[str]
    ) -> tuple[str | None, list[dict[str, Any]], list[tuple[str, str]]]:
        cutoff = self.wall() - self.orphan_grace
        commands: list[dict[str, Any]] = []
        orphans: list[tuple[str, str]] = []
        with self.replica.ledger.lock:
            store = self.replica.ledger.store
            worker = store.workers.get(worker_id)
            if worker is None:
                return None, [], []
            mine = store.by_worker.get(worker_id, {})
            for task_id in sorted(held):
                if task_id not in mine:
                    task = store.tasks.get(task_id)
                    status = None if task is None else task["status"]
                    commands.append({"type": "cancel", "task_id": task_id,
                                     "reason": f"task is {status or 'unknown'} on the master"})
            for task_id in mine:
                task = store.tasks[task_id]
                if task_id not in held and task["attempts"][-1]["assigned_at"] < cutoff:
                    orphans.append((task_id, task["lease_id"]))
            if worker.get("control"):
                commands.append({"type": worker["control"]})
            return worker["status"], commands, orphans

    # ---- the reaper ----------------------------------------------------------------------

    async def _reap_forever(self) -> None:
        period = max(0.1, min(1.0, self.ttl / 4))
        while not self._stopped:
            await asyncio.sleep(period)
            try:
                await self.reap_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reaper round failed")

    async def reap_once(self) -> None:
        now = self.clock()
        expired = [wid for wid, deadline in self.deadlines.items() if deadline < now]
        for worker_id in expired:
            committed = await self._propose_status(
                worker_id, "down", f"no heartbeat for {self.ttl:.1f}s"
            )
            # Forget the timer only once the transition is in the ledger (else retry next
            # round), and not if a heartbeat re-armed it meanwhile.
            if committed and self.deadlines.get(worker_id, now) < now:
                del self.deadlines[worker_id]
        for task_id, lease_id in self._stale_leases():
            cmd = c.TaskExpire(task_id=task_id, lease_id=lease_id, now=self.wall(),
                               reason="task exceeded workers.task_execution_timeout")
            await self._propose(c.encode(c.CommandType.TASK_EXPIRE, cmd))

    def _stale_leases(self) -> list[tuple[str, str]]:
        now = self.wall()
        out = []
        with self.replica.ledger.lock:
            store = self.replica.ledger.store
            for status in ("assigned", "running"):
                for task_id in store.by_status[status]:
                    task = store.tasks[task_id]
                    if task["lease_expires_at"] is not None and task["lease_expires_at"] < now:
                        out.append((task_id, task["lease_id"]))
        return out

    # ---- proposals -----------------------------------------------------------------------

    async def _propose_status(self, worker_id: str, status: str, reason: str) -> bool:
        """Propose a liveness transition; True once the ledger holds the outcome."""
        cmd = c.WorkerStatusChange(worker_id=worker_id, status=status, reason=reason,
                                   now=self.wall())
        outcome = await self._propose(c.encode(c.CommandType.WORKER_STATUS, cmd))
        if outcome is not None and outcome.kind == "accepted":
            self.transitions += 1
            log.info("worker %s is %s: %s", worker_id, status, reason)
        return outcome is not None

    async def _propose(self, command: dict[str, Any]) -> Any:
        # Only a leader's bookkeeping may be proposed: a deposed leader's timers must not
        # declare workers down through pysyncobj's follower-to-leader forwarding.
        if self._stopped or not self.replica.is_leader:
            return None
        try:
            return await self.bridge.propose(command, self.settings.api.propose_timeout)
        except SniperError as exc:
            log.info("heartbeat bookkeeping not committed: %s", exc)
            return None

    def _background(self, command: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._propose(command))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
