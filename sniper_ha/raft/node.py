"""The replica: a SyncObj carrying one consumer, the Ledger, with one @replicated method.

pysyncobj numbers replicated methods by sorted name, so the ledger exposes exactly one
(`apply`) and evolves through the CommandType enum instead of new methods: the wire ids never
change across a rolling upgrade. The ledger is a SyncObjConsumer so that its snapshot is
exactly `StateStore.to_snapshot()` (plain data) and restore swaps in a freshly built store.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pysyncobj import SyncObj, SyncObjConf, SyncObjConsumer, replicated

from sniper_ha.config import RaftConfig
from sniper_ha.ledger import fsm
from sniper_ha.ledger.state import StateStore

log = logging.getLogger(__name__)

AppliedHook = Callable[[str, fsm.Outcome], None]
StateHook = Callable[[int, int], None]

ROLE_NAMES = {0: "follower", 1: "candidate", 2: "leader"}


class Ledger(SyncObjConsumer):
    def __init__(self) -> None:
        super().__init__()
        #: Guards `store` between the Raft thread (apply, snapshot) and API readers.
        self.lock = threading.Lock()
        self.store = StateStore()
        self.on_applied: AppliedHook | None = None

    @replicated
    def apply(self, command: dict[str, Any]) -> fsm.Outcome:
        index = self._syncObj.raftLastApplied + 1
        with self.lock:
            outcome = fsm.apply(self.store, command, index)
        hook = self.on_applied
        if hook is not None:
            try:
                hook(command.get("type", ""), outcome)
            except Exception:  # a hook must never break replication
                log.exception("post-apply hook failed")
        return outcome

    def _serialize(self) -> dict[str, Any]:
        with self.lock:
            return self.store.to_snapshot()

    def _deserialize(self, data: dict[str, Any]) -> None:
        fresh = StateStore.from_snapshot(data)
        with self.lock:
            self.store = fresh


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def sync_conf(raft: RaftConfig, data_dir: Path, **extra: Any) -> SyncObjConf:
    """pysyncobj's settings from ours: timers, file journal and snapshot, encryption.
    bench/submit.py builds its raw reference from this too, so the ratio is like for like."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return SyncObjConf(
        journalFile=str(data_dir / "raft.journal"),
        fullDumpFile=str(data_dir / "raft.snapshot"),
        appendEntriesPeriod=raft.append_entries_period,
        autoTickPeriod=raft.auto_tick_period,
        raftMinTimeout=raft.election_timeout_min,
        raftMaxTimeout=raft.election_timeout_max,
        leaderFallbackTimeout=raft.leader_fallback_timeout,
        connectionTimeout=raft.connection_timeout,
        connectionRetryTime=raft.connection_retry_time,
        logCompactionMinEntries=raft.log_compaction_min_entries,
        logCompactionMinTime=raft.log_compaction_min_time,
        commandsWaitLeader=False,
        password=raft.password,
        **extra,
    )


class Replica(SyncObj):
    """One master replica's Raft member."""

    def __init__(
        self,
        self_addr: str,
        peers: list[str],
        data_dir: Path,
        raft: RaftConfig,
        on_state_changed: StateHook | None = None,
        bind_addr: str | None = None,
    ) -> None:
        """`self_addr` is this replica's identity in the cluster (what peers dial);
        `bind_addr`, when given, is where it really listens (behind a proxy or NAT)."""
        others = [p for p in peers if p != self_addr]
        addrs = [self_addr, *others, *([bind_addr] if bind_addr else [])]
        if raft.password is None and not all(is_loopback(a) for a in addrs):
            raise ValueError(
                "raft.password is required when a Raft address is not loopback: "
                "pysyncobj's wire format is pickle and an open port runs arbitrary code"
            )
        if raft.password is None:
            log.warning("raft.password is not set: the Raft port accepts unauthenticated pickle; "
                        "acceptable only for a loopback development cluster")
        data_dir.mkdir(parents=True, exist_ok=True)
        self.ledger = Ledger()
        conf = sync_conf(
            raft, data_dir,
            onStateChanged=on_state_changed,
            bindAddress=bind_addr,
            # Replicas are added and removed at run time (POST/DELETE /v1/cluster/members);
            # the membership then lives in the log and snapshots, not in --peers.
            dynamicMembershipChange=True,
        )
        super().__init__(self_addr, others, conf=conf, consumers=[self.ledger])
        # Nothing is assigned on self after super().__init__(): pysyncobj pickles such
        # attributes into its snapshots and sets them on whoever installs one, which once
        # gave a wiped replica the leader's address as its own.

    @property
    def self_addr(self) -> str:
        """This replica's Raft identity (what peers dial), straight from pysyncobj."""
        return self.selfNode.address

    @property
    def is_leader(self) -> bool:
        return self._isLeader()

    @property
    def leader_addr(self) -> str | None:
        leader = self._getLeader()
        return None if leader is None else leader.address

    def peer_addrs(self) -> list[str]:
        return [n.address for n in self.otherNodes]

    @property
    def term(self) -> int:
        return self.raftCurrentTerm

    def status(self) -> dict[str, Any]:
        st = self.getStatus()
        peers = {
            key.removeprefix("partner_node_status_server_"): bool(val)
            for key, val in st.items()
            if key.startswith("partner_node_status_server_")
        }
        return {
            "raft": self.self_addr,
            "role": ROLE_NAMES.get(st["state"], str(st["state"])),
            "leader": None if st["leader"] is None else st["leader"].address,
            "term": st["raft_term"],
            "commit_index": st["commit_idx"],
            "applied_index": st["last_applied"],
            "has_quorum": st["has_quorum"],
            "log_len": st["log_len"],
            "peers_connected": peers,
        }
