"""Nemeses: each injects one kind of fault and heals it. They act only on processes the
harness started (by PID) and on links of its own proxy mesh."""

from __future__ import annotations

import glob
import random
import shutil
import signal
import time
from dataclasses import dataclass, field

from chaos.harness import ChaosCluster


@dataclass
class Ctx:
    cluster: ChaosCluster
    rng: random.Random
    #: Undo actions recorded by inject, run by heal.
    undo: list = field(default_factory=list)

    def leader(self, timeout: float = 30.0) -> int:
        return self.cluster.wait_for_leader(timeout)

    def alive_replicas(self) -> list[int]:
        return [i for i, p in enumerate(self.cluster.nodes) if p.alive()]


class Skipped(Exception):
    """The nemesis could not be injected for a reason that says nothing about the cluster
    (e.g. leadership moved to the replica it meant to wipe); the run notes it and goes on."""


class Nemesis:
    name = "nemesis"
    #: Whether the fault can take writes away (failover time is reported for these).
    disruptive = True

    def inject(self, ctx: Ctx) -> str:
        raise NotImplementedError

    def heal(self, ctx: Ctx) -> None:
        while ctx.undo:
            ctx.undo.pop()()


class KillLeader(Nemesis):
    name = "kill_leader"

    def inject(self, ctx: Ctx) -> str:
        i = ctx.leader()
        ctx.cluster.kill_node(i)
        ctx.undo.append(lambda: ctx.cluster.start_node(i))
        return f"kill -9 leader node-{i}"


class KillReplica(Nemesis):
    name = "kill_replica"

    def inject(self, ctx: Ctx) -> str:
        i = ctx.rng.choice(ctx.alive_replicas())
        ctx.cluster.kill_node(i)
        ctx.undo.append(lambda: ctx.cluster.start_node(i))
        return f"kill -9 node-{i}"


class KillWorker(Nemesis):
    name = "kill_worker"
    disruptive = False

    def inject(self, ctx: Ctx) -> str:
        alive = [j for j, p in enumerate(ctx.cluster.agents) if p.alive()]
        j = ctx.rng.choice(alive)
        ctx.cluster.agents[j].kill()
        ctx.undo.append(lambda: ctx.cluster.add_worker(j))
        return f"kill -9 worker-{j}"


class PauseLeader(Nemesis):
    name = "pause_leader"

    def inject(self, ctx: Ctx) -> str:
        i = ctx.leader()
        proc = ctx.cluster.nodes[i]
        proc.signal(signal.SIGSTOP)
        ctx.undo.append(lambda: proc.signal(signal.SIGCONT))
        return f"SIGSTOP leader node-{i}"


class PartitionLeader(Nemesis):
    name = "partition_leader"

    def inject(self, ctx: Ctx) -> str:
        i = ctx.leader()
        ctx.cluster.isolate(i)
        ctx.undo.append(ctx.cluster.heal)
        return f"isolate leader node-{i}"


