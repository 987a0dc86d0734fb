"""Every route with every kind of caller: unauthenticated, unknown, expired and revoked tokens
get 401; a role below the route's gets 403; admin calls leave audit records."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest
from conftest import wait_until

from sniper_ha.api.routes import admin, cluster, tasks, workers

PUBLIC = None
#: (method, path with sample ids, the role the route needs). Kept by hand on purpose: the
#: test fails if a route's declared role differs from this table, or a route is missing.
ROUTES = [
    ("POST", "/v1/tasks", "operator"),
    ("GET", "/v1/tasks", "viewer"),
    ("GET", "/v1/tasks/t-none", "viewer"),
    ("POST", "/v1/tasks/t-none/cancel", "operator"),
    ("POST", "/v1/tasks/t-none/status", "agent"),
    ("PUT", "/v1/tasks/t-none/result", "agent"),
    ("POST", "/v1/workers", "worker"),
    ("GET", "/v1/workers", "viewer"),
    ("GET", "/v1/workers/w-agent", "viewer"),
    ("POST", "/v1/workers/w-agent/heartbeat", "agent"),
    ("POST", "/v1/workers/w-agent/lease", "agent"),
    ("POST", "/v1/workers/w-agent/drain", "operator"),
    ("POST", "/v1/workers/w-agent/shutdown", "operator"),
    ("POST", "/v1/workers/w-agent/resume", "operator"),
    ("POST", "/v1/workers/w-agent/leave", "agent"),
    ("GET", "/v1/cluster/self", "viewer"),
    ("GET", "/v1/cluster", "viewer"),
    ("POST", "/v1/cluster/members", "admin"),
    ("DELETE", "/v1/cluster/members/127.0.0.1:1", "admin"),
    ("POST", "/v1/tokens", "admin"),
    ("GET", "/v1/tokens", "admin"),
    ("DELETE", "/v1/tokens/tok-none", "admin"),
    ("GET", "/v1/audit", "admin"),
    ("GET", "/v1/health/leader", PUBLIC),
    ("GET", "/healthz", PUBLIC),
    ("GET", "/readyz", PUBLIC),
]
ALLOWED = {
    "viewer": {"viewer", "operator", "admin"},
    "operator": {"operator", "admin"},
    "admin": {"admin"},
    # An agent may re-register only its own id; the table's register body names another.
    "worker": {"worker", "admin"},
    "agent": {"agent", "admin"},
}
BODIES = {
    ("POST", "/v1/tasks"): {"type": "tcp_connect", "target": "127.0.0.1", "params": {"ports": "1"}},
    ("POST", "/v1/workers"): {"worker_id": "w-roles", "name": "roles"},
    ("PUT", "/v1/tasks/t-none/result"): {"lease_id": "l", "status": "succeeded"},
    ("POST", "/v1/tasks/t-none/status"): {"lease_id": "l", "status": "running"},
    ("POST", "/v1/tokens"): {"name": "made-by-test", "role": "viewer"},
    ("POST", "/v1/cluster/members"): {"raft": "bad"},
}
EXTRA = [
    {"name": "ops", "role": "operator", "token": "operator-token-0123456789"},
    {"name": "view", "role": "viewer", "token": "viewer-token-0123456789"},
]


def test_the_table_covers_every_route_with_its_declared_role() -> None:
    declared = {}
    for table in (tasks.routes, workers.routes, cluster.routes, admin.routes):
        for route in table:
            declared[(route.method, route.path)] = getattr(route.handler, "required_role", None)
    expected = {}
    for method, path, role in ROUTES:
        template = re.sub(r"/(t-none|w-agent|tok-none|127\.0\.0\.1:1)$", "/{x}", path)
        template = re.sub(r"/(t-none|w-agent)/", "/{x}/", template)
        expected[(method, template)] = role
    normalised = {(m, re.sub(r"\{[a-z_]+\}", "{x}", p)): r for (m, p), r in declared.items()}
    assert normalised == expected


@pytest.fixture(scope="module")
def roles_cluster(tmp_path_factory):
    from sniper_ha.local_cluster import LocalCluster

    c = LocalCluster(tmp_path_factory.mktemp("roles"), replicas=3, workers=0, extra_tokens=EXTRA)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def test_every_route_with_every_caller(roles_cluster) -> None:
    c = roles_cluster
    url = c.api_urls[1]  # a follower or the leader: the answer must not depend on it
    _, made = c.call("POST", "/v1/tokens", {"name": "short", "role": "admin", "ttl_seconds": 1})
    expired = made["token"]
    _, made = c.call("POST", "/v1/tokens", {"name": "gone", "role": "admin"})
    revoked, revoked_id = made["token"], made["id"]
    assert c.call("DELETE", f"/v1/tokens/{revoked_id}")[0] == 200
    time.sleep(1.2)
    _, agent = c.call("POST", "/v1/workers", {"worker_id": "w-agent", "name": "agent"},
                      token=c.worker_token)
    callers = {
        "admin": c.admin_token, "operator": "operator-token-0123456789",
        "viewer": "viewer-token-0123456789", "worker": c.worker_token,
        "agent": agent["credential"],
    }
    bad = {"unknown": "x" * 40, "expired": expired, "revoked": revoked}
    for method, path, need in ROUTES:
        body = BODIES.get((method, path))
        if need is PUBLIC:
            status, _ = c.call(method, path, body, url=url, token="ignored")
            assert status in (200, 503), (method, path)
            continue
        status, reply = _no_auth(c, method, path, body, url)
        assert status == 401, (method, path, "no token", reply)
        for label, token in bad.items():
            status, reply = c.call(method, path, body, url=url, token=token)
            assert status == 401, (method, path, label, reply)
        for role, token in callers.items():
            status, reply = c.call(method, path, body, url=url, token=token)
            if role in ALLOWED[need]:
                assert status not in (401, 403), (method, path, role, status, reply)
            else:
                assert status == 403 and reply["error"] == "forbidden", (method, path, role, reply)


def _no_auth(c, method, path, body, url):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10, context=c.client_ssl()) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_admin_calls_and_security_changes_are_audited(roles_cluster) -> None:
    c = roles_cluster
    _, made = c.call("POST", "/v1/tokens", {"name": "audited", "role": "operator"})
    c.call("DELETE", f"/v1/tokens/{made['id']}")
    c.call("GET", "/v1/tokens")
    c.call("DELETE", "/v1/cluster/members/127.0.0.1:1")

    def records():
        _, page = c.call("GET", "/v1/audit?limit=1000", url=c.api_urls[2])
        return page["records"]

    recs = wait_until(lambda: (r := records()) and any(x["action"] == "token.list" for x in r)
                      and r, 10, "audit records")
    actions = {(r["action"], r["target"]) for r in recs}
    assert ("token.create", made["id"]) in actions
    assert ("token.revoke", made["id"]) in actions
    assert any(a == "cluster.member.remove" for a, _ in actions)
    refused = [r for r in recs if r["action"] == "cluster.member.remove"]
    assert refused[-1]["outcome"] == "refused" and refused[-1]["actor"] == "admin"
    refused_admin = [r for r in records() if r["action"] == "admin.refused"]
    assert {r["role"] for r in refused_admin} >= {"operator", "viewer", "worker"}
    assert any(r["target"] == "GET /v1/audit" for r in refused_admin)
    _, filtered = c.call("GET", "/v1/audit?action=token.&limit=1000")
    assert filtered["records"] and all(r["action"].startswith("token.")
                                       for r in filtered["records"])
