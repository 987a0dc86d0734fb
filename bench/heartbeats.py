#!/usr/bin/env python
"""Cost of worker heartbeats on sniper-ha's leader: CPU, latency and Raft entries per heartbeat.

One run, on 127.0.0.1 only, against a real 3-replica LocalCluster (workers=0, a temp dir),
whose API is served over TLS (the cluster CA; worker routes demand its client certificate)
unless --no-tls:

1. an idle phase of --seconds with no workers and no heartbeats: the Raft entries/s and the CPU
   the replicas use with nothing to do (the baseline);
2. N simulated workers register through POST /v1/workers (the join token, bounded
   concurrency); each answer carries that worker's own credential;
3. a heartbeat phase of --seconds right after: one asyncio process (aiohttp, one shared
   connector) sends each worker's heartbeat, with that worker's credential, once per
   workers.heartbeat_interval, spread evenly
   over the interval, to the leader (or, with --round-robin, over all replicas: followers
   forward to the leader).

The idle phase runs before registration on purpose: registered workers that send no heartbeat
are declared down after heartbeat_interval * heartbeat_ttl_multiplier, which would put status
transitions into the baseline. It prints heartbeats sent/ok/failed, latency, the leader's and
the followers' CPU share, the Raft entries/s in both phases and how many are heartbeat-caused,
the workers that went down, and the client's own CPU share (it shares the machine). Every loop
is bounded by a count and a time cap; nothing asserts on timings.

    python bench/heartbeats.py            # 5000 workers, 5 s interval, 30 s phases
    python bench/heartbeats.py --quick    # smoke: 1000 workers, 10 s phases
    python bench/heartbeats.py --no-tls   # the API over plain HTTP, to see what TLS costs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import ssl
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from submit import aiohttp_ssl, log_findings, ms, pct, replica_views

from sniper_ha.config import RaftConfig, WorkersConfig
from sniper_ha.local_cluster import LocalCluster


@dataclass(frozen=True)
class Plan:
    workers: int
    seconds: float
    interval: float
    round_robin: bool
    register_concurrency: int
    connections: int
    register_cap: float
    #: The API over TLS (LocalCluster's default); False with --no-tls.
    tls: bool = True
    #: How often the leader's commit index is sampled during both phases.
    sample_period: float = 1.0
    ttl_multiplier: float = field(default_factory=lambda: WorkersConfig().heartbeat_ttl_multiplier)


# ---- measuring -----------------------------------------------------------------------------------


class Cpu:
    """user+system CPU seconds of the replica processes and of this (client) process."""

    def __init__(self, pids: list[int]) -> None:
        self.procs = [psutil.Process(pid) for pid in pids]
        self.me = psutil.Process()

    @staticmethod
    def _seconds(proc: psutil.Process) -> float | None:
        try:
            t = proc.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return None

    def snapshot(self) -> dict[str, Any]:
        psutil.cpu_percent(interval=None)  # resets the machine-wide counter at phase start
        return {"t": time.monotonic(), "replicas": [self._seconds(p) for p in self.procs],
                "client": self._seconds(self.me)}

    def share(self, before: dict[str, Any]) -> dict[str, Any]:
        """% of one core per process over the time since `before`, and the machine's busy %."""
        machine = psutil.cpu_percent(interval=None)
        after = self.snapshot()
        elapsed = after["t"] - before["t"]

        def pct_core(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None or elapsed <= 0 else round(100 * (b - a) / elapsed, 1)

        return {
            "elapsed_s": round(elapsed, 2),
            "replicas_pct_core": [pct_core(a, b) for a, b in
                                  zip(before["replicas"], after["replicas"], strict=True)],
            "client_pct_core": pct_core(before["client"], after["client"]),
            "machine_pct_all_cores": machine,
        }


async def raft_indexes(session: aiohttp.ClientSession, url: str) -> dict[str, Any] | None:
    """The replica's commit/applied index from GET /readyz (the same counters as
    /v1/cluster/self). /v1/cluster/self is not polled: it hashes the whole ledger state on
    each call (state_digest), which with thousands of workers stalls the replica's loop and
    would show up in the heartbeat latency it is meant to observe."""
    try:
        async with session.get(url + "/readyz") as resp:
            return await resp.json() if resp.status in (200, 503) else None
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return None


async def sample_commits(url: str, tls: ssl.SSLContext | bool, period: float, until: float,
                         out: list[tuple[float, int]]) -> None:
    """(monotonic time, leader commit_index) every `period` until `until` (bounded count)."""
    timeout = aiohttp.ClientTimeout(total=max(0.5, period))
    connector = aiohttp.TCPConnector(limit=2, ssl=tls)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for _ in range(int((until - time.monotonic()) / period) + 3):
            view = await raft_indexes(session, url)
            if view is not None and "commit_index" in view:
                out.append((time.monotonic(), int(view["commit_index"])))
            left = until - time.monotonic()
            if left <= 0:
                break
            await asyncio.sleep(min(period, left))


async def self_view_cost(url: str, token: str, tls: ssl.SSLContext | bool,
                         count: int = 5) -> dict[str, Any]:
    """Latency of GET /v1/cluster/self (it computes the state digest), sequential, after the load."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls),
                                     timeout=aiohttp.ClientTimeout(total=10.0)) as session:
        for _ in range(count):
            start = time.perf_counter()
            try:
                async with session.get(url + "/v1/cluster/self", headers=headers) as resp:
                    await resp.read()
                    if resp.status == 200:
                        latencies.append(time.perf_counter() - start)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
    return {"ok": len(latencies), "p50_ms": ms(pct(latencies, 50)),
            "max_ms": ms(max(latencies) if latencies else None)}


def raft_rate(samples: list[tuple[float, int]]) -> dict[str, Any]:
    if len(samples) < 2:
        return {"entries": None, "seconds": None, "entries_per_s": None, "timeline": []}
    (t0, c0), (t1, c1) = samples[0], samples[-1]
    return {
        "entries": c1 - c0,
        "seconds": round(t1 - t0, 2),
        "entries_per_s": round((c1 - c0) / (t1 - t0), 2) if t1 > t0 else None,
        # entries per sampling period, to see when they happen (first interval or steady state)
        "timeline": [b[1] - a[1] for a, b in zip(samples, samples[1:], strict=False)],
    }


async def idle_phase(cluster: LocalCluster, leader: int, tls: ssl.SSLContext | bool, cpu: Cpu,
                     plan: Plan) -> dict[str, Any]:
    samples: list[tuple[float, int]] = []
    before = cpu.snapshot()
    await sample_commits(cluster.api_urls[leader], tls, plan.sample_period,
                         time.monotonic() + plan.seconds, samples)
    return {"cpu": cpu.share(before), "raft": raft_rate(samples)}


# ---- simulated workers ---------------------------------------------------------------------------


def worker_id(i: int) -> str:
    return f"bench-w-{i:05d}"


def resources(i: int) -> dict[str, float]:
    """About what the real agent reports (sniper_ha.agent.worker.resources), varied per worker."""
    return {"cpu_percent": float(i % 100), "memory_percent": 40.0 + i % 20,
            "memory_available_mb": 2048.0 + i % 512, "net_bytes_sent": 1e6 + i,
            "net_bytes_recv": 2e6 + i}


def error_label(status: int, payload: bytes) -> str:
    try:
        code = json.loads(payload).get("error", {}).get("code", "")
    except (ValueError, AttributeError):
        code = ""
    return f"http_{status}" + (f"_{code}" if code else "")


async def register_all(session: aiohttp.ClientSession, url: str, token: str,
                       plan: Plan) -> dict[str, Any]:
    """Register plan.workers workers with at most plan.register_concurrency in flight, with the
    join token `token`.

    Returns the ids in the order their registration completed (the heartbeat schedule follows
    it, so no worker waits much longer than the others for its first heartbeat), and each
    worker's own credential from the answer: every later call of that worker must use it."""
    headers = {"Authorization": f"Bearer {token}"}
    done: list[str] = []
    credentials: dict[str, str] = {}
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    deadline = time.monotonic() + plan.register_cap
    next_index = 0

    async def client() -> None:
        nonlocal next_index
        while next_index < plan.workers and time.monotonic() < deadline:
            i = next_index
            next_index += 1
            body = {"worker_id": worker_id(i), "name": worker_id(i), "max_concurrent_tasks": 2,
                    "capabilities": ["tcp_connect"], "resources": resources(i)}
            start = time.perf_counter()
            try:
                async with session.post(url + "/v1/workers", json=body, headers=headers) as resp:
                    payload = await resp.read()
                    if resp.status in (200, 201):
                        took = time.perf_counter() - start
                        credential = json.loads(payload).get("credential")
                        if not credential:
                            errors["no_credential"] += 1
                            continue
                        latencies.append(took)
                        credentials[worker_id(i)] = credential
                        done.append(worker_id(i))
                    else:
                        errors[error_label(resp.status, payload)] += 1
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                errors[type(exc).__name__] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(plan.register_concurrency)))
    elapsed = time.perf_counter() - t0
    return {"ids": done, "credentials": credentials, "ok": len(done), "attempted": next_index,
            "errors": dict(errors),
            "elapsed_s": round(elapsed, 2),
            "per_s": round(len(done) / elapsed, 1) if elapsed > 0 else None,
            "p50_ms": ms(pct(latencies, 50)), "p99_ms": ms(pct(latencies, 99))}


