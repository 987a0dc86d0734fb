"""TCP connect scan: a full handshake per port, bounded concurrency, no raw sockets needed."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sniper_ha.scanners.ports import format_ports, parse_ports


class TcpConnectParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ports: str = "1-1024"
    timeout: float = Field(default=1.0, gt=0, le=30)
    concurrency: int = Field(default=200, ge=1, le=2000)

    @field_validator("ports", mode="before")
    @classmethod
    def _ports(cls, v: Any) -> str:
        return format_ports(parse_ports(v))


async def _probe(host: str, port: int, timeout: float) -> str:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return "filtered"
    except OSError:
        return "closed"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return "open"


async def run(target: str, params: TcpConnectParams) -> dict[str, Any]:
    ports = parse_ports(params.ports)
    sem = asyncio.Semaphore(params.concurrency)

    async def one(port: int) -> tuple[int, str]:
        async with sem:
            return port, await _probe(target, port, params.timeout)

    states = await asyncio.gather(*(one(p) for p in ports))
    open_ports = [p for p, s in states if s == "open"]
    return {
        "target": target,
        "scanned": len(ports),
        "open": open_ports,
        "closed": sum(1 for _, s in states if s == "closed"),
        "filtered": sum(1 for _, s in states if s == "filtered"),
    }
