#!/usr/bin/env python
"""Task-submit cost of sniper-ha's HTTP API, set against raw pysyncobj on the same Raft timers.

One run measures two things on 127.0.0.1 only:

* raw pysyncobj: three SyncObj nodes in this process, timers from RaftConfig's defaults, a file
  journal each, one @replicated method taking a ~200-byte value; sequential commits (latency) and
  pipelined commits (many in flight);
* the API: a real 3-replica LocalCluster (workers=0) driven over HTTP with POST /v1/tasks;
  sequential submits through a follower (and, for reference, the leader), concurrent submits
  through the leader and through a follower, and batched submits of 50 tasks per request.

It prints a table and the API/raw ratios and can write everything as JSON (--json PATH).
Every loop is bounded by a count and a time cap; nothing asserts on timings.

    python bench/submit.py            # full run, a couple of minutes on 2 cores
    python bench/submit.py --quick    # CI smoke, well under a minute
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pysyncobj
from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated

from sniper_ha.config import RaftConfig
from sniper_ha.local_cluster import LocalCluster, free_port

TASK = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "80"}}
VALUE = "v" * 200  # the raw benchmark's payload, about the size of one encoded TaskSubmit


@dataclass(frozen=True)
class Plan:
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
    raw_pipe_total: int
    raw_pipe_window: int
    raw_pipe_cap: float
    warmup: int


FULL = Plan(seq_count=300, seq_cap=30.0, clients=32, conc_total=2000, conc_cap=40.0,
            batch_size=50, batch_clients=4, batch_count=60, batch_cap=40.0,
            raw_seq_count=300, raw_seq_cap=30.0, raw_pipe_total=20000, raw_pipe_window=1000,
            raw_pipe_cap=40.0, warmup=20)
QUICK = Plan(seq_count=60, seq_cap=6.0, clients=32, conc_total=300, conc_cap=8.0,
             batch_size=50, batch_clients=4, batch_count=12, batch_cap=8.0,
             raw_seq_count=60, raw_seq_cap=5.0, raw_pipe_total=3000, raw_pipe_window=1000,
             raw_pipe_cap=8.0, warmup=5)


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def summary(latencies: list[float], elapsed: float, errors: Counter[str],
            per_op: int = 1, attempted: int | None = None) -> dict[str, Any]:
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


# ---- raw pysyncobj -----------------------------------------------------------------------------


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
    """The SyncObjConf sniper_ha.raft.node.Replica builds, for the same RaftConfig."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return SyncObjConf(
        journalFile=str(data_dir / "raft.journal"),
        fullDumpFile=str(data_dir / "raft.snapshot"),
        appendEntriesPeriod=raft.append_entries_period,
        autoTickPeriod=raft.auto_tick_period,
        raftMinTimeout=raft.election_timeout_min,
        raftMaxTimeout=raft.election_timeout_max,
        leaderFallbackTimeout=raft.leader_fallback_timeout,
        connectionTimeout=raft.connection_timeout,
        connectionRetryTime=raft.connection_retry_time,
        logCompactionMinEntries=raft.log_compaction_min_entries,
        logCompactionMinTime=raft.log_compaction_min_time,
        commandsWaitLeader=False,
        password=raft.password,
    )


