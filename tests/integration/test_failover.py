"""kill -9 the leader mid-run: the survivors elect, nothing acknowledged is lost, the dead
replica rejoins from its data dir and reaches the same applied state."""

from __future__ import annotations

import time

from conftest import Targets, wait_until


def _submit(cluster, url: str, spec: dict, key: str, deadline: float = 20.0) -> str:
    """Submit with retries (same Idempotency-Key) across replicas, as a real client would."""
    stop = time.monotonic() + deadline
    urls = [url, *[u for u in cluster.api_urls if u != url]]
    attempt = 0
    while True:
        target = urls[attempt % len(urls)]
        attempt += 1
        try:
            status, body = cluster.call("POST", "/v1/tasks", spec, url=target, timeout=10,
                                        headers={"Idempotency-Key": key})
        except OSError:
            status, body = None, None
        if status in (200, 201):
            return body["tasks"][0]["id"]
        assert status in (None, 503), (status, body)
        assert time.monotonic() < stop, f"submit {key} not acknowledged: {status} {body}"
        time.sleep(0.2)


def test_leader_kill_loses_nothing_and_replica_rejoins(make_cluster, targets: Targets) -> None:
    cluster = make_cluster(replicas=3, workers=2, worker_slots=3)
    leader = cluster.wait_for_leader()
    follower_url = cluster.api_urls[(leader + 1) % 3]
    slow = {"type": "http_probe", "target": "127.0.0.1", "params": {"port": targets.slow_http_port}}
    fast = {"type": "tcp_connect", "target": "127.0.0.1",
            "params": {"ports": str(targets.open_ports[0])}}

    acked = [_submit(cluster, follower_url, slow if i % 2 else fast, f"before-{i}")
             for i in range(20)]
    # Some tasks are now running on workers (slow probes take 1.5 s each).
    wait_until(lambda: cluster.call("GET", "/v1/tasks?status=running", url=follower_url)[1]
               ["counts"]["running"] > 0, 15, "a task to be running")

    cluster.kill_node(leader)
    killed_at = time.monotonic()
    survivor_url = follower_url
    acked += [_submit(cluster, survivor_url, slow if i % 2 else fast, f"after-{i}")
              for i in range(10)]
    new_leader = cluster.wait_for_leader(30)
    assert new_leader != leader
    print(f"first write acknowledged {time.monotonic() - killed_at:.2f}s after the kill")

    def finished():
        tasks = [cluster.call("GET", f"/v1/tasks/{t}", url=survivor_url)[1] for t in acked]
        return tasks if all(t["status"] == "succeeded" for t in tasks) else None

    tasks = wait_until(finished, 90, "every acknowledged task to succeed", interval=0.5)
    for task in tasks:
        outcomes = [a["outcome"] for a in task["attempts"]]
        assert outcomes.count("succeeded") == 1, task
        assert outcomes[-1] == "succeeded", task
        assert task["result"] is not None
    _, page = cluster.call("GET", "/v1/tasks?limit=1000", url=survivor_url)
    assert len(page["tasks"]) == 30, "one task per idempotency key, no duplicates"

    cluster.start_node(leader)
    same = cluster.wait_converged(60)
    assert same["replicas"] == 3
    status, rejoined = cluster.get(cluster.api_urls[leader], "/v1/cluster/self")
    assert status == 200
    assert rejoined["state_digest"] == same["state_digest"]
    assert rejoined["tasks"]["succeeded"] == 30
