"""The `sniper-ha` command line: run replicas, workers and local clusters; drive scans.

Bad arguments end in one line on stderr and exit code 2; a refused request in one line and
exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sniper_ha.client import MasterClient
from sniper_ha.config import ConfigError, Settings, load_settings
from sniper_ha.errors import ClientError
from sniper_ha.scanners.registry import SCANNERS, validate_params

app = typer.Typer(
    add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
    rich_markup_mode=None, help="Highly available control plane for a scanning fleet.",
)
tasks_app = typer.Typer(no_args_is_help=True, help="List, show and cancel tasks.")
workers_app = typer.Typer(no_args_is_help=True, help="List, drain, resume and shut down workers.")
certs_app = typer.Typer(no_args_is_help=True, help="A cluster CA and its certificates.")
tokens_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API tokens.")
cluster_app = typer.Typer(no_args_is_help=True, help="Inspect, add and remove replicas.")
app.add_typer(tasks_app, name="tasks")
app.add_typer(workers_app, name="workers")
app.add_typer(cluster_app, name="cluster")
app.add_typer(tokens_app, name="tokens")
app.add_typer(certs_app, name="certs")

#: soft_wrap: lines meant to be copied (export ...) must not be broken at the terminal width.
out = Console(soft_wrap=True)
TERMINAL = {"succeeded", "failed", "cancelled"}


try:  # recent typer vendors click; older releases use the click package
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover
    from click import exceptions as click_exc  # type: ignore[no-redef]


class UsageProblem(click_exc.UsageError):
    """Raised for bad option values found after parsing; reported as one line, exit 2."""


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pysyncobj").setLevel(logging.WARNING)


def _split_csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _hostport(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageProblem(f"{option} must be HOST:PORT, got {value!r}")
    return host, int(port)


def _settings(config: Path | None, flags: dict[str, Any]) -> Settings:
    try:
        return load_settings(config, flags)
    except ConfigError as exc:
        raise UsageProblem(str(exc)) from None


CaOpt = typer.Option(None, "--ca", help="Cluster CA certificate for https URLs [SNIPER_HA_CA].")


# ---- servers ---------------------------------------------------------------------------------


@app.command()
def node(
    self_addr: str = typer.Option(..., "--self", help="This replica's Raft address HOST:PORT."),
    peers: str = typer.Option("", "--peers", help="Every replica's Raft address, comma-separated."),
    api: str | None = typer.Option(None, "--api", help="HOST:PORT for the HTTP API."),
    data_dir: Path = typer.Option(..., "--data-dir", help="Journal and snapshots live here."),
    config: Path | None = typer.Option(None, "--config", help="YAML config file."),
    log_level: str | None = typer.Option(None, "--log-level"),
    raft_bind: str | None = typer.Option(
        None, "--raft-bind", help="Listen for Raft here when --self is a proxy or NAT address."),
) -> None:
    """Run one master replica (Raft member + HTTP API)."""
    from sniper_ha.server import serve

    _hostport(self_addr, "--self")
    if raft_bind:
        _hostport(raft_bind, "--raft-bind")
    peer_list = _split_csv(peers)
    for p in peer_list:
        _hostport(p, "--peers")
    if self_addr not in peer_list:
        peer_list.append(self_addr)
    flags: dict[str, Any] = {"master.log_level": log_level.upper() if log_level else None}
    if api:
        host, port = _hostport(api, "--api")
        flags.update({"master.host": host, "master.port": port})
    settings = _settings(config, flags)
    _setup_logging(settings.master.log_level)
    try:
        asyncio.run(serve(settings, self_addr, peer_list, settings.master.host,
                          settings.master.port, data_dir, raft_bind=raft_bind))
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None


def _token(token: str | None, token_file: Path | None) -> str | None:
    token = token or os.environ.get("SNIPER_HA_TOKEN")
    path = token_file or (Path(os.environ["SNIPER_HA_TOKEN_FILE"])
                          if os.environ.get("SNIPER_HA_TOKEN_FILE") else None)
    if token is None and path is not None:
        try:
            token = path.read_text().strip()
        except OSError as exc:
            raise UsageProblem(f"cannot read token file {path}: {exc.strerror}") from None
    return token


def _labels(value: str | None) -> dict[str, str]:
    labels = {}
    for item in _split_csv(value):
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise UsageProblem(f"--labels takes key=value pairs, got {item!r}")
        labels[key] = val
    return labels


@app.command()
def worker(
    master: str = typer.Option(..., "--master", help="Master URL(s), comma-separated."),
    token: str | None = typer.Option(None, "--token", help="Worker token."),
    token_file: Path | None = typer.Option(None, "--token-file"),
    capabilities: str | None = typer.Option(None, "--capabilities",
                                            help="Scan types to accept (default: all)."),
    max_concurrent_tasks: int | None = typer.Option(None, "--max-concurrent-tasks", min=1),
    labels: str | None = typer.Option(None, "--labels", help="key=value,... e.g. region=eu"),
    name: str | None = typer.Option(None, "--name"),
    data_dir: Path | None = typer.Option(None, "--data-dir",
                                         help="Worker id and unacknowledged results."),
    config: Path | None = typer.Option(None, "--config"),
    ca: Path | None = CaOpt,
    cert: Path | None = typer.Option(None, "--cert", help="Client certificate (mutual TLS)."),
    key: Path | None = typer.Option(None, "--key", help="Its private key."),
) -> None:
    """Run a worker agent that leases and runs scan tasks."""
    from sniper_ha.agent.worker import WorkerAgent

    settings = _settings(config, {"workers.max_concurrent_tasks": max_concurrent_tasks})
    _setup_logging(settings.master.log_level)
    caps = _split_csv(capabilities) or None
    for cap in caps or []:
        if cap not in SCANNERS:
            raise UsageProblem(f"--capabilities: unknown scan type {cap!r}")
    secret = _token(token, token_file)
    if not secret:
        raise UsageProblem("a worker token is required: --token, --token-file or SNIPER_HA_TOKEN")
    urls = _split_csv(master)
    if (cert is None) != (key is None):
        raise UsageProblem("--cert and --key go together")
    worker_ssl = _ssl_for(urls, ca, cert, key)
    directory = data_dir or Path.home() / ".sniper-ha" / f"worker-{name or 'default'}"

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        agent = WorkerAgent(
            MasterClient(urls, secret, ssl_context=worker_ssl), directory, name=name, capabilities=caps,
            labels=_labels(labels), max_concurrent_tasks=settings.workers.max_concurrent_tasks,
            heartbeat_interval=settings.workers.heartbeat_interval,
            task_timeout=settings.workers.task_execution_timeout,
        )
        await agent.run(stop)

    try:
        asyncio.run(main())
    except ClientError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def up(
    replicas: int = typer.Option(3, "--replicas", min=1, max=9),
    workers: int = typer.Option(2, "--workers", min=0, max=64),
    data_dir: Path = typer.Option(Path("./sniper-ha-data"), "--data-dir"),
    worker_slots: int = typer.Option(2, "--max-concurrent-tasks", min=1),
) -> None:
    """Start a local cluster (replicas + workers) on loopback; Ctrl-C stops it."""
    from sniper_ha.local_cluster import LocalCluster

    cluster = LocalCluster(data_dir, replicas=replicas, workers=workers,
                           worker_slots=worker_slots)
    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        cluster.start()
        apis = ",".join(cluster.api_urls)
        token_file = cluster.data_dir / "admin.token"
        out.print(f"[bold green]sniper-ha cluster up[/]: {replicas} replicas, {workers} workers, "
                  "TLS with a CA made for it, Raft encrypted, results encrypted at rest")
        for i, (raft, api) in enumerate(zip(cluster.raft_addrs, cluster.api_urls, strict=True)):
            out.print(f"  node-{i}  api {api}  raft {raft}")
        out.print(f"  layout  {cluster.data_dir / 'cluster.json'}   logs {cluster.data_dir / 'logs'}")
        out.print("\nIn another terminal:")
        out.print(f"  export SNIPER_HA_API={apis}")
        out.print(f"  export SNIPER_HA_TOKEN_FILE={token_file}")
        if cluster.ca_file is not None:
            out.print(f"  export SNIPER_HA_CA={cluster.ca_file}")
        out.print("  sniper-ha scan 127.0.0.1 --type tcp_connect --ports 1-1024 --wait")
        out.print("  sniper-ha cluster status\n")
        out.print("Ctrl-C stops everything.")
        while not stop["now"]:
            time.sleep(0.5)
            for proc in cluster.nodes + cluster.agents:
                if proc.popen is not None and proc.popen.poll() is not None and not stop["now"]:
                    if not getattr(proc, "_reported", False):
                        out.print(f"[yellow]{proc.name} exited ({proc.popen.returncode}); "
                                  f"see {proc.log_path}[/]")
                        proc._reported = True  # type: ignore[attr-defined]
    finally:
        out.print("stopping...")
        cluster.stop()
        out.print("stopped.")


# ---- clients ---------------------------------------------------------------------------------

ApiOpt = typer.Option(None, "--api", help="Replica URL(s), comma-separated [SNIPER_HA_API].")
TokenOpt = typer.Option(None, "--token", help="Bearer token [SNIPER_HA_TOKEN].")
TokenFileOpt = typer.Option(None, "--token-file", help="File holding the token.")


def _ssl_for(urls: list[str], ca: Path | None, cert: Path | None = None,
             key: Path | None = None) -> Any:
    """A client TLS context for https URLs: the cluster CA if given (--ca or SNIPER_HA_CA),
    else the system's trust store."""
    ca = ca or (Path(os.environ["SNIPER_HA_CA"]) if os.environ.get("SNIPER_HA_CA") else None)
    if not any(u.startswith("https://") for u in urls) and cert is None:
        return None
    from sniper_ha.security.certs import client_context

    for path in (ca, cert, key):
        if path is not None and not path.exists():
            raise UsageProblem(f"no such file: {path}")
    return client_context(ca, cert, key)