async def heartbeat_phase(cluster: LocalCluster, leader: int, tls: ssl.SSLContext | bool,
                          ids: list[str], credentials: dict[str, str], cpu: Cpu,
                          plan: Plan) -> dict[str, Any]:
    """Open-loop heartbeats: worker k of n at offset k/n * interval, then once per interval.

    The schedule has a fixed count (n per interval over the phase). At most plan.connections
    requests are in flight; when the cluster or the client falls behind, heartbeats start late
    (the lag is measured) and those not started by the end of the phase are counted unsent."""
    n = len(ids)
    urls = cluster.api_urls if plan.round_robin else [cluster.api_urls[leader]]
    # Each worker authenticates as itself: its own credential, only on its own routes.
    headers = {wid: {"Authorization": f"Bearer {credentials[wid]}",
                     "Content-Type": "application/json"} for wid in ids}
    bodies = {wid: json.dumps({"running_tasks": [], "resources": resources(i)}).encode()
              for i, wid in enumerate(ids)}
    per_round = n
    rounds = int(plan.seconds / plan.interval + 0.999999)
    step = plan.interval / n if n else plan.interval
    latencies: list[float] = []
    first_round: list[float] = []  # latencies of heartbeats started in the first interval
    later: list[float] = []  # and of the others
    lags: list[float] = []
    errors: Counter[str] = Counter()
    answered: Counter[str] = Counter()  # the worker status in the answer
    commands = 0
    in_flight: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(plan.connections)
    timeout = aiohttp.ClientTimeout(total=min(10.0, 2 * plan.interval))
    connector = aiohttp.TCPConnector(limit=plan.connections, ssl=tls)
    samples: list[tuple[float, int]] = []
    sent = 0
    planned = sum(min(n, max(0, math.ceil((plan.seconds - r * plan.interval) / step)))
                  for r in range(rounds)) if n else 0

    async def beat(session: aiohttp.ClientSession, url: str, wid: str, first: bool) -> None:
        nonlocal commands
        start = time.perf_counter()
        try:
            async with session.post(f"{url}/v1/workers/{wid}/heartbeat", data=bodies[wid],
                                    headers=headers[wid]) as resp:
                payload = await resp.read()
                if resp.status == 200:
                    latencies.append(time.perf_counter() - start)
                    (first_round if first else later).append(latencies[-1])
                    answer = json.loads(payload)
                    answered[str(answer.get("status"))] += 1
                    commands += len(answer.get("commands") or ())
                else:
                    errors[error_label(resp.status, payload)] += 1
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            errors[type(exc).__name__] += 1
        finally:
            slots.release()

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        before = cpu.snapshot()
        t0 = time.monotonic()
        end = t0 + plan.seconds
        sampler = asyncio.create_task(sample_commits(cluster.api_urls[leader], tls,
                                                     plan.sample_period, end, samples))
        for r in range(rounds):
            for k in range(per_round):
                due = t0 + r * plan.interval + k * step
                if due >= end:
                    break
                now = time.monotonic()
                if due > now:
                    await asyncio.sleep(due - now)
                # due < end: it may still start a little after `end` if no slot is free
                left = max(0.01, end - time.monotonic())
                try:
                    await asyncio.wait_for(slots.acquire(), left)
                except asyncio.TimeoutError:
                    break
                lags.append(time.monotonic() - due)
                task = asyncio.create_task(beat(session, urls[sent % len(urls)], ids[k], r == 0))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                sent += 1
            if time.monotonic() >= end:
                break
        # bounded drain: every request has its own total timeout
        if in_flight:
            await asyncio.wait(set(in_flight), timeout=timeout.total + 1.0)
        for task in list(in_flight):
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        elapsed = time.monotonic() - t0
        await sampler
        used = cpu.share(before)
    return {
        "workers": n, "targets": len(urls), "planned": planned, "sent": sent,
        "not_sent": planned - sent, "ok": len(latencies), "failed": sum(errors.values()),
        "errors": dict(errors), "answered_status": dict(answered), "commands_received": commands,
        "elapsed_s": round(elapsed, 2),
        "offered_per_s": round(n / plan.interval, 1),
        "sent_per_s": round(sent / plan.seconds, 1),
        "ok_per_s": round(len(latencies) / plan.seconds, 1),
        "p50_ms": ms(pct(latencies, 50)), "p99_ms": ms(pct(latencies, 99)),
        "max_ms": ms(max(latencies) if latencies else None),
        "first_interval": {"ok": len(first_round), "p50_ms": ms(pct(first_round, 50)),
                           "p99_ms": ms(pct(first_round, 99)),
                           "max_ms": ms(max(first_round) if first_round else None)},
        "after_first_interval": {"ok": len(later), "p50_ms": ms(pct(later, 50)),
                                 "p99_ms": ms(pct(later, 99)),
                                 "max_ms": ms(max(later) if later else None)},
        "start_lag_p99_ms": ms(pct(lags, 99)), "start_lag_max_ms": ms(max(lags) if lags else None),
        "cpu": used, "raft": raft_rate(samples),
    }


