"""Rate limiting per API key, per commune and per client address, with a French 429 and
Retry-After.

A request bearing a known key (X-Plume-Key) counts on its key and on its commune (all the
commune's keys together), not on its address: a town hall's agents behind one address
(NAT) sharing their commune's key are limited as that commune, and a key that abuses is
throttled without throttling another commune. Any other request (no key, an unknown key:
fresh made-up keys must not escape the limit) counts on its address, whose limit is
generous enough for a town hall of about 20 agents.

Fixed one-minute windows counted by the `limits` library: in memory by default, which is
per process (with `PLUME_WORKERS` above 1 each worker counts apart), in Redis when
`PLUME_REDIS_URL` is set (shared by every worker, process and replica). Keys are counted by
their public id (a hash): no secret reaches Redis. If Redis fails, requests go through
(availability first) and a warning is logged. Calls bearing the right admin token are not
counted.

A request counts for its route's cost (`PLUME_RATE_LIMIT_COSTS`: a chat turn or the corpus
figures weigh more than a search). The client's address is the connecting one, unless that
is a trusted proxy (`PLUME_TRUSTED_PROXIES`, none by default): then the last address its
X-Forwarded-For adds that is not itself a trusted proxy. `plume serve` gives uvicorn the
same list (`server_options`), so a client cannot pick its own address from loopback.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import secrets
import threading
import time
from typing import Any

import anyio
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from starlette.types import ASGIApp, Receive, Scope, Send

from plume.errors import PlumeError
from plume.keys import KeyStore, key_id
from plume.settings import Settings

log = logging.getLogger(__name__)
NAMESPACE = "plume"


class RateLimits:
    """The limits, checked together: `retry_after` in seconds, or None to go on."""

    def __init__(self, settings: Settings, keys: KeyStore | None = None) -> None:
        token = settings.admin_token.get_secret_value() if settings.admin_token else None
        self._admin = f"Bearer {token}".encode() if token else None
        uri = settings.redis_url.get_secret_value() if settings.redis_url else "memory://"
        self.backend = "redis" if settings.redis_url else "memory"
        self._limiter = FixedWindowRateLimiter(storage_from_string(uri))
        self._per_key = RateLimitItemPerMinute(settings.rate_limit_key_per_minute)
        self._per_ip = RateLimitItemPerMinute(settings.rate_limit_ip_per_minute)
        self._per_commune = RateLimitItemPerMinute(settings.rate_limit_commune_per_minute)
        self._keys = keys
        # the longest route first: `/v1/aides/echeances` before `/v1/aides`
        self._costs = sorted(settings.rate_limit_costs.items(), key=lambda c: -len(c[0]))
        self.proxies = TrustedProxies(settings.trusted_proxies)

    def cost(self, path: str) -> int:
        """What a request to `path` counts for (1 unless its route is given a cost)."""
        for route, cost in self._costs:
            if path == route or path.startswith(route.rstrip("/") + "/"):
                return cost
        return 1

    def checks(self, key: str | None, ip: str | None) -> list[tuple[Any, str, str]]:
        """What a request counts on: its key and its commune when the key is known, else
        its address."""
        commune = self._commune(key) if key else None
        if commune is not None and key:
            return [(self._per_key, "cle", key_id(key)), (self._per_commune, "commune", commune)]
        return [(self._per_ip, "ip", ip)] if ip else []

    def _commune(self, key: str) -> str | None:
        """A known key's commune; None for an unknown or revoked key (the key file is read
        again only when it changed: `KeyStore`)."""
        if self._keys is None:
            return None
        try:
            return self._keys.lookup(key).tenant
        except PlumeError:
            return None

    def retry_after(self, key: str | None, ip: str | None, cost: int = 1) -> int | None:
        checks = self.checks(key, ip)
        try:
            # every limit is tested before any is spent: a request refused by its commune's
            # limit does not use up its key's
            for item, kind, who in checks:
                if not self._limiter.test(item, NAMESPACE, kind, who, cost=min(cost, item.amount)):
                    return self._wait(item, kind, who)
            for item, kind, who in checks:
                # a cost above the limit would refuse the route for ever: it takes the window
                if not self._limiter.hit(item, NAMESPACE, kind, who, cost=min(cost, item.amount)):
                    return self._wait(item, kind, who)
        except Exception as exc:  # the limiter's store is down: let the request through
            log.warning("rate limit store unavailable (%s)", type(exc).__name__)
        return None

    def _wait(self, item: Any, kind: str, who: str) -> int:
        reset, _ = self._limiter.get_window_stats(item, NAMESPACE, kind, who)
        return max(1, math.ceil(reset - time.time()))

    def is_admin(self, authorization: bytes | None) -> bool:
        """The administrator's own calls (right token) are not limited: they poll long
        jobs; a wrong token is limited like any request."""
        return bool(self._admin and authorization) and secrets.compare_digest(
            authorization or b"", self._admin or b""
        )


class TrustedProxies:
    """The reverse proxies whose X-Forwarded-For is believed: addresses, networks or `*`."""

    def __init__(self, entries: list[str]) -> None:
        self.any = "*" in entries
        self.networks = [ipaddress.ip_network(e, strict=False) for e in entries if e != "*"]

    def __bool__(self) -> bool:
        return self.any or bool(self.networks)

    def __contains__(self, host: str) -> bool:
        if self.any:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client(self, peer: str | None, forwarded: list[str]) -> str | None:
        """The client's address: `peer` unless it is a trusted proxy; then the rightmost
        hop of X-Forwarded-For not itself trusted (what a client writes on the left is
        never believed), or the leftmost when every hop is."""
        if peer is None or peer not in self:
            return peer
        hops = [_host(h) for value in forwarded for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in self:
                return hop
        return hops[0] if hops else peer


def _host(hop: str) -> str:
    """`1.2.3.4:5678` → `1.2.3.4`, `[::1]:80` → `::1`: a port never makes another client."""
    hop = hop.strip()
    if hop.startswith("[") and "]" in hop:
        return hop[1 : hop.index("]")]
    return hop.rsplit(":", 1)[0] if hop.count(":") == 1 else hop


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy options for `plume serve`: the trusted proxies, and none by default
    (uvicorn would otherwise believe any X-Forwarded-For sent from 127.0.0.1)."""
    trusted = list(settings.trusted_proxies)
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": trusted}


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
                    self._limits = RateLimits(runtime.settings, runtime.keys)
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
        peer = scope["client"][0] if scope.get("client") else None
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        ip = limits.proxies.client(peer, forwarded)
        cost = limits.cost(path)
        retry_after = await anyio.to_thread.run_sync(limits.retry_after, key, ip, cost)
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        body, response_headers = _too_many(retry_after)
        payload = json.dumps(body, ensure_ascii=False).encode()
        response_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": 429, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})
