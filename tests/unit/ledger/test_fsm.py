"""Example-based tests for the deterministic ledger apply function (sniper_ha.ledger.fsm)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from sniper_ha.ledger import commands as c
from sniper_ha.ledger import fsm
from sniper_ha.ledger.state import StateStore

NOW = 1_700_000_000.0


class Ledger:
    """A store plus a Raft-like index counter, with one helper per command type."""

    def __init__(self) -> None:
        self.store = StateStore()
        self.index = 0
        self.now = NOW

    def raw(self, command: Any) -> fsm.Outcome:
        self.index += 1
        return fsm.apply(self.store, command, self.index)

    def clock(self) -> float:
        self.now += 1.0
        return self.now

    def apply(self, ctype: c.CommandType, payload: c.Payload, version: int = 1) -> fsm.Outcome:
        return self.raw(c.encode(ctype, payload, version))

    def announce(self, raft: str = "127.0.0.1:7001", api: str = "127.0.0.1:8001") -> fsm.Outcome:
        return self.apply(c.CommandType.NODE_ANNOUNCE, c.NodeAnnounce(raft=raft, api=api))

    def register(self, worker_id: str = "w1", **kw: Any) -> fsm.Outcome:
        kw.setdefault("name", worker_id)
        return self.apply(
            c.CommandType.WORKER_REGISTER, c.WorkerRegister(worker_id=worker_id, now=self.clock(), **kw)
        )

    def worker_status(self, worker_id: str, status: str, reason: str = "") -> fsm.Outcome:
        return self.apply(
            c.CommandType.WORKER_STATUS,
            c.WorkerStatusChange(worker_id=worker_id, status=status, reason=reason, now=self.clock()),
        )

    def control(self, worker_id: str, action: str) -> fsm.Outcome:
        return self.apply(
            c.CommandType.WORKER_CONTROL,
            c.WorkerControl(worker_id=worker_id, action=action, by="op", now=self.clock()),
        )

    def submit(
        self,
        *task_ids: str,
        key: str | None = None,
        request_hash: str | None = None,
        priority: int = 5,
        max_attempts: int = 3,
        task_type: str = "tcp_connect",
    ) -> fsm.Outcome:
        tasks = [
            c.NewTask(
                task_id=t,
                type=task_type,
                target="10.0.0.1",
                params={"ports": "22"},
                priority=priority,
                max_attempts=max_attempts,
            )
            for t in task_ids
        ]
        payload = c.TaskSubmit(
            tasks=tasks,
            idempotency_key=key,
            request_hash=request_hash,
            submitted_by="alice",
            now=self.clock(),
        )
        return self.apply(c.CommandType.TASK_SUBMIT, payload)

    def assign(self, *triples: tuple[str, str, str]) -> fsm.Outcome:
        self.clock()
        assignments = [
            c.Assignment(task_id=t, worker_id=w, lease_id=lease, expires_at=self.now + 60)
            for t, w, lease in triples
        ]
        return self.apply(c.CommandType.TASK_ASSIGN, c.TaskAssign(assignments=assignments, now=self.now))

    def start(self, task_id: str, lease_id: str, progress: float | None = 0.5) -> fsm.Outcome:
        return self.apply(
            c.CommandType.TASK_START,
            c.TaskStart(
                task_id=task_id, lease_id=lease_id, progress=progress, message="go", now=self.clock()
            ),
        )

    def complete(
        self,
        task_id: str,
        lease_id: str,
        status: str = "succeeded",
        result: dict[str, Any] | None = None,
        error: str | None = None,
        write_hash: str | None = None,
    ) -> fsm.Outcome:
        return self.apply(
            c.CommandType.TASK_COMPLETE,
            c.TaskComplete(
                task_id=task_id,
                lease_id=lease_id,
                status=status,
                result=result,
                error=error,
                write_hash=write_hash,
                now=self.clock(),
            ),
        )

    def cancel(self, task_id: str, reason: str = "cancelled by request") -> fsm.Outcome:
        return self.apply(
            c.CommandType.TASK_CANCEL,
            c.TaskCancel(task_id=task_id, reason=reason, by="bob", now=self.clock()),
        )

    def expire(self, task_id: str, lease_id: str) -> fsm.Outcome:
        return self.apply(
            c.CommandType.TASK_EXPIRE, c.TaskExpire(task_id=task_id, lease_id=lease_id, now=self.clock())
        )

    def task(self, task_id: str) -> dict[str, Any]:
        return self.store.tasks[task_id]


def frozen(record: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(record)


@pytest.fixture
def ledger() -> Ledger:
    led = Ledger()
    assert led.register("w1", capabilities=["tcp_connect"], max_concurrent_tasks=4).kind == fsm.ACCEPTED
    assert led.register("w2").kind == fsm.ACCEPTED
    return led


# ---- outcome -----------------------------------------------------------------------------


def test_outcome_ok_only_for_accepted_and_duplicate() -> None:
    assert fsm.Outcome(fsm.ACCEPTED).ok
    assert fsm.Outcome(fsm.DUPLICATE).ok
    for kind in (fsm.STALE_LEASE, fsm.NOT_FOUND, fsm.CONFLICT, fsm.REJECTED):
        assert not fsm.Outcome(kind).ok


# ---- nodes and workers ---------------------------------------------------------------------


def test_node_announce_accepted_then_duplicate_then_changed_api() -> None:
    led = Ledger()
    first = led.announce()
    assert first.kind == fsm.ACCEPTED
    assert led.store.nodes["127.0.0.1:7001"]["create_index"] == 1
    again = led.announce()
    assert again.kind == fsm.DUPLICATE
    assert led.store.nodes["127.0.0.1:7001"]["last_announce_index"] == 2
    moved = led.announce(api="127.0.0.1:9001")
    assert moved.kind == fsm.ACCEPTED
    assert led.store.nodes["127.0.0.1:7001"]["api"] == "127.0.0.1:9001"
    assert led.store.applied_index == 3


def test_worker_register_then_reregister_updates_fields() -> None:
    led = Ledger()
    out = led.register("w1", capabilities=["b", "a", "a"], labels={"zone": "x"}, max_concurrent_tasks=3)
    assert out.kind == fsm.ACCEPTED
    worker = led.store.workers["w1"]
    assert worker["capabilities"] == ["a", "b"]
    assert worker["status"] == "ready"
    assert worker["create_index"] == 1
    registered_at = worker["registered_at"]
    again = led.register("w1", capabilities=["c"], max_concurrent_tasks=7)
    assert again.kind == fsm.DUPLICATE
    assert worker["capabilities"] == ["c"]
    assert worker["max_concurrent_tasks"] == 7
    assert worker["registered_at"] == registered_at
    assert worker["modify_index"] == 2


def test_worker_status_changes(ledger: Ledger) -> None:
    assert ledger.worker_status("w1", "down").kind == fsm.ACCEPTED
    assert ledger.store.workers["w1"]["status"] == "down"
    assert ledger.worker_status("w1", "down").kind == fsm.DUPLICATE
    assert ledger.worker_status("w1", "ready").kind == fsm.ACCEPTED
    assert ledger.worker_status("nope", "down").kind == fsm.NOT_FOUND
    for bad_status in ("sleeping", "draining"):
        bad = ledger.worker_status("w1", bad_status)
        assert bad.kind == fsm.REJECTED
        assert bad_status in bad.reason
    assert ledger.store.workers["w1"]["status"] == "ready"


def test_worker_control_is_separate_from_liveness(ledger: Ledger) -> None:
    assert ledger.control("w1", "drain").kind == fsm.ACCEPTED
    assert ledger.store.workers["w1"]["control"] == "drain"
    assert ledger.store.workers["w1"]["status"] == "ready"
    assert ledger.control("w1", "drain").kind == fsm.DUPLICATE
    assert ledger.control("w1", "explode").kind == fsm.REJECTED
    assert ledger.control("ghost", "drain").kind == fsm.NOT_FOUND
    assert ledger.control("w1", "shutdown").kind == fsm.ACCEPTED
    # A worker started again after a shutdown registers afresh; a drain would survive.
    ledger.register("w1")
    assert ledger.store.workers["w1"]["control"] is None
    ledger.control("w1", "drain")
    ledger.register("w1")
    assert ledger.store.workers["w1"]["control"] == "drain"
    assert ledger.control("w1", "resume").kind == fsm.ACCEPTED
    assert ledger.store.workers["w1"]["control"] is None


def test_cancelled_lease_may_acknowledge_with_cancelled(ledger: Ledger) -> None:
    ledger.submit("t1", "t2")
    ledger.assign(("t1", "w1", "L1"), ("t2", "w1", "L2"))
    ledger.apply(c.CommandType.TASK_CANCEL, c.TaskCancel(task_id="t1", now=ledger.clock()))
    ack = ledger.complete("t1", "L1", status="cancelled")
    assert ack.kind == fsm.DUPLICATE
    assert ledger.complete("t2", "L2", status="cancelled").kind == fsm.CONFLICT
    assert ledger.task("t2")["status"] == "assigned"
    assert ledger.complete("t2", "L2").kind == fsm.ACCEPTED


def test_reregister_after_down_makes_worker_ready_again(ledger: Ledger) -> None:
    ledger.worker_status("w1", "down", "missed heartbeats")
    assert ledger.store.workers["w1"]["status"] == "down"
    assert ledger.register("w1").kind == fsm.DUPLICATE
    assert ledger.store.workers["w1"]["status"] == "ready"


# ---- submit --------------------------------------------------------------------------------


def test_submit_creates_pending_tasks(ledger: Ledger) -> None:
    out = ledger.submit("t1", "t2", priority=7, max_attempts=2)
    assert out.kind == fsm.ACCEPTED
    assert [t["id"] for t in out.value] == ["t1", "t2"]
    for task in out.value:
        assert task["status"] == "pending"
        assert task["attempt"] == 0
        assert task["attempts"] == []
        assert task["priority"] == 7
        assert task["max_attempts"] == 2
        assert task["lease_id"] is None
        assert task["worker_id"] is None
        assert task["create_index"] == task["modify_index"] == ledger.index
        assert task["submitted_by"] == "alice"
    assert ledger.store.counts()["pending"] == 2
    assert ledger.store.pending_in_order() == ["t1", "t2"]
    assert ledger.store.applied_index == ledger.index


def test_submit_same_key_same_hash_is_duplicate_with_same_ids(ledger: Ledger) -> None:
    first = ledger.submit("t1", "t2", key="alice:k1", request_hash="h1")
    assert first.kind == fsm.ACCEPTED
    # A retry carries fresh task ids chosen by the (possibly new) leader.
    retry = ledger.submit("t3", "t4", key="alice:k1", request_hash="h1")
    assert retry.kind == fsm.DUPLICATE
    assert retry.ok
    assert [t["id"] for t in retry.value] == ["t1", "t2"]
    assert sorted(ledger.store.tasks) == ["t1", "t2"]
    assert ledger.store.idempotency["alice:k1"]["task_ids"] == ["t1", "t2"]


def test_submit_same_key_different_hash_is_conflict(ledger: Ledger) -> None:
    ledger.submit("t1", key="alice:k1", request_hash="h1")
    before = copy.deepcopy(ledger.store.to_snapshot())
    out = ledger.submit("t2", key="alice:k1", request_hash="h2")
    assert out.kind == fsm.CONFLICT
    assert not out.ok
    assert "Idempotency-Key" in out.reason
    assert "t2" not in ledger.store.tasks
    assert ledger.store.idempotency["alice:k1"]["request_hash"] == "h1"
    after = ledger.store.to_snapshot()
    assert after["applied_index"] == ledger.index
    assert json.loads(json.dumps({**after, "applied_index": 0})) == json.loads(
        json.dumps({**before, "applied_index": 0})
    )


def test_submit_with_existing_task_id_is_conflict(ledger: Ledger) -> None:
    ledger.submit("t1")
    out = ledger.submit("t2", "t1")
    assert out.kind == fsm.CONFLICT
    assert "t2" not in ledger.store.tasks
    assert ledger.store.counts()["pending"] == 1


def test_submit_without_key_records_no_idempotency(ledger: Ledger) -> None:
    ledger.submit("t1")
    assert ledger.store.idempotency == {}


# ---- assign --------------------------------------------------------------------------------


def test_assign_grants_lease_and_indexes_worker(ledger: Ledger) -> None:
    ledger.submit("t1")
    out = ledger.assign(("t1", "w1", "L1"))
    assert out.kind == fsm.ACCEPTED
    assert [t["id"] for t in out.value] == ["t1"]
    assert out.extra["refused"] == []
    task = ledger.task("t1")
    assert task["status"] == "assigned"
    assert task["attempt"] == 1
    assert task["lease_id"] == "L1"
    assert task["worker_id"] == "w1"
    assert task["attempts"] == [
        {
            "attempt": 1,
            "lease_id": "L1",
            "worker_id": "w1",
            "assigned_at": ledger.now,
            "outcome": None,
            "error": None,
            "finished_at": None,
        }
    ]
    assert list(ledger.store.by_worker["w1"]) == ["t1"]
    assert ledger.store.pending_in_order() == []


def test_second_assign_of_same_task_is_refused(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    snapshot = frozen(ledger.task("t1"))
    out = ledger.assign(("t1", "w2", "L2"))
    assert out.kind == fsm.ACCEPTED
    assert out.value == []
    assert out.extra["refused"] == ["t1"]
    task = ledger.task("t1")
    assert task == snapshot
    assert "w2" not in ledger.store.by_worker


def test_assign_same_task_twice_in_one_command_grants_once(ledger: Ledger) -> None:
    ledger.submit("t1")
    out = ledger.assign(("t1", "w1", "L1"), ("t1", "w2", "L2"))
    assert [t["id"] for t in out.value] == ["t1"]
    assert out.extra["refused"] == ["t1"]
    assert ledger.task("t1")["lease_id"] == "L1"


def test_assign_refuses_unknown_task_unknown_worker_and_not_ready_worker(ledger: Ledger) -> None:
    ledger.submit("t1", "t2", "t3")
    ledger.control("w2", "drain")
    out = ledger.assign(("nope", "w1", "L0"), ("t1", "ghost", "L1"), ("t2", "w2", "L2"), ("t3", "w1", "L3"))
    assert out.extra["refused"] == ["nope", "t1", "t2"]
    assert [t["id"] for t in out.value] == ["t3"]
    assert ledger.task("t1")["status"] == "pending"
    assert ledger.task("t2")["status"] == "pending"


# ---- start / complete --------------------------------------------------------------------


def test_start_and_complete_with_current_lease(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    started = ledger.start("t1", "L1", progress=0.25)
    assert started.kind == fsm.ACCEPTED
    task = ledger.task("t1")
    assert task["status"] == "running"
    assert task["progress"] == 0.25
    assert list(ledger.store.by_worker["w1"]) == ["t1"]
    done = ledger.complete("t1", "L1", result={"open": [22]})
    assert done.kind == fsm.ACCEPTED
    assert task["status"] == "succeeded"
    assert task["result"] == {"open": [22]}
    assert task["progress"] == 1.0
    assert task["finished_at"] == ledger.now
    assert task["attempts"][-1]["outcome"] == "succeeded"
    assert "w1" not in ledger.store.by_worker
    assert ledger.store.counts()["succeeded"] == 1


def test_complete_straight_from_assigned_is_accepted(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    assert ledger.complete("t1", "L1").kind == fsm.ACCEPTED
    assert ledger.task("t1")["status"] == "succeeded"


def test_repeated_start_with_current_lease_is_accepted(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    ledger.start("t1", "L1", progress=0.1)
    assert ledger.start("t1", "L1", progress=0.9).kind == fsm.ACCEPTED
    assert ledger.task("t1")["progress"] == 0.9


def test_repeat_complete_is_duplicate_and_changes_nothing(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    ledger.complete("t1", "L1", result={"x": 1})
    before = frozen(ledger.task("t1"))
    again = ledger.complete("t1", "L1", result={"x": 1})
    assert again.kind == fsm.DUPLICATE
    assert again.ok
    assert ledger.task("t1") == before
    # A late start for the finished lease is also a harmless duplicate.
    assert ledger.start("t1", "L1").kind == fsm.DUPLICATE
    assert ledger.task("t1") == before


def test_repeat_failed_result_is_duplicate(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    ledger.complete("t1", "L1", status="failed", error="boom")
    before = frozen(ledger.task("t1"))
    assert ledger.complete("t1", "L1", status="failed", error="boom").kind == fsm.DUPLICATE
    assert ledger.task("t1") == before


def test_repeat_complete_with_same_write_hash_is_duplicate(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    first = ledger.complete("t1", "L1", result={"x": 1}, write_hash="hA")
    assert first.kind == fsm.ACCEPTED
    assert first.extra["attempt"]["write_hash"] == "hA"
    before = frozen(ledger.task("t1"))
    again = ledger.complete("t1", "L1", result={"x": 1}, write_hash="hA")
    assert again.kind == fsm.DUPLICATE
    assert again.extra["attempt"]["outcome"] == "succeeded"
    assert ledger.task("t1") == before


def test_second_different_write_for_the_same_lease_is_conflict(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    ledger.complete("t1", "L1", result={"x": 1}, write_hash="hA")
    before = frozen(ledger.task("t1"))
    other = ledger.complete("t1", "L1", status="failed", error="late", write_hash="hB")
    assert other.kind == fsm.CONFLICT
    assert not other.ok
    assert "another result" in other.reason
    assert ledger.task("t1") == before


def test_second_write_for_a_failed_attempt_is_conflict_after_requeue(ledger: Ledger) -> None:
    ledger.submit("t1", max_attempts=3)
    ledger.assign(("t1", "w1", "L1"))
    ledger.complete("t1", "L1", status="failed", error="boom", write_hash="hA")
    assert ledger.task("t1")["status"] == "pending"
    assert ledger.complete("t1", "L1", status="failed", error="boom", write_hash="hA").kind == fsm.DUPLICATE
    assert ledger.complete("t1", "L1", status="succeeded", write_hash="hB").kind == fsm.CONFLICT
    assert ledger.task("t1")["status"] == "pending"


def test_repeat_without_write_hash_is_duplicate(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    ledger.complete("t1", "L1", write_hash="hA")
    assert ledger.complete("t1", "L1").kind == fsm.DUPLICATE
    ledger.submit("t2")
    ledger.assign(("t2", "w1", "L2"))
    ledger.complete("t2", "L2")
    assert ledger.complete("t2", "L2", write_hash="hB").kind == fsm.DUPLICATE


def test_complete_with_old_lease_is_stale(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    assert ledger.expire("t1", "L1").kind == fsm.ACCEPTED
    ledger.assign(("t1", "w2", "L2"))
    before = frozen(ledger.task("t1"))
    out = ledger.complete("t1", "L1")
    assert out.kind == fsm.STALE_LEASE
    assert not out.ok
    assert "no longer current" in out.reason
    assert ledger.start("t1", "L1").kind == fsm.STALE_LEASE
    assert ledger.task("t1") == before
    assert ledger.task("t1")["lease_id"] == "L2"
    assert ledger.complete("t1", "L2").kind == fsm.ACCEPTED


def test_complete_with_unknown_lease_is_stale(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    assert ledger.complete("t1", "forged").kind == fsm.STALE_LEASE
    assert ledger.task("t1")["status"] == "assigned"


def test_complete_on_pending_task_is_stale(ledger: Ledger) -> None:
    ledger.submit("t1")
    assert ledger.complete("t1", "L1").kind == fsm.STALE_LEASE
    assert ledger.start("t1", "L1").kind == fsm.STALE_LEASE
    assert ledger.task("t1")["status"] == "pending"


def test_start_and_complete_unknown_task_not_found(ledger: Ledger) -> None:
    assert ledger.start("nope", "L1").kind == fsm.NOT_FOUND
    assert ledger.complete("nope", "L1").kind == fsm.NOT_FOUND


def test_complete_with_bad_status_is_rejected(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    out = ledger.complete("t1", "L1", status="running")
    assert out.kind == fsm.REJECTED
    assert "running" in out.reason
    task = ledger.task("t1")
    assert task["status"] == "assigned"
    assert task["lease_id"] == "L1"
    assert task["attempts"][-1]["outcome"] is None
    # The lease is still good for a proper result.
    assert ledger.complete("t1", "L1").kind == fsm.ACCEPTED


def test_rejected_complete_changes_nothing(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    before = frozen(ledger.task("t1"))
    assert ledger.complete("t1", "L1", status="running", write_hash="w-bad").kind == fsm.REJECTED
    assert ledger.task("t1") == before


def test_failed_results_requeue_until_max_attempts(ledger: Ledger) -> None:
    ledger.submit("t1", max_attempts=3)
    for n in (1, 2, 3):
        lease = f"L{n}"
        granted = ledger.assign(("t1", "w1", lease))
        assert [t["id"] for t in granted.value] == ["t1"]
        ledger.start("t1", lease)
        out = ledger.complete("t1", lease, status="failed", error=f"boom {n}", result={"n": n})
        assert out.kind == fsm.ACCEPTED
        task = ledger.task("t1")
        assert task["attempt"] == n
        assert len(task["attempts"]) == n
        assert task["attempts"][-1]["outcome"] == "failed"
        assert task["attempts"][-1]["error"] == f"boom {n}"
        if n < 3:
            assert task["status"] == "pending"
            assert task["lease_id"] is None
            assert task["worker_id"] is None
            assert ledger.store.pending_in_order() == ["t1"]
    task = ledger.task("t1")
    assert task["status"] == "failed"
    assert task["finished_at"] == ledger.now
    assert task["result"] == {"n": 3}
    assert task["error"].startswith("gave up after 3 attempts")
    for n in (1, 2, 3):
        assert f"attempt {n}: failed: boom {n}" in task["error"]
    assert ledger.store.pending_in_order() == []
    assert "w1" not in ledger.store.by_worker
    # A failed task cannot be assigned again.
    assert ledger.assign(("t1", "w1", "L4")).extra["refused"] == ["t1"]


def test_failed_without_error_message_uses_default_reason(ledger: Ledger) -> None:
    ledger.submit("t1", max_attempts=1)
    ledger.assign(("t1", "w1", "L1"))
    ledger.complete("t1", "L1", status="failed")
    task = ledger.task("t1")
    assert task["status"] == "failed"
    assert "attempt 1: failed: scanner failed" in task["error"]


def test_final_failure_lists_reasons_of_mixed_attempts(ledger: Ledger) -> None:
    ledger.submit("t1", max_attempts=3)
    ledger.assign(("t1", "w1", "L1"))
    ledger.expire("t1", "L1")
    ledger.assign(("t1", "w2", "L2"))
    ledger.worker_status("w2", "down", "no heartbeat")
    ledger.assign(("t1", "w1", "L3"))
    ledger.complete("t1", "L3", status="failed", error="refused")
    task = ledger.task("t1")
    assert task["status"] == "failed"
    assert "attempt 1: lost: lease expired" in task["error"]
    assert "attempt 2: lost: worker down: no heartbeat" in task["error"]
    assert "attempt 3: failed: refused" in task["error"]


def test_max_attempts_one_fails_on_first_failure(ledger: Ledger) -> None:
    ledger.submit("t1", max_attempts=1)
    ledger.assign(("t1", "w1", "L1"))
    ledger.expire("t1", "L1")
    assert ledger.task("t1")["status"] == "failed"
    assert ledger.task("t1")["attempt"] == 1


# ---- cancel --------------------------------------------------------------------------------


def test_cancel_pending(ledger: Ledger) -> None:
    ledger.submit("t1")
    out = ledger.cancel("t1", reason="not needed")
    assert out.kind == fsm.ACCEPTED
    task = ledger.task("t1")
    assert task["status"] == "cancelled"
    assert task["error"] == "not needed"
    assert task["finished_at"] == ledger.now
    assert ledger.store.pending_in_order() == []
    assert ledger.store.counts()["cancelled"] == 1
    assert ledger.cancel("t1").kind == fsm.DUPLICATE
    assert ledger.assign(("t1", "w1", "L1")).extra["refused"] == ["t1"]


def test_cancel_running_then_result_is_stale(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    ledger.start("t1", "L1")
    out = ledger.cancel("t1")
    assert out.kind == fsm.ACCEPTED
    task = ledger.task("t1")
    assert task["status"] == "cancelled"
    assert task["attempts"][-1]["outcome"] == "cancelled"
    assert "w1" not in ledger.store.by_worker
    before = frozen(task)
    late = ledger.complete("t1", "L1", result={"open": []})
    assert late.kind == fsm.STALE_LEASE
    assert "cancelled" in late.reason
    assert ledger.start("t1", "L1").kind == fsm.STALE_LEASE
    assert ledger.complete("t1", "L1", status="failed", error="x").kind == fsm.STALE_LEASE
    assert ledger.expire("t1", "L1").kind == fsm.STALE_LEASE
    assert ledger.task("t1") == before


def test_cancel_assigned_closes_the_attempt(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    assert ledger.cancel("t1").kind == fsm.ACCEPTED
    assert ledger.task("t1")["attempts"][0]["outcome"] == "cancelled"
    assert "w1" not in ledger.store.by_worker


def test_cancel_finished_task_is_conflict(ledger: Ledger) -> None:
    ledger.submit("t1", "t2", max_attempts=1)
    ledger.assign(("t1", "w1", "L1"), ("t2", "w1", "L2"))
    ledger.complete("t1", "L1")
    ledger.complete("t2", "L2", status="failed", error="x")
    for tid, status in (("t1", "succeeded"), ("t2", "failed")):
        out = ledger.cancel(tid)
        assert out.kind == fsm.CONFLICT
        assert status in out.reason
        assert ledger.task(tid)["status"] == status


def test_cancel_unknown_task_not_found(ledger: Ledger) -> None:
    assert ledger.cancel("nope").kind == fsm.NOT_FOUND


# ---- worker down ---------------------------------------------------------------------------


def test_worker_down_requeues_active_tasks_and_fences_old_leases(ledger: Ledger) -> None:
    ledger.submit("t1", "t2", "t3")
    ledger.assign(("t1", "w1", "L1"), ("t2", "w1", "L2"), ("t3", "w2", "L3"))
    ledger.start("t1", "L1")
    out = ledger.worker_status("w1", "down", "missed heartbeats")
    assert out.kind == fsm.ACCEPTED
    assert ledger.store.workers["w1"]["status"] == "down"
    assert ledger.store.workers["w1"]["status_reason"] == "missed heartbeats"
    for tid in ("t1", "t2"):
        task = ledger.task(tid)
        assert task["status"] == "pending"
        assert task["attempt"] == 1
        assert task["lease_id"] is None
        assert task["attempts"][0]["outcome"] == "lost"
        assert task["attempts"][0]["error"] == "worker down: missed heartbeats"
    assert "w1" not in ledger.store.by_worker
    assert list(ledger.store.by_worker["w2"]) == ["t3"]
    assert ledger.task("t3")["status"] == "assigned"
    assert sorted(ledger.store.pending_in_order()) == ["t1", "t2"]
    # The old lease no longer writes.
    assert ledger.complete("t1", "L1").kind == fsm.STALE_LEASE
    assert ledger.start("t2", "L2").kind == fsm.STALE_LEASE
    assert ledger.task("t1")["status"] == "pending"
    # A down worker gets nothing; another one gets the next attempt.
    assert ledger.assign(("t1", "w1", "L9")).extra["refused"] == ["t1"]
    ledger.assign(("t1", "w2", "L4"))
    assert ledger.task("t1")["attempt"] == 2
    assert ledger.complete("t1", "L1").kind == fsm.STALE_LEASE
    assert ledger.complete("t1", "L4").kind == fsm.ACCEPTED
    task = ledger.task("t1")
    assert [a["outcome"] for a in task["attempts"]] == ["lost", "succeeded"]


def test_worker_down_twice_is_duplicate(ledger: Ledger) -> None:
    ledger.worker_status("w1", "down")
    assert ledger.worker_status("w1", "down").kind == fsm.DUPLICATE


def test_draining_worker_keeps_its_tasks(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    ledger.control("w1", "drain")
    assert ledger.task("t1")["status"] == "assigned"
    assert ledger.complete("t1", "L1").kind == fsm.ACCEPTED


# ---- expire --------------------------------------------------------------------------------


def test_expire_applies_only_for_current_lease(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    before = frozen(ledger.task("t1"))
    wrong = ledger.expire("t1", "other")
    assert wrong.kind == fsm.STALE_LEASE
    assert ledger.task("t1") == before
    ok = ledger.expire("t1", "L1")
    assert ok.kind == fsm.ACCEPTED
    task = ledger.task("t1")
    assert task["status"] == "pending"
    assert task["attempts"][0]["outcome"] == "lost"
    assert task["attempts"][0]["error"] == "lease expired"
    assert ledger.expire("t1", "L1").kind == fsm.STALE_LEASE
    ledger.assign(("t1", "w1", "L2"))
    assert ledger.expire("t1", "L1").kind == fsm.STALE_LEASE
    assert ledger.task("t1")["lease_id"] == "L2"
    assert ledger.task("t1")["status"] == "assigned"


def test_expire_after_success_is_stale_and_changes_nothing(ledger: Ledger) -> None:
    ledger.submit("t1")
    ledger.assign(("t1", "w1", "L1"))
    ledger.complete("t1", "L1")
    before = frozen(ledger.task("t1"))
    assert ledger.expire("t1", "L1").kind == fsm.STALE_LEASE
    assert ledger.task("t1") == before


def test_expire_unknown_task_is_not_ok(ledger: Ledger) -> None:
    out = ledger.expire("nope", "L1")
    assert not out.ok


# ---- malformed and versioned commands ------------------------------------------------------


MALFORMED: list[Any] = [
    None,
    "garbage",
    42,
    [],
    ["task_submit"],
    {},
    {"payload": {}},
    {"type": "no_such_type", "payload": {}},
    {"type": "task_submit"},
    {"type": "task_submit", "payload": None},
    {"type": "task_submit", "payload": "tasks"},
    {"type": "task_submit", "payload": {"tasks": "x", "now": 1}},
    {"type": "task_submit", "payload": {"tasks": []}},
    {"type": "task_cancel", "payload": {"task_id": "t1", "now": 1, "surprise": True}},
    {"type": "task_complete", "payload": {"task_id": "t1", "lease_id": "L1", "status": "succeeded"}},
    {"type": "task_assign", "version": "abc", "payload": {"assignments": [], "now": 1}},
    {"type": "task_assign", "version": None, "payload": {"assignments": [], "now": 1}},
    {"type": "task_assign", "version": [1], "payload": {"assignments": [], "now": 1}},
    {"type": "worker_register", "payload": {"worker_id": 5, "name": "x", "now": "later"}},
    {"type": ["task_submit"], "payload": {}},
]


@pytest.mark.parametrize("command", MALFORMED, ids=[repr(m)[:40] for m in MALFORMED])
def test_malformed_command_is_rejected_without_raising(ledger: Ledger, command: Any) -> None:
    ledger.submit("t1")
    before = ledger.store.digest()
    out = ledger.raw(command)
    assert out.kind == fsm.REJECTED
    assert not out.ok
    assert "malformed" in out.reason
    assert ledger.store.digest() == before


def test_newer_version_is_rejected(ledger: Ledger) -> None:
    before = ledger.store.digest()
    payload = c.TaskSubmit(tasks=[c.NewTask(task_id="t1", type="x", target="h")], now=NOW)
    out = ledger.apply(c.CommandType.TASK_SUBMIT, payload, version=2)
    assert out.kind == fsm.REJECTED
    assert "newer" in out.reason
    assert "t1" not in ledger.store.tasks
    assert ledger.store.digest() == before


def test_missing_version_defaults_to_one(ledger: Ledger) -> None:
    payload = c.TaskSubmit(tasks=[c.NewTask(task_id="t1", type="x", target="h")], now=NOW)
    command = c.encode(c.CommandType.TASK_SUBMIT, payload)
    del command["version"]
    assert ledger.raw(command).kind == fsm.ACCEPTED


def test_encode_refuses_wrong_payload_type() -> None:
    with pytest.raises(TypeError):
        c.encode(c.CommandType.TASK_CANCEL, c.TaskExpire(task_id="t", lease_id="l", now=NOW))


def test_encoded_command_is_json_data() -> None:
    payload = c.TaskSubmit(tasks=[c.NewTask(task_id="t1", type="x", target="h")], now=NOW)
    command = c.encode(c.CommandType.TASK_SUBMIT, payload)
    assert json.loads(json.dumps(command)) == command
    assert command["type"] == "task_submit"
    assert command["version"] == 1


def test_every_command_type_has_a_handler_and_payload() -> None:
    assert set(c.PAYLOADS) == set(c.CommandType)
    assert set(fsm._HANDLERS) == set(c.CommandType)
    assert set(c.SUPPORTED_VERSION) == set(c.CommandType)


# ---- defects found by these tests, now fixed ---------------------------------------------------


def test_submit_batch_with_repeated_task_id_is_refused(ledger: Ledger) -> None:
    payload = c.TaskSubmit(
        tasks=[
            c.NewTask(task_id="dup", type="tcp_connect", target="h", priority=1),
            c.NewTask(task_id="dup", type="tcp_connect", target="h", priority=9),
        ],
        now=NOW,
    )
    out = ledger.apply(c.CommandType.TASK_SUBMIT, payload)
    assert out.kind == fsm.CONFLICT
    assert ledger.store.tasks == {}
    assert ledger.store.pending_in_order() == []
