"""Calling a remote source: retry 429, 5xx and network errors with backoff, then say why.

Shared by the connectors that talk to an API (PISTE/Légifrance, aides-territoires)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from plume.errors import SourceUnreachable

RETRIED = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Retrying:
    service: str  # named in the French error, e.g. "PISTE"
    attempts: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    sleep: Callable[[float], None] = lambda s: None
    scrub: Callable[[str], str] = lambda text: text[:300]  # hides secrets in messages

    def send(self, what: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        """`call` until it is not a 429/5xx nor a network error, `attempts` times at most."""
        attempts = max(1, self.attempts)
        for attempt in range(1, attempts + 1):
            try:
                resp = call()
            except httpx.HTTPError as exc:
                if attempt == attempts:
                    raise SourceUnreachable(
                        f"{self.service} injoignable ({what}) après {attempt} tentative(s) : "
                        f"{self.scrub(str(exc))}"
                    ) from exc
                self.sleep(self.wait(attempt, None))
                continue
            if resp.status_code not in RETRIED:
                return resp
            if attempt == attempts:
                busy = "trop de requêtes" if resp.status_code == 429 else "erreur du serveur"
                raise SourceUnreachable(
                    f"{self.service} a répondu {resp.status_code} ({busy}) pour {what}, "
                    f"{attempt} tentative(s) : réessayez plus tard."
                )
            self.sleep(self.wait(attempt, resp.headers.get("retry-after")))
        raise AssertionError("unreachable")  # pragma: no cover

    def wait(self, attempt: int, retry_after: str | None) -> float:
        """Retry-After (seconds) when the server gives it, else exponential backoff; capped."""
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.max_backoff_s)
            except ValueError:
                pass
        return min(self.backoff_s * 2.0 ** (attempt - 1), self.max_backoff_s)
