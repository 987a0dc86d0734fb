"""Log compaction: replicas restart from snapshot + journal, and a replica that fell behind a
compaction catches up through a snapshot transfer, reaching the same state digest."""

from __future__ import annotations

import os
import time


def _submit_batch(cluster, n: int, tag: str, url: str) -> None:
    spec = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "1"}}
    for i in range(n):
        status, body = cluster.call("POST", "/v1/tasks", spec, url=url,
                                    headers={"Idempotency-Key": f"{tag}{i}"})
        assert status == 201, body


def test_restart_and_catch_up_across_compaction(make_cluster) -> None:
    cluster = make_cluster(replicas=3, workers=0,
                           config={"raft": {"log_compaction_min_entries": 20}})
    leader = cluster.wait_for_leader()
    lagging = (leader + 1) % 3
    leader_url = cluster.api_urls[leader]
    _submit_batch(cluster, 60, "a", leader_url)
    cluster.wait_converged()
    cluster.kill_node(lagging)
    _submit_batch(cluster, 80, "b", leader_url)
    survivors = [i for i in range(3) if i != lagging]
    for i in survivors:
        assert os.path.exists(cluster.data_dir / f"node-{i}" / "raft.snapshot")
    cluster.start_node(lagging)
    same = cluster.wait_converged(60)
    assert same["replicas"] == 3
    _, view = cluster.get(cluster.api_urls[lagging], "/v1/cluster/self")
    assert view["tasks"]["pending"] == 140
    # Installing the leader's snapshot must not change who a replica thinks it is (pysyncobj
    # copies SyncObj attributes from snapshots; the soak once caught a replica taking the
    # leader's address and the replicas re-announcing each other forever).
    for i, url in enumerate(cluster.api_urls):
        _, view = cluster.get(url, "/v1/cluster/self")
        assert view["raft"] == cluster.raft_addrs[i] and view["api"] == url
    index = cluster.wait_converged()["ledger_index"]
    time.sleep(1.5)
    assert cluster.wait_converged()["ledger_index"] == index, "replicas keep proposing"

    # A full restart of every replica comes back from snapshots + journals with the same state.
    for i in range(3):
        cluster.kill_node(i)
    for i in range(3):
        cluster.start_node(i)
    leader = cluster.wait_for_leader(30)
    again = cluster.wait_converged(60)
    # The new leader's barrier is a new entry, so the index moved on; the tasks did not.
    assert again["ledger_index"] > same["ledger_index"]
    for url in cluster.api_urls:
        _, view = cluster.get(url, "/v1/cluster/self")
        assert view["tasks"]["pending"] == 140
    _, page = cluster.call("GET", "/v1/tasks?limit=1000", url=cluster.api_urls[leader])
    assert len(page["tasks"]) == 140
