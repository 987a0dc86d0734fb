"""Port list parsing and formatting."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sniper_ha.scanners.ports import format_ports, parse_ports


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("22", [22]),
        ("22,80", [22, 80]),
        ("80,22", [22, 80]),
        ("8000-8003", [8000, 8001, 8002, 8003]),
        ("22,80,8000-8002", [22, 80, 8000, 8001, 8002]),
        ("22, 80 , 443", [22, 80, 443]),
        ("22,,80,", [22, 80]),
        ("1-3,2-4", [1, 2, 3, 4]),
        ("5-5", [5]),
        ("1", [1]),
        ("65535", [65535]),
        ("65530-65535", [65530, 65531, 65532, 65533, 65534, 65535]),
        ("0022", [22]),
        (22, [22]),
        ([443, 80, 80, 22], [22, 80, 443]),
        ([1, 65535], [1, 65535]),
    ],
)
def test_parse_ports(spec: Any, expected: list[int]) -> None:
    assert parse_ports(spec) == expected


def test_parse_full_range() -> None:
    ports = parse_ports("1-65535")
    assert len(ports) == 65535
    assert ports[0] == 1 and ports[-1] == 65535


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no ports given"),
        (",", "no ports given"),
        ("   ", "no ports given"),
        ([], "no ports given"),
        ("0", "outside 1-65535"),
        ("65536", "outside 1-65535"),
        ("99999999999", "outside 1-65535"),
        ("0-10", "outside 1-65535"),
        ("10-70000", "outside 1-65535"),
        (0, "outside 1-65535"),
        (-1, "outside 1-65535"),
        ([22, 0], "outside 1-65535"),
        ("http", "bad port"),
        ("22;80", "bad port"),
        ("1.5", "bad port"),
        ("+22", "bad port"),
        ("-22", "bad port range"),
        ("22-", "bad port range"),
        ("1-2-3", "bad port range"),
        ("a-b", "bad port range"),
        ("100-10", "reversed"),
        (True, "must be a string"),
        (False, "must be a string"),
        (None, "must be a string"),
        (22.0, "must be a string"),
        ({"ports": 22}, "must be a string"),
        ([True], "not an integer"),
        ([22, "80"], "not an integer"),
        ([22.0], "not an integer"),
        ([None], "not an integer"),
    ],
)
def test_parse_ports_errors(spec: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ports(spec)


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        ([], ""),
        ([22], "22"),
        ([22, 23], "22-23"),
        ([22, 80], "22,80"),
        ([1, 2, 3, 5, 7, 8, 9], "1-3,5,7-9"),
        ([80, 443, 8080, 8081], "80,443,8080-8081"),
        ([65535], "65535"),
    ],
)
def test_format_ports(ports: list[int], expected: str) -> None:
    assert format_ports(ports) == expected


port = st.integers(1, 65535)


@st.composite
def specs(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        lo = draw(port)
        if draw(st.booleans()):
            hi = draw(st.integers(lo, min(lo + 300, 65535)))
            parts.append(f"{lo}-{hi}")
        else:
            parts.append(str(lo))
    return ",".join(parts)


@settings(max_examples=200, deadline=None)
@given(st.sets(port, min_size=1, max_size=60))
def test_format_then_parse_round_trip(ports: set[int]) -> None:
    ordered = sorted(ports)
    text = format_ports(ordered)
    assert parse_ports(text) == ordered
    assert parse_ports(list(ports)) == ordered


@settings(max_examples=200, deadline=None)
@given(specs())
def test_parse_then_format_is_canonical(spec: str) -> None:
    ports = parse_ports(spec)
    assert ports == sorted(set(ports))
    canonical = format_ports(ports)
    assert parse_ports(canonical) == ports
    assert format_ports(parse_ports(canonical)) == canonical
    # The canonical form never has two adjacent pieces that could merge.
    pieces = [p.split("-") for p in canonical.split(",")]
    bounds = [(int(p[0]), int(p[-1])) for p in pieces]
    for (_, prev_hi), (next_lo, _) in zip(bounds, bounds[1:], strict=False):
        assert next_lo > prev_hi + 1


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789,- x", max_size=20))
def test_parse_either_succeeds_or_raises_value_error(spec: str) -> None:
    try:
        ports = parse_ports(spec)
    except ValueError:
        return
    assert ports
    assert all(1 <= p <= 65535 for p in ports)
    assert ports == sorted(set(ports))
