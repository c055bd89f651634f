"""Rate limiting per API key and per client address, with a French 429 and Retry-After.

Fixed one-minute windows counted by the `limits` library: in memory (one process) by
default, in Redis when `PLUME_REDIS_URL` is set (shared by every process and replica).
Keys are counted by their public id (a hash): no secret reaches Redis. If Redis fails,
requests go through (availability first) and a warning is logged. Calls bearing the
right admin token are not counted.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time

import anyio
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from plume.keys import key_id
from plume.settings import Settings

log = logging.getLogger(__name__)
NAMESPACE = "plume"


class RateLimits:
    """The two limits, checked together: `retry_after` in seconds, or None to go on."""

    def __init__(self, settings: Settings) -> None:
        token = settings.admin_token.get_secret_value() if settings.admin_token else None
        self._admin = f"Bearer {token}".encode() if token else None
        uri = settings.redis_url.get_secret_value() if settings.redis_url else "memory://"
        self.backend = "redis" if settings.redis_url else "memory"
        self._limiter = FixedWindowRateLimiter(storage_from_string(uri))
        self._per_key = RateLimitItemPerMinute(settings.rate_limit_key_per_minute)
        self._per_ip = RateLimitItemPerMinute(settings.rate_limit_ip_per_minute)

    def retry_after(self, key: str | None, ip: str | None) -> int | None:
        checks = [(self._per_key, "cle", key_id(key)) if key else None]
        checks.append((self._per_ip, "ip", ip) if ip else None)
        for item, kind, who in filter(None, checks):
            try:
                allowed = self._limiter.hit(item, NAMESPACE, kind, who)
                if not allowed:
                    reset, _ = self._limiter.get_window_stats(item, NAMESPACE, kind, who)
                    return max(1, math.ceil(reset - time.time()))
            except Exception as exc:  # the limiter's store is down: let the request through
                log.warning("rate limit store unavailable (%s)", type(exc).__name__)
                return None
        return None

    def is_admin(self, authorization: bytes | None) -> bool:
        """The administrator's own calls (right token) are not limited: they poll long
        jobs; a wrong token is limited like any request."""
        return bool(self._admin and authorization) and secrets.compare_digest(
            authorization or b"", self._admin or b""
        )


def _too_many(retry_after: int) -> tuple[dict[str, object], list[tuple[bytes, bytes]]]:
    body: dict[str, object] = {
        "error": {
            "code": "trop_de_requetes",
            "message": f"Trop de requêtes : réessayez dans {retry_after} seconde"
            + ("s." if retry_after > 1 else "."),
            "retry_after": retry_after,
        }
    }
    headers = [
        (b"content-type", b"application/json"),
        (b"retry-after", str(retry_after).encode()),
    ]
    return body, headers


class RateLimit:
    """ASGI middleware on /v1/: limits built from the runtime's settings on first use."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limits: RateLimits | None = None
        self._lock = threading.Lock()

    def _get(self, scope: Scope) -> RateLimits | None:
        if self._limits is None:
            runtime = getattr(scope["app"].state, "runtime", None)
            if runtime is None:
                return None
            with self._lock:
                if self._limits is None:
                    self._limits = RateLimits(runtime.settings)
        return self._limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        limited = (
            scope["type"] == "http" and path.startswith("/v1/") and scope["method"] != "OPTIONS"
        )
        limits = self._get(scope) if limited else None
        if limits is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if limits.is_admin(headers.get(b"authorization")):
            await self.app(scope, receive, send)
            return
        key = headers.get(b"x-plume-key", b"").decode("latin-1").strip() or None
        ip = scope["client"][0] if scope.get("client") else None
        retry_after = await anyio.to_thread.run_sync(limits.retry_after, key, ip)
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        body, response_headers = _too_many(retry_after)
        payload = json.dumps(body, ensure_ascii=False).encode()
        response_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": 429, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
