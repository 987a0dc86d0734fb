"""StateStore queries: list_tasks pagination, pending_in_order, counts and snapshots."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sniper_ha.ledger import commands as c
from sniper_ha.ledger import fsm
from sniper_ha.ledger.state import STATUSES, StateStore


class Feed:
    """Drives a StateStore through fsm.apply with increasing indexes."""

    def __init__(self) -> None:
        self.store = StateStore()
        self.index = 0
        self.apply(c.CommandType.WORKER_REGISTER, c.WorkerRegister(worker_id="w", name="w", now=1.0))

    def apply(self, ctype: c.CommandType, payload: c.Payload) -> fsm.Outcome:
        self.index += 1
        out = fsm.apply(self.store, c.encode(ctype, payload), self.index)
        assert out.ok, out
        return out

    def submit(self, *ids: str, priority: int = 5) -> None:
        tasks = [c.NewTask(task_id=t, type="tcp_connect", target="h", priority=priority) for t in ids]
        self.apply(c.CommandType.TASK_SUBMIT, c.TaskSubmit(tasks=tasks, now=1.0))

    def assign(self, task_id: str, lease: str) -> None:
        a = c.Assignment(task_id=task_id, worker_id="w", lease_id=lease, expires_at=9.0)
        out = self.apply(c.CommandType.TASK_ASSIGN, c.TaskAssign(assignments=[a], now=1.0))
        assert out.value, out

    def expire(self, task_id: str, lease: str) -> None:
        self.apply(c.CommandType.TASK_EXPIRE, c.TaskExpire(task_id=task_id, lease_id=lease, now=2.0))

    def complete(self, task_id: str, lease: str) -> None:
        self.apply(
            c.CommandType.TASK_COMPLETE,
            c.TaskComplete(task_id=task_id, lease_id=lease, status="succeeded", now=2.0),
        )

    def cancel(self, task_id: str) -> None:
        self.apply(c.CommandType.TASK_CANCEL, c.TaskCancel(task_id=task_id, now=2.0))


def ids(tasks: list[dict[str, Any]]) -> list[str]:
    return [t["id"] for t in tasks]


def walk(store: StateStore, status: str | None, limit: int) -> tuple[list[str], int]:
    """Follow next cursors from the start; returns every id seen and the number of pages."""
    seen: list[str] = []
    cursor = 0
    pages = 0
    while True:
        page, nxt = store.list_tasks(status, cursor, limit)
        pages += 1
        assert len(page) <= limit
        seen.extend(ids(page))
        if nxt is None:
            return seen, pages
        assert nxt > cursor
        cursor = nxt
        assert pages < 1000


@pytest.fixture
def feed() -> Feed:
    f = Feed()
    for n in range(1, 8):
        f.submit(f"t{n}")
    return f


# ---- list_tasks --------------------------------------------------------------------------


def test_list_tasks_first_page_and_cursor(feed: Feed) -> None:
    page, nxt = feed.store.list_tasks(None, 0, 3)
    assert ids(page) == ["t1", "t2", "t3"]
    assert nxt == feed.store.tasks["t3"]["seq"]
    page, nxt = feed.store.list_tasks(None, nxt, 3)
    assert ids(page) == ["t4", "t5", "t6"]
    page, nxt = feed.store.list_tasks(None, nxt, 3)
    assert ids(page) == ["t7"]
    assert nxt is None


def test_list_tasks_exact_fit_has_no_next_cursor(feed: Feed) -> None:
    page, nxt = feed.store.list_tasks(None, 0, 7)
    assert ids(page) == [f"t{n}" for n in range(1, 8)]
    assert nxt is None
    page, nxt = feed.store.list_tasks(None, 0, 100)
    assert len(page) == 7
    assert nxt is None


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 6, 7, 50])
def test_list_tasks_walk_sees_every_task_once(feed: Feed, limit: int) -> None:
    seen, _ = walk(feed.store, None, limit)
    assert seen == [f"t{n}" for n in range(1, 8)]


def test_list_tasks_cursor_past_the_end(feed: Feed) -> None:
    assert feed.store.list_tasks(None, feed.index + 100, 5) == ([], None)


def test_list_tasks_on_empty_store() -> None:
    assert StateStore().list_tasks(None, 0, 10) == ([], None)
    assert StateStore().list_tasks("pending", 0, 10) == ([], None)


def test_list_tasks_status_filter(feed: Feed) -> None:
    feed.assign("t2", "L2")
    feed.complete("t2", "L2")
    feed.assign("t4", "L4")
    feed.cancel("t5")
    feed.assign("t7", "L7")
    feed.complete("t7", "L7")
    page, nxt = feed.store.list_tasks("succeeded", 0, 10)
    assert ids(page) == ["t2", "t7"]
    assert nxt is None
    page, nxt = feed.store.list_tasks("pending", 0, 2)
    assert ids(page) == ["t1", "t3"]
    assert nxt is not None
    page, _ = feed.store.list_tasks("pending", nxt, 2)
    assert ids(page) == ["t6"]
    assert ids(feed.store.list_tasks("assigned", 0, 10)[0]) == ["t4"]
    assert ids(feed.store.list_tasks("cancelled", 0, 10)[0]) == ["t5"]
    assert feed.store.list_tasks("failed", 0, 10) == ([], None)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_list_tasks_filtered_walk_matches_status_index(feed: Feed, status: str, limit: int) -> None:
    feed.assign("t1", "L1")
    feed.complete("t1", "L1")
    feed.assign("t3", "L3")
    feed.cancel("t6")
    seen, _ = walk(feed.store, status, limit)
    expected = [t for t in (f"t{n}" for n in range(1, 8)) if feed.store.tasks[t]["status"] == status]
    assert seen == expected


def test_list_tasks_keeps_submission_order_after_updates(feed: Feed) -> None:
    feed.assign("t1", "L1")
    feed.expire("t1", "L1")
    page, _ = feed.store.list_tasks(None, 0, 100)
    assert ids(page) == [f"t{n}" for n in range(1, 8)]


def test_list_tasks_after_restore(feed: Feed) -> None:
    restored = StateStore.from_snapshot(json.loads(json.dumps(feed.store.to_snapshot())))
    for limit in (1, 3, 10):
        assert walk(restored, None, limit) == walk(feed.store, None, limit)


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_list_tasks_pages_through_a_batch(limit: int) -> None:
    feed = Feed()
    feed.submit("b1", "b2", "b3", "b4", "b5")
    feed.submit("c1")
    seen, _ = walk(feed.store, None, limit)
    assert seen == ["b1", "b2", "b3", "b4", "b5", "c1"]


def test_tasks_get_a_sequence_number_each_even_within_a_batch() -> None:
    feed = Feed()
    feed.submit("a1", "a2", "a3")
    feed.submit("b1")
    tasks = feed.store.tasks
    assert tasks["a1"]["create_index"] == tasks["a2"]["create_index"] == tasks["a3"]["create_index"]
    assert [tasks[t]["seq"] for t in ("a1", "a2", "a3", "b1")] == [1, 2, 3, 4]
    assert feed.store.next_seq == 5
    restored = StateStore.from_snapshot(json.loads(json.dumps(feed.store.to_snapshot())))
    assert restored.next_seq == 5


# ---- pending_in_order ----------------------------------------------------------------------


def test_pending_in_order_priority_then_fifo() -> None:
    feed = Feed()
    feed.submit("low1", priority=1)
    feed.submit("hi1", priority=9)
    feed.submit("mid1", priority=5)
    feed.submit("low2", priority=1)
    feed.submit("hi2", "hi3", priority=9)
    feed.submit("mid2", priority=5)
    feed.submit("zero", priority=0)
    assert feed.store.pending_in_order() == ["hi1", "hi2", "hi3", "mid1", "mid2", "low1", "low2", "zero"]


def test_pending_in_order_drops_non_pending_tasks() -> None:
    feed = Feed()
    feed.submit("a", "b", "c", priority=3)
    feed.submit("d", priority=4)
    feed.assign("d", "Ld")
    feed.cancel("b")
    assert feed.store.pending_in_order() == ["a", "c"]
    assert set(feed.store.pending_by_priority) == {3}
    feed.cancel("a")
    feed.cancel("c")
    assert feed.store.pending_in_order() == []
    assert feed.store.pending_by_priority == {}


def test_requeued_task_is_pending_again() -> None:
    feed = Feed()
    feed.submit("a", "b", "c")
    feed.assign("a", "La")
    feed.expire("a", "La")
    assert sorted(feed.store.pending_in_order()) == ["a", "b", "c"]


def test_pending_order_is_the_same_after_restore_when_a_task_was_requeued() -> None:
    feed = Feed()
    feed.submit("a", priority=5)
    feed.submit("b", priority=5)
    feed.submit("c", priority=5)
    feed.assign("a", "La")
    feed.expire("a", "La")
    restored = StateStore.from_snapshot(json.loads(json.dumps(feed.store.to_snapshot())))
    assert restored.pending_in_order() == feed.store.pending_in_order()


# ---- counts --------------------------------------------------------------------------------


def test_counts_cover_every_status() -> None:
    assert StateStore().counts() == {s: 0 for s in STATUSES}


def test_counts_follow_transitions(feed: Feed) -> None:
    assert feed.store.counts() == {**{s: 0 for s in STATUSES}, "pending": 7}
    feed.assign("t1", "L1")
    feed.assign("t2", "L2")
    feed.apply(c.CommandType.TASK_START, c.TaskStart(task_id="t2", lease_id="L2", now=2.0))
    feed.complete("t2", "L2")
    feed.assign("t3", "L3")
    feed.apply(c.CommandType.TASK_START, c.TaskStart(task_id="t3", lease_id="L3", now=2.0))
    feed.cancel("t4")
    assert feed.store.counts() == {
        "pending": 3,
        "assigned": 1,
        "running": 1,
        "succeeded": 1,
        "failed": 0,
        "cancelled": 1,
    }
    assert sum(feed.store.counts().values()) == len(feed.store.tasks)


# ---- snapshots -----------------------------------------------------------------------------


def test_snapshot_round_trip_keeps_digest_and_indexes(feed: Feed) -> None:
    feed.assign("t1", "L1")
    feed.cancel("t2")
    restored = StateStore.from_snapshot(json.loads(json.dumps(feed.store.to_snapshot())))
    assert restored.digest() == feed.store.digest()
    assert restored.applied_index == feed.store.applied_index
    assert restored.by_status == feed.store.by_status
    assert restored.by_worker == feed.store.by_worker
    assert restored.pending_in_order() == feed.store.pending_in_order()
    assert restored.counts() == feed.store.counts()


def test_snapshot_of_unknown_format_is_refused() -> None:
    data = StateStore().to_snapshot()
    data["format"] = 99
    with pytest.raises(ValueError, match="unsupported snapshot format"):
        StateStore.from_snapshot(data)
    with pytest.raises(ValueError):
        StateStore.from_snapshot({})


def test_digest_depends_on_content() -> None:
    a, b = Feed(), Feed()
    assert a.store.digest() == b.store.digest()
    a.submit("x")
    assert a.store.digest() != b.store.digest()
    b.submit("x")
    assert a.store.digest() == b.store.digest()
