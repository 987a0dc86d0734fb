"""Each checker rule, shown to catch its fault on hand-made histories and states."""

from __future__ import annotations

import copy

import pytest

from chaos.checker import ReplicaState, check
from chaos.history import Op


def op(i: int, process: str, type_: str, f: str = "submit", **kw) -> Op:
    return Op(index=i, process=process, type=type_, f=f, time=float(i), **kw)


def task(task_id: str, key: str, status: str = "succeeded", attempts=None) -> dict:
    attempts = attempts if attempts is not None else [
        {"attempt": 1, "lease_id": f"L-{task_id}", "outcome": "succeeded", "worker_id": "w1"}]
    return {"id": task_id, "idempotency_key": f"admin:{key}", "status": status,
            "lease_id": attempts[-1]["lease_id"] if attempts else None, "attempts": attempts}


def good_run() -> tuple[list[Op], list[ReplicaState]]:
    ops = [
        op(0, "c0", "invoke", key="k1"),
        op(1, "c0", "ok", key="k1", task_ids=["t1"], leader="n1", term=2, duration=0.01),
        op(2, "c1", "invoke", key="k2"),
        op(3, "c1", "info", key="k2", duration=2.0, error="timeout"),
        op(4, "c1", "invoke", key="k2"),
        op(5, "c1", "ok", key="k2", task_ids=["t2"], leader="n2", term=3, duration=0.02),
    ]
    tasks = {"t1": task("t1", "k1"), "t2": task("t2", "k2")}
    states = [ReplicaState(f"n{i}", 40, "d" * 64, copy.deepcopy(tasks)) for i in range(3)]
    return ops, states


def rules(ops, states) -> set[str]:
    return {v.rule for v in check(ops, states).violations}


def test_a_good_run_passes() -> None:
    verdict = check(*good_run())
    assert verdict.ok, verdict.violations
    assert verdict.stats["submits_acknowledged"] == 2 and verdict.stats["lost"] == 0


def test_lost_acknowledged_submit() -> None:
    ops, states = good_run()
    del states[1].tasks["t2"]
    assert "lost_ack" in rules(ops, states)


def test_acknowledged_task_that_never_finished() -> None:
    ops, states = good_run()
    for s in states:
        s.tasks["t1"]["status"] = "pending"
    assert "lost_ack" in rules(ops, states)


def test_double_result() -> None:
    ops, states = good_run()
    twice = [{"attempt": 1, "lease_id": "L1", "outcome": "succeeded"},
             {"attempt": 2, "lease_id": "L2", "outcome": "succeeded"}]
    for s in states:
        s.tasks["t1"] = task("t1", "k1", attempts=copy.deepcopy(twice))
    assert "double_result" in rules(ops, states)


def test_result_from_a_stale_lease() -> None:
    ops, states = good_run()
    stale = [{"attempt": 1, "lease_id": "L1", "outcome": "succeeded"},
             {"attempt": 2, "lease_id": "L2", "outcome": "lost"}]
    for s in states:
        s.tasks["t1"] = task("t1", "k1", attempts=copy.deepcopy(stale))
    assert "stale_lease_result" in rules(ops, states)


def test_diverged_digests() -> None:
    ops, states = good_run()
    states[2] = ReplicaState("n2", 40, "e" * 64, states[2].tasks)
    assert "diverged" in rules(ops, states)


def test_diverged_records_under_equal_digests() -> None:
    ops, states = good_run()
    states[2].tasks["t1"]["status"] = "failed"
    assert "diverged" in rules(ops, states)


def test_two_leaders_in_one_term() -> None:
    ops, states = good_run()
    ops[5] = op(5, "c1", "ok", key="k2", task_ids=["t2"], leader="n3", term=2, duration=0.02)
    assert "two_leaders" in rules(ops, states)


def test_duplicate_submit_for_one_key() -> None:
    ops, states = good_run()
    ops.append(op(6, "c2", "invoke", key="k1"))
    ops.append(op(7, "c2", "ok", key="k1", task_ids=["t9"], leader="n2", term=3, duration=0.01))
    for s in states:
        s.tasks["t9"] = task("t9", "k1")
    assert "duplicate_submit" in rules(ops, states)


@pytest.mark.parametrize("duration", [30.0, None])
def test_hung_operation(duration) -> None:
    ops, states = good_run()
    ops.append(op(6, "c3", "invoke", key="k3"))
    if duration is not None:
        ops.append(op(7, "c3", "info", key="k3", duration=duration, error="timeout"))
    assert "hung" in rules(ops, states)


def test_no_leader_for_a_nemesis_is_unavailability() -> None:
    ops, states = good_run()
    ops.append(op(6, "nemesis", "invoke", f="nemesis", value="kill_leader"))
    ops.append(op(7, "nemesis", "fail", f="nemesis", value="kill_leader",
                  error="no leader within 30.0s"))
    assert "unavailable" in rules(ops, states)
