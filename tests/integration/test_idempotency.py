"""Idempotent submits, idempotent result writes, and fencing of a stale lease (409).

The test plays the worker itself through the API, so it controls every lease.
"""

from __future__ import annotations

from conftest import Targets, wait_until

CREDENTIALS: dict[str, str] = {}


def _register(cluster, wid: str, url=None) -> int:
    """Register with the join token; keep the worker's own credential it answers."""
    status, body = cluster.call("POST", "/v1/workers",
                                {"worker_id": wid, "name": wid, "max_concurrent_tasks": 1},
                                url=url, token=cluster.worker_token)
    CREDENTIALS[wid] = body["credential"]
    return status


def _as_worker(cluster, wid: str, method: str, path: str, body=None, url=None):
    return cluster.call(method, path, body, url=url, token=CREDENTIALS[wid])


def test_submit_with_same_key_gives_one_task(make_cluster, targets: Targets) -> None:
    cluster = make_cluster(replicas=3, workers=0)
    leader = cluster.wait_for_leader()
    follower = cluster.api_urls[(leader + 1) % 3]
    spec = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "1-10"}}
    first = cluster.call("POST", "/v1/tasks", spec, url=follower, headers={"Idempotency-Key": "k1"})
    again = cluster.call("POST", "/v1/tasks", spec, url=cluster.api_urls[leader],
                         headers={"Idempotency-Key": "k1"})
    assert first[0] == 201 and again[0] == 200
    assert [t["id"] for t in first[1]["tasks"]] == [t["id"] for t in again[1]["tasks"]]
    other = dict(spec, target="127.0.0.2")
    status, body = cluster.call("POST", "/v1/tasks", other, url=follower,
                                headers={"Idempotency-Key": "k1"})
    assert status == 409 and body["field"] == "Idempotency-Key"
    batch = {"tasks": [spec, other]}
    s1, b1 = cluster.call("POST", "/v1/tasks", batch, headers={"Idempotency-Key": "k2"})
    s2, b2 = cluster.call("POST", "/v1/tasks", batch, headers={"Idempotency-Key": "k2"})
    assert (s1, s2) == (201, 200) and b1["tasks"] == b2["tasks"] and len(b1["tasks"]) == 2
    _, page = cluster.call("GET", "/v1/tasks")
    assert len(page["tasks"]) == 3


def test_result_writes_are_idempotent_and_stale_leases_fenced(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=0,
                           config={"workers": {"heartbeat_interval": 0.5}})
    leader = cluster.wait_for_leader()
    follower = cluster.api_urls[(leader + 1) % 3]
    for wid in ("wa", "wb"):
        assert _register(cluster, wid, url=follower) == 201
    spec = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "1"}}
    _, body = cluster.call("POST", "/v1/tasks", spec, url=follower)
    task_id = body["tasks"][0]["id"]

    status, grant = _as_worker(cluster, "wa", "POST", "/v1/workers/wa/lease?max=1&wait=5", url=follower)
    assert status == 200 and [t["id"] for t in grant["tasks"]] == [task_id]
    old_lease = grant["tasks"][0]["lease_id"]
    assert grant["tasks"][0]["attempt"] == 1
    status, _ = _as_worker(cluster, "wa", "POST", f"/v1/tasks/{task_id}/status",
                           {"lease_id": old_lease, "status": "running"}, url=follower)
    assert status == 200

    # Worker wa stops heartbeating: past its TTL (3 x 0.5 s) the leader marks it down and
    # requeues its lease; the task is leased again to wb with a new attempt.
    wait_until(lambda: cluster.call("GET", f"/v1/tasks/{task_id}")[1]["status"] == "pending",
               15, "the silent worker's lease to be requeued")
    _, worker = cluster.call("GET", "/v1/workers/wa")
    assert worker["status"] == "down"
    status, _ = _as_worker(cluster, "wb", "POST", "/v1/workers/wb/heartbeat", {"running_tasks": []})
    assert status == 200
    status, grant = _as_worker(cluster, "wb", "POST", "/v1/workers/wb/lease?max=1&wait=5")
    assert status == 200 and grant["tasks"][0]["attempt"] == 2
    new_lease = grant["tasks"][0]["lease_id"]

    late = {"lease_id": old_lease, "status": "succeeded", "result": {"open": [1]}}
    status, body = _as_worker(cluster, "wa", "PUT", f"/v1/tasks/{task_id}/result", late,
                              url=follower)
    assert status == 409 and body["error"] == "stale_lease"
    # Credentials are bound to their worker: wb cannot write with wa's lease, nor act as wa,
    # and the join token alone (a rogue that never registered) can do neither.
    status, body = _as_worker(cluster, "wb", "PUT", f"/v1/tasks/{task_id}/result", late)
    assert status == 403 and body["field"] == "lease_id"
    assert _as_worker(cluster, "wb", "POST", "/v1/workers/wa/heartbeat", {})[0] == 403
    for path in ("/v1/workers/wb/lease?wait=0", "/v1/workers/wb/heartbeat"):
        assert cluster.call("POST", path, {}, token=cluster.worker_token)[0] == 403

    write = {"lease_id": new_lease, "status": "succeeded", "result": {"open": []}}
    first = _as_worker(cluster, "wb", "PUT", f"/v1/tasks/{task_id}/result", write, url=follower)
    again = _as_worker(cluster, "wb", "PUT", f"/v1/tasks/{task_id}/result", write)
    assert first[0] == again[0] == 200
    assert first[1] == again[1]
    _, task = cluster.call("GET", f"/v1/tasks/{task_id}")
    assert task["status"] == "succeeded" and task["result"] == {"open": []}
    assert [a["outcome"] for a in task["attempts"]] == ["lost", "succeeded"]
    status, body = _as_worker(cluster, "wa", "PUT", f"/v1/tasks/{task_id}/result", late)
    assert status == 409
