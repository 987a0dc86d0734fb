"""Port list parsing shared by every scanner that takes ports."""

from __future__ import annotations


def parse_ports(spec: str | list[int] | int) -> list[int]:
    """Expand "22,80,8000-8100" (or a list of ints) into a sorted list of unique ports."""
    if isinstance(spec, bool):
        raise ValueError("ports must be a string like '1-1024,8080' or a list of integers")
    if isinstance(spec, int):
        spec = [spec]
    ports: set[int] = set()
    if isinstance(spec, list):
        for p in spec:
            if not isinstance(p, int) or isinstance(p, bool):
                raise ValueError(f"port {p!r} is not an integer")
            ports.add(_check(p))
    elif isinstance(spec, str):
        for part in spec.replace(" ", "").split(","):
            if not part:
                continue
            if "-" in part:
                lo_s, _, hi_s = part.partition("-")
                if not (lo_s.isdigit() and hi_s.isdigit()):
                    raise ValueError(f"bad port range {part!r}")
                lo, hi = _check(int(lo_s)), _check(int(hi_s))
                if lo > hi:
                    raise ValueError(f"port range {part!r} is reversed")
                ports.update(range(lo, hi + 1))
            elif part.isdigit():
                ports.add(_check(int(part)))
            else:
                raise ValueError(f"bad port {part!r}")
    else:
        raise ValueError("ports must be a string like '1-1024,8080' or a list of integers")
    if not ports:
        raise ValueError("no ports given")
    return sorted(ports)


def format_ports(ports: list[int]) -> str:
    """Compact a sorted port list back into range notation."""
    out: list[str] = []
    start = prev = None
    for p in ports:
        if start is None:
            start = prev = p
        elif p == prev + 1:
            prev = p
        else:
            out.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = p
    if start is not None:
        out.append(str(start) if start == prev else f"{start}-{prev}")
    return ",".join(out)


def _check(p: int) -> int:
    if not 1 <= p <= 65535:
        raise ValueError(f"port {p} is outside 1-65535")
    return p
