#!/usr/bin/env python
"""Task-submit cost of sniper-ha's HTTP API, set against raw pysyncobj on the same Raft timers.

One run measures, on 127.0.0.1 only:

* raw pysyncobj: three SyncObj nodes, each in its own child process (as the replicas are), with
  RaftConfig's default timers, a file journal and a Raft password (pysyncobj's encrypted
  transport, as LocalCluster's replicas always have), and one @replicated method taking a
  ~200-byte value; sequential commits with a callback (latency) and pipelined commits (bounded
  window);
* the HTTP API of a real 3-replica LocalCluster (workers=0), over TLS unless --no-tls:
  sequential POST /v1/tasks through a follower (and, for reference, the leader), concurrent
  submits through the leader and through a follower, and batched submits of 50 tasks per request.

It prints a table, the API/raw ratios and the CPU each replica spent per request, and with
--json PATH writes every number as JSON. Every loop is bounded by a count and a time cap;
nothing asserts on timings. Both clusters are checked for agreement after the load.

    python bench/submit.py            # full run, well under a minute on 2 cores
    python bench/submit.py --quick    # CI smoke
    python bench/submit.py --no-tls   # the API over plain HTTP, to see what TLS costs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import queue
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated

from sniper_ha.config import RaftConfig
from sniper_ha.local_cluster import LocalCluster, free_port
from sniper_ha.raft.node import sync_conf
from sniper_ha.security.tokens import new_token

#: The API's per-token rate limit (api.rate_limit, 200/s by default) would cap every API run
#: at that rate: all submits use the one admin token. The bench measures the system, so it is off.
API_CONFIG: dict[str, Any] = {"api": {"rate_limit": None}}
TASK = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "80"}}
VALUE = "v" * 200  # the raw payload: about the size of one encoded single-task TaskSubmit


@dataclass(frozen=True)
class Plan:
    warmup: int
    seq_count: int
    seq_cap: float
    clients: int
    conc_total: int
    conc_cap: float
    batch_size: int
    batch_clients: int
    batch_count: int
    batch_cap: float
    raw_seq_count: int
    raw_seq_cap: float
    #: (total, window, cap) per raw pipelined run. The first, "raw pipelined" in the ratios, runs
    #: first and stays below raft.log_compaction_min_entries (see run_raw); the others run last.
    raw_pipes: list[tuple[int, int, float]] = field(default_factory=list)


FULL = Plan(warmup=20, seq_count=300, seq_cap=30.0, clients=32, conc_total=2000, conc_cap=40.0,
            batch_size=50, batch_clients=4, batch_count=60, batch_cap=40.0,
            raw_seq_count=300, raw_seq_cap=30.0,
            raw_pipes=[(4500, 1000, 20.0), (3000, 32, 20.0)])
QUICK = Plan(warmup=5, seq_count=60, seq_cap=6.0, clients=32, conc_total=600, conc_cap=8.0,
             batch_size=50, batch_clients=4, batch_count=24, batch_cap=8.0,
             raw_seq_count=60, raw_seq_cap=5.0,
             raw_pipes=[(3000, 1000, 8.0), (600, 32, 5.0)])


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None without samples."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(q / 100 * len(ordered) + 0.5) - 1))]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def summary(latencies: list[float], elapsed: float, errors: Counter[str], per_op: int = 1,
            attempted: int | None = None) -> dict[str, Any]:
    ok = len(latencies)
    return {
        "ok": ok,
        "attempted": ok + sum(errors.values()) if attempted is None else attempted,
        "errors": dict(errors),
        "elapsed_s": round(elapsed, 3),
        "ops_per_s": round(ok / elapsed, 1) if elapsed > 0 else None,
        "items_per_s": round(ok * per_op / elapsed, 1) if elapsed > 0 else None,
        "p50_ms": ms(pct(latencies, 50)),
        "p99_ms": ms(pct(latencies, 99)),
        "mean_ms": ms(sum(latencies) / ok) if ok else None,
    }


def log_findings(paths: list[Path]) -> dict[str, Any]:
    """Warning/error lines and Tracebacks in the given logs: counts and a few samples."""
    counts: Counter[str] = Counter()
    samples: list[str] = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            for word in ("Traceback", "CRITICAL", "ERROR", "WARNING"):
                if word in line:
                    counts[word] += 1
                    if len(samples) < 6:
                        samples.append(f"{path.name}: {line.strip()[:180]}")
                    break
    return {"counts": dict(counts), "samples": samples}


def wait_until(probe: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """The first probe() that is not None within timeout, else None."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# ---- raw pysyncobj: the node (a child process) ---------------------------------------------------


