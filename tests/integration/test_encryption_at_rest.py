"""Results are sealed before they enter the log: no replica's journal or snapshot holds a
plaintext finding or the key; reads decrypt for the submitting tenant and admins only; keys
rotate without losing old results."""

from __future__ import annotations

import gzip

from conftest import Targets, wait_until

from sniper_ha.security.data_keys import new_key

FINDING = b"sniper-test/1.0"  # the Server header of the test's HTTP target


def _tokens() -> list[dict]:
    return [
        {"name": "ops-a", "role": "operator", "token": "ops-a-token-0123456789", "tenant": "a"},
        {"name": "view-a", "role": "viewer", "token": "view-a-token-0123456789", "tenant": "a"},
        {"name": "view-b", "role": "viewer", "token": "view-b-token-0123456789", "tenant": "b"},
    ]


def _probe(cluster, targets: Targets, token: str) -> str:
    spec = {"type": "http_probe", "target": "127.0.0.1", "params": {"port": targets.http_port}}
    status, body = cluster.call("POST", "/v1/tasks", spec, token=token)
    assert status == 201, body
    task_id = body["tasks"][0]["id"]
    wait_until(lambda: cluster.call("GET", f"/v1/tasks/{task_id}")[1]["status"] == "succeeded",
               30, "the probe to finish")
    return task_id


def _disk_bytes(cluster) -> bytes:
    blobs = []
    for i in range(cluster.replicas):
        node_dir = cluster.data_dir / f"node-{i}"
        for path in node_dir.iterdir():
            raw = path.read_bytes()
            blobs.append(raw)
            if path.name.startswith("raft.snapshot"):
                blobs.append(gzip.decompress(raw))
    return b"\n".join(blobs)


def test_results_are_ciphertext_on_disk_and_visible_to_their_tenant(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=1, extra_tokens=_tokens(),
                           config={"raft": {"log_compaction_min_entries": 10}})
    task_id = _probe(cluster, targets, "ops-a-token-0123456789")
    spec = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "1"}}
    for _ in range(15):  # enough entries for every replica to write a snapshot
        cluster.call("POST", "/v1/tasks", spec)
    cluster.wait_converged()

    disk = _disk_bytes(cluster)
    assert any((cluster.data_dir / f"node-{i}" / "raft.snapshot").exists() for i in range(3))
    assert FINDING not in disk, "a plaintext finding reached a replica's disk"
    assert cluster.data_key.encode() not in disk, "the data key reached a replica's disk"

    _, mine = cluster.call("GET", f"/v1/tasks/{task_id}", token="view-a-token-0123456789")
    assert mine["result"]["server"].startswith("sniper-test/1.0")
    _, theirs = cluster.call("GET", f"/v1/tasks/{task_id}", token="view-b-token-0123456789")
    assert theirs["result"] is None and theirs["result_hidden"] is True
    _, admin = cluster.call("GET", f"/v1/tasks/{task_id}?stale=true", url=cluster.api_urls[2])
    assert admin["result"]["status"] == 200
    _, page = cluster.call("GET", "/v1/tasks?view=full&limit=1000", token="view-b-token-0123456789")
    assert all(t["result"] is None for t in page["tasks"])


def test_data_key_rotation_keeps_old_results_readable(make_cluster, targets) -> None:
    cluster = make_cluster(replicas=3, workers=1)
    old_task = _probe(cluster, targets, cluster.admin_token)
    second = new_key()
    cluster.config = {"security": {"data_keys": [{"id": "k1", "key": cluster.data_key},
                                                 {"id": "k2", "key": second}],
                                   "active_data_key": "k2"}}
    cluster.write_config()
    for i in range(3):  # a rolling restart onto the new key set
        cluster.nodes[i].stop()
        cluster.start_node(i)
        cluster.wait_for_leader(30)
    new_task = _probe(cluster, targets, cluster.admin_token)
    for task_id, kid in ((old_task, "k1"), (new_task, "k2")):
        _, task = cluster.call("GET", f"/v1/tasks/{task_id}")
        assert task["result"]["status"] == 200, task
        assert task["result_key_id"] == kid
    assert FINDING not in _disk_bytes(cluster)
