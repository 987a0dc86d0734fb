"""Clients that submit scan tasks with idempotency keys and read them back, recording each
operation in the history. Every loop is bounded by the run's end time and an op count."""

from __future__ import annotations

import asyncio
import random
import ssl
import zlib
from dataclasses import dataclass

import aiohttp

from chaos.history import History

#: A client gives up on one request after this long (recorded as `info`).
OP_TIMEOUT = 20.0
#: The longest a replica may take to answer by design: no-leader hold + propose timeout +
#: forwarding slack. An answer slower than this is a hang, whatever it says.
OP_DEADLINE = 15.0
MAX_OPS_PER_CLIENT = 20_000
#: The prober's per-request timeout: short, so that one stuck replica cannot hide for long
#: that the rest of the cluster already accepts writes again (failover time is read off it).
PROBE_TIMEOUT = 2.0
PROBE_PERIOD = 0.1


@dataclass
class Workload:
    history: History
    api_urls: list[str]
    token: str
    target_ports: list[int]
    clients: int = 4
    think: float = 0.05
    seed: int = 0
    #: History time at which clients stop; the runner moves it when the schedule ends.
    stop_at: float = float("inf")
    ssl_context: ssl.SSLContext | None = None

    async def run(self) -> None:
        """Run every client and the prober until `stop_at` (or MAX_OPS_PER_CLIENT ops each)."""
        connector = aiohttp.TCPConnector(ssl=self.ssl_context) if self.ssl_context else None
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.gather(self._prober(session),
                                 *(self._client(session, c) for c in range(self.clients)))

    async def _prober(self, session: aiohttp.ClientSession) -> None:
        """Submit to each replica in turn every PROBE_PERIOD with a short timeout."""
        pending: list[str] = []
        for seq in range(MAX_OPS_PER_CLIENT * 5):
            if self.history.now() >= self.stop_at:
                return
            key = pending.pop(0) if pending else f"probe-{seq}"
            url = self.api_urls[seq % len(self.api_urls)]
            if await self._submit(session, "prober", url, key, PROBE_TIMEOUT) == "info":
                pending.append(key)
            await asyncio.sleep(PROBE_PERIOD)

    async def _client(self, session: aiohttp.ClientSession, n: int) -> None:
        rng = random.Random(self.seed * 1000 + n)
        process = f"client-{n}"
        pending_keys: list[str] = []  # keys with an unknown outcome, retried like a real client
        for seq in range(MAX_OPS_PER_CLIENT):
            if self.history.now() >= self.stop_at:
                return
            if pending_keys and rng.random() < 0.5:
                key = pending_keys.pop(0)
            else:
                key = f"{process}-{seq}"
            url = rng.choice(self.api_urls)
            outcome = await self._submit(session, process, url, key)
            if outcome == "info":
                pending_keys.append(key)
            if rng.random() < 0.2:
                await self._read(session, process, rng.choice(self.api_urls))
            await asyncio.sleep(self.think)

    async def _submit(self, session: aiohttp.ClientSession, process: str, url: str,
                      key: str, timeout: float = OP_TIMEOUT) -> str:
        port = self.target_ports[zlib.crc32(key.encode()) % len(self.target_ports)]
        body = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": str(port)}}
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
        self.history.record(process=process, type="invoke", f="submit", key=key, replica=url)
        start = self.history.now()
        try:
            async with session.post(url + "/v1/tasks", json=body, headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                data = await resp.json(content_type=None)
                kind = "ok" if resp.status in (200, 201) else (
                    "info" if resp.status >= 500 else "fail")
                if resp.status == 503 and data.get("error") in ("no_leader", "not_leader"):
                    kind = "fail"  # definite: the write was refused before any proposal
                self.history.record(
                    process=process, type=kind, f="submit", key=key, replica=url,
                    status=resp.status, duration=self.history.now() - start,
                    leader=resp.headers.get("X-Sniper-Leader"),
                    term=int(resp.headers["X-Sniper-Term"]) if "X-Sniper-Term" in resp.headers
                    else None,
                    task_ids=[t["id"] for t in data.get("tasks", [])] if kind == "ok" else [],
                    error=None if kind == "ok" else str(data.get("error")),
                )
                return kind
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            self.history.record(process=process, type="info", f="submit", key=key, replica=url,
                                duration=self.history.now() - start,
                                error=f"{type(exc).__name__}: {exc}"[:200])
            return "info"

    async def _read(self, session: aiohttp.ClientSession, process: str, url: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        self.history.record(process=process, type="invoke", f="read", replica=url)
        start = self.history.now()
        try:
            async with session.get(url + "/v1/tasks?limit=1", headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=OP_TIMEOUT)) as resp:
                data = await resp.json(content_type=None)
                kind = "ok" if resp.status == 200 else ("info" if resp.status >= 500 else "fail")
                self.history.record(process=process, type=kind, f="read", replica=url,
                                    status=resp.status, duration=self.history.now() - start,
                                    value=data.get("counts") if kind == "ok" else None,
                                    error=None if kind == "ok" else str(data.get("error")))
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            self.history.record(process=process, type="info", f="read", replica=url,
                                duration=self.history.now() - start,
                                error=f"{type(exc).__name__}: {exc}"[:200])
