"""`python -m chaos run`: start a chaos cluster, run the workload under a nemesis schedule,
settle, collect every replica's final state, check, report. Exit status 1 on any violation."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from chaos import netns, report
from chaos.checker import ReplicaState, Violation, check
from chaos.harness import CHAOS_CONFIG, ChaosCluster
from chaos.history import History
from chaos.nemesis import NEMESES, Ctx, Nemesis, Skipped
from chaos.netns import Lab
from chaos.workload import Workload

PROFILES: dict[str, dict[str, Any]] = {
    # Every nemesis once, in a fixed order: the bounded profile CI runs.
    "ci": {"fault_s": 6.0, "recover_s": 4.0, "warmup_s": 3.0, "clients": 4},
    # A random schedule for --minutes.
    "soak": {"fault_s": 8.0, "recover_s": 6.0, "warmup_s": 3.0, "clients": 4},
}
SETTLE_TIMEOUT = 180.0


def _listeners(n: int) -> list[int]:
    """Scan targets: TCP listeners on 127.0.0.1 that this run owns."""
    ports = []
    for _ in range(n):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(256)
        ports.append(sock.getsockname()[1])

        def accept(s: socket.socket = sock) -> None:
            while True:
                try:
                    conn, _ = s.accept()
                except OSError:
                    return
                conn.close()

        threading.Thread(target=accept, daemon=True).start()
    return ports


def schedule(profile: str, minutes: float, rng: random.Random) -> list[Nemesis]:
    if profile == "ci":
        return [cls() for cls in NEMESES.values()]
    cfg = PROFILES[profile]
    per_fault = cfg["fault_s"] + cfg["recover_s"]
    count = max(1, int(minutes * 60 / per_fault))
    kinds = list(NEMESES.values())
    return [rng.choice(kinds)() for _ in range(count)]


def collect(cluster: ChaosCluster) -> tuple[list[ReplicaState], bool]:
    """Every replica's state, read locally (stale=true), at one common ledger index; False
    when the ledger never stood still long enough (itself a finding: nothing should be
    proposing once clients and workers stopped)."""
    states: list[ReplicaState] = []
    for _ in range(20):
        same = cluster.wait_converged(60)
        states = []
        for url in cluster.api_urls:
            _, view = cluster.get(url, "/v1/cluster/self")
            tasks: dict[str, Any] = {}
            cursor = 0
            for _page in range(10_000):
                _, page = cluster.call(
                    "GET", f"/v1/tasks?stale=true&view=full&limit=1000&cursor={cursor}", url=url)
                tasks.update({t["id"]: t for t in page["tasks"]})
                if page["next_cursor"] is None:
                    break
                cursor = page["next_cursor"]
            states.append(ReplicaState(view["raft"], view["ledger_index"], view["state_digest"],
                                       tasks))
        if cluster.converged() == same:
            return states, True
        time.sleep(0.5)
    return states, False


def settle(cluster: ChaosCluster, ctx: Ctx) -> None:
    """Heal everything, bring every process back, and let the queue drain."""
    cluster.heal()
    for i, proc in enumerate(cluster.nodes):
        if not proc.alive():
            cluster.start_node(i)
    for j, proc in enumerate(cluster.agents):
        if not proc.alive():
            cluster.add_worker(j)
    leader = cluster.wait_for_leader(60)
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        _, page = cluster.call("GET", "/v1/tasks?limit=1", url=cluster.api_urls[leader])
        counts = page.get("counts", {}) if isinstance(page, dict) else {}
        if counts and not any(counts.get(s) for s in ("pending", "assigned", "running")):
            return
        time.sleep(1.0)
        leader = cluster.wait_for_leader(60)
    print("warning: tasks still unfinished after the settle period", file=sys.stderr)


async def run(profile: str, minutes: float, seed: int, out: Path, replicas: int,
              workers: int, lab: Lab | None = None) -> int:
    cfg = PROFILES[profile]
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    print(f"chaos: profile {profile}, seed {seed} (replay with --seed {seed}), artifacts in {out}")
    ports = _listeners(2)
    cluster = ChaosCluster(out / "cluster", replicas=replicas, workers=workers, worker_slots=2,
                           config=CHAOS_CONFIG, seed=seed, mode="netns" if lab else "proxy",
                           lab=lab)
    history = History(out / "history.jsonl")
    started = time.monotonic()
    faults: list[dict[str, Any]] = []
    try:
        await asyncio.to_thread(cluster.start)
        how = ("replicas in network namespaces behind a bridge, faults by iptables" if lab
               else "Raft links behind fault-injecting proxies on loopback")
        print(f"chaos: mode {cluster.mode} ({how})")
        ctx = Ctx(cluster, rng)
        workload = Workload(history, cluster.api_urls, cluster.admin_token, ports,
                            clients=cfg["clients"], seed=seed, ssl_context=cluster.client_ssl())
        running = asyncio.create_task(workload.run())
        await asyncio.sleep(cfg["warmup_s"])
        for nemesis in schedule(profile, minutes, rng):
            start = history.now()
            history.record(process="nemesis", type="invoke", f="nemesis", value=nemesis.name)
            try:
                desc = await asyncio.to_thread(nemesis.inject, ctx)
            except TimeoutError as exc:
                # The nemesis needed a leader and the cluster had none: a liveness failure.
                desc = f"not injected: {exc}"
                history.record(process="nemesis", type="fail", f="nemesis", value=nemesis.name,
                               error=str(exc))
            except Skipped as exc:
                desc = f"skipped: {exc}"
                history.record(process="nemesis", type="info", f="nemesis", value=desc)
            except Exception as exc:  # a harness problem: keep the run, say it loudly
                desc = f"nemesis error: {type(exc).__name__}: {exc}"
                print(f"chaos: {desc}", file=sys.stderr)
                history.record(process="nemesis", type="info", f="nemesis", value=desc)
            else:
                history.record(process="nemesis", type="ok", f="nemesis", value=desc)
            print(f"  {start:7.1f}s  {nemesis.name:17s} {desc}")
            await asyncio.sleep(cfg["fault_s"])
            await asyncio.to_thread(nemesis.heal, ctx)
            history.record(process="nemesis", type="info", f="nemesis", value=f"healed {nemesis.name}")
            faults.append({"name": nemesis.name, "desc": desc, "start": round(start, 3),
                           "end": round(history.now(), 3)})
            await asyncio.sleep(cfg["recover_s"])
        workload.stop_at = history.now()
        await running
        await asyncio.to_thread(settle, cluster, ctx)
        for proc in cluster.agents:
            proc.stop()
        states, settled = await asyncio.to_thread(collect, cluster)
        (out / "states.json").write_text(json.dumps([s.__dict__ for s in states]))
        verdict = check(history.ops, states)
        if not settled:
            verdict.violations.append(Violation(
                "unsettled", "the ledger kept changing after clients and workers stopped"))
        meta = {"profile": profile, "seed": seed, "mode": cluster.mode, "replicas": replicas,
                "workers": workers, "clients": cfg["clients"],
                "duration_s": round(time.monotonic() - started, 1)}
        summary = report.summarize(meta, history.ops, faults, verdict)
        report.write(out, summary, history.ops)
        print(report.markdown(summary))
        if not verdict.ok:
            print(f"chaos: FAILED; history, summary and every process log are in {out}",
                  file=sys.stderr)
        return 0 if verdict.ok else 1
    finally:
        await asyncio.to_thread(cluster.stop)
        history.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos")
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run a chaos profile")
    r.add_argument("--profile", choices=sorted(PROFILES), default="ci")
    r.add_argument("--minutes", type=float, default=20.0, help="soak length")
    r.add_argument("--seed", type=int, default=None)
    r.add_argument("--out", type=Path, default=None)
    r.add_argument("--replicas", type=int, default=3)
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--mode", choices=["auto", "netns", "proxy"], default="auto",
                   help="auto: netns when root with ip and iptables, else proxy")
    r.add_argument("--inside-lab", type=int, default=None, help=argparse.SUPPRESS)
    c = sub.add_parser("check", help="check a recorded run again (history.jsonl + states.json)")
    c.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "check":
        ops = History.load(args.dir / "history.jsonl")
        states = [ReplicaState(**s) for s in json.loads((args.dir / "states.json").read_text())]
        verdict = check(ops, states)
        for v in verdict.violations:
            print(f"{v.rule}: {v.detail} (ops {v.ops[:5]})")
        print(json.dumps(verdict.stats))
        return 0 if verdict.ok else 1
    if args.replicas < 3 or args.workers < 1 or args.minutes <= 0:
        parser.error("needs --replicas >= 3, --workers >= 1 and --minutes > 0")
    seed = args.seed if args.seed is not None else random.randrange(1, 2**31)
    out = (args.out or Path("artifacts") / f"chaos-{args.profile}-{seed}").resolve()
    if args.inside_lab is not None:  # the re-executed runner, inside the bridge namespace
        lab = Lab(args.replicas, owner_pid=args.inside_lab)
        return asyncio.run(run(args.profile, args.minutes, seed, out, args.replicas,
                               args.workers, lab))
    mode = args.mode
    if mode in ("auto", "netns"):
        why_not = netns.available()
        if why_not is not None:
            if mode == "netns":
                parser.error(f"netns mode is not available: {why_not}")
            print(f"chaos: netns mode not available ({why_not}); using proxy mode")
            mode = "proxy"
        else:
            mode = "netns"
    if mode == "proxy":
        return asyncio.run(run(args.profile, args.minutes, seed, out, args.replicas, args.workers))
    return run_in_lab(args, seed, out)


def run_in_lab(args: argparse.Namespace, seed: int, out: Path) -> int:
    """Create the namespaces, run this same command inside the bridge namespace, and remove
    every namespace (with its veths and rules) afterwards, whatever happened."""
    lab = Lab(args.replicas)
    try:
        lab.create()
        argv = [*lab.exec_prefix(lab.bridge_ns), sys.executable, "-m", "chaos", "run",
                "--profile", args.profile, "--minutes", str(args.minutes), "--seed", str(seed),
                "--out", str(out), "--replicas", str(args.replicas), "--workers",
                str(args.workers), "--inside-lab", str(os.getpid())]
        child = subprocess.Popen(argv, cwd=os.getcwd())
        try:
            return child.wait()
        except BaseException:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(60)
            except subprocess.TimeoutExpired:
                child.kill()
            raise
    finally:
        lab.destroy()