class Box(SyncObj):
    """The smallest useful state machine: one replicated method storing a value."""

    def __init__(self, self_addr: str, others: list[str], conf: SyncObjConf) -> None:
        self.count = 0
        self.last = ""
        super().__init__(self_addr, others, conf=conf)

    @replicated
    def put(self, value: str) -> int:
        self.count += 1
        self.last = value
        return self.count


def raw_conf(raft: RaftConfig, data_dir: Path) -> SyncObjConf:
    """The SyncObjConf sniper_ha.raft.node.Replica uses (same function, same RaftConfig)."""
    return sync_conf(raft, data_dir)


def raw_sequential(node: Box, count: int, cap: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + cap
    t0 = time.perf_counter()
    for _ in range(count):
        if time.monotonic() >= deadline:
            break
        done = threading.Event()
        outcome: list[int] = []

        def callback(result: Any, err: int, done: threading.Event = done,
                     outcome: list[int] = outcome) -> None:
            outcome.append(err)
            done.set()

        start = time.perf_counter()
        node.put(VALUE, callback=callback)
        if not done.wait(5.0):
            errors["timeout"] += 1
        elif outcome[0] != FAIL_REASON.SUCCESS:
            errors[f"fail_reason_{outcome[0]}"] += 1
        else:
            latencies.append(time.perf_counter() - start)
    return summary(latencies, time.perf_counter() - t0, errors)


def raw_pipelined(node: Box, total: int, window: int, cap: float) -> dict[str, Any]:
    """At most `window` commands in flight; rate = successes / time to the last callback."""
    slots = threading.Semaphore(window)
    lock = threading.Lock()
    errors: Counter[str] = Counter()
    state = {"finished": 0, "ok": 0, "last": 0.0}

    def callback(result: Any, err: int) -> None:
        with lock:
            state["finished"] += 1
            state["last"] = time.perf_counter()
            if err == FAIL_REASON.SUCCESS:
                state["ok"] += 1
            else:
                errors[f"fail_reason_{err}"] += 1
        slots.release()

    deadline = time.monotonic() + cap
    t0 = time.perf_counter()
    issued = 0
    while issued < total:
        left = deadline - time.monotonic()
        if left <= 0 or not slots.acquire(timeout=left):
            break
        node.put(VALUE, callback=callback)
        issued += 1

    def drained() -> bool | None:
        with lock:
            return True if state["finished"] >= issued else None

    wait_until(drained, 10.0, 0.002)
    with lock:
        ok, finished, last = int(state["ok"]), int(state["finished"]), float(state["last"])
    if finished < issued:
        errors["no_callback"] += issued - finished
    elapsed = (last - t0) if last else time.perf_counter() - t0
    return {"ok": ok, "attempted": issued, "window": window, "errors": dict(errors),
            "elapsed_s": round(elapsed, 3), "ops_per_s": round(ok / elapsed, 1) if elapsed > 0 else None}


def raw_node_main(index: int, addrs: list[str], data_dir: Path, secret_file: Path) -> int:
    """A raw node: JSON commands on stdin, one JSON answer per command on stdout."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    me = addrs[index]
    # Like the replicas: default timers plus a Raft password (LocalCluster writes raft.password).
    raft = RaftConfig(password=secret_file.read_text().strip())
    node = Box(me, [a for a in addrs if a != me], raw_conf(raft, data_dir / f"raw-{index}"))
    try:
        for line in sys.stdin:
            msg = json.loads(line)
            if msg["cmd"] == "quit":
                break
            if msg["cmd"] == "status":
                st = node.getStatus()
                leader = st["leader"]
                answer = {"leader": node._isLeader(), "leader_addr": leader and leader.address,
                          "term": st["raft_term"], "commit": st["commit_idx"],
                          "applied": st["last_applied"], "log_len": st["log_len"],
                          "count": node.count}
            elif msg["cmd"] == "bench":
                for _ in range(msg["warmup"]):
                    node.put(VALUE, sync=True, timeout=5.0)
                pipes = msg["pipes"]
                first = raw_pipelined(node, *pipes[0])
                answer = {
                    "sequential": raw_sequential(node, msg["seq_count"], msg["seq_cap"]),
                    "pipelined": [first, *(raw_pipelined(node, *pipe) for pipe in pipes[1:])],
                }
            else:
                answer = {"error": f"unknown command {msg['cmd']}"}
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()
    finally:
        node.destroy()
        time.sleep(0.3)  # let the tick thread close the journal and the sockets
    return 0


# ---- raw pysyncobj: the driver -------------------------------------------------------------------


class RawNode:
    """One child process running raw_node_main, talked to over its stdin/stdout."""

    def __init__(self, index: int, addrs: list[str], base: Path, secret_file: Path) -> None:
        self.log_path = base / "logs" / f"raw-{index}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, str(Path(__file__).resolve()), "--raw-node", str(index),
                "--raw-addrs", ",".join(addrs), "--raw-dir", str(base),
                "--raw-secret-file", str(secret_file)]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, text=True, bufsize=1, start_new_session=True)
        self.answers: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def ask(self, cmd: str, timeout: float = 5.0, **kw: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"raw node gave no answer to {cmd!r}; see {self.log_path}") from None
        if line is None:
            raise RuntimeError(f"raw node exited; see {self.log_path}")
        return json.loads(line)

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"cmd": "quit"}\n')
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10.0)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)


def run_raw(plan: Plan, base: Path) -> dict[str, Any]:
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    # The shared Raft password, in a 0600 file rather than on the command line (like
    # LocalCluster's raft.secret).
    secret_file = base / "raw-raft.secret"
    secret_file.write_text(new_token() + "\n")
    secret_file.chmod(0o600)
    nodes: list[RawNode] = []
    out: dict[str, Any] = {"raft_password": True}
    try:
        nodes = [RawNode(i, addrs, base, secret_file) for i in range(3)]
        t0 = time.monotonic()

        def agreed_leader() -> int | None:
            views = [n.ask("status") for n in nodes]
            leaders = [i for i, v in enumerate(views) if v["leader"]]
            if len(leaders) == 1 and all(v["leader_addr"] == addrs[leaders[0]] for v in views):
                return leaders[0]
            return None

        leader = wait_until(agreed_leader, 30.0)
        if leader is None:
            raise TimeoutError("the raw pysyncobj nodes elected no leader within 30 s")
        out["leader_ready_s"] = round(time.monotonic() - t0, 3)
        # The deep pipeline runs first and ends before the log reaches the compaction threshold:
        # pysyncobj 0.3.17 compacting under ~1000 in-flight entries resends entries a follower
        # already applied (a CRITICAL "truncating already-applied log entries") and can leave a
        # follower's state diverged, which would make this number meaningless.
        (total, window, cap), *rest = plan.raw_pipes
        below = max(100, RaftConfig().log_compaction_min_entries - plan.warmup - 100)
        pipes = [(min(total, below), window, cap), *rest]
        budget = plan.raw_seq_cap + sum(cap for _, _, cap in pipes) + 60.0
        out.update(nodes[leader].ask("bench", timeout=budget, warmup=plan.warmup,
                                     seq_count=plan.raw_seq_count, seq_cap=plan.raw_seq_cap,
                                     pipes=pipes))

        def settled() -> list[dict[str, Any]] | None:
            views = [n.ask("status") for n in nodes]
            return views if len({v["applied"] for v in views}) == 1 else None

        views = wait_until(settled, 10.0) or [n.ask("status") for n in nodes]
        out["nodes_after"] = views
        out["agree"] = (len({v["applied"] for v in views}) == 1
                        and len({v["count"] for v in views}) == 1)
    finally:
        for node in nodes:
            node.stop()
        out["log_findings"] = log_findings([n.log_path for n in nodes])
    return out


# ---- the HTTP API --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU time of a process from /proc (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class CpuMeter:
    """CPU spent by each replica process and by this (client) process over one phase."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.pids = [p.pid for p in cluster.nodes]

    def snapshot(self) -> list[float | None]:
        return [None if pid is None else cpu_seconds(pid) for pid in self.pids] + [time.process_time()]

    @staticmethod
    def spent(before: list[float | None], after: list[float | None]) -> list[float | None]:
        return [None if a is None or b is None else round(b - a, 3)
                for a, b in zip(before, after, strict=True)]


def aiohttp_ssl(cluster: LocalCluster) -> ssl.SSLContext | bool:
    """The `ssl=` for an aiohttp connector to this cluster: its CA and client certificate under
    TLS (worker routes demand the certificate), aiohttp's default otherwise (plain http)."""
    ctx = cluster.client_ssl()
    return True if ctx is None else ctx


async def submit_one(session: aiohttp.ClientSession, url: str, token: str, body: Any) -> str:
    """'ok' for 201 Created, else a short error label."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    try:
        async with session.post(url + "/v1/tasks", json=body, headers=headers) as resp:
            payload = await resp.read()
            if resp.status == 201:
                return "ok"
            try:
                code = json.loads(payload).get("error", {}).get("code", "")
            except (ValueError, AttributeError):
                code = ""
            return f"http_{resp.status}" + (f"_{code}" if code else "")
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return type(exc).__name__


async def api_sequential(session: aiohttp.ClientSession, url: str, token: str,
                         count: int, cap: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + cap
    t0 = time.perf_counter()
    for _ in range(count):
        if time.monotonic() >= deadline:
            break
        start = time.perf_counter()
        outcome = await submit_one(session, url, token, TASK)
        if outcome == "ok":
            latencies.append(time.perf_counter() - start)
        else:
            errors[outcome] += 1
    return summary(latencies, time.perf_counter() - t0, errors)


async def api_concurrent(session: aiohttp.ClientSession, url: str, token: str, body: Any,
                         clients: int, total: int, cap: float, per_op: int = 1) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    deadline = time.monotonic() + cap
    issued = 0

    async def client() -> None:
        nonlocal issued
        while issued < total and time.monotonic() < deadline:
            issued += 1
            start = time.perf_counter()
            outcome = await submit_one(session, url, token, body)
            if outcome == "ok":
                latencies.append(time.perf_counter() - start)
            else:
                errors[outcome] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    out = summary(latencies, time.perf_counter() - t0, errors, per_op=per_op)
    out["clients"] = clients
    return out


async def api_phases(cluster: LocalCluster, plan: Plan, leader: int) -> dict[str, Any]:
    token = cluster.admin_token
    follower = (leader + 1) % len(cluster.api_urls)
    lead_url, foll_url = cluster.api_urls[leader], cluster.api_urls[follower]
    meter = CpuMeter(cluster)
    batch = {"tasks": [TASK] * plan.batch_size}
    phases: list[tuple[str, Callable[[aiohttp.ClientSession], Any]]] = [
        ("seq_follower", lambda s: api_sequential(s, foll_url, token, plan.seq_count, plan.seq_cap)),
        ("seq_leader", lambda s: api_sequential(s, lead_url, token, plan.seq_count, plan.seq_cap)),
        ("conc_leader", lambda s: api_concurrent(s, lead_url, token, TASK, plan.clients,
                                                 plan.conc_total, plan.conc_cap)),
        ("conc_follower", lambda s: api_concurrent(s, foll_url, token, TASK, plan.clients,
                                                   plan.conc_total, plan.conc_cap)),
        ("batch_leader", lambda s: api_concurrent(s, lead_url, token, batch, plan.batch_clients,
                                                  plan.batch_count, plan.batch_cap,
                                                  per_op=plan.batch_size)),
    ]
    out: dict[str, Any] = {"leader": leader, "follower": follower}
    before = meter.snapshot()  # what the replicas burn with nothing to do (Raft ticks)
    await asyncio.sleep(1.0)
    idle = CpuMeter.spent(before, meter.snapshot())[:-1]
    out["idle_cpu_pct"] = [None if c is None else round(100 * c, 1) for c in idle]
    connector = aiohttp.TCPConnector(limit=max(plan.clients, plan.batch_clients),
                                     ssl=aiohttp_ssl(cluster))
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=20.0)) as session:
        for url in (lead_url, foll_url):  # warm the connections and both code paths
            for _ in range(plan.warmup):
                await submit_one(session, url, token, TASK)
        for name, phase in phases:
            before = meter.snapshot()
            result = await phase(session)
            spent = CpuMeter.spent(before, meter.snapshot())
            result["cpu_s"] = {"replicas": spent[:-1], "client": spent[-1]}
            out[name] = result
    out["batch_leader"]["batch_size"] = plan.batch_size
    return out


def replica_views(cluster: LocalCluster) -> list[dict[str, Any]]:
    """Each replica's own view (role, term, indexes, state digest) or what went wrong."""
    views: list[dict[str, Any]] = []
    for url in cluster.api_urls:
        try:
            status, body = cluster.get(url, "/v1/cluster/self")
            views.append(body if status == 200 else {"http_status": status})
        except (OSError, ValueError) as exc:
            views.append({"error": type(exc).__name__})
    return views


def run_api(plan: Plan, base: Path, tls: bool = True) -> dict[str, Any]:
    cluster = LocalCluster(base / "cluster", replicas=3, workers=0, tls=tls, config=API_CONFIG)
    out: dict[str, Any] = {"tls": tls, "cluster_config": API_CONFIG}
    try:
        t0 = time.monotonic()
        cluster.start(wait=60.0)
        leader = cluster.wait_for_leader(30.0)
        out["cluster_ready_s"] = round(time.monotonic() - t0, 3)
        out["replicas_before"] = replica_views(cluster)
        out.update(asyncio.run(api_phases(cluster, plan, leader)))
        out["leader_after"] = cluster.leader_index()

        try:  # the project's own check: same state digest at the same ledger index
            out["agree"] = cluster.wait_converged(10.0)["replicas"] == cluster.replicas
        except TimeoutError:
            out["agree"] = False
        out["replicas_after"] = replica_views(cluster)
    finally:
        cluster.stop()
        out["log_findings"] = log_findings(sorted((cluster.data_dir / "logs").glob("node-*.log")))
    return out


# ---- report --------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def ratios(raw: dict[str, Any], api: dict[str, Any]) -> dict[str, float | None]:
    seq, pipe, narrow = raw["sequential"], raw["pipelined"][0], raw["pipelined"][-1]
    out = {
        "API seq latency via follower / raw seq latency (p50)":
            ratio(api["seq_follower"]["p50_ms"], seq["p50_ms"]),
        "API seq latency via follower / raw seq latency (p99)":
            ratio(api["seq_follower"]["p99_ms"], seq["p99_ms"]),
        "API concurrent commits/s via leader / raw pipelined commits/s":
            ratio(api["conc_leader"]["ops_per_s"], pipe["ops_per_s"]),
        "API concurrent commits/s via follower / raw pipelined commits/s":
            ratio(api["conc_follower"]["ops_per_s"], pipe["ops_per_s"]),
        "API batched tasks/s / raw pipelined commits/s":
            ratio(api["batch_leader"]["items_per_s"], pipe["ops_per_s"]),
    }
    if len(raw["pipelined"]) > 1:
        out[f"API concurrent via leader / raw pipelined, window {narrow['window']}"] = \
            ratio(api["conc_leader"]["ops_per_s"], narrow["ops_per_s"])
    return out


def fmt(value: Any, width: int) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:,.1f}".rjust(width)
    return str(value).rjust(width)


