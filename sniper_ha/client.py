"""HTTP client for the CLI and the worker: several master URLs, retries, backoff with jitter.

Any replica (or a load balancer in front of them) answers every call, so the client only
has to move on when the one it talks to is unreachable or answers 503. Every write the
callers make is idempotent (Idempotency-Key, worker id, lease id), so a retry after an
unknown outcome cannot apply twice.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from typing import Any

import aiohttp

from sniper_ha.errors import ClientError

RETRYABLE_STATUS = {429, 502, 503, 504}


class Backoff:
    """Exponential backoff with full jitter, capped."""

    def __init__(self, base: float = 0.1, cap: float = 3.0) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0


class MasterClient:
    def __init__(
        self,
        urls: list[str],
        token: str | None,
        *,
        request_timeout: float = 15.0,
        deadline: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not urls:
            raise ValueError("at least one master URL is needed")
        self.urls = [u.rstrip("/") for u in urls]
        self.token = token
        self.request_timeout = request_timeout
        self.deadline = deadline
        self._current = 0
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> MasterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def current_url(self) -> str:
        return self.urls[self._current]

    def _rotate(self) -> None:
        self._current = (self._current + 1) % len(self.urls)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        token: str | None = None,
    ) -> tuple[int, Any]:
        """Send until some replica gives a non-retryable answer; raise ClientError on 4xx/5xx.
        `token` overrides the client's token for this call."""
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self._ssl) if self._ssl else None
            self._session = aiohttp.ClientSession(connector=connector)
        hdrs = dict(headers or {})
        if token or self.token:
            hdrs["Authorization"] = f"Bearer {token or self.token}"
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + (self.deadline if deadline is None else deadline)
        backoff = Backoff()
        last_error = "no attempt made"
        while True:
            url = self.current_url + path
            try:
                async with self._session.request(
                    method, url, json=json, params=params, headers=hdrs,
                    timeout=aiohttp.ClientTimeout(total=timeout or self.request_timeout),
                ) as resp:
                    try:
                        body = await resp.json(content_type=None)
                    except ValueError:
                        body = {"error": "bad_response", "message": (await resp.text())[:200]}
                    if resp.status < 400:
                        return resp.status, body
                    if resp.status not in RETRYABLE_STATUS:
                        msg = body.get("message", body) if isinstance(body, dict) else body
                        raise ClientError(f"{resp.status}: {msg}", resp.status, body)
                    last_error = f"{self.current_url} answered {resp.status} {body}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                last_error = f"{self.current_url}: {type(exc).__name__} {exc}"
                self._rotate()
            delay = backoff.next_delay()
            if loop.time() + delay >= stop_at:
                raise ClientError(f"gave up after retries: {last_error}")
            await asyncio.sleep(delay)
            if backoff.attempt % 3 == 0:
                self._rotate()
