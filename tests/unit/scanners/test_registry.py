"""Scanner registry: params validation, normalisation and error fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sniper_ha.models import TaskSpec
from sniper_ha.scanners.ports import format_ports, parse_ports
from sniper_ha.scanners.registry import SCANNERS, ParamsError, validate_params


def test_known_scanners() -> None:
    assert set(SCANNERS) == {"tcp_connect", "http_probe"}


def test_tcp_connect_defaults() -> None:
    assert validate_params("tcp_connect", {}) == {"ports": "1-1024", "timeout": 1.0, "concurrency": 200}


def test_http_probe_defaults() -> None:
    assert validate_params("http_probe", {}) == {
        "scheme": "http",
        "port": None,
        "path": "/",
        "timeout": 5.0,
        "verify_tls": False,
    }


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        ("22,80,443", "22,80,443"),
        ("80,22,23,21", "21-23,80"),
        ("1-10, 5-20", "1-20"),
        ([443, 80, 81], "80-81,443"),
        (8080, "8080"),
    ],
)
def test_tcp_connect_ports_are_normalised(ports: Any, expected: str) -> None:
    out = validate_params("tcp_connect", {"ports": ports, "timeout": 2, "concurrency": 10})
    assert out == {"ports": expected, "timeout": 2.0, "concurrency": 10}


def test_http_probe_params_pass_through() -> None:
    params = {"scheme": "https", "port": 8443, "path": "/health?x=1", "timeout": 2.5, "verify_tls": True}
    assert validate_params("http_probe", params) == params


def test_unknown_type_names_the_type_field() -> None:
    with pytest.raises(ParamsError) as info:
        validate_params("nmap", {})
    assert info.value.field == "type"
    assert "nmap" in str(info.value)
    assert "http_probe, tcp_connect" in str(info.value)
    assert str(info.value).startswith("type: ")


@pytest.mark.parametrize(
    ("task_type", "params", "field", "fragment"),
    [
        ("tcp_connect", {"ports": "http"}, "params.ports", "bad port 'http'"),
        ("tcp_connect", {"ports": "0-10"}, "params.ports", "outside 1-65535"),
        ("tcp_connect", {"ports": "9-1"}, "params.ports", "reversed"),
        ("tcp_connect", {"ports": ""}, "params.ports", "no ports given"),
        ("tcp_connect", {"ports": True}, "params.ports", "must be a string"),
        ("tcp_connect", {"ports": None}, "params.ports", "must be a string"),
        ("tcp_connect", {"timeout": 0}, "params.timeout", "greater than 0"),
        ("tcp_connect", {"timeout": 31}, "params.timeout", "less than or equal to 30"),
        ("tcp_connect", {"timeout": "soon"}, "params.timeout", "number"),
        ("tcp_connect", {"concurrency": 0}, "params.concurrency", "greater than or equal to 1"),
        ("tcp_connect", {"concurrency": 2001}, "params.concurrency", "less than or equal to 2000"),
        ("tcp_connect", {"bogus": 1}, "params.bogus", "Extra inputs are not permitted"),
        ("http_probe", {"scheme": "ftp"}, "params.scheme", "'http' or 'https'"),
        ("http_probe", {"port": 0}, "params.port", "greater than or equal to 1"),
        ("http_probe", {"port": 65536}, "params.port", "less than or equal to 65535"),
        ("http_probe", {"path": "no-slash"}, "params.path", "pattern"),
        ("http_probe", {"path": "/a b"}, "params.path", "pattern"),
        ("http_probe", {"timeout": 61}, "params.timeout", "less than or equal to 60"),
        ("http_probe", {"ports": "80"}, "params.ports", "Extra inputs are not permitted"),
    ],
)
def test_bad_params_name_the_field(task_type: str, params: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(ParamsError) as info:
        validate_params(task_type, params)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.field == field
    assert str(err).startswith(f"{field}: ")
    assert fragment in str(err)
    assert "Value error, " not in str(err)


def test_params_error_fields() -> None:
    err = ParamsError("params.ports", "bad")
    assert err.field == "params.ports"
    assert str(err) == "params.ports: bad"


def test_task_spec_normalized_uses_the_registry() -> None:
    spec = TaskSpec(type="tcp_connect", target="10.0.0.1", params={"ports": [80, 22]})
    assert spec.normalized().params == {"ports": "22,80", "timeout": 1.0, "concurrency": 200}
    assert spec.params == {"ports": [80, 22]}
    with pytest.raises(ParamsError) as info:
        TaskSpec(type="tcp_connect", target="10.0.0.1", params={"ports": "x"}).normalized()
    assert info.value.field == "params.ports"


@settings(max_examples=150, deadline=None)
@given(st.sets(st.integers(1, 65535), min_size=1, max_size=40))
def test_tcp_connect_normalisation_is_idempotent(ports: set[int]) -> None:
    first = validate_params("tcp_connect", {"ports": sorted(ports, reverse=True)})
    assert first["ports"] == format_ports(sorted(ports))
    assert parse_ports(first["ports"]) == sorted(ports)
    assert validate_params("tcp_connect", first) == first


@pytest.mark.parametrize("params", [None, [1], "ports=22"])
def test_non_mapping_params_name_the_params_field(params: Any) -> None:
    with pytest.raises(ParamsError) as info:
        validate_params("tcp_connect", params)
    assert info.value.field == "params"
