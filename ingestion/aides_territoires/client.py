"""The aides-territoires API client.

`AidesTerritoiresClient` reads the whole catalogue: it exchanges the account's
X-AUTH-TOKEN for a bearer (`POST {base}/api/connexion/` → `{"token"}`), then follows
`GET {base}/api/aids/?page=N` (`{"count", "next", "previous", "results"}`) until `next`
is null. A failing page is retried with backoff; when it keeps failing, what was fetched
so far comes back with a partial-sync error, so that nothing already read is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urljoin

import httpx
from pydantic import SecretStr

from ingestion.retrying import Retrying
from plume.errors import SourceUnauthorized, SourceUnreachable

CONNEXION_PATH = "/api/connexion/"
AIDS_PATH = "/api/aids/"


@dataclass
class FetchResult:
    """The aids read from the API; `error` says why the sync stopped early, if it did."""

    records: list[dict[str, Any]] = field(default_factory=list)
    count: int | None = None  # what the API announced
    pages: int = 0
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is None


class AidesTerritoiresClient:
    """The public aides-territoires API. Pass `http` to share (or fake) the HTTP client."""

    def __init__(
        self,
        base_url: str,
        token: str | SecretStr,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token.get_secret_value() if isinstance(token, SecretStr) else token
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)))
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._bearer: str | None = None

    def __repr__(self) -> str:
        return f"AidesTerritoiresClient(base_url={self.base_url!r}, token='**********')"

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> AidesTerritoiresClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scrub(self, text: str) -> str:
        text = text[:300]
        for secret in (self._token, self._bearer):
            if secret:
                text = text.replace(secret, "**********")
        return text

    def _send(self, what: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        retrying = Retrying(
            "aides-territoires",
            self.attempts,
            self.backoff_s,
            self.max_backoff_s,
            self._sleep,
            self._scrub,
        )
        return retrying.send(what, call)

    def connect(self) -> str:
        """Exchange the X-AUTH-TOKEN for a bearer token."""
        url = self.base_url + CONNEXION_PATH
        resp = self._send(
            "la connexion", lambda: self.http.post(url, headers={"X-AUTH-TOKEN": self._token})
        )
        if resp.status_code in (400, 401, 403):
            raise SourceUnauthorized(
                f"aides-territoires a refusé le jeton (HTTP {resp.status_code}) : vérifiez "
                "PLUME_AIDES_TERRITOIRES_TOKEN (jeton d'API de votre compte aides-territoires)."
            )
        body = self._json(resp, "la connexion")
        token = body.get("token")
        if not isinstance(token, str) or not token:
            raise SourceUnreachable("aides-territoires n'a pas renvoyé de jeton (token).")
        self._bearer = token
        return token

    def _json(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        if resp.status_code != 200:
            raise SourceUnreachable(
                f"aides-territoires a répondu {resp.status_code} pour {what} : "
                f"{self._scrub(resp.text)}"
            )
        try:
            body = resp.json()
        except ValueError as exc:
            raise SourceUnreachable(
                f"Réponse illisible d'aides-territoires pour {what} (JSON attendu)."
            ) from exc
        if not isinstance(body, dict):
            raise SourceUnreachable(
                f"Réponse inattendue d'aides-territoires pour {what} (objet attendu)."
            )
        return body

    def _page(self, url: str, what: str) -> dict[str, Any]:
        for renewed in (False, True):
            if self._bearer is None:
                self.connect()
            headers = {"Authorization": f"Bearer {self._bearer}", "Accept": "application/json"}
            resp = self._send(what, partial(self.http.get, url, headers=headers))
            if resp.status_code != 401:
                return self._json(resp, what)
            self._bearer = None  # expired: one new bearer, one more try
            if renewed:
                break
        raise SourceUnauthorized(
            f"aides-territoires refuse l'accès à {what} même avec un jeton neuf : "
            "vérifiez PLUME_AIDES_TERRITOIRES_TOKEN."
        )

    def fetch_aids(self, max_pages: int | None = None) -> FetchResult:
        """Every aid, page after page. A bad token raises `SourceUnauthorized`; a page that
        keeps failing ends the sync with what was read so far and `error` set."""
        result = FetchResult()
        url: str | None = f"{self.base_url}{AIDS_PATH}?page=1"
        self.connect()
        while url is not None and (max_pages is None or result.pages < max_pages):
            what = f"la page {result.pages + 1} des aides"
            try:
                body = self._page(url, what)
            except SourceUnauthorized:
                raise
            except SourceUnreachable as exc:
                result.error = (
                    f"Synchronisation partielle d'aides-territoires : {len(result.records)} "
                    f"aide(s) lues sur {result.count if result.count is not None else '?'}, "
                    f"arrêt à la page {result.pages + 1}. {exc.message}"
                )
                return result
            results = body.get("results")
            if not isinstance(results, list):
                result.error = (
                    f"Synchronisation partielle d'aides-territoires : réponse sans "
                    f"« results » pour {what}."
                )
                return result
            if result.count is None and isinstance(body.get("count"), int):
                result.count = body["count"]
            result.records.extend(r for r in results if isinstance(r, dict))
            result.pages += 1
            nxt = body.get("next")
            url = urljoin(url, nxt) if isinstance(nxt, str) and nxt else None
        return result
