"""HTTP probe: status, Server header, and which common security headers are missing."""

from __future__ import annotations

from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Permissions-Policy",
)


class HttpProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scheme: Literal["http", "https"] = "http"
    port: int | None = Field(default=None, ge=1, le=65535)
    path: str = Field(default="/", pattern=r"^/[^\s]*$", max_length=2000)
    timeout: float = Field(default=5.0, gt=0, le=60)
    verify_tls: bool = False


async def run(target: str, params: HttpProbeParams) -> dict[str, Any]:
    port = params.port or (443 if params.scheme == "https" else 80)
    host = f"[{target}]" if ":" in target else target
    url = f"{params.scheme}://{host}:{port}{params.path}"
    timeout = aiohttp.ClientTimeout(total=params.timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(url, ssl=params.verify_tls, allow_redirects=False) as resp:
            body = await resp.content.read(4096)
            headers = resp.headers
            return {
                "url": url,
                "status": resp.status,
                "server": headers.get("Server"),
                "content_type": headers.get("Content-Type"),
                "missing_security_headers": [h for h in SECURITY_HEADERS if h not in headers],
                "body_bytes_sampled": len(body),
            }
