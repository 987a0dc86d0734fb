"""RoundRobin placement: rotation, free slots, capabilities, determinism."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sniper_ha.scheduling.strategy import Candidate, RoundRobin, can_run, make_strategy


def worker(worker_id: str, slots: int = 10, caps: tuple[str, ...] = ()) -> Candidate:
    return Candidate(worker_id=worker_id, free_slots=slots, capabilities=frozenset(caps), labels={})


def tasks(n: int, task_type: str = "tcp_connect", prefix: str = "t") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "type": task_type, "priority": 5} for i in range(1, n + 1)]


def test_make_strategy() -> None:
    strategy = make_strategy("round_robin")
    assert isinstance(strategy, RoundRobin)
    assert strategy.name == "round_robin"
    assert make_strategy("round_robin") is not strategy
    with pytest.raises(ValueError, match="unknown distribution strategy"):
        make_strategy("random")


def test_can_run() -> None:
    assert can_run(worker("a"), {"type": "anything"})
    assert can_run(worker("a", caps=("tcp_connect",)), {"type": "tcp_connect"})
    assert not can_run(worker("a", caps=("tcp_connect",)), {"type": "http_probe"})


def test_rotates_across_workers_in_id_order() -> None:
    plan = RoundRobin().plan(tasks(7), [worker("c"), worker("a"), worker("b")])
    assert plan == [
        ("t1", "a"),
        ("t2", "b"),
        ("t3", "c"),
        ("t4", "a"),
        ("t5", "b"),
        ("t6", "c"),
        ("t7", "a"),
    ]


def test_rotation_continues_across_plans() -> None:
    rr = RoundRobin()
    assert rr.plan(tasks(2, prefix="x"), [worker("a"), worker("b"), worker("c")]) == [
        ("x1", "a"),
        ("x2", "b"),
    ]
    assert rr.plan(tasks(2, prefix="y"), [worker("a"), worker("b"), worker("c")]) == [
        ("y1", "c"),
        ("y2", "a"),
    ]


def test_rotation_continues_when_the_last_worker_left() -> None:
    rr = RoundRobin()
    assert rr.plan(tasks(2, prefix="x"), [worker("a"), worker("b"), worker("c")]) == [
        ("x1", "a"),
        ("x2", "b"),
    ]
    assert rr.plan(tasks(2, prefix="y"), [worker("a"), worker("c")]) == [("y1", "c"), ("y2", "a")]
    # Only workers before the last pick are left: wrap around to the first.
    rr2 = RoundRobin()
    rr2.plan(tasks(1), [worker("m")])
    assert rr2.plan(tasks(1), [worker("a"), worker("b")]) == [("t1", "a")]


def test_single_worker_gets_everything_it_has_room_for() -> None:
    plan = RoundRobin().plan(tasks(5), [worker("a", slots=3)])
    assert plan == [("t1", "a"), ("t2", "a"), ("t3", "a")]


def test_respects_free_slots() -> None:
    workers = [worker("a", slots=1), worker("b", slots=3), worker("c", slots=0)]
    plan = RoundRobin().plan(tasks(6), workers)
    assert plan == [("t1", "a"), ("t2", "b"), ("t3", "b"), ("t4", "b")]
    assert [w.free_slots for w in workers] == [0, 0, 0]


def test_no_free_slots_means_no_plan() -> None:
    assert RoundRobin().plan(tasks(3), [worker("a", slots=0), worker("b", slots=0)]) == []
    assert RoundRobin().plan(tasks(3), []) == []
    assert RoundRobin().plan([], [worker("a")]) == []


def test_capability_filter() -> None:
    workers = [worker("a", caps=("tcp_connect",)), worker("b", caps=("http_probe",))]
    work = [
        {"id": "t1", "type": "tcp_connect"},
        {"id": "h1", "type": "http_probe"},
        {"id": "t2", "type": "tcp_connect"},
        {"id": "h2", "type": "http_probe"},
    ]
    assert RoundRobin().plan(work, workers) == [("t1", "a"), ("h1", "b"), ("t2", "a"), ("h2", "b")]


def test_worker_without_capabilities_runs_any_type() -> None:
    workers = [worker("a", caps=("tcp_connect",)), worker("b")]
    work = [
        {"id": "x1", "type": "exotic"},
        {"id": "x2", "type": "exotic"},
        {"id": "t1", "type": "tcp_connect"},
    ]
    assert RoundRobin().plan(work, workers) == [("x1", "b"), ("x2", "b"), ("t1", "a")]


def test_task_nobody_can_run_is_skipped_but_later_tasks_are_placed() -> None:
    workers = [worker("a", caps=("tcp_connect",))]
    work = [{"id": "h1", "type": "http_probe"}, {"id": "t1", "type": "tcp_connect"}]
    assert RoundRobin().plan(work, workers) == [("t1", "a")]


def test_full_capable_worker_does_not_block_other_types() -> None:
    workers = [worker("a", slots=1, caps=("tcp_connect",)), worker("b", slots=2, caps=("http_probe",))]
    work = [
        {"id": "t1", "type": "tcp_connect"},
        {"id": "t2", "type": "tcp_connect"},
        {"id": "h1", "type": "http_probe"},
        {"id": "h2", "type": "http_probe"},
        {"id": "h3", "type": "http_probe"},
    ]
    assert RoundRobin().plan(work, workers) == [("t1", "a"), ("h1", "b"), ("h2", "b")]


def test_plan_is_deterministic() -> None:
    workers = [worker("b", 2, ("tcp_connect",)), worker("a", 1), worker("c", 3, ("http_probe",))]
    work = tasks(3) + tasks(3, "http_probe", "h") + tasks(2, "exotic", "x")
    first = RoundRobin().plan(work, copy.deepcopy(workers))
    second = RoundRobin().plan(work, copy.deepcopy(list(reversed(workers))))
    assert first == second
    assert len(first) == 6


# ---- properties --------------------------------------------------------------------------

TYPES = ["tcp_connect", "http_probe", "exotic"]

candidates = st.lists(
    st.builds(
        worker,
        st.text("abcdefgh", min_size=1, max_size=3),
        st.integers(0, 4),
        st.lists(st.sampled_from(TYPES), max_size=2).map(tuple),
    ),
    max_size=5,
    unique_by=lambda w: w.worker_id,
)
task_lists = st.lists(st.sampled_from(TYPES), max_size=20).map(
    lambda types: [{"id": f"t{i}", "type": t} for i, t in enumerate(types)]
)


@settings(max_examples=200, deadline=None)
@given(workers=candidates, work=task_lists, last=st.none() | st.text("abcdefgh", max_size=3))
def test_plan_properties(workers: list[Candidate], work: list[dict[str, Any]], last: str | None) -> None:
    rr = RoundRobin()
    rr._last = last
    slots = {w.worker_id: w.free_slots for w in workers}
    by_id = {w.worker_id: w for w in workers}
    by_task = {t["id"]: t for t in work}
    plan = rr.plan(work, workers)

    placed = [t for t, _ in plan]
    assert len(placed) == len(set(placed))
    assert placed == [t["id"] for t in work if t["id"] in set(placed)]  # order of the task list
    used = Counter(w for _, w in plan)
    for wid, n in used.items():
        assert n <= slots[wid]
        assert by_id[wid].free_slots == slots[wid] - n
    for tid, wid in plan:
        assert can_run(by_id[wid], by_task[tid])
    # Greedy and maximal: nothing left over could still have been placed.
    for t in work:
        if t["id"] not in placed:
            assert not any(w.free_slots > 0 and can_run(w, t) for w in workers)
    if plan:
        assert rr._last == plan[-1][1]

    again = RoundRobin()
    again._last = last
    fresh = [worker(w.worker_id, slots[w.worker_id], tuple(w.capabilities)) for w in workers]
    assert again.plan(work, list(reversed(fresh))) == plan


@settings(max_examples=100, deadline=None)
@given(n_workers=st.integers(1, 5), n_tasks=st.integers(0, 30))
def test_even_spread_when_everyone_can_take_everything(n_workers: int, n_tasks: int) -> None:
    workers = [worker(f"w{i}", slots=n_tasks) for i in range(n_workers)]
    plan = RoundRobin().plan(tasks(n_tasks), workers)
    assert len(plan) == n_tasks
    counts = Counter(w for _, w in plan)
    if n_tasks >= n_workers:
        assert max(counts.values()) - min(counts.values()) <= 1
        assert len(counts) == n_workers
