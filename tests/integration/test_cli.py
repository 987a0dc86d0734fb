"""The CLI against a real cluster, `sniper-ha up` end to end, and bad arguments."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import Targets, wait_until


def sniper(*args: str, env: dict[str, str] | None = None, timeout: float = 60):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SNIPER_HA_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "sniper_ha", *args], capture_output=True,
                          text=True, env=full_env, timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(
    "args",
    [
        ["scan"],
        ["scan", "127.0.0.1", "--type", "nope", "--api", "http://127.0.0.1:1", "--token", "t"],
        ["scan", "127.0.0.1", "--ports", "0-70000", "--api", "http://127.0.0.1:1", "--token", "t"],
        ["scan", "127.0.0.1", "--priority", "99"],
        ["scan", "127.0.0.1"],
        ["scan", "127.0.0.1", "--api", "ftp://x", "--token", "t"],
        ["node", "--self", "nohost", "--data-dir", "/tmp/never-used"],
        ["worker", "--master", "http://127.0.0.1:1"],
        ["worker", "--master", "http://127.0.0.1:1", "--token", "t", "--capabilities", "nmapx"],
        ["tasks", "list", "--limit", "0"],
        ["up", "--replicas", "0"],
        ["frobnicate"],
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(args: list[str]) -> None:
    proc = sniper(*args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_scan_wait_and_inspection_commands(shared_cluster, targets: Targets) -> None:
    env = {"SNIPER_HA_API": ",".join(shared_cluster.api_urls),
           "SNIPER_HA_TOKEN": shared_cluster.admin_token, "SNIPER_HA_CA": str(shared_cluster.ca_file)}
    ports = f"{targets.open_ports[0]},{targets.closed_port}"
    proc = sniper("scan", "127.0.0.1", "--ports", ports, "--wait", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "succeeded" in proc.stdout and str(targets.open_ports[0]) in proc.stdout

    proc = sniper("scan", "127.0.0.1", "--type", "http_probe", "--param",
                  f"port={targets.http_port}", env=env)
    assert proc.returncode == 0, proc.stderr
    task_id = proc.stdout.strip()
    wait_until(lambda: json.loads(sniper("tasks", "show", task_id, "--json", env=env).stdout)
               ["status"] == "succeeded", 30, "http probe to finish")

    listing = json.loads(sniper("tasks", "list", "--json", env=env).stdout)
    assert task_id in [t["id"] for t in listing["tasks"]]
    workers = json.loads(sniper("workers", "list", "--json", env=env).stdout)
    assert len(workers["workers"]) == 2
    status = json.loads(sniper("cluster", "status", "--json", env=env).stdout)
    assert sorted(r["role"] for r in status["replicas"]) == ["follower", "follower", "leader"]
    for cmd in (["tasks", "list"], ["workers", "list"], ["cluster", "status"]):
        assert sniper(*cmd, env=env).returncode == 0

    proc = sniper("tasks", "show", "no-such-task", env=env)
    assert proc.returncode == 1 and proc.stderr.startswith("error: 404")
    proc = sniper("tasks", "list", env={**env, "SNIPER_HA_TOKEN": "wrong-token-wrong-token"})
    assert proc.returncode == 1 and "401" in proc.stderr


def test_cancel_from_cli(shared_cluster, targets: Targets) -> None:
    env = {"SNIPER_HA_API": shared_cluster.api_urls[2],
           "SNIPER_HA_TOKEN": shared_cluster.admin_token, "SNIPER_HA_CA": str(shared_cluster.ca_file)}
    # The slow server answers after 1.5 s, so the task is still active when cancel arrives.
    status, body = shared_cluster.call("POST", "/v1/tasks", {
        "type": "http_probe", "target": "127.0.0.1",
        "params": {"port": targets.slow_http_port}})
    assert status == 201
    task_id = body["tasks"][0]["id"]
    proc = sniper("tasks", "cancel", task_id, env=env)
    assert proc.returncode == 0 and proc.stdout.split() == [task_id, "cancelled"], proc.stderr
    again = sniper("tasks", "cancel", task_id, env=env)
    assert again.returncode == 0, "cancelling twice is idempotent"
    _, task = shared_cluster.call("GET", f"/v1/tasks/{task_id}")
    assert task["status"] == "cancelled" and task["result"] is None


def test_up_starts_and_stops_a_cluster(tmp_path: Path) -> None:
    data = tmp_path / "up"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNIPER_HA_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sniper_ha", "up", "--replicas", "3", "--workers", "1",
         "--data-dir", str(data)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )
    try:
        layout = wait_until(
            lambda: (data / "cluster.json").exists()
            and len(json.loads((data / "cluster.json").read_text())["pids"]) == 4
            and json.loads((data / "cluster.json").read_text()),
            60, "cluster.json with 4 pids")
        token = (data / "admin.token").read_text().strip()
        cli_env = {"SNIPER_HA_API": ",".join(layout["api"]), "SNIPER_HA_TOKEN": token,
                   "SNIPER_HA_CA": str(data / "tls" / "ca.pem")}
        wait_until(lambda: sniper("workers", "list", "--json", env=cli_env).returncode == 0
                   and json.loads(sniper("workers", "list", "--json", env=cli_env).stdout)
                   ["workers"], 30, "the worker to register")
        pids = list(layout["pids"].values())
        assert all(psutil.pid_exists(p) for p in pids)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert "sniper-ha cluster up" in output and "SNIPER_HA_TOKEN_FILE" in output
    assert "SNIPER_HA_CA" in output and all(u.startswith("https://") for u in layout["api"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.1)
    assert not any(_running(p) for p in pids), "up left children running"


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