async def worker_statuses(cluster: LocalCluster, leader: int,
                          tls: ssl.SSLContext | bool) -> dict[str, Any]:
    timeout = aiohttp.ClientTimeout(total=30.0)
    headers = {"Authorization": f"Bearer {cluster.admin_token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls),
                                     timeout=timeout) as session:
        try:
            async with session.get(cluster.api_urls[leader] + "/v1/workers", headers=headers) as resp:
                if resp.status != 200:
                    return {"error": f"http_{resp.status}"}
                rows = (await resp.json())["workers"]
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            return {"error": type(exc).__name__}
    mine = [w for w in rows if str(w.get("id", "")).startswith("bench-w-")]
    return {
        "total": len(mine),
        "by_status": dict(Counter(str(w.get("status")) for w in mine)),
        # workers with last_seen_at set: WORKER_REGISTER sets it as well as WORKER_RESOURCES, so
        # this counts registered workers, not resource reports (the key keeps its old name)
        "resource_snapshots_in_ledger": sum(1 for w in mine if w.get("last_seen_at")),
    }


async def run_phases(cluster: LocalCluster, leader: int, plan: Plan) -> dict[str, Any]:
    pids = [p.pid for p in cluster.nodes]
    assert all(pid is not None for pid in pids)
    cpu = Cpu([int(pid) for pid in pids if pid is not None])
    tls = aiohttp_ssl(cluster)  # one context (CA + client certificate) for every session
    out: dict[str, Any] = {"leader": leader, "tls": cluster.tls}
    await asyncio.sleep(1.0)  # let the start-up entries (barrier, announcements) settle
    print(f"idle phase: {plan.seconds:.0f} s, no workers ...", file=sys.stderr, flush=True)
    out["idle"] = await idle_phase(cluster, leader, tls, cpu, plan)
    print(f"registering {plan.workers} workers ...", file=sys.stderr, flush=True)
    connector = aiohttp.TCPConnector(limit=plan.register_concurrency, ssl=tls)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=20.0)) as session:
        before = cpu.snapshot()
        reg = await register_all(session, cluster.api_urls[leader], cluster.worker_token, plan)
        reg["cpu"] = cpu.share(before)
    ids, credentials = reg.pop("ids"), reg.pop("credentials")
    out["register"] = reg
    print(f"heartbeat phase: {plan.seconds:.0f} s, {len(ids)} workers every {plan.interval:g} s "
          f"via {'all replicas' if plan.round_robin else 'the leader'} ...", file=sys.stderr, flush=True)
    out["heartbeats"] = await heartbeat_phase(cluster, leader, tls, ids, credentials, cpu, plan)
    out["workers_after"] = await worker_statuses(cluster, leader, tls)
    out["self_view_cost"] = await self_view_cost(cluster.api_urls[leader], cluster.admin_token, tls)
    return out


