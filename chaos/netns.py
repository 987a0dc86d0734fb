"""Network namespaces for one chaos run (mode "netns", needs root, ip and iptables).

Layout: a bridge namespace holds the bridge `br0` (10.213.0.1/24); it is also where the
runner, the clients and the workers live, so the host's own network is never touched. Each
replica gets a namespace of its own joined to the bridge by a veth pair, with address
10.213.0.(10+i). Links are cut with iptables inside the replica namespaces (two-way: a rule
on both sides; one-way: on the receiving side only); loss is `-m statistic --probability`,
which TCP turns into retransmission delay. Everything is named after the run's pid so a
later run can remove what a crashed one left behind.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from sniper_ha.local_cluster import SUBNET

PREFIX = "snchaos"


def available() -> str | None:
    """None if netns mode can run here, else why not."""
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = f"{PREFIX}probe{os.getpid()}"
    try:
        _run("ip", "netns", "add", probe)
    except subprocess.CalledProcessError:
        return "cannot create network namespaces"
    try:
        _run("ip", "netns", "exec", probe, "iptables", "-L", "INPUT", "-n")
    except subprocess.CalledProcessError:
        return "iptables does not work inside a namespace"
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def remove_leftovers() -> None:
    """Delete namespaces of earlier runs whose runner process is gone."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(rf"^{PREFIX}(\d+)-", name)
        if m and not _alive(int(m.group(1))):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Lab:
    def __init__(self, replicas: int, owner_pid: int | None = None) -> None:
        tag = f"{PREFIX}{owner_pid or os.getpid()}"
        self.bridge_ns = f"{tag}-br"
        self.node_ns = [f"{tag}-n{i}" for i in range(replicas)]
        self.ips = [f"{SUBNET}.{10 + i}" for i in range(replicas)]
        self.bridge_ip = f"{SUBNET}.1"

    def create(self) -> None:
        remove_leftovers()
        br = self.bridge_ns
        _run("ip", "netns", "add", br)
        _run("ip", "-n", br, "link", "set", "lo", "up")
        _run("ip", "-n", br, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", br, "addr", "add", f"{self.bridge_ip}/24", "dev", "br0")
        _run("ip", "-n", br, "link", "set", "br0", "up")
        for i, (ns, ip) in enumerate(zip(self.node_ns, self.ips, strict=True)):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            _run("ip", "-n", br, "link", "add", f"veth{i}", "type", "veth",
                 "peer", "name", "eth0", "netns", ns)
            _run("ip", "-n", br, "link", "set", f"veth{i}", "master", "br0", "up")
            _run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")

    def destroy(self) -> None:
        for ns in [*self.node_ns, self.bridge_ns]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def exec_prefix(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    def _iptables(self, i: int, *rule: str) -> None:
        _run("ip", "netns", "exec", self.node_ns[i], "iptables", *rule)

    def cut(self, a: int, b: int, both: bool = True) -> None:
        """Drop what a sends to b (at b); with both, also what b sends to a."""
        self._iptables(b, "-A", "INPUT", "-s", self.ips[a], "-j", "DROP")
        if both:
            self._iptables(a, "-A", "INPUT", "-s", self.ips[b], "-j", "DROP")

    def loss(self, probability: float) -> None:
        for i in range(len(self.ips)):
            self._iptables(i, "-A", "INPUT", "-s", f"{SUBNET}.0/24", "-m", "statistic",
                           "--mode", "random", "--probability", f"{probability:.3f}", "-j", "DROP")

    def heal(self) -> None:
        for i in range(len(self.ips)):
            self._iptables(i, "-F", "INPUT")