class PartitionHalves(Nemesis):
    name = "partition_halves"

    def inject(self, ctx: Ctx) -> str:
        n = ctx.cluster.replicas
        nodes = list(range(n))
        ctx.rng.shuffle(nodes)
        minority, majority = nodes[: (n - 1) // 2], nodes[(n - 1) // 2:]
        for a in minority:
            for b in majority:
                ctx.cluster.cut(a, b)
        ctx.undo.append(ctx.cluster.heal)
        return f"partition {sorted(minority)} | {sorted(majority)}"


class Ring(Nemesis):
    """Partial connectivity: the leader loses one peer but every node still sees a majority."""

    name = "ring"

    def inject(self, ctx: Ctx) -> str:
        i = ctx.leader()
        others = [j for j in range(ctx.cluster.replicas) if j != i]
        j = ctx.rng.choice(others)
        ctx.cluster.cut(i, j)
        ctx.undo.append(ctx.cluster.heal)
        return f"cut link node-{i} <-> node-{j} only"


class OneWay(Nemesis):
    """The leader hears everyone but what it sends is held (one-way loss)."""

    name = "one_way"

    def inject(self, ctx: Ctx) -> str:
        i = ctx.leader()
        for j in range(ctx.cluster.replicas):
            if j != i:
                ctx.cluster.cut(i, j, both=False)
        ctx.undo.append(ctx.cluster.heal)
        return f"cut everything node-{i} sends (one-way)"


class Delay(Nemesis):
    """Delay with jitter on every link; spikes model loss and retransmission."""

    name = "delay"
    disruptive = False

    def inject(self, ctx: Ctx) -> str:
        desc = ctx.cluster.slow_links(ctx.rng)
        ctx.undo.append(ctx.cluster.heal)
        return desc


class RestartReplica(Nemesis):
    """A graceful restart of one replica from its data dir."""

    name = "restart_replica"

    def inject(self, ctx: Ctx) -> str:
        i = ctx.rng.choice(ctx.alive_replicas())
        ctx.cluster.nodes[i].stop()
        ctx.cluster.start_node(i)
        return f"restart node-{i} from its data dir"


class RollingRestart(Nemesis):
    name = "rolling_restart"

    def inject(self, ctx: Ctx) -> str:
        order = list(range(ctx.cluster.replicas))
        for i in order:
            ctx.cluster.nodes[i].stop()
            ctx.cluster.start_node(i)
            ctx.leader(30)
            time.sleep(1.0)
        return f"rolling restart of {len(order)} replicas"


class WipeReplica(Nemesis):
    """A replica loses its disk: it is removed from the group, wiped, added back through a
    membership change and starts empty (restarting it wiped without that could let it vote
    twice in a term)."""

    name = "wipe_replica"

    def inject(self, ctx: Ctx) -> str:
        cluster = ctx.cluster
        leader = ctx.leader()
        i = ctx.rng.choice([j for j in ctx.alive_replicas() if j != leader])
        raft = cluster.raft_addrs[i]
        cluster.kill_node(i)
        for _ in range(5):  # the leader may move; the victim is dead, so it cannot be it
            leader = ctx.leader()
            try:
                status, body = cluster.call("DELETE", f"/v1/cluster/members/{raft}",
                                            url=cluster.api_urls[leader], timeout=20)
            except OSError as exc:
                status, body = None, str(exc)
            if status == 200:
                break
            time.sleep(0.5)
        else:
            cluster.start_node(i)
            raise Skipped(f"could not remove node-{i}: {status} {body}")
        shutil.rmtree(cluster.data_dir / f"node-{i}", ignore_errors=True)

        def add_back() -> None:
            for _ in range(10):
                now_leader = ctx.leader()
                try:
                    status, _ = cluster.call("POST", "/v1/cluster/members", {"raft": raft},
                                             url=cluster.api_urls[now_leader], timeout=20)
                except OSError:
                    status = None
                if status in (201, 409):
                    break
                time.sleep(1.0)
            cluster.start_node(i)

        ctx.undo.append(add_back)
        return f"wipe node-{i}: removed from the group, data dir deleted"


class WorkerClockJump(Nemesis):
    """A worker whose wall clock jumps by an hour (libfaketime). Lease expiry is decided by the
    leader's clock alone and the worker times its scans with a monotonic clock, so nothing may
    change: no lost lease, no double result. Needs Debian's faketime; skipped without it."""

    name = "worker_clock_jump"
    disruptive = False

    def inject(self, ctx: Ctx) -> str:
        lib = _libfaketime()
        if lib is None:
            return "skipped: libfaketime is not installed"
        alive = [j for j, p in enumerate(ctx.cluster.agents) if p.alive()]
        j = ctx.rng.choice(alive)
        offset = ctx.rng.choice(["+1h", "-1h"])
        ctx.cluster.agents[j].stop()
        # env execs in place (the faketime wrapper forks, which would hide the worker's pid).
        ctx.cluster.add_worker(j, prefix=["env", f"LD_PRELOAD={lib}", f"FAKETIME={offset}"])

        def restore() -> None:
            ctx.cluster.agents[j].stop()
            ctx.cluster.add_worker(j)

        ctx.undo.append(restore)
        return f"worker-{j} restarted with its clock {offset}"


def _libfaketime() -> str | None:
    for path in glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") + glob.glob(
            "/usr/lib/faketime/libfaketimeMT.so.1"):
        return path
    return None


NEMESES: dict[str, type[Nemesis]] = {
    cls.name: cls
    for cls in (KillLeader, KillReplica, KillWorker, PauseLeader, PartitionLeader,
                PartitionHalves, Ring, OneWay, Delay, RestartReplica, RollingRestart,
                WipeReplica, WorkerClockJump)
}
