"""A replica that lost its disk is removed, wiped, added back and catches up."""

from __future__ import annotations

import shutil


def test_wiped_replica_rejoins_through_membership_change(make_cluster) -> None:
    cluster = make_cluster(replicas=3, workers=0)
    leader = cluster.wait_for_leader()
    lurl = cluster.api_urls[leader]
    spec = {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "1"}}
    for _ in range(20):
        assert cluster.call("POST", "/v1/tasks", spec, url=lurl)[0] == 201
    victim = (leader + 1) % 3
    raft = cluster.raft_addrs[victim]
    cluster.kill_node(victim)

    status, body = cluster.call("DELETE", f"/v1/cluster/members/{raft}", url=lurl)
    assert status == 200, body
    assert raft not in body["members"] and len(body["members"]) == 2
    status, view = cluster.call("GET", "/v1/cluster", url=lurl)
    assert raft not in [r["raft"] for r in view["replicas"]]
    for _ in range(10):  # the two remaining replicas are a majority of two
        assert cluster.call("POST", "/v1/tasks", spec, url=lurl)[0] == 201

    shutil.rmtree(cluster.data_dir / f"node-{victim}")
    status, body = cluster.call("POST", "/v1/cluster/members", {"raft": raft}, url=lurl)
    assert status == 201, body
    status, body = cluster.call("POST", "/v1/cluster/members", {"raft": raft}, url=lurl)
    assert status == 409
    cluster.start_node(victim)
    same = cluster.wait_converged(60)
    assert same["replicas"] == 3
    _, rejoined = cluster.get(cluster.api_urls[victim], "/v1/cluster/self")
    assert rejoined["tasks"]["pending"] == 30

    for bad in ({"raft": "nope"}, {"raft": 5}, {}):
        status, body = cluster.call("POST", "/v1/cluster/members", bad, url=lurl)
        assert status == 400 and body["field"] == "raft"
    status, _ = cluster.call("POST", "/v1/cluster/members", {"raft": "127.0.0.1:1"},
                             url=lurl, token=cluster.worker_token)
    assert status == 403
