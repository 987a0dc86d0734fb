"""The worker agent loop.

Three concurrent activities share one client: a heartbeat loop (reports the leases it holds
and its resources, and acts on the commands in the answer: cancel a task, drain, shutdown), a
lease loop (long-polls for as many tasks as it has free slots, unless draining), and one
executor per leased task (marks it running, runs the scanner under a timeout, stores the
result in the outbox, then writes it with the lease until some master acknowledges it).

Stopping (SIGTERM, or a shutdown command) stops leasing, gives finished results a few seconds
to be acknowledged, stops running scans, and tells the master it left so that its leases are
handed to other workers at once instead of after the heartbeat TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from pathlib import Path
from typing import Any

import psutil

from sniper_ha.agent.outbox import Outbox
from sniper_ha.client import Backoff, MasterClient
from sniper_ha.errors import ClientError
from sniper_ha.scanners.registry import SCANNERS, run_task

log = logging.getLogger(__name__)

LEASE_WAIT = 10.0
STOP_GRACE = 5.0


def resources() -> dict[str, float]:
    mem = psutil.virtual_memory()
    net = psutil.net_io_counters()
    return {
        "cpu_percent": psutil.cpu_percent(interval=None),
        "memory_percent": mem.percent,
        "memory_available_mb": mem.available / 2**20,
        "net_bytes_sent": float(net.bytes_sent) if net else 0.0,
        "net_bytes_recv": float(net.bytes_recv) if net else 0.0,
    }


class WorkerAgent:
    def __init__(
        self,
        client: MasterClient,
        data_dir: Path,
        *,
        name: str | None = None,
        capabilities: list[str] | None = None,
        labels: dict[str, str] | None = None,
        max_concurrent_tasks: int = 2,
        heartbeat_interval: float = 5.0,
        task_timeout: float = 3600.0,
    ) -> None:
        self.client = client
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.name = name or socket.gethostname()
        self.capabilities = capabilities or sorted(SCANNERS)
        self.labels = labels or {}
        self.max_concurrent = max_concurrent_tasks
        self.heartbeat_interval = heartbeat_interval
        self.task_timeout = task_timeout
        self.outbox = Outbox(data_dir / "outbox")
        self.worker_id = self._load_or_create_id()
        #: The join token registers; registration answers this worker's own credential,
        #: used for every other call (the master binds it to this worker id).
        self.join_token = client.token
        #: task id -> lease id, for every lease this worker holds (running or unacknowledged).
        self.held: dict[str, str] = {}
        self._slot_freed = asyncio.Event()
        self._executors: set[asyncio.Task[None]] = set()
        #: task id -> the running scan, so a cancel command can stop it.
        self.scans: dict[str, asyncio.Task[dict[str, Any]]] = {}
        self._cancel_requested: set[str] = set()
        self.draining = False
        self._stop: asyncio.Event | None = None

    def _load_or_create_id(self) -> str:
        state = self.data_dir / "worker.json"
        if state.exists():
            try:
                return str(json.loads(state.read_text())["worker_id"])
            except (OSError, ValueError, KeyError):
                log.warning("unreadable %s; creating a new worker id", state)
        worker_id = f"w-{uuid.uuid4().hex[:12]}"
        state.write_text(json.dumps({"worker_id": worker_id, "name": self.name}))
        return worker_id

    async def register(self) -> None:
        body = {
            "worker_id": self.worker_id,
            "name": self.name,
            "capabilities": self.capabilities,
            "labels": self.labels,
            "max_concurrent_tasks": self.max_concurrent,
            "resources": resources(),
        }
        backoff = Backoff(cap=5.0)
        while True:
            try:
                _, reply = await self.client.request("POST", "/v1/workers", json=body,
                                                     token=self.join_token)
                self.client.token = reply["credential"]
                self.heartbeat_interval = float(
                    reply.get("heartbeat_interval", self.heartbeat_interval)
                )
                log.info("registered as %s via %s", self.worker_id, self.client.current_url)
                return
            except ClientError as exc:
                if exc.status is not None and 400 <= exc.status < 500:
                    raise
                log.warning("register failed, retrying: %s", exc)
                await asyncio.sleep(backoff.next_delay())

    async def run(self, stop: asyncio.Event) -> None:
        self._stop = stop
        await self.register()
        for task_id, write in self.outbox.pending().items():
            self.held[task_id] = write["lease_id"]
            self._spawn(self._deliver(task_id, write))
        loops = [
            asyncio.create_task(self._heartbeat_loop(stop)),
            asyncio.create_task(self._lease_loop(stop)),
        ]
        await stop.wait()
        for t in loops:
            t.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await self._shutdown()

    async def _shutdown(self) -> None:
        for scan in self.scans.values():
            scan.cancel()
        if self._executors:
            await asyncio.wait(set(self._executors), timeout=STOP_GRACE)
        for t in list(self._executors):
            t.cancel()
        await asyncio.gather(*self._executors, return_exceptions=True)
        try:
            await self.client.request("POST", f"/v1/workers/{self.worker_id}/leave",
                                      deadline=STOP_GRACE)
            log.info("left the cluster; leases handed back")
        except ClientError as exc:
            log.warning("could not tell the master we left (the TTL will): %s", exc)
        await self.client.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._executors.add(task)
        task.add_done_callback(self._executors.discard)

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            body = {"running_tasks": sorted(self.held), "resources": resources()}
            try:
                _, reply = await self.client.request(
                    "POST", f"/v1/workers/{self.worker_id}/heartbeat", json=body,
                    deadline=self.heartbeat_interval * 2,
                )
                self.act(reply.get("commands", []))
            except ClientError as exc:
                if exc.body.get("error") == "unknown_worker":
                    await self.register()
                    continue
                log.warning("heartbeat failed: %s", exc)
            await asyncio.sleep(self.heartbeat_interval)

    def act(self, commands: list[dict[str, Any]]) -> None:
        """Carry out the master's commands; they repeat in every answer until satisfied."""
        kinds = {cmd.get("type") for cmd in commands}
        if self.draining and "drain" not in kinds and "shutdown" not in kinds:
            log.info("drain lifted; leasing again")
        self.draining = bool(kinds & {"drain", "shutdown"})
        for cmd in commands:
            if cmd.get("type") == "cancel":
                task_id = cmd.get("task_id", "")
                scan = self.scans.get(task_id)
                if scan is not None and task_id not in self._cancel_requested:
                    log.info("cancelling %s: %s", task_id, cmd.get("reason"))
                    self._cancel_requested.add(task_id)
                    scan.cancel()
            elif cmd.get("type") == "shutdown" and self._stop is not None:
                log.info("shutdown requested by the master")
                self._stop.set()
        self._slot_freed.set()

    async def _lease_loop(self, stop: asyncio.Event) -> None:
        backoff = Backoff(cap=5.0)
        while not stop.is_set():
            free = 0 if self.draining else self.max_concurrent - len(self.held)
            if free <= 0:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            try:
                _, reply = await self.client.request(
                    "POST", f"/v1/workers/{self.worker_id}/lease",
                    params={"max": free, "wait": LEASE_WAIT},
                    timeout=LEASE_WAIT + 15, deadline=LEASE_WAIT + 30,
                )
            except ClientError as exc:
                if exc.body.get("error") == "unknown_worker":
                    await self.register()
                    continue
                log.warning("lease poll failed: %s", exc)
                await asyncio.sleep(backoff.next_delay())
                continue
            backoff.reset()
            for task in reply.get("tasks", []):
                self.held[task["id"]] = task["lease_id"]
                self._spawn(self._execute(task))

    async def _execute(self, task: dict[str, Any]) -> None:
        task_id, lease_id = task["id"], task["lease_id"]
        try:
            try:
                await self.client.request(
                    "POST", f"/v1/tasks/{task_id}/status",
                    json={"lease_id": lease_id, "status": "running"},
                )
            except ClientError as exc:
                if exc.status in (404, 409):
                    log.info("task %s lease %s is gone before start: %s", task_id, lease_id, exc)
                    self._release(task_id)
                    return
                log.warning("could not mark %s running: %s", task_id, exc)
            scan = asyncio.create_task(self._scan(task))
            self.scans[task_id] = scan
            try:
                write = await asyncio.shield(scan)
            except asyncio.CancelledError:
                if task_id not in self._cancel_requested:
                    raise  # the worker is stopping: leave the lease to be handed back
                write = {"lease_id": lease_id, "status": "cancelled"}
            finally:
                self.scans.pop(task_id, None)
                self._cancel_requested.discard(task_id)
            if write["status"] != "cancelled":
                self.outbox.put(task_id, write)
        except BaseException:
            self._release(task_id)
            raise
        await self._deliver(task_id, write)

    async def _scan(self, task: dict[str, Any]) -> dict[str, Any]:
        try:
            result = await asyncio.wait_for(
                run_task(task["type"], task["target"], task["params"]), self.task_timeout
            )
            return {"lease_id": task["lease_id"], "status": "succeeded", "result": result}
        except asyncio.TimeoutError:
            return {"lease_id": task["lease_id"], "status": "failed",
                    "error": f"scan exceeded {self.task_timeout:.0f}s"}
        except Exception as exc:  # a scanner failure is a result, not a crash
            return {"lease_id": task["lease_id"], "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}"[:4000]}

    async def _deliver(self, task_id: str, write: dict[str, Any]) -> None:
        """Write the result with its lease until a master answers for good."""
        backoff = Backoff(cap=5.0)
        try:
            while True:
                try:
                    await self.client.request("PUT", f"/v1/tasks/{task_id}/result", json=write)
                    break
                except ClientError as exc:
                    if exc.status in (404, 409):
                        log.info("result for %s refused: %s", task_id, exc)
                        break
                    if exc.status is not None and exc.status < 500:
                        log.error("result for %s rejected: %s", task_id, exc)
                        break
                    await asyncio.sleep(backoff.next_delay())
            self.outbox.remove(task_id)
        finally:
            self._release(task_id)

    def _release(self, task_id: str) -> None:
        self.held.pop(task_id, None)
        self._slot_freed.set()
