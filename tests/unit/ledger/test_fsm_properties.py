"""Property tests for the ledger: random command sequences keep the store's invariants.

A hypothesis state machine applies random commands (valid ones built from the payload models
with `encode`, plus stale leases, replays of earlier commands and garbage) at increasing Raft
indexes, to the store under test and to a twin store. After every step it checks the indexes
against the records, the attempt bookkeeping, that terminal tasks are frozen, that the twin
has the same digest (determinism) and that a snapshot round trip rebuilds equal indexes.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sniper_ha.ledger import commands as c
from sniper_ha.ledger import fsm
from sniper_ha.ledger.state import ACTIVE, STATUSES, TERMINAL, StateStore

WORKERS = ["w1", "w2", "w3"]
TYPES = ["tcp_connect", "http_probe"]
KEYS = [None, "alice:k1", "alice:k2", "bob:k1"]
HASHES = ["h1", "h2"]
WRITE_HASHES = [None, "wA", "wB"]
KNOWN_OUTCOMES = {fsm.ACCEPTED, fsm.DUPLICATE, fsm.STALE_LEASE, fsm.NOT_FOUND, fsm.CONFLICT, fsm.REJECTED}

GARBAGE: list[Any] = [
    None,
    "task_submit",
    17,
    [],
    {},
    {"type": "task_teleport", "payload": {}},
    {"type": "task_submit"},
    {"type": "task_submit", "payload": None},
    {"type": "task_submit", "payload": {"tasks": [{"task_id": "g1"}], "now": 1}},
    {"type": "task_assign", "payload": {"assignments": [{"task_id": "t1"}], "now": 1}},
    {"type": "task_complete", "payload": {"task_id": "t1", "lease_id": "L1", "status": "succeeded"}},
    {"type": "task_cancel", "payload": {"task_id": "t1", "now": 1, "extra": 1}},
    {"type": "worker_status", "version": "x", "payload": {"worker_id": "w1", "status": "down", "now": 1}},
    {"type": "worker_register", "payload": {"worker_id": "w1", "now": 1}},
    {"type": "node_announce", "payload": {"raft": 1}},
]


def json_copy(data: Any) -> Any:
    return json.loads(json.dumps(data))


def pending_queue(store: StateStore) -> dict[int, list[str]]:
    """The ready queue in order: restored and twin replicas must dispatch in the same order."""
    return {prio: list(bucket) for prio, bucket in store.pending_by_priority.items()}


def check_indexes(store: StateStore) -> None:
    """Every derived index agrees with the task records."""
    placed: dict[str, str] = {}
    assert set(store.by_status) == set(STATUSES)
    for status, bucket in store.by_status.items():
        for tid in bucket:
            assert tid not in placed, f"{tid} in two status buckets"
            placed[tid] = status
    assert placed == {tid: t["status"] for tid, t in store.tasks.items()}

    pending: dict[str, int] = {}
    for prio, bucket in store.pending_by_priority.items():
        assert bucket, f"empty priority bucket {prio}"
        for tid in bucket:
            assert tid not in pending, f"{tid} in two priority buckets"
            pending[tid] = prio
    assert pending == {tid: t["priority"] for tid, t in store.tasks.items() if t["status"] == "pending"}
    order = store.pending_in_order()
    assert sorted(order) == sorted(pending)
    prios = [store.tasks[tid]["priority"] for tid in order]
    assert prios == sorted(prios, reverse=True)

    active: dict[str, set[str]] = {}
    for tid, t in store.tasks.items():
        if t["status"] in ACTIVE:
            active.setdefault(t["worker_id"], set()).add(tid)
    assert {w: set(bucket) for w, bucket in store.by_worker.items()} == active
    assert all(store.by_worker.values())

    assert store.counts() == {s: len(b) for s, b in store.by_status.items()}
    assert sum(store.counts().values()) == len(store.tasks)


def check_records(store: StateStore) -> None:
    for tid, t in store.tasks.items():
        assert t["id"] == tid
        attempts = t["attempts"]
        assert t["attempt"] == len(attempts)
        assert 0 <= t["attempt"] <= t["max_attempts"]
        assert [a["attempt"] for a in attempts] == list(range(1, len(attempts) + 1))
        wins = [a for a in attempts if a["outcome"] == "succeeded"]
        if t["status"] == "succeeded":
            assert len(wins) == 1
            assert attempts[-1]["outcome"] == "succeeded"
            assert attempts[-1]["lease_id"] == t["lease_id"]
        else:
            assert wins == []
        # Every attempt but the last is closed as failed or lost.
        for a in attempts[:-1]:
            assert a["outcome"] in ("failed", "lost"), (tid, attempts)
        if t["status"] in ACTIVE:
            last = attempts[-1]
            assert last["outcome"] is None
            assert last["lease_id"] == t["lease_id"]
            assert last["worker_id"] == t["worker_id"]
            assert store.workers[t["worker_id"]]["status"] != "down"
        elif t["status"] == "pending":
            assert t["lease_id"] is None
            assert t["worker_id"] is None
            assert all(a["outcome"] in ("failed", "lost") for a in attempts)
            assert t["attempt"] < t["max_attempts"]
        elif t["status"] == "failed":
            assert t["attempt"] == t["max_attempts"]
            assert all(a["outcome"] in ("failed", "lost") for a in attempts)
            assert t["error"].startswith(f"gave up after {t['attempt']} attempts")
        if t["status"] in TERMINAL:
            assert t["finished_at"] is not None
        else:
            assert t["finished_at"] is None
        assert t["create_index"] <= t["modify_index"] <= store.applied_index
    seqs = sorted((t["seq"], t["create_index"]) for t in store.tasks.values())
    # Sequences are unique and below next_seq; retention may leave gaps.
    assert len({seq for seq, _ in seqs}) == len(seqs)
    assert all(1 <= seq < store.next_seq for seq, _ in seqs)
    creates = [create for _, create in seqs]
    assert creates == sorted(creates)
    for key, entry in store.idempotency.items():
        assert entry["task_ids"]
        # Retention removes purged tasks from their key, and a key left empty.
        for tid in entry["task_ids"]:
            assert tid in store.tasks
            assert store.tasks[tid]["idempotency_key"] == key


def check_round_trip(store: StateStore) -> None:
    for restored in (
        StateStore.from_snapshot(store.to_snapshot()),
        StateStore.from_snapshot(json_copy(store.to_snapshot())),
    ):
        assert restored.digest() == store.digest()
        assert restored.applied_index == store.applied_index
        assert restored.next_seq == store.next_seq
        assert restored.by_status == store.by_status
        assert restored.by_worker == store.by_worker
        assert pending_queue(restored) == pending_queue(store)
        assert restored.pending_in_order() == store.pending_in_order()
        assert sorted(restored.pending_in_order()) == sorted(store.pending_in_order())
        assert restored.counts() == store.counts()
        assert restored.list_tasks(None, 0, 10**6) == store.list_tasks(None, 0, 10**6)
        check_indexes(restored)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = StateStore()
        self.twin = StateStore()
        self.index = 0
        self.now = 1_000.0
        self.serial = 0
        self.task_ids: list[str] = []
        self.leases: list[tuple[str, str]] = []
        self.history: list[dict[str, Any]] = []
        self.frozen: dict[str, dict[str, Any]] = {}

    # ---- plumbing ------------------------------------------------------------------------

    def fresh(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial}"

    def clock(self) -> float:
        self.now += 0.5
        return self.now

    def send(self, command: Any, gap: int = 1) -> fsm.Outcome:
        self.index += gap
        pristine = copy.deepcopy(command)
        out = fsm.apply(self.store, command, self.index)
        assert command == pristine, "apply mutated its command"
        twin_out = fsm.apply(self.twin, copy.deepcopy(command), self.index)
        assert out.kind in KNOWN_OUTCOMES
        assert (out.kind, out.reason) == (twin_out.kind, twin_out.reason)
        if isinstance(command, dict) and command.get("type") in {t.value for t in c.CommandType}:
            self.history.append(copy.deepcopy(command))
        return out

    def encode(self, ctype: c.CommandType, payload: c.Payload) -> dict[str, Any]:
        return c.encode(ctype, payload)

    def pick_task(self, data: st.DataObject) -> str:
        """Mostly a known task id, sometimes one that does not exist."""
        if not self.task_ids or data.draw(st.integers(0, 9), label="ghost task") == 0:
            return "ghost"
        return data.draw(st.sampled_from(self.task_ids))

    def pick_lease(self, data: st.DataObject) -> tuple[str, str]:
        """Mostly a current lease; else one ever issued (often stale) or a forged one."""
        current = [(tid, t["lease_id"]) for tid, t in self.store.tasks.items() if t["status"] in ACTIVE]
        kind = data.draw(
            st.sampled_from(["current", "current", "current", "issued", "forged"]), label="lease"
        )
        if kind == "current" and current:
            return data.draw(st.sampled_from(current))
        if kind != "forged" and self.leases:
            return data.draw(st.sampled_from(self.leases))
        return self.pick_task(data), "forged"

    # ---- rules ---------------------------------------------------------------------------

    @initialize()
    def start_with_a_worker(self) -> None:
        self.send(
            self.encode(
                c.CommandType.WORKER_REGISTER,
                c.WorkerRegister(worker_id="w1", name="w1", max_concurrent_tasks=2, now=self.clock()),
            )
        )

    @rule(
        worker=st.sampled_from(WORKERS),
        caps=st.lists(st.sampled_from(TYPES), max_size=2),
        slots=st.integers(1, 3),
    )
    def register(self, worker: str, caps: list[str], slots: int) -> None:
        payload = c.WorkerRegister(
            worker_id=worker, name=worker, capabilities=caps, max_concurrent_tasks=slots, now=self.clock()
        )
        self.send(self.encode(c.CommandType.WORKER_REGISTER, payload))

    @rule(
        worker=st.sampled_from([*WORKERS, "ghost"]),
        status=st.sampled_from(["ready", "down", "down", "draining", "asleep"]),
    )
    def worker_status(self, worker: str, status: str) -> None:
        payload = c.WorkerStatusChange(worker_id=worker, status=status, reason="test", now=self.clock())
        self.send(self.encode(c.CommandType.WORKER_STATUS, payload))

    @rule(
        worker=st.sampled_from([*WORKERS, "ghost"]),
        action=st.sampled_from(["drain", "shutdown", "resume", "resume", "explode"]),
    )
    def worker_control(self, worker: str, action: str) -> None:
        payload = c.WorkerControl(worker_id=worker, action=action, by="op", now=self.clock())
        self.send(self.encode(c.CommandType.WORKER_CONTROL, payload))

    @rule(worker=st.sampled_from([*WORKERS, "ghost"]), cpu=st.floats(0, 100))
    def worker_resources(self, worker: str, cpu: float) -> None:
        payload = c.WorkerResources(worker_id=worker, resources={"cpu_percent": cpu}, now=self.clock())
        self.send(self.encode(c.CommandType.WORKER_RESOURCES, payload))

    @rule(data=st.data())
    def submit(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(1, 3), label="batch size")
        ids = [self.fresh("t") for _ in range(n)]
        if self.task_ids and data.draw(st.booleans(), label="reuse an existing id"):
            ids[-1] = data.draw(st.sampled_from(self.task_ids))
        tasks = [
            c.NewTask(
                task_id=tid,
                type=data.draw(st.sampled_from(TYPES)),
                target="10.0.0.1",
                params={"ports": "22"},
                priority=data.draw(st.integers(0, 3)),
                max_attempts=data.draw(st.integers(1, 3)),
            )
            for tid in ids
        ]
        key = data.draw(st.sampled_from(KEYS), label="idempotency key")
        payload = c.TaskSubmit(
            tasks=tasks,
            idempotency_key=key,
            request_hash=None if key is None else data.draw(st.sampled_from(HASHES)),
            submitted_by="alice",
            now=self.clock(),
        )
        out = self.send(self.encode(c.CommandType.TASK_SUBMIT, payload))
        if out.kind == fsm.ACCEPTED:
            self.task_ids.extend(ids)
            assert all(self.store.tasks[t]["status"] == "pending" for t in ids)

    @rule(data=st.data())
    def assign(self, data: st.DataObject) -> None:
        n = data.draw(st.integers(1, 3), label="assignments")
        now = self.clock()
        triples = [
            (self.pick_task(data), data.draw(st.sampled_from([*WORKERS, "ghost"])), self.fresh("L"))
            for _ in range(n)
        ]
        payload = c.TaskAssign(
            assignments=[
                c.Assignment(task_id=t, worker_id=w, lease_id=lease, expires_at=now + 30)
                for t, w, lease in triples
            ],
            now=now,
        )
        was_pending = {t for t, _, _ in triples if self.store.tasks.get(t, {}).get("status") == "pending"}
        out = self.send(self.encode(c.CommandType.TASK_ASSIGN, payload))
        granted = {t["id"] for t in out.value}
        assert granted <= was_pending
        assert len(out.value) + len(out.extra["refused"]) == n
        for t, _, lease in triples:
            if t in granted and self.store.tasks[t]["lease_id"] == lease:
                self.leases.append((t, lease))

    @precondition(lambda self: self.store.pending_in_order())
    @rule(data=st.data())
    def assign_pending(self, data: st.DataObject) -> None:
        """Assign like the dispatcher would: pending tasks in order to ready, undrained workers."""
        ready = [w for w, rec in self.store.workers.items()
                 if rec["status"] == "ready" and not rec.get("control")]
        if not ready:
            return
        now = self.clock()
        todo = self.store.pending_in_order()[: data.draw(st.integers(1, 3))]
        assignments = [
            c.Assignment(
                task_id=tid,
                worker_id=data.draw(st.sampled_from(ready)),
                lease_id=self.fresh("L"),
                expires_at=now + 30,
            )
            for tid in todo
        ]
        out = self.send(
            self.encode(c.CommandType.TASK_ASSIGN, c.TaskAssign(assignments=assignments, now=now))
        )
        assert out.extra["refused"] == []
        for a in assignments:
            self.leases.append((a.task_id, a.lease_id))

    @rule(data=st.data(), progress=st.none() | st.floats(0, 1))
    def start(self, data: st.DataObject, progress: float | None) -> None:
        tid, lease = self.pick_lease(data)
        before = self.store.tasks.get(tid, {}).get("lease_id")
        out = self.send(
            self.encode(
                c.CommandType.TASK_START,
                c.TaskStart(task_id=tid, lease_id=lease, progress=progress, now=self.clock()),
            )
        )
        if out.kind == fsm.ACCEPTED:
            assert lease == before
            assert self.store.tasks[tid]["status"] == "running"

    @rule(
        data=st.data(),
        status=st.sampled_from(["succeeded", "succeeded", "failed", "failed", "cancelled", "lost"]),
    )
    def complete(self, data: st.DataObject, status: str) -> None:
        tid, lease = self.pick_lease(data)
        write_hash = data.draw(st.sampled_from(WRITE_HASHES), label="write hash")
        task = self.store.tasks.get(tid)
        current = task is not None and task["lease_id"] == lease and task["status"] in ACTIVE
        payload = c.TaskComplete(
            task_id=tid,
            lease_id=lease,
            status=status,
            result={"open": [22]},
            error="boom",
            write_hash=write_hash,
            now=self.clock(),
        )
        out = self.send(self.encode(c.CommandType.TASK_COMPLETE, payload))
        if out.kind == fsm.ACCEPTED:
            assert current
        if current and status in ("succeeded", "failed"):
            assert out.kind == fsm.ACCEPTED
        if status == "cancelled":
            # Only an acknowledgement of a cancelled lease: never changes the ledger.
            assert out.kind in (fsm.DUPLICATE, fsm.CONFLICT, fsm.NOT_FOUND)
            return
        if status not in ("succeeded", "failed"):
            assert out.kind == fsm.REJECTED
        elif task is not None and not current:
            assert out.kind in (fsm.DUPLICATE, fsm.STALE_LEASE, fsm.CONFLICT)
        if out.kind == fsm.CONFLICT:
            assert write_hash is not None
            recorded = [x.get("write_hash") for x in task["attempts"] if x["lease_id"] == lease]
            assert recorded and recorded[-1] not in (None, write_hash)

    @precondition(lambda self: any(t["status"] in ACTIVE for t in self.store.tasks.values()))
    @rule(data=st.data(), status=st.sampled_from(["succeeded", "failed"]))
    def finish_active(self, data: st.DataObject, status: str) -> None:
        """A worker reports the result of a task it currently holds."""
        current = [(tid, t["lease_id"]) for tid, t in self.store.tasks.items() if t["status"] in ACTIVE]
        tid, lease = data.draw(st.sampled_from(current))
        attempt = self.store.tasks[tid]["attempt"]
        write_hash = data.draw(st.sampled_from(WRITE_HASHES), label="write hash")
        payload = c.TaskComplete(
            task_id=tid, lease_id=lease, status=status, error="boom", write_hash=write_hash, now=self.clock()
        )
        assert self.send(self.encode(c.CommandType.TASK_COMPLETE, payload)).kind == fsm.ACCEPTED
        task = self.store.tasks[tid]
        assert task["attempts"][attempt - 1]["outcome"] == status
        if status == "succeeded":
            assert task["status"] == "succeeded"
        else:
            assert task["status"] == ("failed" if attempt == task["max_attempts"] else "pending")

    @rule(data=st.data(), results_only=st.booleans())
    def purge(self, data: st.DataObject, results_only: bool) -> None:
        ids = data.draw(st.lists(st.sampled_from(self.task_ids or ["none"]), max_size=3))
        before = {t: self.store.tasks[t]["status"] for t in ids if t in self.store.tasks}
        payload = c.TaskPurge(task_ids=ids, results_only=results_only, now=self.clock())
        self.send(self.encode(c.CommandType.TASK_PURGE, payload))
        for task_id, status in before.items():
            kept = task_id in self.store.tasks
            # Only finished tasks are ever purged; a purge never touches live work.
            assert kept or (not results_only and status in TERMINAL)

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        tid = self.pick_task(data)
        out = self.send(self.encode(c.CommandType.TASK_CANCEL, c.TaskCancel(task_id=tid, now=self.clock())))
        if tid in self.store.tasks:
            assert self.store.tasks[tid]["status"] in TERMINAL
            assert out.kind in (fsm.ACCEPTED, fsm.DUPLICATE, fsm.CONFLICT)
        else:
            assert out.kind == fsm.NOT_FOUND

    @rule(data=st.data())
    def expire(self, data: st.DataObject) -> None:
        tid, lease = self.pick_lease(data)
        task = self.store.tasks.get(tid)
        current = task is not None and task["lease_id"] == lease and task["status"] in ACTIVE
        payload = c.TaskExpire(task_id=tid, lease_id=lease, now=self.clock())
        out = self.send(self.encode(c.CommandType.TASK_EXPIRE, payload))
        assert out.kind == (fsm.ACCEPTED if current else fsm.STALE_LEASE)

    @rule(raft=st.sampled_from(["n1:7001", "n2:7002"]), api=st.sampled_from(["a:1", "a:2"]))
    def announce(self, raft: str, api: str) -> None:
        self.send(self.encode(c.CommandType.NODE_ANNOUNCE, c.NodeAnnounce(raft=raft, api=api)))

    @rule(command=st.sampled_from(GARBAGE), gap=st.integers(1, 3))
    def garbage(self, command: Any, gap: int) -> None:
        before = self.store.digest()
        out = self.send(copy.deepcopy(command), gap=gap)
        assert out.kind == fsm.REJECTED
        assert self.store.digest() == before

    @precondition(lambda self: self.history)
    @rule(data=st.data())
    def newer_version(self, data: st.DataObject) -> None:
        command = copy.deepcopy(data.draw(st.sampled_from(self.history)))
        command["version"] = 2
        before = self.store.digest()
        assert self.send(command).kind == fsm.REJECTED
        assert self.store.digest() == before

    @precondition(lambda self: self.history)
    @rule(data=st.data(), gap=st.integers(1, 3))
    def replay(self, data: st.DataObject, gap: int) -> None:
        """Deliver an earlier command again (a retried request) at a later index."""
        self.send(copy.deepcopy(data.draw(st.sampled_from(self.history))), gap=gap)

    @rule()
    def restart_twin_from_snapshot(self) -> None:
        """The twin becomes a replica restored from a serialized snapshot; it must keep in step."""
        self.twin = StateStore.from_snapshot(json_copy(self.store.to_snapshot()))

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def indexes_match_records(self) -> None:
        check_indexes(self.store)

    @invariant()
    def records_are_consistent(self) -> None:
        check_records(self.store)

    @invariant()
    def terminal_tasks_are_frozen(self) -> None:
        """A finished task never changes, except that retention may drop its result or the
        whole record."""
        for tid, record in list(self.frozen.items()):
            now = self.store.tasks.get(tid)
            if now is None:
                del self.frozen[tid]
                continue
            if now.get("result_purged_at") is not None and "result_purged_at" not in record:
                assert now["result"] is None
                record = self.frozen[tid] = copy.deepcopy(now)
            assert now == record, f"terminal task {tid} changed"
        for tid, task in self.store.tasks.items():
            if task["status"] in TERMINAL and tid not in self.frozen:
                self.frozen[tid] = copy.deepcopy(task)

    @invariant()
    def replicas_agree(self) -> None:
        assert self.twin.digest() == self.store.digest()
        assert self.twin.applied_index == self.store.applied_index
        assert self.twin.by_status == self.store.by_status
        assert self.twin.by_worker == self.store.by_worker
        assert pending_queue(self.twin) == pending_queue(self.store)

    @invariant()
    def snapshot_round_trip(self) -> None:
        check_round_trip(self.store)


LedgerMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLedgerMachine = LedgerMachine.TestCase


# ---- whole sequences -------------------------------------------------------------------------


@st.composite
def command_sequences(draw: st.DrawFn) -> list[Any]:
    """A flat sequence of commands over a small id space, so that many of them collide."""
    tids = ["t1", "t2", "t3", "t4"]
    leases = ["L1", "L2", "L3", "L4", "L5"]
    now = st.floats(0, 1e6, allow_nan=False)
    one = st.one_of(
        st.builds(
            lambda w, n: c.encode(
                c.CommandType.WORKER_REGISTER, c.WorkerRegister(worker_id=w, name=w, now=n)
            ),
            st.sampled_from(WORKERS),
            now,
        ),
        st.builds(
            lambda w, s, n: c.encode(
                c.CommandType.WORKER_STATUS, c.WorkerStatusChange(worker_id=w, status=s, now=n)
            ),
            st.sampled_from(WORKERS),
            st.sampled_from(["ready", "down", "draining"]),
            now,
        ),
        st.builds(
            lambda ids, p, m, k, n: c.encode(
                c.CommandType.TASK_SUBMIT,
                c.TaskSubmit(
                    tasks=[
                        c.NewTask(task_id=t, type="tcp_connect", target="h", priority=p, max_attempts=m)
                        for t in ids
                    ],
                    idempotency_key=k,
                    request_hash="h" if k else None,
                    now=n,
                ),
            ),
            st.lists(st.sampled_from(tids), min_size=1, max_size=2, unique=True),
            st.integers(0, 2),
            st.integers(1, 3),
            st.sampled_from(KEYS),
            now,
        ),
        st.builds(
            lambda t, w, lease, n: c.encode(
                c.CommandType.TASK_ASSIGN,
                c.TaskAssign(
                    assignments=[c.Assignment(task_id=t, worker_id=w, lease_id=lease, expires_at=n)], now=n
                ),
            ),
            st.sampled_from(tids),
            st.sampled_from(WORKERS),
            st.sampled_from(leases),
            now,
        ),
        st.builds(
            lambda t, lease, n: c.encode(
                c.CommandType.TASK_START, c.TaskStart(task_id=t, lease_id=lease, now=n)
            ),
            st.sampled_from(tids),
            st.sampled_from(leases),
            now,
        ),
        st.builds(
            lambda t, lease, s, h, n: c.encode(
                c.CommandType.TASK_COMPLETE,
                c.TaskComplete(task_id=t, lease_id=lease, status=s, write_hash=h, now=n),
            ),
            st.sampled_from(tids),
            st.sampled_from(leases),
            st.sampled_from(["succeeded", "failed"]),
            st.sampled_from(WRITE_HASHES),
            now,
        ),
        st.builds(
            lambda t, n: c.encode(c.CommandType.TASK_CANCEL, c.TaskCancel(task_id=t, now=n)),
            st.sampled_from(tids),
            now,
        ),
        st.builds(
            lambda t, lease, n: c.encode(
                c.CommandType.TASK_EXPIRE, c.TaskExpire(task_id=t, lease_id=lease, now=n)
            ),
            st.sampled_from(tids),
            st.sampled_from(leases),
            now,
        ),
        st.sampled_from(GARBAGE),
    )
    return draw(st.lists(one, max_size=60))


@settings(max_examples=150, deadline=None)
@given(commands=command_sequences(), cut=st.integers(0, 60))
def test_same_sequence_gives_same_digest_and_restore_midway_converges(commands: list[Any], cut: int) -> None:
    first, second = StateStore(), StateStore()
    kinds_first, kinds_second = [], []
    for index, command in enumerate(commands, start=1):
        kinds_first.append(fsm.apply(first, copy.deepcopy(command), index).kind)
    for index, command in enumerate(commands, start=1):
        kinds_second.append(fsm.apply(second, copy.deepcopy(command), index).kind)
    assert kinds_first == kinds_second
    assert first.digest() == second.digest()

    # A replica that restores a snapshot taken after `cut` commands and applies the rest
    # ends up with the same state.
    cut = min(cut, len(commands))
    early = StateStore()
    for index, command in enumerate(commands[:cut], start=1):
        fsm.apply(early, copy.deepcopy(command), index)
    restored = StateStore.from_snapshot(json_copy(early.to_snapshot()))
    for index, command in enumerate(commands[cut:], start=cut + 1):
        fsm.apply(restored, copy.deepcopy(command), index)
    assert restored.digest() == first.digest()
    check_indexes(first)
    check_records(first)
    check_indexes(restored)
    check_round_trip(first)
