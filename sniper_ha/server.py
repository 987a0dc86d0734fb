"""One master replica: the Raft member, its leader machinery and its HTTP API in one process."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from sniper_ha.api.app import create_app
from sniper_ha.api.context import Context
from sniper_ha.config import Settings
from sniper_ha.errors import SniperError
from sniper_ha.leader.role import LeaderRole
from sniper_ha.ledger import commands as c
from sniper_ha.raft.bridge import RaftBridge
from sniper_ha.raft.node import Replica, is_loopback
from sniper_ha.security.certs import client_context, server_context
from sniper_ha.security.data_keys import DataKeys
from sniper_ha.security.ratelimit import RateLimiter
from sniper_ha.security.tokens import TokenTable

log = logging.getLogger(__name__)

#: Command types after which the dispatcher may find new pending tasks.
WAKES_DISPATCHER = {
    c.CommandType.TASK_SUBMIT.value,
    c.CommandType.TASK_COMPLETE.value,
    c.CommandType.TASK_EXPIRE.value,
    c.CommandType.WORKER_STATUS.value,
    c.CommandType.WORKER_REGISTER.value,
}


async def leadership_watchdog(role: LeaderRole, stop: asyncio.Event) -> None:
    """Warn when pysyncobj calls this replica leader but it cannot act as one for long."""
    since: float | None = None
    while not stop.is_set():
        reason = role.not_ready_reason()
        now = time.monotonic()
        if reason is None:
            since = None
        elif since is None:
            since = now
        elif now - since > 5.0:
            log.warning("raft leader but not serving for %.0fs: %s", now - since, reason)
            since = now
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except asyncio.TimeoutError:
            pass


async def announce_loop(ctx: Context, stop: asyncio.Event) -> None:
    """Keep this replica's API address in the replicated state so any replica can name it.

    The leader announces itself as its barrier; a follower proposes through pysyncobj's own
    forwarding to the leader, retried until the ledger shows the right address.
    """
    while not stop.is_set():
        current = ctx.api_of(ctx.replica.self_addr)
        if current != ctx.api_url and ctx.replica.leader_addr is not None:
            cmd = c.NodeAnnounce(raft=ctx.replica.self_addr, api=ctx.api_url,
                                 term=ctx.replica.term)
            try:
                await ctx.propose(c.encode(c.CommandType.NODE_ANNOUNCE, cmd))
            except SniperError as exc:
                log.debug("announce not committed yet: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), 0.5 if current != ctx.api_url else 5.0)
        except asyncio.TimeoutError:
            pass


async def hand_over(replica: Replica, timeout: float = 2.0) -> None:
    """On a graceful stop, pass leadership to the most caught-up follower first (Raft
    TimeoutNow), so a rolling restart costs one round trip instead of an election timeout.

    pysyncobj is not thread-safe, so the transfer runs inside its own tick.
    """
    if not replica.is_leader:
        return
    fired = threading.Event()

    def in_tick() -> None:
        if not fired.is_set():
            fired.set()
            replica.transferLeadership()

    replica.addOnTickCallback(in_tick)
    deadline = time.monotonic() + timeout
    while replica.is_leader and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    replica.removeOnTickCallback(in_tick)
    log.info("leadership %s before stopping", "handed over" if not replica.is_leader else "kept")


async def serve(
    settings: Settings, self_addr: str, peers: list[str], api_host: str, api_port: int,
    data_dir: Path, advertise_api: str | None = None, raft_bind: str | None = None,
) -> None:
    loop = asyncio.get_running_loop()
    tls = settings.tls
    scheme = "https" if tls.enabled else "http"
    api_url = advertise_api or f"{scheme}://{api_host}:{api_port}"
    state_changes: asyncio.Queue[tuple[int, int]] = asyncio.Queue()

    def on_state_changed(old: int, new: int) -> None:
        loop.call_soon_threadsafe(state_changes.put_nowait, (old, new))

    if not settings.security.data_keys:
        if not all(is_loopback(a) for a in [self_addr, *peers]):
            raise ValueError("security.data_keys is required outside a loopback cluster: "
                             "results are encrypted at rest")
        log.warning("security.data_keys is not set: results are stored unencrypted")
    replica = Replica(self_addr, peers, data_dir, settings.raft, on_state_changed, raft_bind)
    bridge = RaftBridge(replica, loop)
    role = LeaderRole(replica, bridge, settings, api_url)

    def on_applied(ctype: str, outcome: object) -> None:
        if ctype in WAKES_DISPATCHER:
            loop.call_soon_threadsafe(role.poke)

    replica.ledger.on_applied = on_applied
    # Forwarding to the leader and asking peers for their view: verify them against the
    # cluster CA and present this replica's own certificate (for mutual TLS).
    client_ssl = client_context(tls.ca, tls.cert, tls.key) if tls.enabled else None
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ssl)
                                    if client_ssl else None)

    def replicated_token(digest: str) -> dict | None:
        with replica.ledger.lock:
            record = replica.ledger.store.token_by_digest(digest)
            return None if record is None else dict(record)

    tokens = TokenTable(settings.auth.tokens, replicated_token)
    ctx = Context(settings, replica, bridge, role, tokens, api_url, session,
                  DataKeys(settings.security),
                  RateLimiter(settings.api.rate_limit, settings.api.rate_burst))
    runner = web.AppRunner(create_app(ctx), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    server_ssl = server_context(tls.cert, tls.key, tls.ca) if tls.enabled else None
    site = web.TCPSite(runner, api_host, api_port, reuse_address=True, ssl_context=server_ssl)
    await site.start()
    log.info("replica %s serving API on %s (peers: %s)", self_addr, api_url, ", ".join(peers))

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def follow_state() -> None:
        while True:
            old, new = await state_changes.get()
            role.on_state_changed(old, new)

    follower = loop.create_task(follow_state())
    announcer = loop.create_task(announce_loop(ctx, stop))
    watchdog = loop.create_task(leadership_watchdog(role, stop))
    started = time.monotonic()
    await stop.wait()
    log.info("replica %s stopping after %.0fs", self_addr, time.monotonic() - started)
    for task in (follower, announcer, watchdog):
        task.cancel()
    await hand_over(replica)
    await role.close()
    replica.destroy()
    await runner.cleanup()
    await session.close()