def raw_leader(nodes: list[Box], timeout: float) -> Box:
    """The leader once every node agrees on it and a commit through it succeeds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaders = [n for n in nodes if n._isLeader()]
        if len(leaders) == 1:
            addr = leaders[0].selfNode.address
            agreed = all((ld := n._getLeader()) is not None and ld.address == addr for n in nodes)
            if agreed:
                try:
                    leaders[0].put(VALUE, sync=True, timeout=2.0)
                    return leaders[0]
                except Exception:  # election still settling; try again
                    pass
        time.sleep(0.05)
    raise TimeoutError(f"raw pysyncobj cluster elected no leader within {timeout}s")


def raw_sequential(leader: Box, count: int, cap: float) -> dict[str, Any]:
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
        leader.put(VALUE, callback=callback)
        if not done.wait(5.0):
            errors["timeout"] += 1
        elif outcome[0] != FAIL_REASON.SUCCESS:
            errors[f"fail_reason_{outcome[0]}"] += 1
        else:
            latencies.append(time.perf_counter() - start)
    return summary(latencies, time.perf_counter() - t0, errors)


def raw_pipelined(leader: Box, total: int, window: int, cap: float) -> dict[str, Any]:
    """Up to `window` commands in flight; rate = successes / time to the last callback."""
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
        leader.put(VALUE, callback=callback)
        issued += 1
    drain_until = time.monotonic() + 10.0
    while time.monotonic() < drain_until:
        with lock:
            if state["finished"] >= issued:
                break
        time.sleep(0.002)
    with lock:
        ok, finished, last = int(state["ok"]), int(state["finished"]), float(state["last"])
    if finished < issued:
        errors["no_callback"] += issued - finished
    elapsed = (last - t0) if last else time.perf_counter() - t0
    return {
        "ok": ok,
        "attempted": issued,
        "window": window,
        "errors": dict(errors),
        "elapsed_s": round(elapsed, 3),
        "ops_per_s": round(ok / elapsed, 1) if elapsed > 0 else None,
    }


def run_raw(plan: Plan, raft: RaftConfig, base: Path) -> dict[str, Any]:
    addrs = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    nodes: list[Box] = []
    try:
        for i, addr in enumerate(addrs):
            others = [a for a in addrs if a != addr]
            nodes.append(Box(addr, others, raw_conf(raft, base / f"raw-{i}")))
        t0 = time.monotonic()
        leader = raw_leader(nodes, 30.0)
        elected_s = time.monotonic() - t0
        for _ in range(plan.warmup):
            leader.put(VALUE, sync=True, timeout=5.0)
        seq = raw_sequential(leader, plan.raw_seq_count, plan.raw_seq_cap)
        pipe = raw_pipelined(leader, plan.raw_pipe_total, plan.raw_pipe_window, plan.raw_pipe_cap)
        return {"leader_ready_s": round(elected_s, 3), "sequential": seq, "pipelined": pipe,
                "log_len_after": leader.getStatus()["log_len"], "applied_on_leader": leader.count}
    finally:
        for node in nodes:
            node.destroy()
        time.sleep(0.3)  # let the tick threads close their journals and sockets


# ---- the HTTP API ------------------------------------------------------------------------------


async def submit_one(session: aiohttp.ClientSession, url: str, token: str, body: Any) -> str:
    """'ok' for a 201 Created, else a short error label."""
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
    lead_url = cluster.api_urls[leader]
    follower = (leader + 1) % len(cluster.api_urls)
    foll_url = cluster.api_urls[follower]
    connector = aiohttp.TCPConnector(limit=max(plan.clients, plan.batch_clients))
    timeout = aiohttp.ClientTimeout(total=20.0)
    out: dict[str, Any] = {"leader": leader, "follower": follower}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for url in (lead_url, foll_url):  # warm the connections and both code paths
            for _ in range(plan.warmup):
                await submit_one(session, url, token, TASK)
        out["seq_follower"] = await api_sequential(session, foll_url, token,
                                                   plan.seq_count, plan.seq_cap)
        out["seq_leader"] = await api_sequential(session, lead_url, token,
                                                 plan.seq_count, plan.seq_cap)
        out["conc_leader"] = await api_concurrent(session, lead_url, token, TASK, plan.clients,
                                                  plan.conc_total, plan.conc_cap)
        out["conc_follower"] = await api_concurrent(session, foll_url, token, TASK, plan.clients,
                                                    plan.conc_total, plan.conc_cap)
        batch = {"tasks": [TASK] * plan.batch_size}
        out["batch_leader"] = await api_concurrent(session, lead_url, token, batch,
                                                   plan.batch_clients, plan.batch_count,
                                                   plan.batch_cap, per_op=plan.batch_size)
        out["batch_leader"]["batch_size"] = plan.batch_size
    return out


def log_findings(logs: Path) -> dict[str, Any]:
    """Counts of warning/error lines and Tracebacks in the replicas' logs, with a few samples."""
    counts: Counter[str] = Counter()
    samples: list[str] = []
    for path in sorted(logs.glob("node-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            for word in ("Traceback", "ERROR", "WARNING", "CRITICAL"):
                if word in line:
                    counts[word] += 1
                    if len(samples) < 8:
                        samples.append(f"{path.name}: {line.strip()[:200]}")
                    break
    return {"counts": dict(counts), "samples": samples}


def replica_views(cluster: LocalCluster) -> list[Any]:
    """Each replica's own view (role, term, leader_changes, commit index) or the failure."""
    views: list[Any] = []
    for url in cluster.api_urls:
        try:
            status, body = cluster.get(url, "/v1/cluster/self")
            views.append(body if status == 200 else {"http_status": status})
        except (OSError, ValueError) as exc:
            views.append({"error": type(exc).__name__})
    return views


def run_api(plan: Plan, base: Path) -> dict[str, Any]:
    cluster = LocalCluster(base / "cluster", replicas=3, workers=0)
    out: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        cluster.start(wait=60.0)
        leader = cluster.wait_for_leader(30.0)
        out["cluster_ready_s"] = round(time.monotonic() - t0, 3)
        out["replicas_before"] = replica_views(cluster)
        out.update(asyncio.run(api_phases(cluster, plan, leader)))
        out["leader_after"] = cluster.leader_index()
        out["replicas_after"] = replica_views(cluster)
    finally:
        cluster.stop()
        out["log_findings"] = log_findings(cluster.data_dir / "logs")
    return out


# ---- report ------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 3)


def fmt(value: Any, width: int) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:,.1f}".rjust(width)
    return str(value).rjust(width)


def report(result: dict[str, Any]) -> str:
    raw, api = result["raw"], result["api"]
    rows = [
        ("raw  sequential commit", raw["sequential"], "commits"),
        ("raw  pipelined commit", raw["pipelined"], "commits"),
        ("API  sequential via follower", api["seq_follower"], "submits"),
        ("API  sequential via leader", api["seq_leader"], "submits"),
        (f"API  {api['conc_leader']['clients']} clients via leader", api["conc_leader"], "submits"),
        (f"API  {api['conc_follower']['clients']} clients via follower", api["conc_follower"],
         "submits"),
        (f"API  batch x{api['batch_leader']['batch_size']}, {api['batch_leader']['clients']} "
         "clients via leader", api["batch_leader"], "tasks"),
    ]
    head = f"{'measurement':<44}{'ok/tried':>12}{'per s':>11}  {'unit':<8}{'p50 ms':>9}{'p99 ms':>9}  errors"
    lines = [head, "-" * len(head)]
    for name, r, unit in rows:
        rate = r.get("items_per_s", r["ops_per_s"])
        lines.append(
            f"{name:<44}{fmt(str(r['ok']) + '/' + str(r['attempted']), 12)}{fmt(rate, 11)}  "
            f"{unit:<8}{fmt(r.get('p50_ms'), 9)}{fmt(r.get('p99_ms'), 9)}  {r['errors'] or ''}"
        )
    lines.append("")
    for key, value in result["ratios"].items():
        lines.append(f"{key:<64}{'-' if value is None else f'{value:.3f}'}")
    lines.append("")
    terms = [[v.get("term") for v in api.get(k, []) if isinstance(v, dict)]
             for k in ("replicas_before", "replicas_after")]
    lines.append(f"API leader {api['leader']} before, {api.get('leader_after')} after; "
                 f"terms before {terms[0]}, after {terms[1]}")
    found = api["log_findings"]
    lines.append(f"replica log lines flagged: {found['counts'] or 'none'}")
    lines.extend(f"  {line}" for line in found["samples"])
    return "\n".join(lines)


def ratios(raw: dict[str, Any], api: dict[str, Any]) -> dict[str, float | None]:
    rs, rp = raw["sequential"], raw["pipelined"]
    return {
        "API seq latency (follower) / raw seq latency, p50": ratio(api["seq_follower"]["p50_ms"],
                                                                   rs["p50_ms"]),
        "API seq latency (follower) / raw seq latency, p99": ratio(api["seq_follower"]["p99_ms"],
                                                                   rs["p99_ms"]),
        "API concurrent commits/s (leader) / raw pipelined commits/s":
            ratio(api["conc_leader"]["ops_per_s"], rp["ops_per_s"]),
        "API concurrent commits/s (follower) / raw pipelined commits/s":
            ratio(api["conc_follower"]["ops_per_s"], rp["ops_per_s"]),
        "API batched tasks/s / raw pipelined commits/s":
            ratio(api["batch_leader"]["items_per_s"], rp["ops_per_s"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small run for CI smoke (< ~60 s)")
    parser.add_argument("--json", metavar="PATH", help="also write all numbers as JSON here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (cluster logs, journals) and print it")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    raft = RaftConfig()
    base = Path(tempfile.mkdtemp(prefix="sniper-ha-bench-"))
    started = time.monotonic()
    try:
        print(f"raw pysyncobj: 3 in-process nodes, timers {raft.model_dump(exclude={'password'})}",
              file=sys.stderr)
        raw = run_raw(plan, raft, base)
        print("API: starting a 3-replica LocalCluster (workers=0)", file=sys.stderr)
        api = run_api(plan, base)
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "plan": asdict(plan),
        "env": {"python": platform.python_version(), "pysyncobj": pysyncobj_version(),
                "cpus": os.cpu_count(), "platform": platform.platform()},
        "raft": raft.model_dump(exclude={"password"}),
        "raw": raw,
        "api": api,
        "ratios": ratios(raw, api),
        "wall_s": round(time.monotonic() - started, 1),
    }
    print(report(result))
    print(f"\nwall time {result['wall_s']} s ({result['mode']} run, {os.cpu_count()} CPUs)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


def pysyncobj_version() -> str:
    try:
        from importlib.metadata import version

        return version("pysyncobj")
    except Exception:
        return getattr(pysyncobj, "__version__", "unknown")


if __name__ == "__main__":
    sys.exit(main())
