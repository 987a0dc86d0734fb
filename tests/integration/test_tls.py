"""TLS: clients verify the replicas against the cluster CA; worker calls need a client
certificate from that CA; a certificate from another CA does not get past the handshake."""

from __future__ import annotations

import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from sniper_ha.security.certs import client_context, init_ca, issue


def test_worker_routes_need_a_cluster_certificate(shared_cluster, tmp_path) -> None:
    c = shared_cluster
    _, reg = c.call("POST", "/v1/workers", {"worker_id": "w-tls", "name": "tls"},
                    token=c.worker_token)
    cred = reg["credential"]
    status, body = c.call("POST", "/v1/workers/w-tls/heartbeat", {}, token=cred,
                          present_cert=False)
    assert status == 401 and body["field"] == "certificate"
    status, _ = c.call("POST", "/v1/workers/w-tls/heartbeat", {}, token=cred)
    assert status == 200
    # Admin and viewer calls do not need a client certificate.
    assert c.call("GET", "/v1/tasks", present_cert=False)[0] == 200

    # A certificate from another CA (same names, forged) fails the TLS handshake itself.
    rogue = tmp_path / "rogue"
    init_ca(rogue, name="rogue CA")
    forged = issue(rogue, "worker", ["127.0.0.1", "localhost"])
    ctx = client_context(c.ca_file, forged.cert, forged.key)
    req = urllib.request.Request(c.api_urls[0] + "/v1/workers/w-tls/heartbeat", data=b"{}",
                                 method="POST", headers={"Authorization": f"Bearer {cred}"})
    with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
        urllib.request.urlopen(req, timeout=5, context=ctx)


def test_clients_verify_the_server(shared_cluster, tmp_path) -> None:
    c = shared_cluster
    other = tmp_path / "other"
    init_ca(other)
    req = urllib.request.Request(c.api_urls[0] + "/healthz")
    with pytest.raises(urllib.error.URLError):  # a CA that did not sign the replica
        urllib.request.urlopen(req, timeout=5, context=client_context(other / "ca.pem"))
    env = {"SNIPER_HA_API": c.api_urls[0], "SNIPER_HA_TOKEN": c.admin_token}
    proc = subprocess.run([sys.executable, "-m", "sniper_ha", "tasks", "list"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "CERTIFICATE_VERIFY_FAILED" in proc.stderr


def test_certs_commands(tmp_path) -> None:
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "sniper_ha", "certs", *args],
                              capture_output=True, text=True, timeout=60)

    made = cli("init", "--out", str(tmp_path / "ca"))
    assert made.returncode == 0 and "expires" in made.stdout
    assert (tmp_path / "ca" / "ca.key").stat().st_mode & 0o777 == 0o600
    again = cli("init", "--out", str(tmp_path / "ca"))
    assert again.returncode == 2 and again.stderr.startswith("error:")
    node = cli("issue", "--ca-dir", str(tmp_path / "ca"), "--name", "node-1",
               "--san", "10.0.0.5", "--san", "node-1.internal")
    assert node.returncode == 0 and (tmp_path / "ca" / "node-1.pem").exists()
    missing = cli("issue", "--ca-dir", str(tmp_path / "nope"), "--name", "x")
    assert missing.returncode == 2