def _client(api: str | None, token: str | None, token_file: Path | None,
            ca: Path | None = None) -> MasterClient:
    urls = _split_csv(api or os.environ.get("SNIPER_HA_API"))
    if not urls:
        raise UsageProblem("no API URL: pass --api or set SNIPER_HA_API")
    for u in urls:
        if not u.startswith(("http://", "https://")):
            raise UsageProblem(f"--api URL must start with http:// or https://, got {u!r}")
    secret = _token(token, token_file)
    if not secret:
        raise UsageProblem("no token: pass --token, --token-file or set SNIPER_HA_TOKEN")
    return MasterClient(urls, secret, ssl_context=_ssl_for(urls, ca))


def _call(client: MasterClient, method: str, path: str, **kw: Any) -> Any:
    async def go() -> Any:
        async with client:
            return (await client.request(method, path, **kw))[1]

    return asyncio.run(go())


def _params(pairs: list[str]) -> dict[str, Any]:
    out_params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageProblem(f"--param takes key=value, got {pair!r}")
        try:
            out_params[key] = json.loads(raw)
        except ValueError:
            out_params[key] = raw
    return out_params


@app.command()
def scan(
    target: str = typer.Argument(..., help="Host, IP or CIDR to scan."),
    type_: str = typer.Option("tcp_connect", "--type", help=f"One of: {', '.join(SCANNERS)}."),
    ports: str | None = typer.Option(None, "--ports", help="e.g. 1-1024,8080"),
    param: list[str] = typer.Option([], "--param", help="Scanner parameter key=value."),
    priority: int = typer.Option(5, "--priority", min=0, max=10),
    wait: bool = typer.Option(False, "--wait", help="Wait for the result and print it."),
    wait_timeout: float = typer.Option(600.0, "--wait-timeout", min=1),
    api: str | None = ApiOpt,
    token: str | None = TokenOpt,
    token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Submit a scan task (retried safely with an Idempotency-Key)."""
    params = _params(param)
    if ports is not None:
        params["ports"] = ports
    try:
        validate_params(type_, params)
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    client = _client(api, token, token_file, ca)
    body = {"type": type_, "target": target, "params": params, "priority": priority}
    reply = _call(client, "POST", "/v1/tasks", json=body,
                  headers={"Idempotency-Key": uuid.uuid4().hex})
    task = reply["tasks"][0]
    if not wait:
        typer.echo(task["id"])
        return
    task = _wait_for(client, task["id"], wait_timeout)
    _print_task(task)
    if task["status"] != "succeeded":
        raise typer.Exit(1)


def _wait_for(client: MasterClient, task_id: str, timeout: float) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        async with client:
            with Progress(TextColumn("{task.description}"), BarColumn(),
                          TimeElapsedColumn(), console=Console(stderr=True),
                          transient=True) as bar:
                job = bar.add_task(f"{task_id[:12]} pending", total=1.0)
                while True:
                    _, task = await client.request("GET", f"/v1/tasks/{task_id}")
                    bar.update(job, completed=task.get("progress") or 0.0,
                               description=f"{task_id[:12]} {task['status']}")
                    if task["status"] in TERMINAL:
                        return task
                    if time.monotonic() > deadline:
                        raise ClientError(f"task {task_id} not finished after {timeout:.0f}s")
                    await asyncio.sleep(0.5)

    return asyncio.run(go())


def _print_task(task: dict[str, Any]) -> None:
    table = Table(title=f"task {task['id']}", show_header=False)
    for key in ("type", "target", "status", "attempt", "worker_id", "error"):
        if task.get(key) is not None:
            table.add_row(key, str(task[key]))
    result = task.get("result") or {}
    if task["type"] == "tcp_connect" and result:
        table.add_row("open ports", ", ".join(map(str, result.get("open", []))) or "none")
        table.add_row("scanned", str(result.get("scanned")))
    elif result:
        for key, val in result.items():
            table.add_row(key, json.dumps(val) if isinstance(val, (list, dict)) else str(val))
    out.print(table)


@tasks_app.command("list")
def tasks_list(
    status: str | None = typer.Option(None, "--status"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json"),
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """List tasks in submission order."""
    params: dict[str, Any] = {"limit": limit}
    if status:
        params["status"] = status
    reply = _call(_client(api, token, token_file, ca), "GET", "/v1/tasks", params=params)
    if as_json:
        typer.echo(json.dumps(reply, indent=2))
        return
    table = Table("id", "type", "target", "status", "attempt", "worker")
    for t in reply["tasks"]:
        table.add_row(t["id"], t["type"], t["target"], t["status"], str(t["attempt"]),
                      t["worker_id"] or "")
    out.print(table)
    out.print(" ".join(f"{k}={v}" for k, v in reply["counts"].items() if v))


@tasks_app.command("show")
def tasks_show(
    task_id: str, as_json: bool = typer.Option(False, "--json"),
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Show one task with its result."""
    task = _call(_client(api, token, token_file, ca), "GET", f"/v1/tasks/{task_id}")
    if as_json:
        typer.echo(json.dumps(task, indent=2))
    else:
        _print_task(task)


@tasks_app.command("cancel")
def tasks_cancel(
    task_id: str,
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Cancel a task that has not finished."""
    task = _call(_client(api, token, token_file, ca), "POST", f"/v1/tasks/{task_id}/cancel", json={})
    typer.echo(f"{task['id']} {task['status']}")


@workers_app.command("list")
def workers_list(
    as_json: bool = typer.Option(False, "--json"),
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """List registered workers."""
    reply = _call(_client(api, token, token_file, ca), "GET", "/v1/workers")
    if as_json:
        typer.echo(json.dumps(reply, indent=2))
        return
    table = Table("id", "name", "status", "control", "active", "slots", "capabilities", "labels")
    for w in reply["workers"]:
        table.add_row(w["id"], w["name"], w["status"], w.get("control") or "", str(w["active_tasks"]),
                      str(w["max_concurrent_tasks"]), ",".join(w["capabilities"]),
                      ",".join(f"{k}={v}" for k, v in w["labels"].items()))
    out.print(table)


def _worker_control(action: str, worker_id: str, api: str | None, token: str | None,
                    token_file: Path | None, ca: Path | None) -> None:
    worker = _call(_client(api, token, token_file, ca), "POST", f"/v1/workers/{worker_id}/{action}")
    typer.echo(f"{worker['id']} status={worker['status']} control={worker.get('control') or '-'}")


@workers_app.command("drain")
def workers_drain(
    worker_id: str,
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Let a worker finish its running tasks and take no new ones."""
    _worker_control("drain", worker_id, api, token, token_file, ca)


@workers_app.command("shutdown")
def workers_shutdown(
    worker_id: str,
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Stop a worker; its running tasks are leased to other workers."""
    _worker_control("shutdown", worker_id, api, token, token_file, ca)


@workers_app.command("resume")
def workers_resume(
    worker_id: str,
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Undo a drain."""
    _worker_control("resume", worker_id, api, token, token_file, ca)


@cluster_app.command("status")
def cluster_status(
    as_json: bool = typer.Option(False, "--json"),
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Show every replica: role, term, commit and applied index."""
    reply = _call(_client(api, token, token_file, ca), "GET", "/v1/cluster")
    if as_json:
        typer.echo(json.dumps(reply, indent=2))
        return
    table = Table("raft", "api", "role", "term", "commit", "applied", "digest")
    for r in reply["replicas"]:
        if not r.get("reachable"):
            table.add_row(r["raft"], r.get("api") or "", "unreachable", "", "", "", "")
            continue
        table.add_row(r["raft"], r["api"], r["role"], str(r["term"]), str(r["commit_index"]),
                      str(r["applied_index"]), r["state_digest"][:12])
    out.print(table)


@certs_app.command("init")
def certs_init(
    out: Path = typer.Option(..., "--out", help="Directory for ca.pem and ca.key."),
    days: int = typer.Option(3650, "--days", min=1),
) -> None:
    """Create the cluster CA (ECDSA P-256)."""
    from sniper_ha.security.certs import init_ca

    try:
        made = init_ca(out, days=days)
    except FileExistsError as exc:
        raise UsageProblem(str(exc)) from None
    typer.echo(f"CA {made.cert} (key {made.key}, mode 0600), expires {made.not_after:%Y-%m-%d}")


@certs_app.command("issue")
def certs_issue(
    name: str = typer.Option(..., "--name", help="Also the file name: NAME.pem, NAME.key."),
    san: list[str] = typer.Option([], "--san", help="DNS name or IP it is reached by."),
    ca_dir: Path = typer.Option(..., "--ca-dir", help="Where ca.pem and ca.key are."),
    out: Path | None = typer.Option(None, "--out", help="Default: the CA directory."),
    days: int = typer.Option(825, "--days", min=1),
) -> None:
    """Issue a replica, worker or client certificate signed by the cluster CA."""
    from sniper_ha.security.certs import issue

    if not (ca_dir / "ca.key").exists():
        raise UsageProblem(f"no CA in {ca_dir}: run sniper-ha certs init --out {ca_dir}")
    made = issue(ca_dir, name, san, out, days)
    typer.echo(f"{made.cert} (key {made.key}), expires {made.not_after:%Y-%m-%d}")


@tokens_app.command("create")
def tokens_create(
    name: str = typer.Option(..., "--name"),
    role: str = typer.Option(..., "--role", help="admin, operator, viewer or worker"),
    tenant: str | None = typer.Option(None, "--tenant", help="Default: the name."),
    ttl: float | None = typer.Option(None, "--ttl", min=1, help="Expire after SECONDS."),
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Create a token; it is printed once (only its digest is stored)."""
    if role not in ("admin", "operator", "viewer", "worker"):
        raise UsageProblem(f"--role must be admin, operator, viewer or worker, got {role!r}")
    body: dict[str, Any] = {"name": name, "role": role}
    if tenant:
        body["tenant"] = tenant
    if ttl:
        body["ttl_seconds"] = ttl
    reply = _call(_client(api, token, token_file, ca), "POST", "/v1/tokens", json=body)
    typer.echo(f"{reply['id']} {reply['token']}")


@tokens_app.command("list")
def tokens_list(
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """List tokens created through the API (config tokens are not listed)."""
    reply = _call(_client(api, token, token_file, ca), "GET", "/v1/tokens")
    table = Table("id", "name", "role", "tenant", "expires_at", "revoked_at")
    for t in reply["tokens"]:
        table.add_row(t["id"], t["name"], t["role"], t["tenant"], str(t["expires_at"] or ""),
                      str(t["revoked_at"] or ""))
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str,
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Revoke a token at once on every replica."""
    reply = _call(_client(api, token, token_file, ca), "DELETE", f"/v1/tokens/{token_id}")
    typer.echo(f"{reply['id']} revoked")


@cluster_app.command("add")
def cluster_add(
    raft: str = typer.Argument(..., help="The new replica's Raft address HOST:PORT."),
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Add a replica to the Raft group, then start it with an empty --data-dir."""
    _hostport(raft, "RAFT")
    reply = _call(_client(api, token, token_file, ca), "POST", "/v1/cluster/members", json={"raft": raft})
    typer.echo(f"added {reply['added']}; members: {', '.join(reply['members'])}")


@cluster_app.command("remove")
def cluster_remove(
    raft: str = typer.Argument(..., help="The Raft address of the replica to remove."),
    api: str | None = ApiOpt, token: str | None = TokenOpt, token_file: Path | None = TokenFileOpt,
    ca: Path | None = CaOpt,
) -> None:
    """Remove a (stopped) replica from the Raft group."""
    _hostport(raft, "RAFT")
    reply = _call(_client(api, token, token_file, ca), "DELETE", f"/v1/cluster/members/{raft}")
    typer.echo(f"removed {reply['removed']}; members: {', '.join(reply['members'])}")


def main() -> None:
    try:
        app(standalone_mode=False)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except click_exc.NoArgsIsHelpError as exc:
        typer.echo(exc.format_message(), err=True)
        sys.exit(2)
    except click_exc.UsageError as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(2)
    except click_exc.ClickException as exc:
        typer.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except ClientError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
