"""Settings: defaults < YAML file < SNIPER_HA_* environment < command-line flags.

The YAML keys are the seed architecture's (master.*, workers.*); the Raft timers live under
`raft.*` with values measured on a 2-core machine (see docs/operations.md).
Environment variables name a nested key with double underscores:
SNIPER_HA_WORKERS__HEARTBEAT_INTERVAL=2 sets workers.heartbeat_interval.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ENV_PREFIX = "SNIPER_HA_"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MasterConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=5555, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    distribution_strategy: Literal["round_robin"] = "round_robin"
    high_availability: bool = True


class RaftConfig(Section):
    """Timers in seconds. Commit latency is driven by append_entries_period/auto_tick_period;
    the election timeout stays an order of magnitude above them so a loaded 2-core host
    does not call spurious elections."""

    append_entries_period: float = Field(default=0.01, gt=0)
    auto_tick_period: float = Field(default=0.005, gt=0)
    election_timeout_min: float = Field(default=0.8, gt=0)
    election_timeout_max: float = Field(default=1.6, gt=0)
    leader_fallback_timeout: float = Field(default=2.0, gt=0)
    connection_timeout: float = Field(default=2.5, gt=0)
    connection_retry_time: float = Field(default=0.5, gt=0)
    log_compaction_min_entries: int = Field(default=5000, ge=10)
    log_compaction_min_time: float = Field(default=300.0, gt=0)
    password: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> RaftConfig:
        if self.election_timeout_min >= self.election_timeout_max:
            raise ValueError("raft.election_timeout_min must be below raft.election_timeout_max")
        if self.append_entries_period * 4 > self.election_timeout_min:
            raise ValueError("raft.append_entries_period must be well below election_timeout_min")
        if self.leader_fallback_timeout <= self.election_timeout_max:
            raise ValueError("raft.leader_fallback_timeout must exceed election_timeout_max")
        return self


class WorkersConfig(Section):
    heartbeat_interval: float = Field(default=5.0, gt=0)
    heartbeat_ttl_multiplier: float = Field(default=3.0, ge=1.5)
    max_concurrent_tasks: int = Field(default=2, ge=1)
    task_execution_timeout: float = Field(default=3600.0, gt=0)
    #: How often a worker's resource figures are written to the ledger (heartbeats are not).
    resource_report_interval: float = Field(default=60.0, gt=0)


class TokenConfig(Section):
    name: str = Field(min_length=1)
    role: Literal["admin", "operator", "viewer", "worker"]
    token: str = Field(min_length=16)
    #: Results are visible to tokens of the submitting token's tenant (and to admins).
    tenant: str | None = None


class AuthConfig(Section):
    tokens: list[TokenConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> AuthConfig:
        names = [t.name for t in self.tokens]
        if len(names) != len(set(names)):
            raise ValueError("auth.tokens names must be unique (idempotency keys are scoped by name)")
        return self


class DataKeyConfig(Section):
    id: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$")
    #: 32 random bytes, base64 (`sniper-ha certs` is not needed: any 32-byte secret).
    key: str

    @model_validator(mode="after")
    def _size(self) -> DataKeyConfig:
        import base64
        import binascii

        try:
            raw = base64.b64decode(self.key, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("security.data_keys[].key must be base64") from None
        if len(raw) != 32:
            raise ValueError("security.data_keys[].key must be 32 bytes (AES-256)")
        return self


class SecurityConfig(Section):
    #: Keys that encrypt results at rest; the log holds ciphertext and key ids only.
    data_keys: list[DataKeyConfig] = Field(default_factory=list)
    #: The key new results are sealed with (default: the last one listed).
    active_data_key: str | None = None

    @model_validator(mode="after")
    def _active_known(self) -> SecurityConfig:
        ids = [k.id for k in self.data_keys]
        if len(ids) != len(set(ids)):
            raise ValueError("security.data_keys ids must be unique")
        if self.active_data_key is not None and self.active_data_key not in ids:
            raise ValueError("security.active_data_key names no configured key")
        return self


class TlsConfig(Section):
    """TLS for the API. With `cert`/`key` the replica serves https; `ca` verifies client
    certificates (and the leader, when this replica forwards to it)."""

    cert: Path | None = None
    key: Path | None = None
    ca: Path | None = None
    #: Worker routes demand a client certificate signed by `ca` (mutual TLS for workers).
    require_worker_cert: bool = False

    @model_validator(mode="after")
    def _pairs(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("tls.cert and tls.key go together")
        if self.require_worker_cert and (self.ca is None or self.cert is None):
            raise ValueError("tls.require_worker_cert needs tls.cert, tls.key and tls.ca")
        return self

    @property
    def enabled(self) -> bool:
        return self.cert is not None


class ApiConfig(Section):
    #: How long a follower holds a write while no leader is known before answering 503.
    no_leader_hold: float = Field(default=3.0, ge=0)
    #: Deadline for one Raft proposal before the answer is "unknown outcome".
    propose_timeout: float = Field(default=5.0, gt=0)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    max_lease_wait: float = Field(default=30.0, gt=0)
    #: Seconds a client may take to send its request body.
    read_timeout: float = Field(default=10.0, gt=0)
    #: Requests per second each token may make on one replica (None: unlimited), and the
    #: burst it may spend at once. Worker credentials are per worker, so each has its own.
    rate_limit: float | None = Field(default=200.0, gt=0)
    rate_burst: float = Field(default=400.0, ge=1)


class RetentionConfig(Section):
    """How long finished work is kept; the leader purges through Raft, so every replica
    forgets the same records, and the next snapshot is smaller."""

    #: Seconds after it finished that a task record is deleted (None: keep forever).
    completed_tasks: float | None = Field(default=None, gt=0)
    #: Seconds after it finished that a task's result payload is deleted (None: keep).
    results: float | None = Field(default=None, gt=0)
    sweep_interval: float = Field(default=60.0, gt=0)


class Settings(Section):
    master: MasterConfig = Field(default_factory=MasterConfig)
    raft: RaftConfig = Field(default_factory=RaftConfig)
    workers: WorkersConfig = Field(default_factory=WorkersConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    tls: TlsConfig = Field(default_factory=TlsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)


class ConfigError(ValueError):
    """A config file, variable or flag that cannot be used; the message names the key."""


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
        if not isinstance(tree, dict):
            raise ConfigError(f"{'.'.join(path)}: parent is not a section")
    tree[path[-1]] = value


def env_overrides(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        value = yaml.safe_load(raw) if raw else raw
        _set_path(out, path, value)
    return out


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def load_settings(
    path: str | Path | None = None,
    flags: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Build Settings from a YAML file, the environment and flags (dotted keys)."""
    tree: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {path} is not valid YAML: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config {path} must be a mapping")
        tree = loaded
    tree = deep_merge(tree, env_overrides(os.environ if environ is None else environ))
    for dotted, value in (flags or {}).items():
        if value is not None:
            _set_path(tree, dotted.split("."), value)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"config key {loc}: {err['msg']}") from None
