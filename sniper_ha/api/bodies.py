"""Request parsing: JSON bodies and query parameters into models, with the field named."""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from sniper_ha.api.context import ctx_of
from sniper_ha.errors import BadRequest, PayloadTooLarge, RequestTimeout

M = TypeVar("M", bound=BaseModel)


def validation_error(exc: ValidationError, prefix: str = "") -> BadRequest:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    field = f"{prefix}{loc}" if loc else (prefix.rstrip(".") or "body")
    msg = err["msg"].removeprefix("Value error, ")
    return BadRequest(f"{field}: {msg}", field=field)


async def read_body(request: web.Request) -> bytes:
    """The raw body, bounded in size (client_max_size) and in time (api.read_timeout)."""
    limit = ctx_of(request).settings.api.read_timeout
    try:
        return await asyncio.wait_for(request.read(), limit)
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge("request body is too large", field="body") from None
    except asyncio.TimeoutError:
        raise RequestTimeout(f"the body did not arrive within {limit:.0f}s", field="body") from None


async def read_json(request: web.Request) -> Any:
    raw = await read_body(request)
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", field="body") from None


def parse(model: type[M], data: Any, prefix: str = "") -> M:
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object", field=prefix.rstrip(".") or "body")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, prefix) from None


def query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer", field=name) from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}", field=name)
    return value


def query_float(request: web.Request, name: str, default: float, lo: float, hi: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number", field=name) from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}", field=name)
    return value


def query_bool(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "").lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise BadRequest(f"{name} must be true or false", field=name)
