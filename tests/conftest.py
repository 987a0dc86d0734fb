"""Shared fixtures: scan targets on 127.0.0.1 and real local clusters that always stop."""

from __future__ import annotations

import http.server
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sniper_ha.local_cluster import LocalCluster


@dataclass
class Targets:
    """Servers the tests started on 127.0.0.1: the only things scanned in tests."""

    open_ports: list[int]
    closed_port: int
    http_port: int
    slow_http_port: int


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "sniper-test/1.0"
    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802
        # "?delay=SECONDS" (at most 30) makes a scan last as long as a test needs.
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        delay = min(float(query.get("delay", [self.delay])[0]), 30.0)
        if delay:
            time.sleep(delay)
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the scanner went away (killed or cancelled worker): expected in these tests

    def log_message(self, *args: object) -> None:
        pass


class _SlowHandler(_Handler):
    delay = 1.5


def _listener() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def _accept_forever(sock: socket.socket) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        conn.close()


@pytest.fixture(scope="session")
def targets() -> Iterator[Targets]:
    listeners = [_listener() for _ in range(3)]
    for sock in listeners:
        threading.Thread(target=_accept_forever, args=(sock,), daemon=True).start()
    closed = _listener()
    closed_port = closed.getsockname()[1]
    closed.close()
    http_srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    slow_srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    for srv in (http_srv, slow_srv):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield Targets(
        open_ports=sorted(s.getsockname()[1] for s in listeners),
        closed_port=closed_port,
        http_port=http_srv.server_address[1],
        slow_http_port=slow_srv.server_address[1],
    )
    for srv in (http_srv, slow_srv):
        srv.shutdown()
        srv.server_close()
    for sock in listeners:
        sock.close()


ClusterFactory = Callable[..., LocalCluster]


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[ClusterFactory]:
    """Start LocalClusters on demand; every one is stopped (and its logs kept) at teardown."""
    started: list[LocalCluster] = []

    def make(**kwargs: object) -> LocalCluster:
        cluster = LocalCluster(tmp_path / f"cluster-{len(started)}", **kwargs)  # type: ignore[arg-type]
        started.append(cluster)
        cluster.start()
        return cluster

    yield make
    for cluster in started:
        cluster.stop()


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2):
    """Poll until predicate() is truthy; bounded in time. Returns the truthy value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One 3-replica, 2-worker cluster shared by the tests of a module that do not break it."""
    cluster = LocalCluster(tmp_path_factory.mktemp("shared"), replicas=3, workers=2)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