def report(result: dict[str, Any]) -> str:
    raw, api = result["raw"], result["api"]
    rows: list[tuple[str, dict[str, Any], str]] = [
        ("raw  sequential commit", raw["sequential"], "commits")]
    rows += [(f"raw  pipelined commit, window {p['window']}", p, "commits") for p in raw["pipelined"]]
    rows += [
        ("API  sequential via follower", api["seq_follower"], "submits"),
        ("API  sequential via leader", api["seq_leader"], "submits"),
        (f"API  {api['conc_leader']['clients']} clients via leader", api["conc_leader"], "submits"),
        (f"API  {api['conc_follower']['clients']} clients via follower", api["conc_follower"],
         "submits"),
        (f"API  batches of {api['batch_leader']['batch_size']}, {api['batch_leader']['clients']} "
         "clients via leader", api["batch_leader"], "tasks"),
    ]
    head = (f"{'measurement':<44}{'ok/tried':>12}{'per s':>11}  {'unit':<8}"
            f"{'p50 ms':>8}{'p99 ms':>8}  errors")
    lines = [f"API over {'HTTPS (cluster CA, client certificate)' if api['tls'] else 'plain HTTP'}, "
             "per-token rate limit off; "
             f"Raft password (encrypted transport): replicas yes, raw nodes "
             f"{'yes' if raw.get('raft_password') else 'no'}", "", head, "-" * len(head)]
    for name, r, unit in rows:
        lines.append(
            f"{name:<44}{fmt(str(r['ok']) + '/' + str(r['attempted']), 12)}"
            f"{fmt(r.get('items_per_s', r['ops_per_s']), 11)}  {unit:<8}"
            f"{fmt(r.get('p50_ms'), 8)}{fmt(r.get('p99_ms'), 8)}  {r['errors'] or ''}"
        )
    lines.append("")
    for key, value in result["ratios"].items():
        lines.append(f"{key:<66}{'-' if value is None else f'{value:.3f}'}")
    lines.append("")
    lines.append("CPU ms per request (leader / other replicas / bench client); "
                 f"idle replicas use {api['idle_cpu_pct']} % CPU:")
    leader = api["leader"]
    for name in ("seq_follower", "conc_leader", "conc_follower", "batch_leader"):
        r = api[name]
        cpu = r["cpu_s"]["replicas"]
        if not r["ok"] or any(c is None for c in cpu):
            continue
        others = sum(c for i, c in enumerate(cpu) if i != leader)
        per = [cpu[leader], others, r["cpu_s"]["client"]]
        lines.append(f"  {name:<14}" + " / ".join(f"{1000 * c / r['ok']:.2f}" for c in per))
    lines.append("")
    terms = [[v.get("term") for v in api[k]] for k in ("replicas_before", "replicas_after")]
    lines.append(f"API leader {api['leader']} -> {api['leader_after']}, terms {terms[0]} -> {terms[1]}, "
                 f"replicas agree: {api['agree']}; raw nodes agree: {raw['agree']}")
    lines.append(f"raft log length after: API {[v.get('log_len') for v in api['replicas_after']]}, "
                 f"raw {[v['log_len'] for v in raw['nodes_after']]} "
                 f"(compaction at > {result['raft']['log_compaction_min_entries']})")
    for label, found in (("replica", api["log_findings"]), ("raw node", raw["log_findings"])):
        lines.append(f"{label} log lines flagged: {found['counts'] or 'none'}")
        lines.extend(f"  {line}" for line in found["samples"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small run for CI smoke")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON to PATH")
    parser.add_argument("--clients", type=int, metavar="N",
                        help="concurrent API clients (and the narrow raw window); default 32")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (logs, journals) and print its path")
    parser.add_argument("--no-tls", action="store_true",
                        help="serve the API over plain HTTP (LocalCluster(tls=False)) to compare TLS cost")
    parser.add_argument("--raw-node", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--raw-addrs", help=argparse.SUPPRESS)
    parser.add_argument("--raw-dir", help=argparse.SUPPRESS)
    parser.add_argument("--raw-secret-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.raw_node is not None:
        return raw_node_main(args.raw_node, args.raw_addrs.split(","), Path(args.raw_dir),
                             Path(args.raw_secret_file))

    plan = QUICK if args.quick else FULL
    if args.clients is not None:
        if not 1 <= args.clients <= 1024:
            parser.error("--clients must be 1-1024")
        pipes = [plan.raw_pipes[0], *[(t, args.clients, c) for t, _, c in plan.raw_pipes[1:]]]
        plan = replace(plan, clients=args.clients, raw_pipes=pipes)
    raft = RaftConfig()
    base = Path(tempfile.mkdtemp(prefix="sniper-ha-bench-"))
    started = time.monotonic()
    try:
        print("raw pysyncobj: 3 node processes ...", file=sys.stderr, flush=True)
        raw = run_raw(plan, base)
        print(f"API: 3-replica LocalCluster, workers=0, {'http' if args.no_tls else 'https'} ...",
              file=sys.stderr, flush=True)
        api = run_api(plan, base, tls=not args.no_tls)
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "plan": asdict(plan),
        "env": {"python": platform.python_version(), "pysyncobj": version("pysyncobj"),
                "aiohttp": aiohttp.__version__, "cpus": os.cpu_count(),
                "platform": platform.platform()},
        "raft": raft.model_dump(exclude={"password"}),
        "raft_password": {"replicas": True, "raw": raw.get("raft_password", False)},
        "tls": not args.no_tls,
        "raw": raw,
        "api": api,
    }
    result["ratios"] = ratios(raw, api)
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(report(result))
    print(f"\n{result['mode']} run, API over {'https' if result['tls'] else 'http'}, "
          f"{os.cpu_count()} CPUs, wall time {result['wall_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
