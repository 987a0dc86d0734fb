"""The chaos cluster: real replicas and workers, with faults on the links between replicas.

Mode "netns" (root): each replica in its own network namespace behind a bridge
(chaos/netns.py); the runner, clients and workers live in the bridge's namespace. Links are
cut with iptables, loss comes from iptables' statistic match. Raft runs with its password
(its addresses are not loopback). A partition here also cuts clients and workers off the
isolated replica, as a real one would.

Mode "proxy" (loopback): replicas, workers and clients run on 127.0.0.1; each replica-to-
replica link passes the ProxyMesh, which cuts, holds and delays bytes per direction. Client
and worker traffic to the API is not proxied, so a partitioned minority leader is still
reachable by clients: exactly the case where it must refuse writes.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from typing import Any

from chaos.netns import Lab
from chaos.proxy import LinkFault, ProxyMesh
from sniper_ha.local_cluster import LocalCluster, free_port

CHAOS_CONFIG: dict[str, Any] = {
    "workers": {"heartbeat_interval": 1.0, "heartbeat_ttl_multiplier": 3},
    "api": {"no_leader_hold": 3.0, "propose_timeout": 5.0},
}


@dataclass
class ChaosCluster(LocalCluster):
    mode: str = "proxy"
    seed: int = 0
    lab: Lab | None = None
    bind_addrs: list[str] = field(default_factory=list)
    mesh: ProxyMesh | None = None

    def start(self, wait: float = 60.0) -> None:
        if self.mode == "netns":
            assert self.lab is not None
            self.raft_addrs = [f"{ip}:7000" for ip in self.lab.ips]
            self.api_urls = [f"{self.scheme}://{ip}:8000" for ip in self.lab.ips]
            self.config = {**self.config, "raft": {"password": secrets.token_hex(16)}}
            super().start(wait)
            return
        self.raft_addrs = [f"127.0.0.1:{free_port()}" for _ in range(self.replicas)]
        self.bind_addrs = [f"127.0.0.1:{free_port()}" for _ in range(self.replicas)]
        self.api_urls = [f"{self.scheme}://127.0.0.1:{free_port()}" for _ in range(self.replicas)]
        self.mesh = ProxyMesh(
            listen=[_split(a) for a in self.raft_addrs],
            targets=[_split(a) for a in self.bind_addrs],
            pid_to_node=self.node_of_pid,
            seed=self.seed,
        )
        self.mesh.start()
        super().start(wait)

    def node_argv(self, i: int) -> list[str]:
        if self.mode == "netns":
            assert self.lab is not None
            return [*self.lab.exec_prefix(self.lab.node_ns[i]), *super().node_argv(i)]
        return [*super().node_argv(i), "--raft-bind", self.bind_addrs[i]]

    def node_of_pid(self, pid: int) -> int | None:
        for i, proc in enumerate(self.nodes):
            if proc.pid == pid and proc.alive():
                return i
        return None

    # ---- link faults -----------------------------------------------------------------------

    def cut(self, a: int, b: int, both: bool = True) -> None:
        """Stop what a sends to b; with both, also what b sends to a."""
        if self.lab is not None:
            self.lab.cut(a, b, both)
            return
        assert self.mesh is not None
        self.mesh.set_fault(a, b, LinkFault(cut=True))
        if both:
            self.mesh.set_fault(b, a, LinkFault(cut=True))

    def isolate(self, node: int) -> None:
        for other in range(self.replicas):
            if other != node:
                self.cut(node, other)

    def slow_links(self, rng: random.Random) -> str:
        """Delay and loss on every replica link; returns what was done."""
        if self.lab is not None:
            p = rng.uniform(0.05, 0.25)
            self.lab.loss(p)
            return f"drop {p:.0%} of packets on all replica links (TCP retransmits)"
        assert self.mesh is not None
        delay, jitter = rng.uniform(0.02, 0.1), rng.uniform(0.05, 0.2)
        for a in range(self.replicas):
            for b in range(self.replicas):
                if a != b:
                    self.mesh.set_fault(a, b, LinkFault(delay=delay, jitter=jitter))
        return f"delay {delay * 1000:.0f} ms + jitter {jitter * 1000:.0f} ms on all links"

    def heal(self) -> None:
        if self.lab is not None:
            self.lab.heal()
        if self.mesh is not None:
            self.mesh.heal_all()

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self.mesh is not None:
                self.mesh.stop()


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)
