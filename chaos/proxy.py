"""Fault-injecting TCP proxies in front of every replica's Raft port (loopback mode).

pysyncobj identifies a node by its configured address, and only the node with the larger
address dials. So each replica advertises the address of its proxy (--self) and really
listens on another (--raft-bind); every Raft connection to replica B passes B's proxy.
The proxy attributes a connection to the dialing replica by asking the kernel which process
owns the other end (psutil), so it works with pysyncobj's encryption on.

Faults are per directed link (bytes from replica A to replica B):
- cut: bytes are held, not dropped (TCP never drops bytes inside a live stream, and
  pysyncobj breaks if it sees a hole); a two-way cut makes both sides time out and reconnect,
  which is what a partition looks like; a one-way cut holds one direction only;
- delay with jitter: each chunk is released after delay + uniform(0, jitter); loss is
  modelled as such delay spikes (a retransmission), order is kept.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import psutil

log = logging.getLogger(__name__)

Link = tuple[int, int]


@dataclass
class LinkFault:
    cut: bool = False
    delay: float = 0.0
    jitter: float = 0.0


class ProxyMesh:
    """The proxies of every replica, run on a private event loop in a background thread."""

    def __init__(self, listen: list[tuple[str, int]], targets: list[tuple[str, int]],
                 pid_to_node: Callable[[int], int | None], seed: int = 0) -> None:
        self.listen = listen
        self.targets = targets
        self.pid_to_node = pid_to_node
        self.faults: dict[Link, LinkFault] = {}
        self.rng = random.Random(seed)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._conns: set[asyncio.Task[None]] = set()
        self._changed: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="proxy-mesh", daemon=True)
        self._ready = threading.Event()

    # ---- control (any thread) ------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy mesh did not start")

    def stop(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def set_fault(self, src: int, dst: int, fault: LinkFault) -> None:
        with self._lock:
            self.faults[(src, dst)] = fault
        self._poke()

    def heal_all(self) -> None:
        with self._lock:
            self.faults.clear()
        self._poke()

    def fault(self, src: int, dst: int) -> LinkFault:
        with self._lock:
            return self.faults.get((src, dst)) or LinkFault()

    def _poke(self) -> None:
        if self._changed is not None:
            self._loop.call_soon_threadsafe(self._changed.set)

    # ---- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start_servers())
        self._ready.set()
        self._loop.run_forever()

    async def _start_servers(self) -> None:
        self._changed = asyncio.Event()
        for node, (host, port) in enumerate(self.listen):
            server = await asyncio.start_server(
                lambda r, w, node=node: self._accept(node, r, w), host, port, reuse_address=True
            )
            self._servers.append(server)

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)

    def _accept(self, dst: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(dst, reader, writer))
        self._conns.add(task)
        task.add_done_callback(self._conns.discard)

    async def _serve(self, dst: int, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        src = await asyncio.get_running_loop().run_in_executor(
            None, self._owner, (peer[0], peer[1]), (local[0], local[1]))
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.targets[dst])
        except OSError:
            writer.close()
            return
        if src is None:
            src = -1  # a client we do not know (e.g. an admin tool): never faulted
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer, src, dst)),
            asyncio.create_task(self._pump(up_reader, writer, dst, src)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for p in pumps:
                p.cancel()
            for w in (writer, up_writer):
                w.close()

    def _owner(self, peer: tuple[str, int], local: tuple[str, int]) -> int | None:
        """The replica whose process holds the other end of this accepted connection: the
        socket whose local address is our peer and whose remote address is us."""
        for _ in range(5):
            for conn in psutil.net_connections(kind="tcp4"):
                if (conn.pid is not None and conn.laddr and conn.raddr
                        and tuple(conn.laddr) == peer and tuple(conn.raddr) == local):
                    node = self.pid_to_node(conn.pid)
                    if node is not None:
                        return node
            time.sleep(0.01)
        return None

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    src: int, dst: int) -> None:
        queue: deque[tuple[float, bytes]] = deque()
        more = asyncio.Event()
        done = False

        async def read() -> None:
            nonlocal done
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    done = True
                    more.set()
                    return
                f = self.fault(src, dst) if src >= 0 and dst >= 0 else LinkFault()
                delay = f.delay + (self.rng.uniform(0, f.jitter) if f.jitter else 0.0)
                queue.append((time.monotonic() + delay, chunk))
                more.set()

        reading = asyncio.create_task(read())
        try:
            while True:
                if not queue:
                    if done:
                        return
                    more.clear()
                    await more.wait()
                    continue
                f = self.fault(src, dst) if src >= 0 and dst >= 0 else LinkFault()
                if f.cut:
                    assert self._changed is not None
                    self._changed.clear()
                    try:
                        await asyncio.wait_for(self._changed.wait(), 0.1)
                    except asyncio.TimeoutError:
                        pass
                    continue
                release, chunk = queue[0]
                wait = release - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                queue.popleft()
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            reading.cancel()
