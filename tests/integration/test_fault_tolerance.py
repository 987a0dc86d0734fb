"""Worker and master faults on real processes: heartbeat TTL, reassignment, fencing of a
paused worker, leases across a leader kill, results through another replica, control
commands across a failover, and degraded modes."""

from __future__ import annotations

import signal
import time

from conftest import Targets, wait_until

HB = 0.5
TTL = HB * 3
FAST_HEARTBEATS = {"workers": {"heartbeat_interval": HB, "heartbeat_ttl_multiplier": 3}}
LEASE_WAIT = 10.0  # the worker agent's long-poll wait


def slow_probe(targets: Targets, seconds: float) -> dict:
    return {"type": "http_probe", "target": "127.0.0.1",
            "params": {"port": targets.http_port, "path": f"/?delay={seconds}", "timeout": 40}}


def submit(cluster, spec: dict, url: str | None = None) -> str:
    status, body = cluster.call("POST", "/v1/tasks", spec, url=url)
    assert status == 201, body
    return body["tasks"][0]["id"]


def task(cluster, task_id: str, url: str | None = None) -> dict:
    urls = [url] if url else cluster.api_urls
    for u in urls:
        try:
            status, body = cluster.call("GET", f"/v1/tasks/{task_id}?stale=false", url=u)
        except OSError:
            continue
        if status == 200:
            return body
    raise AssertionError(f"no replica answered for task {task_id}")


def worker(cluster, worker_id: str, url: str | None = None) -> dict:
    status, body = cluster.call("GET", f"/v1/workers/{worker_id}", url=url)
    assert status == 200, body
    return body


def running_on(cluster, task_id: str, url: str | None = None) -> str | None:
    t = task(cluster, task_id, url)
    return t["worker_id"] if t["status"] == "running" else None


def assert_exactly_one_result(t: dict) -> None:
    outcomes = [a["outcome"] for a in t["attempts"]]
    assert t["status"] == "succeeded", t
    assert outcomes.count("succeeded") == 1 and outcomes[-1] == "succeeded", outcomes
    assert t["result"] is not None


def test_killed_worker_task_is_reassigned_and_worker_returns(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=2, worker_slots=1, config=FAST_HEARTBEATS)
    task_id = submit(cluster, slow_probe(targets, 4))
    wid = wait_until(lambda: running_on(cluster, task_id), 20, "the task to run")
    j = cluster.worker_index(wid)
    cluster.agents[j].kill()
    killed = time.time()

    t = wait_until(lambda: (x := task(cluster, task_id))["attempt"] == 2 and x, 20,
                   "the task to be leased again")
    reassigned = t["attempts"][1]["assigned_at"] - killed
    print(f"reassigned {reassigned:.2f}s after kill -9 (TTL {TTL}s)")
    assert reassigned < TTL + LEASE_WAIT + 5
    assert t["attempts"][0]["outcome"] == "lost" and t["attempts"][1]["worker_id"] != wid
    assert worker(cluster, wid)["status"] == "down"

    t = wait_until(lambda: (x := task(cluster, task_id))["status"] == "succeeded" and x, 30,
                   "the reassigned task to finish")
    assert_exactly_one_result(t)

    cluster.add_worker(j)  # same data dir, same worker id
    wait_until(lambda: worker(cluster, wid)["status"] == "ready", 20, "the worker to be ready")


def test_paused_worker_late_result_is_refused(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=2, worker_slots=1, config=FAST_HEARTBEATS)
    task_id = submit(cluster, slow_probe(targets, 2))
    wid = wait_until(lambda: running_on(cluster, task_id), 20, "the task to run")
    j = cluster.worker_index(wid)
    paused = cluster.agents[j]
    paused.signal(signal.SIGSTOP)
    try:
        t = wait_until(lambda: (x := task(cluster, task_id))["status"] == "succeeded" and x, 40,
                       "the task to finish on the other worker")
        assert worker(cluster, wid)["status"] == "down"
    finally:
        paused.signal(signal.SIGCONT)
    # Woken up, the paused worker finishes its scan and writes with its old lease: refused.
    wait_until(lambda: "refused" in paused.log_path.read_text()
               or "cancelling" in paused.log_path.read_text(), 20,
               "the paused worker to be fenced off")
    wait_until(lambda: worker(cluster, wid)["status"] == "ready", 20, "the worker to be ready again")
    t = task(cluster, task_id)
    assert_exactly_one_result(t)
    assert [a["outcome"] for a in t["attempts"]] == ["lost", "succeeded"]
    assert t["attempts"][1]["worker_id"] != wid
    assert not list((cluster.data_dir / f"worker-{j}" / "outbox").glob("*.json"))


