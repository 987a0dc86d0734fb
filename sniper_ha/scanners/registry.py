"""Maps a task type to its params model and runner; the master validates, the worker runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from sniper_ha.scanners import http_probe, tcp_connect


@dataclass(frozen=True)
class Scanner:
    params: type[BaseModel]
    run: Callable[[str, Any], Awaitable[dict[str, Any]]]


SCANNERS: dict[str, Scanner] = {
    "tcp_connect": Scanner(tcp_connect.TcpConnectParams, tcp_connect.run),
    "http_probe": Scanner(http_probe.HttpProbeParams, http_probe.run),
}


class ParamsError(ValueError):
    """Bad task type or params; `field` names the offending key (e.g. "params.ports")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def validate_params(task_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """Return the normalised params, or raise ParamsError naming the offending field."""
    scanner = SCANNERS.get(task_type)
    if scanner is None:
        known = ", ".join(sorted(SCANNERS))
        raise ParamsError("type", f"unknown task type {task_type!r}; known: {known}")
    try:
        return scanner.params.model_validate(params).model_dump(mode="json")
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        field = f"params.{loc}" if loc else "params"
        raise ParamsError(field, err["msg"].removeprefix("Value error, ")) from None


async def run_task(task_type: str, target: str, params: dict[str, Any]) -> dict[str, Any]:
    scanner = SCANNERS[task_type]
    return await scanner.run(target, scanner.params.model_validate(params))
