"""The lease dispatcher: matches waiting lease requests with pending tasks, on the leader only.

Workers long-poll `POST /v1/workers/{id}/lease`; each open poll is a LeaseRequest. One
coroutine does all placement, so two polls can never be handed the same task; the
TASK_ASSIGN command is a compare-and-set in apply as a second fence. A request whose tasks
are being proposed is "claimed": its poll waits for the commit even past its own wait time,
so a granted lease is never dropped on the floor by a timed-out poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sniper_ha.aio import stop_task
from sniper_ha.config import Settings
from sniper_ha.errors import Conflict, NotLeader, SniperError, UnknownOutcome, UnknownWorker
from sniper_ha.ledger import commands as c
from sniper_ha.raft.bridge import RaftBridge
from sniper_ha.raft.node import Replica
from sniper_ha.scheduling.strategy import Candidate, Strategy

log = logging.getLogger(__name__)


@dataclass
class LeaseRequest:
    worker_id: str
    max_tasks: int
    future: asyncio.Future[list[dict[str, Any]]] = field(repr=False)
    claimed: bool = False


class Dispatcher:
    def __init__(
        self, replica: Replica, bridge: RaftBridge, strategy: Strategy, settings: Settings
    ) -> None:
        self.replica = replica
        self.bridge = bridge
        self.strategy = strategy
        self.settings = settings
        self._waiting: dict[str, LeaseRequest] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="dispatcher")

    async def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        if self._task is not None:
            await stop_task(self._task)
        for req in self._waiting.values():
            if not req.future.done():
                req.future.set_exception(NotLeader("leadership lost while the poll waited"))
        self._waiting.clear()

    def poke(self) -> None:
        self._wake.set()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def lease(self, worker_id: str, max_tasks: int, wait: float) -> list[dict[str, Any]]:
        with self.replica.ledger.lock:
            worker = self.replica.ledger.store.workers.get(worker_id)
            status = None if worker is None else worker["status"]
            control = None if worker is None else worker.get("control")
        if status is None:
            raise UnknownWorker(f"worker {worker_id} is not registered", field="worker_id")
        if control is not None:
            # Draining or shutting down: no new work. Hold the poll so the worker does not spin.
            await asyncio.sleep(min(wait, 1.0))
            return []
        if status != "ready":
            raise Conflict(f"worker {worker_id} is {status}; heartbeat or register again",
                           field="worker_id")
        previous = self._waiting.pop(worker_id, None)
        if previous is not None and not previous.future.done() and not previous.claimed:
            previous.future.set_result([])
        req = LeaseRequest(worker_id, max_tasks, asyncio.get_running_loop().create_future())
        self._waiting[worker_id] = req
        self.poke()
        await asyncio.wait({req.future}, timeout=wait)
        if req.future.done():
            return req.future.result()
        if not req.claimed:
            if self._waiting.get(worker_id) is req:
                del self._waiting[worker_id]
            req.future.cancel()
            return []
        done, _ = await asyncio.wait({req.future}, timeout=self.settings.api.propose_timeout + 1.0)
        if not done:
            raise UnknownOutcome("lease grant did not commit in time; heartbeats reconcile it")
        return req.future.result()

    async def _run(self) -> None:
        while not self._stopped:
            await self._wake.wait()
            self._wake.clear()
            if self._stopped:
                return
            try:
                more = await self._dispatch_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatch round failed")
                await asyncio.sleep(0.1)
                more = True
            if more:
                self._wake.set()

    def _candidates(self) -> tuple[list[dict[str, Any]], list[Candidate]]:
        reqs = [r for r in self._waiting.values() if not r.future.done()]
        with self.replica.ledger.lock:
            store = self.replica.ledger.store
            candidates: list[Candidate] = []
            for r in reqs:
                worker = store.workers.get(r.worker_id)
                if worker is None or worker["status"] != "ready" or worker.get("control"):
                    continue
                active = len(store.by_worker.get(r.worker_id, ()))
                free = min(r.max_tasks, worker["max_concurrent_tasks"] - active)
                if free > 0:
                    candidates.append(
                        Candidate(r.worker_id, free, frozenset(worker["capabilities"]),
                                  dict(worker["labels"]))
                    )
            if not candidates:
                return [], []
            want = sum(cand.free_slots for cand in candidates)
            ids = store.pending_in_order()[: max(want * 8, 64)]
            tasks = [{"id": i, "type": store.tasks[i]["type"],
                      "priority": store.tasks[i]["priority"]} for i in ids]
        return tasks, candidates

    async def _dispatch_once(self) -> bool:
        if not self.replica.is_leader:
            return False
        tasks, candidates = self._candidates()
        if not tasks or not candidates:
            return False
        plan = self.strategy.plan(tasks, candidates)
        if not plan:
            return False
        claimed: dict[str, LeaseRequest] = {}
        for _, worker_id in plan:
            if worker_id not in claimed:
                req = self._waiting.pop(worker_id)
                req.claimed = True
                claimed[worker_id] = req
        now = time.time()
        expires = now + self.settings.workers.task_execution_timeout
        cmd = c.TaskAssign(
            assignments=[
                c.Assignment(task_id=t, worker_id=w, lease_id=uuid.uuid4().hex, expires_at=expires)
                for t, w in plan
            ],
            now=now,
        )
        try:
            outcome = await self.bridge.propose(
                c.encode(c.CommandType.TASK_ASSIGN, cmd), self.settings.api.propose_timeout
            )
        except SniperError as exc:
            for req in claimed.values():
                if not req.future.done():
                    req.future.set_exception(exc)
            return False
        grants: dict[str, list[dict[str, Any]]] = {w: [] for w in claimed}
        for lease in outcome.extra.get("leases", []):
            grants[lease["worker_id"]].append(lease)
        for worker_id, req in claimed.items():
            if not req.future.done():
                req.future.set_result(grants[worker_id])
        return True
