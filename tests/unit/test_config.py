"""Settings precedence (defaults < YAML < environment < flags) and validation errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sniper_ha.config import ConfigError, RaftConfig, Settings, deep_merge, env_overrides, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sniper-ha.yaml"
    path.write_text(text)
    return path


YAML = """
master:
  port: 6000
  log_level: DEBUG
workers:
  heartbeat_interval: 7
  max_concurrent_tasks: 4
raft:
  election_timeout_min: 1.0
  election_timeout_max: 2.0
  leader_fallback_timeout: 3.0
"""


def test_defaults() -> None:
    s = load_settings(environ={})
    assert s == Settings()
    assert s.master.port == 5555
    assert s.master.host == "127.0.0.1"
    assert s.master.distribution_strategy == "round_robin"
    assert s.workers.heartbeat_interval == 5.0
    assert s.raft.election_timeout_min == 0.8
    assert s.auth.tokens == []


def test_yaml_overrides_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, YAML), environ={})
    assert s.master.port == 6000
    assert s.master.log_level == "DEBUG"
    assert s.workers.heartbeat_interval == 7.0
    assert s.workers.max_concurrent_tasks == 4
    assert s.raft.election_timeout_max == 2.0
    # Untouched keys keep their defaults, also inside a section the file sets.
    assert s.master.host == "127.0.0.1"
    assert s.workers.heartbeat_ttl_multiplier == 3.0
    assert s.api.propose_timeout == 5.0


def test_env_overrides_yaml(tmp_path: Path) -> None:
    environ = {
        "SNIPER_HA_WORKERS__HEARTBEAT_INTERVAL": "2",
        "SNIPER_HA_MASTER__HOST": "0.0.0.0",
        "SNIPER_HA_MASTER__HIGH_AVAILABILITY": "false",
    }
    s = load_settings(write(tmp_path, YAML), environ=environ)
    assert s.workers.heartbeat_interval == 2.0
    assert s.workers.max_concurrent_tasks == 4  # from YAML, same section as the env override
    assert s.master.host == "0.0.0.0"
    assert s.master.high_availability is False
    assert s.master.port == 6000


def test_flags_override_env_and_yaml(tmp_path: Path) -> None:
    environ = {"SNIPER_HA_WORKERS__HEARTBEAT_INTERVAL": "2", "SNIPER_HA_MASTER__PORT": "7000"}
    flags = {"workers.heartbeat_interval": 1.5, "master.port": 8000, "master.log_level": None}
    s = load_settings(write(tmp_path, YAML), flags=flags, environ=environ)
    assert s.workers.heartbeat_interval == 1.5
    assert s.master.port == 8000
    # A flag left unset (None) does not override anything.
    assert s.master.log_level == "DEBUG"


def test_full_precedence_chain(tmp_path: Path) -> None:
    path = write(tmp_path, "workers:\n  heartbeat_interval: 7\n  max_concurrent_tasks: 3\n")
    environ = {"SNIPER_HA_WORKERS__HEARTBEAT_INTERVAL": "2", "SNIPER_HA_WORKERS__MAX_CONCURRENT_TASKS": "5"}
    assert load_settings(environ={}).workers.heartbeat_interval == 5.0
    assert load_settings(path, environ={}).workers.heartbeat_interval == 7.0
    from_env = load_settings(path, environ=environ)
    assert from_env.workers.heartbeat_interval == 2.0
    assert from_env.workers.max_concurrent_tasks == 5
    from_flag = load_settings(path, flags={"workers.heartbeat_interval": 9}, environ=environ)
    assert from_flag.workers.heartbeat_interval == 9.0
    assert from_flag.workers.max_concurrent_tasks == 5


def test_env_without_file() -> None:
    s = load_settings(environ={"SNIPER_HA_WORKERS__HEARTBEAT_INTERVAL": "2.5"})
    assert s.workers.heartbeat_interval == 2.5


def test_env_values_are_yaml_scalars() -> None:
    environ = {
        "SNIPER_HA_RAFT__PASSWORD": "s3cret",
        "SNIPER_HA_API__MAX_BODY_BYTES": "2048",
        "SNIPER_HA_MASTER__HIGH_AVAILABILITY": "no",
    }
    s = load_settings(environ=environ)
    assert s.raft.password == "s3cret"
    assert s.api.max_body_bytes == 2048
    assert s.master.high_availability is False


def test_unrelated_environment_is_ignored() -> None:
    environ = {
        "PATH": "/usr/bin",
        "SNIPER_HA_CONFIG": "/etc/sniper-ha.yaml",  # no double underscore: not a key
        "OTHER_WORKERS__HEARTBEAT_INTERVAL": "1",
        "sniper_ha_workers__heartbeat_interval": "1",
    }
    assert load_settings(environ=environ) == Settings()
    assert env_overrides(environ) == {}


def test_env_overrides_builds_nested_tree() -> None:
    environ = {"SNIPER_HA_WORKERS__HEARTBEAT_INTERVAL": "2", "SNIPER_HA_MASTER__PORT": "7000"}
    assert env_overrides(environ) == {"workers": {"heartbeat_interval": 2}, "master": {"port": 7000}}


def test_deep_merge() -> None:
    base = {"a": {"x": 1, "y": 2}, "b": 1, "c": {"z": 1}}
    over = {"a": {"y": 3}, "b": {"n": 1}, "d": 4}
    assert deep_merge(base, over) == {"a": {"x": 1, "y": 3}, "b": {"n": 1}, "c": {"z": 1}, "d": 4}
    assert base == {"a": {"x": 1, "y": 2}, "b": 1, "c": {"z": 1}}


def test_auth_tokens_from_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "auth:\n  tokens:\n    - {name: ops, role: operator, token: 0123456789abcdef}\n")
    s = load_settings(path, environ={})
    assert [(t.name, t.role) for t in s.auth.tokens] == [("ops", "operator")]


# ---- errors ------------------------------------------------------------------------------


def config_error(**kwargs: Any) -> str:
    kwargs.setdefault("environ", {})
    with pytest.raises(ConfigError) as info:
        load_settings(**kwargs)
    assert isinstance(info.value, ValueError)
    return str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"environ": {"SNIPER_HA_WORKERS__HEARTBEAT_INTERVL": "2"}}, "workers.heartbeat_intervl"),
        ({"environ": {"SNIPER_HA_BOGUS__X": "1"}}, "config key bogus"),
        ({"environ": {"SNIPER_HA_WORKERS__HEARTBEAT_INTERVAL": "soon"}}, "workers.heartbeat_interval"),
        ({"environ": {"SNIPER_HA_WORKERS__HEARTBEAT_INTERVAL": "0"}}, "workers.heartbeat_interval"),
        ({"flags": {"master.prot": 1}}, "master.prot"),
        ({"flags": {"master.port": 70000}}, "master.port"),
        ({"flags": {"master.port": "abc"}}, "master.port"),
        ({"flags": {"master.log_level": "LOUD"}}, "master.log_level"),
        ({"flags": {"master.distribution_strategy": "random"}}, "master.distribution_strategy"),
        ({"flags": {"workers.heartbeat_ttl_multiplier": 1.0}}, "workers.heartbeat_ttl_multiplier"),
        ({"flags": {"api.max_body_bytes": 10}}, "api.max_body_bytes"),
        ({"flags": {"raft.log_compaction_min_entries": 1}}, "raft.log_compaction_min_entries"),
        ({"flags": {"raft.append_entries_period": 0}}, "raft.append_entries_period"),
    ],
)
def test_bad_key_or_value_names_the_key(kwargs: dict[str, Any], key: str) -> None:
    message = config_error(**kwargs)
    assert key in message


def test_unknown_yaml_key_is_named(tmp_path: Path) -> None:
    message = config_error(path=write(tmp_path, "workers:\n  heartbeat: 3\n"))
    assert "config key workers.heartbeat" in message
    message = config_error(path=write(tmp_path, "scanner:\n  x: 1\n"))
    assert "config key scanner" in message


def test_bad_token_entry_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "auth:\n  tokens:\n    - {name: ops, role: operator, token: short}\n")
    assert "auth.tokens.0.token" in config_error(path=path)
    path = write(tmp_path, "auth:\n  tokens:\n    - {name: ops, role: root, token: 0123456789abcdef}\n")
    assert "auth.tokens.0.role" in config_error(path=path)


def test_flag_under_a_scalar_is_a_config_error(tmp_path: Path) -> None:
    message = config_error(path=write(tmp_path, "workers: 3\n"), flags={"workers.heartbeat_interval": 1})
    assert "workers.heartbeat_interval" in message


def test_missing_file(tmp_path: Path) -> None:
    message = config_error(path=tmp_path / "nope.yaml")
    assert "cannot read config" in message
    assert "nope.yaml" in message


def test_invalid_yaml(tmp_path: Path) -> None:
    assert "not valid YAML" in config_error(path=write(tmp_path, "master: [unclosed\n"))


def test_yaml_must_be_a_mapping(tmp_path: Path) -> None:
    assert "must be a mapping" in config_error(path=write(tmp_path, "- a\n- b\n"))


def test_empty_yaml_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, ""), environ={}) == Settings()
    assert load_settings(write(tmp_path, "# nothing here\n"), environ={}) == Settings()


# ---- raft timers -------------------------------------------------------------------------


def test_default_raft_timers_are_valid() -> None:
    raft = RaftConfig()
    assert raft.append_entries_period * 4 <= raft.election_timeout_min
    assert raft.election_timeout_min < raft.election_timeout_max < raft.leader_fallback_timeout


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        ({"raft.election_timeout_min": 2.0}, "election_timeout_min must be below"),
        ({"raft.election_timeout_min": 1.6}, "election_timeout_min must be below"),
        ({"raft.append_entries_period": 0.5}, "append_entries_period must be well below"),
        ({"raft.append_entries_period": 0.21}, "append_entries_period must be well below"),
        ({"raft.leader_fallback_timeout": 1.6}, "leader_fallback_timeout must exceed"),
        ({"raft.leader_fallback_timeout": 1.0}, "leader_fallback_timeout must exceed"),
    ],
)
def test_raft_timer_ordering_is_validated(flags: dict[str, Any], fragment: str) -> None:
    message = config_error(flags=flags)
    assert "config key raft" in message
    assert fragment in message
    assert "raft." in message.split(":", 1)[1]


def test_raft_timer_ordering_from_env() -> None:
    message = config_error(environ={"SNIPER_HA_RAFT__ELECTION_TIMEOUT_MAX": "0.5"})
    assert "election_timeout_min must be below" in message


@pytest.mark.parametrize(
    "flags",
    [
        {"raft.append_entries_period": 0.2},  # exactly a quarter of election_timeout_min
        {"raft.election_timeout_min": 0.1, "raft.append_entries_period": 0.025},
        {
            "raft.election_timeout_min": 3.0,
            "raft.election_timeout_max": 6.0,
            "raft.leader_fallback_timeout": 6.5,
        },
    ],
)
def test_raft_timer_boundaries_accepted(flags: dict[str, Any]) -> None:
    s = load_settings(flags=flags, environ={})
    for dotted, value in flags.items():
        assert getattr(s.raft, dotted.split(".")[1]) == value


def test_duplicate_token_names_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "auth:\n  tokens:\n"
        "    - {name: ops, role: operator, token: 0123456789abcdef}\n"
        "    - {name: ops, role: viewer, token: fedcba9876543210}\n",
    )
    message = config_error(path=path)
    assert "config key auth" in message
    assert "unique" in message


@pytest.mark.parametrize("name", ["development.yaml", "production.yaml"])
def test_shipped_example_configs_load(name: str) -> None:
    root = Path(__file__).resolve().parents[2]
    settings = load_settings(root / "deploy" / "config" / name, environ={})
    assert settings.master.port == 5555
