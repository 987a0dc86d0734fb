"""A real 3-replica cluster with 2 workers runs 50 scans submitted through a follower."""

from __future__ import annotations

from conftest import Targets, wait_until

from sniper_ha.scanners.http_probe import SECURITY_HEADERS


def test_fifty_tasks_through_a_follower(make_cluster, targets: Targets) -> None:
    cluster = make_cluster(replicas=3, workers=2)
    leader = cluster.wait_for_leader()
    follower = cluster.api_urls[(leader + 1) % 3]
    ports = ",".join(map(str, [*targets.open_ports, targets.closed_port]))
    submitted: dict[str, str] = {}
    for i in range(50):
        if i % 5 == 0:
            spec = {"type": "http_probe", "target": "127.0.0.1",
                    "params": {"port": targets.http_port}}
        else:
            spec = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": ports}}
        status, body = cluster.call("POST", "/v1/tasks", spec, url=follower,
                                    headers={"Idempotency-Key": f"e2e-{i}"})
        assert status == 201, body
        submitted[body["tasks"][0]["id"]] = spec["type"]

    def all_done():
        _, page = cluster.call("GET", "/v1/tasks?limit=1000", url=follower)
        return page if page["counts"]["succeeded"] == 50 else None

    page = wait_until(all_done, 60, "50 tasks to succeed")
    assert {t["id"] for t in page["tasks"]} == set(submitted)

    workers_used = set()
    for task_id, kind in submitted.items():
        status, task = cluster.call("GET", f"/v1/tasks/{task_id}", url=follower)
        assert status == 200
        assert task["status"] == "succeeded"
        assert [a["outcome"] for a in task["attempts"]] == ["succeeded"]
        workers_used.add(task["worker_id"])
        result = task["result"]
        if kind == "tcp_connect":
            assert result["open"] == targets.open_ports
            assert result["closed"] == 1
            assert result["scanned"] == 4
        else:
            assert result["status"] == 200
            assert result["server"].startswith("sniper-test/1.0")
            assert "X-Frame-Options" not in result["missing_security_headers"]
            assert set(result["missing_security_headers"]) == set(SECURITY_HEADERS) - {
                "X-Frame-Options"
            }
    assert len(workers_used) == 2, "round robin should spread work over both workers"

    same = cluster.wait_converged()
    assert same["replicas"] == 3

    status, cluster_view = cluster.call("GET", "/v1/cluster", url=follower)
    assert status == 200
    roles = sorted(r["role"] for r in cluster_view["replicas"])
    assert roles == ["follower", "follower", "leader"]
    assert all(r["api"] for r in cluster_view["replicas"])
