"""The Raft port speaks pickle: with the cluster secret set, garbage or a forged pickle sent by
someone who does not know it executes nothing and does not disturb the cluster. Without the
secret the very same bytes run code, which is why every cluster sniper-ha starts has one."""

from __future__ import annotations

import pathlib
import pickle
import socket
import struct
import time
import zlib

from conftest import wait_until


class _Touch:
    """A pickle that, when loaded, creates a file: harmless proof of code execution."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def _frame(payload: bytes) -> bytes:
    return struct.pack("i", len(payload)) + payload


def _attack(raft_addr: str, marker: pathlib.Path) -> None:
    host, port = raft_addr.rsplit(":", 1)
    forged = _frame(zlib.compress(pickle.dumps(_Touch(marker))))
    payloads = [
        b"\x00" * 64,                                # garbage
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",         # the wrong protocol
        struct.pack("i", 2**31 - 1) + b"x" * 100,   # a huge length prefix
        forged,                                      # code execution as the first message
        forged + forged,
    ]
    for payload in payloads:
        with socket.create_connection((host, int(port)), timeout=2) as sock:
            try:
                sock.sendall(payload)
                sock.settimeout(0.5)
                sock.recv(1024)
            except OSError:
                pass


def _submit(cluster, url: str) -> int:
    spec = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "1"}}
    return cluster.call("POST", "/v1/tasks", spec, url=url)[0]


def test_raft_port_rejects_garbage_and_forged_pickles(make_cluster, tmp_path) -> None:
    cluster = make_cluster(replicas=3, workers=0)
    leader = cluster.wait_for_leader()
    marker = tmp_path / "pwned"
    for addr in cluster.raft_addrs:
        _attack(addr, marker)
    time.sleep(1.0)
    assert not marker.exists(), "a forged pickle ran code on a replica"
    assert cluster.wait_for_leader() == leader, "the attack disturbed the leadership"
    for url in cluster.api_urls:
        assert _submit(cluster, url) == 201
    assert cluster.wait_converged()["replicas"] == 3


def test_without_the_secret_the_same_bytes_run_code(make_cluster, tmp_path) -> None:
    cluster = make_cluster(replicas=1, workers=0, config={"raft": {"password": None}})
    cluster.wait_for_leader()
    marker = tmp_path / "pwned"
    _attack(cluster.raft_addrs[0], marker)
    wait_until(marker.exists, 5, "the forged pickle to run (proving the threat is real)")
