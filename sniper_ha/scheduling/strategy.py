"""Distribution strategies: given ready tasks and workers asking for work, decide who gets what.

A strategy is leader-local and holds no replicated state; a new leader starts a fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass
class Candidate:
    """A worker waiting on a lease request, with how many more tasks it may take now."""

    worker_id: str
    free_slots: int
    capabilities: frozenset[str]
    labels: dict[str, str]


def can_run(worker: Candidate, task: dict[str, Any]) -> bool:
    return not worker.capabilities or task["type"] in worker.capabilities


class Strategy(Protocol):
    name: str

    def plan(self, tasks: list[dict[str, Any]], workers: list[Candidate]) -> list[tuple[str, str]]:
        """Return (task_id, worker_id) pairs; must respect each worker's free_slots."""
        ...


class RoundRobin:
    """Rotate through workers in id order, skipping those full or unable to run the task."""

    name = "round_robin"

    def __init__(self) -> None:
        self._last: str | None = None

    def plan(self, tasks: list[dict[str, Any]], workers: list[Candidate]) -> list[tuple[str, str]]:
        ring = sorted(workers, key=lambda w: w.worker_id)
        out: list[tuple[str, str]] = []
        for task in tasks:
            eligible = [w for w in ring if w.free_slots > 0 and can_run(w, task)]
            if not eligible:
                if not any(w.free_slots > 0 for w in ring):
                    break
                continue
            pick = next(
                (w for w in eligible if self._last is not None and w.worker_id > self._last),
                eligible[0],
            )
            pick.free_slots -= 1
            self._last = pick.worker_id
            out.append((task["id"], pick.worker_id))
        return out


STRATEGIES = {"round_robin": RoundRobin}


def make_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]()
    except KeyError:
        raise ValueError(f"unknown distribution strategy {name!r}") from None