def run(plan: Plan, base: Path) -> dict[str, Any]:
    # api.rate_limit off: every registration uses the one join token, and the default limit
    # (200/s, burst 400, per token and replica) would turn most of a fast registration into 429s.
    # Heartbeats are not affected either way: each worker's credential has its own bucket.
    config = {"workers": {"heartbeat_interval": plan.interval}, "api": {"rate_limit": None}}
    cluster = LocalCluster(base / "cluster", replicas=3, workers=0, config=config, tls=plan.tls)
    out: dict[str, Any] = {"cluster_config": config}
    try:
        t0 = time.monotonic()
        cluster.start(wait=60.0)
        leader = cluster.wait_for_leader(30.0)
        out["cluster_ready_s"] = round(time.monotonic() - t0, 2)
        out["replicas_before"] = replica_views(cluster)
        out.update(asyncio.run(run_phases(cluster, leader, plan)))
        out["leader_after"] = cluster.leader_index()

        try:  # the project's own check: same state digest at the same ledger index
            out["agree"] = cluster.wait_converged(10.0)["replicas"] == cluster.replicas
        except TimeoutError:
            out["agree"] = False
        out["replicas_after"] = replica_views(cluster)
    finally:
        cluster.stop()
        logs = sorted((cluster.data_dir / "logs").glob("node-*.log"))
        out["log_findings"] = log_findings(logs)
        out["log_counts"] = count_log_lines(logs)
    return out


