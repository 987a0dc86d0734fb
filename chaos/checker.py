"""The checker: rules over the recorded history and the final state of every replica.

No linearizability checker for Python exists on PyPI, but this workload does not need one:
each idempotency key is a put-if-absent register, so each key's history is checked on its
own, in linear time.

Rules:
- lost_ack: every key whose submit was acknowledged (ok) names tasks that exist, with the
  acknowledged ids, on every replica, and are terminal after the settle period;
- duplicate_submit: one key never produced more than one task id, in the history or in state;
- double_result: no task holds two accepted results (two `succeeded` attempts);
- stale_lease_result: a succeeded task's result came from its current (last) lease;
- diverged: every replica reports the same state digest at the same ledger index, and the
  same task records;
- two_leaders: no two replicas answered writes as leader in the same term;
- hung: no operation took longer than its deadline, and none was left without an outcome;
- unavailable: the cluster had no serving leader for as long as a nemesis waited for one
  (30 s) with every earlier fault healed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chaos.history import Op
from chaos.workload import OP_DEADLINE

TERMINAL = {"succeeded", "failed", "cancelled"}


@dataclass
class ReplicaState:
    raft: str
    ledger_index: int
    state_digest: str
    tasks: dict[str, dict[str, Any]]


@dataclass
class Violation:
    rule: str
    detail: str
    ops: list[int] = field(default_factory=list)


@dataclass
class Verdict:
    violations: list[Violation]
    stats: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.violations


def check(ops: list[Op], replicas: list[ReplicaState]) -> Verdict:
    violations: list[Violation] = []
    stats: dict[str, Any] = {}
    submits = [o for o in ops if o.f == "submit"]
    acked: dict[str, set[str]] = defaultdict(set)
    acked_ops: dict[str, list[int]] = defaultdict(list)
    for o in submits:
        if o.type == "ok":
            acked[o.key].update(o.task_ids)
            acked_ops[o.key].append(o.index)
    stats["operations"] = sum(1 for o in ops if o.type == "invoke" and o.f != "nemesis")
    stats["submits_acknowledged"] = len(acked)
    stats["submits_unknown"] = len({o.key for o in submits if o.type == "info"} - set(acked))

    for key, ids in acked.items():
        if len(ids) > 1:
            violations.append(Violation("duplicate_submit",
                                        f"key {key} acknowledged with task ids {sorted(ids)}",
                                        acked_ops[key]))

    lost = 0
    for replica in replicas:
        by_key: dict[str, list[str]] = defaultdict(list)
        for task in replica.tasks.values():
            if task.get("idempotency_key"):
                by_key[task["idempotency_key"]].append(task["id"])
        for scoped, ids in by_key.items():
            if len(ids) > 1:
                violations.append(Violation(
                    "duplicate_submit", f"{replica.raft}: key {scoped} has tasks {sorted(ids)}"))
        for key, ids in acked.items():
            for task_id in ids:
                task = replica.tasks.get(task_id)
                if task is None:
                    lost += 1
                    violations.append(Violation(
                        "lost_ack", f"{replica.raft}: acknowledged task {task_id} (key {key}) "
                        "is missing", acked_ops[key]))
                elif task["status"] not in TERMINAL:
                    violations.append(Violation(
                        "lost_ack", f"{replica.raft}: acknowledged task {task_id} (key {key}) "
                        f"never finished: {task['status']}", acked_ops[key]))
        for task in replica.tasks.values():
            violations.extend(_result_rules(replica.raft, task))
    stats["lost"] = lost

    if replicas:
        first = replicas[0]
        for other in replicas[1:]:
            if (other.ledger_index, other.state_digest) != (first.ledger_index, first.state_digest):
                violations.append(Violation(
                    "diverged", f"{first.raft} at {first.ledger_index} {first.state_digest[:12]} "
                    f"vs {other.raft} at {other.ledger_index} {other.state_digest[:12]}"))
            elif other.tasks != first.tasks:
                violations.append(Violation(
                    "diverged", f"{first.raft} and {other.raft} agree on the digest but not on "
                    "the task records"))

    leaders_per_term: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for o in ops:
        if o.type == "ok" and o.f == "submit" and o.term is not None and o.leader:
            leaders_per_term[o.term][o.leader].append(o.index)
    for term, leaders in leaders_per_term.items():
        if len(leaders) > 1:
            violations.append(Violation(
                "two_leaders", f"term {term} had writes accepted by {sorted(leaders)}",
                [i for idx in leaders.values() for i in idx[:3]]))
    stats["terms_with_writes"] = len(leaders_per_term)

    completions = {o.index: o for o in ops if o.type in ("ok", "fail", "info")}
    hung = [o for o in completions.values() if o.duration is not None and o.duration > OP_DEADLINE]
    for o in hung:
        violations.append(Violation("hung", f"{o.process} {o.f} {o.key or ''} took "
                                    f"{o.duration:.1f}s (deadline {OP_DEADLINE:.0f}s)", [o.index]))
    open_invokes = _unfinished(ops)
    for o in open_invokes:
        violations.append(Violation("hung", f"{o.process} {o.f} {o.key or ''} never completed",
                                    [o.index]))
    for o in ops:
        if o.f == "nemesis" and o.type == "fail":
            violations.append(Violation("unavailable", f"before {o.value}: {o.error}", [o.index]))
    stats["duplicated"] = sum(1 for v in violations if v.rule in ("duplicate_submit", "double_result"))
    return Verdict(violations, stats)


def _result_rules(raft: str, task: dict[str, Any]) -> list[Violation]:
    out = []
    attempts = task.get("attempts", [])
    wins = [a for a in attempts if a.get("outcome") == "succeeded"]
    if len(wins) > 1:
        out.append(Violation("double_result",
                             f"{raft}: task {task['id']} accepted {len(wins)} results"))
    if task["status"] == "succeeded":
        if not wins or wins[-1] is not attempts[-1] or wins[-1]["lease_id"] != task["lease_id"]:
            out.append(Violation("stale_lease_result",
                                 f"{raft}: task {task['id']} succeeded with a result from a lease "
                                 "that was not its current one"))
    return out


def _unfinished(ops: list[Op]) -> list[Op]:
    """Invokes of a process that were never followed by a completion of that process."""
    open_by_process: dict[str, Op] = {}
    for o in ops:
        if o.f == "nemesis":
            continue
        if o.type == "invoke":
            open_by_process[o.process] = o
        else:
            open_by_process.pop(o.process, None)
    return list(open_by_process.values())
