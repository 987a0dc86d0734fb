"""A cluster of real sniper-ha processes on loopback: used by `sniper-ha up` and the tests.

Every replica and worker is a child process in its own session (so a Ctrl-C in the terminal
reaches only the supervisor, which then stops children in order) with its own data dir and
log file under the cluster directory. Only processes started here are ever signalled.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sniper_ha.config import deep_merge
from sniper_ha.security.certs import client_context, init_ca, issue
from sniper_ha.security.data_keys import new_key
from sniper_ha.security.tokens import new_token

#: The subnet chaos runs give replicas in network namespaces (certificates name it too).
SUBNET = "10.213.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    argv: list[str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self, env: dict[str, str]) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )
        log.close()

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.popen is not None
            os.kill(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.popen is not None
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.popen.wait(5)

    def kill(self) -> None:
        if self.alive():
            assert self.popen is not None
            self.signal(signal.SIGKILL)
            self.popen.wait(5)


@dataclass
class LocalCluster:
    data_dir: Path
    replicas: int = 3
    workers: int = 2
    worker_slots: int = 2
    config: dict[str, Any] = field(default_factory=dict)
    #: More tokens ({name, role, token, tenant?}) beside the generated admin and worker ones.
    extra_tokens: list[dict[str, Any]] = field(default_factory=list)
    #: Serve the API over TLS with a CA made for this cluster (workers use mutual TLS).
    tls: bool = True
    python: str = sys.executable
    nodes: list[Proc] = field(default_factory=list)
    agents: list[Proc] = field(default_factory=list)
    raft_addrs: list[str] = field(default_factory=list)
    api_urls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.admin_token = self._token_file("admin.token")
        self.worker_token = self._token_file("worker.token")
        #: Raft transport secret: pysyncobj's wire format is pickle, so even on loopback the
        #: replicas only talk to peers that know it.
        self.raft_secret = self._token_file("raft.secret")
        #: The key results are encrypted with at rest (never written to the Raft log).
        self.data_key = self._token_file("data.key", new_key)
        self.tls_dir = self.data_dir / "tls"
        if self.tls and not (self.tls_dir / "ca.pem").exists():
            init_ca(self.tls_dir, name="sniper-ha local cluster CA")
            sans = ["127.0.0.1", "localhost", *(f"{SUBNET}.{10 + i}" for i in range(10))]
            for name in ("node", "worker", "client"):
                issue(self.tls_dir, name, sans)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def ca_file(self) -> Path | None:
        return self.tls_dir / "ca.pem" if self.tls else None

    def client_ssl(self, present_cert: bool = True) -> ssl.SSLContext | None:
        """What a client of this cluster verifies the API with (None without TLS); it
        presents the cluster's client certificate unless told not to."""
        if not self.tls:
            return None
        if not present_cert:
            return client_context(self.ca_file)
        return client_context(self.ca_file, self.tls_dir / "client.pem", self.tls_dir / "client.key")

    def _token_file(self, name: str, make: Any = new_token) -> str:
        path = self.data_dir / name
        if path.exists():
            return path.read_text().strip()
        token = make()
        path.write_text(token + "\n")
        path.chmod(0o600)
        return token

    @property
    def config_path(self) -> Path:
        return self.data_dir / "config.yaml"

    def write_config(self) -> None:
        """(Re)write the config every replica and worker reads; restart them to apply it."""
        base = {
            "master": {"log_level": "INFO"},
            "raft": {"password": self.raft_secret},
            "workers": {"heartbeat_interval": 2.0},
            "auth": {"tokens": [
                {"name": "admin", "role": "admin", "token": self.admin_token},
                {"name": "workers", "role": "worker", "token": self.worker_token},
                *self.extra_tokens,
            ]},
            "security": {"data_keys": [{"id": "k1", "key": self.data_key}]},
        }
        if self.tls:
            base["tls"] = {"cert": str(self.tls_dir / "node.pem"),
                           "key": str(self.tls_dir / "node.key"),
                           "ca": str(self.tls_dir / "ca.pem"), "require_worker_cert": True}
        self.config_path.write_text(yaml.safe_dump(deep_merge(base, self.config)))
        self.config_path.chmod(0o600)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SNIPER_HA_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _load_layout(self) -> bool:
        layout = self.data_dir / "cluster.json"
        if not layout.exists():
            return False
        data = json.loads(layout.read_text())
        if len(data.get("raft", [])) != self.replicas:
            return False
        self.raft_addrs, self.api_urls = data["raft"], data["api"]
        return True

    def start(self, wait: float = 60.0) -> None:
        """Start replicas, wait for a ready leader, then start workers; reuses ports on rerun."""
        self.write_config()
        if not self.raft_addrs and not self._load_layout():
            self.raft_addrs = [f"127.0.0.1:{free_port()}" for _ in range(self.replicas)]
            self.api_urls = [f"{self.scheme}://127.0.0.1:{free_port()}"
                             for _ in range(self.replicas)]
        self.nodes = [
            Proc(f"node-{i}", self.node_argv(i), self.data_dir / "logs" / f"node-{i}.log")
            for i in range(self.replicas)
        ]
        for proc in self.nodes:
            proc.start(self._env())
        self.write_layout()
        self.wait_for_leader(wait)
        self.agents = []
        for j in range(self.workers):
            self.add_worker(j)
        self.write_layout()

    def node_argv(self, i: int) -> list[str]:
        """The command line of replica i; a subclass may put a proxy in front of Raft."""
        return [self.python, "-m", "sniper_ha", "node", "--self", self.raft_addrs[i],
                "--peers", ",".join(self.raft_addrs),
                "--api", self.api_urls[i].split("://", 1)[1],
                "--data-dir", str(self.data_dir / f"node-{i}"), "--config", str(self.config_path)]

    def worker_argv(self, j: int) -> list[str]:
        return [self.python, "-m", "sniper_ha", "worker", "--master", ",".join(self.api_urls),
                "--token", self.worker_token, "--name", f"worker-{j}",
                "--max-concurrent-tasks", str(self.worker_slots),
                "--data-dir", str(self.data_dir / f"worker-{j}"),
                "--config", str(self.config_path),
                *(["--ca", str(self.tls_dir / "ca.pem"), "--cert", str(self.tls_dir / "worker.pem"),
                   "--key", str(self.tls_dir / "worker.key")] if self.tls else [])]

    def add_worker(self, j: int, prefix: list[str] | None = None) -> Proc:
        """Start worker j (again); `prefix` wraps its command (e.g. faketime in chaos runs)."""
        argv = [*(prefix or []), *self.worker_argv(j)]
        proc = Proc(f"worker-{j}", argv, self.data_dir / "logs" / f"worker-{j}.log")
        proc.start(self._env())
        if j < len(self.agents):
            self.agents[j] = proc
        else:
            self.agents.append(proc)
        return proc

    def worker_id(self, j: int) -> str | None:
        """The id worker j registered with (from its state file), once it has one."""
        state = self.data_dir / f"worker-{j}" / "worker.json"
        try:
            return json.loads(state.read_text())["worker_id"]
        except (OSError, ValueError, KeyError):
            return None

    def worker_index(self, worker_id: str) -> int:
        for j in range(len(self.agents)):
            if self.worker_id(j) == worker_id:
                return j
        raise KeyError(worker_id)

    def kill_node(self, i: int) -> None:
        """kill -9 one replica (a crash: no shutdown code runs)."""
        self.nodes[i].kill()
        self.write_layout()

    def start_node(self, i: int) -> None:
        """Start a stopped replica again with its own data dir and addresses."""
        self.nodes[i].start(self._env())
        self.write_layout()

    def write_layout(self) -> None:
        layout = {
            "api": self.api_urls,
            "raft": self.raft_addrs,
            "pids": {p.name: p.pid for p in [*self.nodes, *self.agents] if p.alive()},
            "logs": str(self.data_dir / "logs"),
        }
        (self.data_dir / "cluster.json").write_text(json.dumps(layout, indent=2))

    # ---- observation ---------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        url: str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        present_cert: bool = True,
    ) -> tuple[int, Any]:
        """One HTTP call to a replica (the first by default) with the admin token."""
        hdrs = {"Authorization": f"Bearer {token or self.admin_token}", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(
            (url or self.api_urls[0]) + path, data=data, headers=hdrs, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout,
                                        context=self.client_ssl(present_cert)) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw or b"null")
            except ValueError:
                return exc.code, {"raw": raw.decode(errors="replace")}

    def get(self, url: str, path: str, timeout: float = 2.0) -> tuple[int, Any]:
        return self.call("GET", path, url=url, timeout=timeout)

    def converged(self) -> dict[str, Any] | None:
        """The common (ledger_index, digest) if every live replica reports the same, else None."""
        views = []
        for i, url in enumerate(self.api_urls):
            if not self.nodes[i].alive():
                continue
            try:
                status, body = self.get(url, "/v1/cluster/self")
            except (OSError, ValueError):
                return None
            if status != 200:
                return None
            views.append((body["ledger_index"], body["state_digest"]))
        if views and all(v == views[0] for v in views):
            return {"ledger_index": views[0][0], "state_digest": views[0][1], "replicas": len(views)}
        return None

    def wait_converged(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            same = self.converged()
            if same is not None:
                return same
            time.sleep(0.2)
        raise TimeoutError(f"replicas did not converge within {timeout}s")

    def leader_index(self) -> int | None:
        for i, url in enumerate(self.api_urls):
            if not self.nodes[i].alive():
                continue
            try:
                status, _ = self.get(url, "/v1/health/leader", timeout=1.0)
            except (OSError, ValueError):
                continue
            if status == 200:
                return i
        return None

    def wait_for_leader(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            idx = self.leader_index()
            if idx is not None:
                return idx
            for proc in self.nodes:
                if proc.popen is not None and proc.popen.poll() not in (None, -9, -15):
                    raise RuntimeError(
                        f"{proc.name} exited with {proc.popen.returncode}; last log lines:\n"
                        + proc.log_tail()
                    )
            time.sleep(0.1)
        raise TimeoutError(f"no leader within {timeout}s; logs in {self.data_dir / 'logs'}")

    def stop(self) -> None:
        for proc in self.agents:
            proc.stop()
        for proc in self.nodes:
            proc.stop()
        self.write_layout()