def count_log_lines(paths: list[Path]) -> dict[str, int]:
    """INFO lines the heartbeat monitor writes: status transitions and dropped bookkeeping."""
    counts: Counter[str] = Counter()
    for path in paths:
        if path.exists():
            for line in path.read_text(errors="replace").splitlines():
                if " is down: " in line:
                    counts["worker_down"] += 1
                elif " is ready: " in line:
                    counts["worker_ready_again"] += 1
                elif "heartbeat bookkeeping not committed" in line:
                    counts["bookkeeping_not_committed"] += 1
    return dict(counts)


# ---- report --------------------------------------------------------------------------------------


def derived(plan: Plan, api: dict[str, Any]) -> dict[str, Any]:
    hb, idle = api["heartbeats"], api["idle"]
    idle_rate = idle["raft"]["entries_per_s"] or 0.0
    hb_rate = hb["raft"]["entries_per_s"]
    extra = None if hb_rate is None else round(hb_rate - idle_rate, 2)
    caused = None if extra is None or hb["raft"]["seconds"] is None else round(extra * hb["raft"]["seconds"])
    timeline = hb["raft"]["timeline"]
    per_interval = max(1, round(plan.interval / plan.sample_period))
    first, rest = timeline[:per_interval], timeline[per_interval:]
    reports = hb["workers"] / WorkersConfig().resource_report_interval
    return {
        "resource_reports_per_s": round(reports, 2),
        "resource_reports_per_heartbeat": (round(reports / hb["offered_per_s"], 4)
                                           if hb["offered_per_s"] else None),
        "heartbeat_caused_entries_per_s": extra,
        "heartbeat_caused_entries": caused,
        "entries_per_heartbeat": (round(hb_rate / hb["ok_per_s"], 4)
                                  if hb_rate is not None and hb["ok_per_s"] else None),
        "entries_per_heartbeat_excess": (round(extra / hb["ok_per_s"], 4)
                                         if extra is not None and hb["ok_per_s"] else None),
        "entries_first_interval": sum(first) if first else None,
        "entries_per_s_after_first_interval": (round(sum(rest) / (len(rest) * plan.sample_period), 2)
                                               if rest else None),
        "sustained_vs_offered": (round(hb["ok_per_s"] / hb["offered_per_s"], 3)
                                 if hb["offered_per_s"] else None),
    }


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def report(result: dict[str, Any]) -> str:
    plan, api, d = result["plan"], result["api"], result["derived"]
    hb, idle, reg = api["heartbeats"], api["idle"], api["register"]
    fi, af = hb["first_interval"], hb["after_first_interval"]
    leader = api["leader"]

    def cpu_line(cpu: dict[str, Any]) -> str:
        reps = cpu["replicas_pct_core"]
        foll = [c for i, c in enumerate(reps) if i != leader]
        known = [c for c in [*reps, cpu["client_pct_core"]] if c is not None]
        other = cpu["machine_pct_all_cores"] * (result["env"]["cpus"] or 1) - sum(known)
        return (f"leader {fmt(reps[leader])} %, followers {' / '.join(fmt(c) for c in foll)} %, "
                f"client {fmt(cpu['client_pct_core'])} %, other processes {fmt(max(0.0, other))} % "
                f"of one core; machine {fmt(cpu['machine_pct_all_cores'])} % of "
                f"{result['env']['cpus']} cores")

    target = "all replicas (round-robin)" if plan["round_robin"] else "leader"
    lines = [
        f"workers: {reg['ok']}/{reg['attempted']} registered in {reg['elapsed_s']} s "
        f"({fmt(reg['per_s'])}/s, p50 {fmt(reg['p50_ms'])} ms, p99 {fmt(reg['p99_ms'])} ms, "
        f"{plan['register_concurrency']} concurrent) {reg['errors'] or ''}",
        f"heartbeat interval {plan['interval']:g} s, TTL {plan['interval'] * plan['ttl_multiplier']:g} s, "
        f"phase {plan['seconds']:g} s, target: {target}, "
        f"{plan['connections']} connections, "
        f"{'HTTPS (cluster CA, client certificate)' if plan['tls'] else 'plain HTTP'}, "
        "per-token rate limit off",
        "",
        f"heartbeats planned {hb['planned']}, sent {hb['sent']}, ok {hb['ok']}, failed {hb['failed']}"
        f"{', not sent ' + str(hb['not_sent']) if hb['not_sent'] else ''}  {hb['errors'] or ''}",
        f"  answered status: {hb['answered_status']}, commands received: {hb['commands_received']}",
        f"  latency ms: p50 {fmt(hb['p50_ms'])}, p99 {fmt(hb['p99_ms'])}, max {fmt(hb['max_ms'])}; "
        f"client start lag p99 {fmt(hb['start_lag_p99_ms'])} ms, max {fmt(hb['start_lag_max_ms'])} ms",
        f"  first interval ({fi['ok']} ok): p50 {fmt(fi['p50_ms'])}, p99 {fmt(fi['p99_ms'])}, "
        f"max {fmt(fi['max_ms'])} ms; after it ({af['ok']} ok): p50 {fmt(af['p50_ms'])}, "
        f"p99 {fmt(af['p99_ms'])}, max {fmt(af['max_ms'])} ms",
        f"  offered {fmt(hb['offered_per_s'])}/s, sent {fmt(hb['sent_per_s'])}/s, "
        f"sustained (ok) {fmt(hb['ok_per_s'])}/s = {fmt(d['sustained_vs_offered'])} of offered",
        "",
        f"CPU idle phase:      {cpu_line(idle['cpu'])}",
        f"CPU register phase:  {cpu_line(reg['cpu'])}",
        f"CPU heartbeat phase: {cpu_line(hb['cpu'])}",
        "",
        f"Raft entries on the leader: idle {idle['raft']['entries']} in {idle['raft']['seconds']} s "
        f"({fmt(idle['raft']['entries_per_s'])}/s); heartbeat phase {hb['raft']['entries']} in "
        f"{hb['raft']['seconds']} s ({fmt(hb['raft']['entries_per_s'])}/s)",
        f"  heartbeat-caused: {fmt(d['heartbeat_caused_entries'])} entries "
        f"({fmt(d['heartbeat_caused_entries_per_s'])}/s); first interval {d['entries_first_interval']}, "
        f"after it {fmt(d['entries_per_s_after_first_interval'])}/s",
        f"  per {plan['sample_period']:g} s: {hb['raft']['timeline']}",
        f"  Raft entries/s / heartbeats/s: {d['entries_per_heartbeat']} "
        f"(heartbeat-caused only: {d['entries_per_heartbeat_excess']}; goal: near 0)",
        f"  long-run floor from resource reports: {hb['workers']} workers / "
        f"{result['workers_config']['resource_report_interval']:g} s = "
        f"{fmt(d['resource_reports_per_s'])} entries/s = {d['resource_reports_per_heartbeat']} "
        "per heartbeat (the first round is due one interval after registration; a shorter "
        "phase sees none of it)",
        "",
    ]
    wa = api["workers_after"]
    if "error" in wa:
        lines.append(f"GET /v1/workers failed: {wa['error']}")
    else:
        lines.append(f"workers after the run: {wa['by_status']} of {wa['total']} "
                     f"(down: {wa['by_status'].get('down', 0)}; expect 0); "
                     f"with last_seen_at (set by registration too): {wa['resource_snapshots_in_ledger']}")
    sv = api["self_view_cost"]
    lines.append(f"GET /v1/cluster/self on the leader afterwards (hashes the whole state): "
                 f"p50 {fmt(sv['p50_ms'])} ms, max {fmt(sv['max_ms'])} ms over {sv['ok']} calls")
    lines.append(f"monitor log lines: {api['log_counts'] or 'none'}")
    terms = [[v.get("term") for v in api[k]] for k in ("replicas_before", "replicas_after")]
    lines.append(f"leader {leader} -> {api['leader_after']}, terms {terms[0]} -> {terms[1]}, "
                 f"replicas agree: {api['agree']}, raft log length "
                 f"{[v.get('log_len') for v in api['replicas_after']]}")
    found = api["log_findings"]
    lines.append(f"replica log lines flagged: {found['counts'] or 'none'}")
    lines.extend(f"  {line}" for line in found["samples"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1000 workers, 10 s phases")
    parser.add_argument("--workers", type=int, metavar="N", help="simulated workers (default 5000)")
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="length of the idle and the heartbeat phase (default 30)")
    parser.add_argument("--interval", type=float, default=5.0, metavar="S",
                        help="workers.heartbeat_interval (default 5)")
    parser.add_argument("--round-robin", action="store_true",
                        help="send heartbeats over all replicas (followers forward) instead of the leader")
    parser.add_argument("--connections", type=int, default=64, metavar="N",
                        help="connector limit = max heartbeats in flight (default 64)")
    parser.add_argument("--register-concurrency", type=int, default=32, metavar="N",
                        help="registrations in flight (default 32)")
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON to PATH")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (replica logs) and print its path")
    parser.add_argument("--no-tls", action="store_true",
                        help="serve the API over plain HTTP (LocalCluster(tls=False)) to compare TLS cost")
    args = parser.parse_args(argv)
    workers = args.workers if args.workers is not None else (1000 if args.quick else 5000)
    seconds = args.seconds if args.seconds is not None else (10.0 if args.quick else 30.0)
    if not 1 <= workers <= 50_000:
        parser.error("--workers must be 1-50000")
    if not 1.0 <= seconds <= 600.0:
        parser.error("--seconds must be 1-600")
    if not 0.5 <= args.interval <= 120.0:
        parser.error("--interval must be 0.5-120")
    if not 1 <= args.connections <= 1024 or not 1 <= args.register_concurrency <= 256:
        parser.error("--connections must be 1-1024 and --register-concurrency 1-256")
    plan = Plan(workers=workers, seconds=seconds, interval=args.interval, round_robin=args.round_robin,
                register_concurrency=args.register_concurrency, connections=args.connections,
                register_cap=max(30.0, workers / 50), tls=not args.no_tls)
    base = Path(tempfile.mkdtemp(prefix="sniper-ha-bench-hb-"))
    started = time.monotonic()
    try:
        print(f"3-replica LocalCluster, workers=0, {'https' if plan.tls else 'http'} ...",
              file=sys.stderr, flush=True)
        api = run(plan, base)
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "plan": asdict(plan),
        "env": {"python": platform.python_version(), "pysyncobj": version("pysyncobj"),
                "aiohttp": aiohttp.__version__, "psutil": psutil.__version__, "cpus": os.cpu_count(),
                "platform": platform.platform()},
        "raft": RaftConfig().model_dump(exclude={"password"}),
        "workers_config": WorkersConfig(heartbeat_interval=plan.interval).model_dump(),
        "api": api,
    }
    result["derived"] = derived(plan, api)
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(report(result))
    print(f"\n{result['mode']} run, {plan.workers} workers, API over {'https' if plan.tls else 'http'}, "
          f"{os.cpu_count()} CPUs, "
          f"wall time {result['wall_s']} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
