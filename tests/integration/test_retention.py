"""Retention: the leader purges results, then whole finished tasks, through Raft; every
replica forgets the same records and the snapshots shrink."""

from __future__ import annotations

from conftest import wait_until

RETENTION = {"retention": {"results": 2, "completed_tasks": 5, "sweep_interval": 0.5},
             "raft": {"log_compaction_min_entries": 20}}


def test_purge_results_then_tasks_and_snapshots_shrink(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=1, config=RETENTION)
    leader_url = cluster.api_urls[cluster.wait_for_leader()]
    probe = {"type": "tcp_connect", "target": "127.0.0.1",
             "params": {"ports": str(targets.open_ports[0])}}
    _, body = cluster.call("POST", "/v1/tasks", probe, url=leader_url)
    done = body["tasks"][0]["id"]
    wait_until(lambda: cluster.call("GET", f"/v1/tasks/{done}")[1]["status"] == "succeeded",
               20, "the scan to finish")
    _, batch = cluster.call("POST", "/v1/tasks", {"tasks": [
        {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "1-1024"},
         "priority": 0} for _ in range(200)]}, url=leader_url)
    ids = [t["id"] for t in batch["tasks"]]
    for task_id in ids:  # cancelled tasks are finished too
        cluster.call("POST", f"/v1/tasks/{task_id}/cancel", {}, url=leader_url)
    cluster.wait_converged()
    sizes_before = _snapshot_sizes(cluster)

    task = wait_until(lambda: (t := cluster.call("GET", f"/v1/tasks/{done}")[1])
                      .get("result_purged_at") and t, 15, "the result to be purged")
    assert task["result"] is None and task["status"] == "succeeded"
    wait_until(lambda: cluster.call("GET", f"/v1/tasks/{done}")[0] == 404, 20,
               "the finished task to be deleted")
    wait_until(lambda: cluster.call("GET", "/v1/tasks?limit=1", url=leader_url)[1]["counts"]
               ["cancelled"] == 0, 30, "every cancelled task to be deleted")
    spec = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "1"}}
    for _ in range(30):  # new entries so that every replica compacts again
        cluster.call("POST", "/v1/tasks", spec, url=leader_url)
    assert cluster.wait_converged()["replicas"] == 3  # same digest at the same index
    for url in cluster.api_urls:  # (workers and retention keep changing the state after)
        _, view = cluster.get(url, "/v1/cluster/self")
        assert view["tasks"]["cancelled"] == 0
        assert sum(view["tasks"].values()) <= 30
    wait_until(lambda: all(after < before for after, before
                           in zip(_snapshot_sizes(cluster), sizes_before, strict=True)),
               30, "every snapshot to shrink")
    _, audit = cluster.call("GET", "/v1/audit?action=retention.&limit=1000")
    kinds = {r["action"] for r in audit["records"]}
    assert {"retention.results", "retention.tasks"} <= kinds


def _snapshot_sizes(cluster) -> list[int]:
    return [(cluster.data_dir / f"node-{i}" / "raft.snapshot").stat().st_size
            for i in range(cluster.replicas)]
