"""Bad input gets a 4xx JSON body naming the field, never a 500; auth is enforced."""

from __future__ import annotations

import json
import urllib.request

import pytest


def _raw(cluster, method: str, path: str, data: bytes | None, headers: dict[str, str]):
    req = urllib.request.Request(cluster.api_urls[1] + path, data=data, headers=headers,
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=10, context=cluster.client_ssl()) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "nope", "target": "127.0.0.1"}, "type"),
        ({"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "0-5"}},
         "params.ports"),
        ({"type": "tcp_connect", "target": "127.0.0.1", "params": {"bogus": 1}}, "params.bogus"),
        ({"type": "tcp_connect", "target": "bad target!"}, "target"),
        ({"type": "tcp_connect", "target": "127.0.0.1", "priority": 99}, "priority"),
        ({"target": "127.0.0.1"}, "type"),
        ({"tasks": []}, "tasks"),
        ({"tasks": [{"type": "tcp_connect", "target": "127.0.0.1"},
                    {"type": "http_probe", "target": "127.0.0.1", "params": {"port": 0}}]},
         "tasks.1.params.port"),
        ([1, 2], "body"),
    ],
)
def test_bad_submit_names_the_field(shared_cluster, body, field) -> None:
    status, reply = shared_cluster.call("POST", "/v1/tasks", body, url=shared_cluster.api_urls[1])
    assert status == 400, reply
    assert reply["field"] == field
    assert reply["error"] == "bad_request"


def test_malformed_json_and_queries(shared_cluster) -> None:
    auth = {"Authorization": f"Bearer {shared_cluster.admin_token}"}
    status, reply = _raw(shared_cluster, "POST", "/v1/tasks", b"{not json", auth)
    assert status == 400 and reply["field"] == "body"
    for query, field in [("limit=abc", "limit"), ("limit=0", "limit"), ("status=weird", "status"),
                         ("cursor=-1", "cursor"), ("stale=maybe", "stale")]:
        status, reply = shared_cluster.call("GET", f"/v1/tasks?{query}")
        assert status == 400 and reply["field"] == field, (query, reply)
    status, reply = shared_cluster.call("POST", "/v1/workers/x/lease?wait=9999")
    assert status == 400 and reply["field"] == "wait"


def test_not_found_and_unknown_routes_are_json(shared_cluster) -> None:
    status, reply = shared_cluster.call("GET", "/v1/tasks/does-not-exist")
    assert status == 404 and reply["field"] == "task_id"
    status, reply = shared_cluster.call("GET", "/v1/nothing-here")
    assert status == 404 and reply["error"] == "not_found"
    status, reply = shared_cluster.call("DELETE", "/v1/tasks")
    assert status == 405
    status, reply = shared_cluster.call("POST", "/v1/tasks/does-not-exist/cancel", {})
    assert status == 404


def test_auth_is_required_and_roles_checked(shared_cluster) -> None:
    status, reply = _raw(shared_cluster, "GET", "/v1/tasks", None, {})
    assert status == 401 and reply["field"] == "Authorization"
    status, reply = shared_cluster.call("GET", "/v1/tasks", token="x" * 40)
    assert status == 401
    spec = {"type": "tcp_connect", "target": "127.0.0.1"}
    status, reply = shared_cluster.call("POST", "/v1/tasks", spec, token=shared_cluster.worker_token)
    assert status == 403 and reply["error"] == "forbidden"
    for path in ("/healthz", "/readyz"):
        status, _ = _raw(shared_cluster, "GET", path, None, {})
        assert status == 200


def test_worker_writes_validate(shared_cluster) -> None:
    w = shared_cluster.worker_token
    status, reply = shared_cluster.call("POST", "/v1/workers", {"name": ""}, token=w)
    assert status == 400 and reply["field"] == "name"
    # Admin may act as any worker, so these reach validation and the ledger.
    status, reply = shared_cluster.call("PUT", "/v1/tasks/x/result",
                                        {"lease_id": "l", "status": "running"})
    assert status == 400 and reply["field"] == "status"
    status, reply = shared_cluster.call("PUT", "/v1/tasks/x/result",
                                        {"lease_id": "l", "status": "succeeded"})
    assert status == 404
    status, reply = shared_cluster.call("POST", "/v1/workers/nobody/heartbeat", {})
    assert status == 404 and reply["error"] == "unknown_worker"
    status, reply = shared_cluster.call("POST", "/v1/workers/nobody/lease?wait=0")
    assert status == 404 and reply["error"] == "unknown_worker"
    # The join token only registers.
    status, reply = shared_cluster.call("POST", "/v1/workers/nobody/heartbeat", {}, token=w)
    assert status == 403


def test_leader_health_and_stale_reads(shared_cluster) -> None:
    codes = []
    for url in shared_cluster.api_urls:
        req = urllib.request.Request(url + "/v1/health/leader")
        try:
            with urllib.request.urlopen(req, timeout=5, context=shared_cluster.client_ssl()) as resp:
                codes.append(resp.status)
        except urllib.error.HTTPError as exc:
            codes.append(exc.code)
    assert sorted(codes) == [200, 503, 503]
    for url in shared_cluster.api_urls:
        status, reply = shared_cluster.call("GET", "/v1/tasks?stale=true", url=url)
        assert status == 200 and "counts" in reply