def test_leader_kill_keeps_leases_and_workers(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=2, worker_slots=2, config=FAST_HEARTBEATS)
    leader = cluster.wait_for_leader()
    survivor = cluster.api_urls[(leader + 1) % 3]
    ids = [submit(cluster, slow_probe(targets, 3), url=survivor) for _ in range(4)]
    wait_until(lambda: all(running_on(cluster, t, survivor) for t in ids), 20, "4 tasks running")
    cluster.kill_node(leader)
    cluster.wait_for_leader(30)
    done = wait_until(
        lambda: (xs := [task(cluster, t, survivor) for t in ids])
        and all(x["status"] == "succeeded" for x in xs) and xs, 40, "every task to finish")
    for t in done:
        assert_exactly_one_result(t)
        assert len(t["attempts"]) == 1, "a lease was lost or a worker declared down"
    _, listing = cluster.call("GET", "/v1/workers", url=survivor)
    assert [w["status"] for w in listing["workers"]] == ["ready", "ready"]
    assert all(w.get("status_reason") is None for w in listing["workers"])


def test_result_goes_through_another_replica(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=1, worker_slots=1, config=FAST_HEARTBEATS)
    # The worker talks to the first URL in its list (node-0) until that replica fails.
    task_id = submit(cluster, slow_probe(targets, 3), url=cluster.api_urls[1])
    wait_until(lambda: running_on(cluster, task_id, cluster.api_urls[1]), 20, "the task to run")
    cluster.kill_node(0)
    t = wait_until(lambda: (x := task(cluster, task_id, cluster.api_urls[1]))["status"]
                   == "succeeded" and x, 40, "the result to arrive through another replica")
    assert_exactly_one_result(t)
    assert len(t["attempts"]) == 1


def test_control_commands_across_failover(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=2, worker_slots=1, config=FAST_HEARTBEATS)
    leader = cluster.wait_for_leader()
    survivor = cluster.api_urls[(leader + 1) % 3]
    wait_until(lambda: all(cluster.worker_id(j) for j in range(2)), 20, "workers to register")
    w0, w1 = cluster.worker_id(0), cluster.worker_id(1)

    long_task = submit(cluster, slow_probe(targets, 20), url=survivor)
    runner = wait_until(lambda: running_on(cluster, long_task, survivor), 20, "the long task to run")
    other = w1 if runner == w0 else w0
    status, _ = cluster.call("POST", f"/v1/workers/{other}/drain", url=survivor)
    assert status == 200
    status, body = cluster.call("POST", f"/v1/tasks/{long_task}/cancel", {}, url=survivor)
    assert status == 200 and body["status"] == "cancelled"

    cluster.kill_node(leader)  # commands are in the ledger: the next leader delivers them
    cluster.wait_for_leader(30)
    runner_log = cluster.agents[cluster.worker_index(runner)].log_path
    wait_until(lambda: "cancelling" in runner_log.read_text(), 20, "the scan to be cancelled")
    t = task(cluster, long_task, survivor)
    assert t["status"] == "cancelled" and t["result"] is None
    assert [a["outcome"] for a in t["attempts"]] == ["cancelled"]

    # The drained worker takes nothing new; the runner (now free) takes everything.
    quick = [submit(cluster, slow_probe(targets, 0.2), url=survivor) for _ in range(3)]
    finished = wait_until(
        lambda: (xs := [task(cluster, q, survivor) for q in quick])
        and all(x["status"] == "succeeded" for x in xs) and xs, 30, "quick tasks to finish")
    assert {x["worker_id"] for x in finished} == {runner}
    assert worker(cluster, other, survivor)["control"] == "drain"

    status, _ = cluster.call("POST", f"/v1/workers/{other}/shutdown", url=survivor)
    assert status == 200
    proc = cluster.agents[cluster.worker_index(other)]
    wait_until(lambda: not proc.alive(), 20, "the worker process to exit")
    assert proc.popen.returncode == 0
    gone = worker(cluster, other, survivor)
    assert gone["status"] == "down" and gone["status_reason"] == "worker left"


def test_degraded_modes(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=0, config=FAST_HEARTBEATS)
    # No workers: submits still succeed and wait.
    waiting = [submit(cluster, {"type": "tcp_connect", "target": "127.0.0.1",
                                "params": {"ports": str(targets.open_ports[0])}}) for _ in range(5)]
    _, page = cluster.call("GET", "/v1/tasks?status=pending")
    assert {t["id"] for t in page["tasks"]} == set(waiting)
    # A worker arrives and serves the queue.
    cluster.add_worker(0)
    wait_until(lambda: all(task(cluster, t)["status"] == "succeeded" for t in waiting), 30,
               "the queued tasks to be served")

    # No quorum: stale reads answer, writes fail promptly with 503 no_leader.
    leader = cluster.wait_for_leader()
    alone = (leader + 1) % 3
    for i in range(3):
        if i != alone:
            cluster.kill_node(i)
    url = cluster.api_urls[alone]
    status, page = cluster.call("GET", "/v1/tasks?stale=true", url=url)
    assert status == 200 and page["counts"]["succeeded"] == 5
    started = time.monotonic()
    status, body = cluster.call("POST", "/v1/tasks", {"type": "tcp_connect", "target": "127.0.0.1"},
                                url=url, timeout=30)
    held = time.monotonic() - started
    assert status == 503 and body["error"] in ("no_leader", "not_leader"), body
    assert body["retry_after"] > 0
    print(f"write without quorum answered 503 after {held:.2f}s")
    assert held < 15, "a write without quorum must not hang"
    status, _ = cluster.call("GET", "/v1/tasks", url=url, timeout=30)
    assert status == 503
