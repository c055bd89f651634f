"""A fake aides-territoires API on loopback: token exchange and the paginated aids.

`FakeAidesTerritoires` runs a Starlette app under uvicorn in a background thread on
127.0.0.1 (like `tests.fakes.piste`).

    with FakeAidesTerritoires(records, page_size=3) as fake:
        client = AidesTerritoiresClient(fake.url, TOKEN)
        fake.fail_page(2, times=2)        # page 2 answers 500 twice, then works
        fake.expire_tokens()              # bearers issued so far now get 401
        fake.calls(fake.AIDS)             # requests received, per path

Endpoints: POST /api/connexion/ (header X-AUTH-TOKEN; 401 on a bad one) answers
`{"token"}`; GET /api/aids/?page=N (Authorization: Bearer; 401 without a valid one, 404
past the last page) answers `{"count", "next", "previous", "results"}` like the API's
Django REST framework pagination, `next` an absolute URL.
"""

from __future__ import annotations

import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ingestion.aides_territoires.client import AIDS_PATH, CONNEXION_PATH
from tests.fakes.loopback import LoopbackServer

Record = dict[str, Any]
TOKEN = "fake-aides-territoires-x-auth-token-0123"  # a test value


@dataclass(frozen=True)
class Received:
    path: str
    page: int | None
    x_auth_token: str | None
    authorization: str | None


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40].rstrip("-")


def api_record(partner: Record) -> Record:
    """A partner feed's aid (e.g. Manche's) as the aides-territoires API shows it: with its
    slug, its page (relative url), its financer and perimeter."""
    slug = f"{int(partner['id']):x}-{_slugify(str(partner['name']))}"
    return {
        **partner,
        "slug": slug,
        "url": f"/aides/{slug}/",
        "financers": [{"id": 1, "name": "Conseil départemental de la Manche"}],
        "perimeter": "Manche",
        "eligibility": "",
        "subvention_rate_lower_bound": None,
        "subvention_rate_upper_bound": None,
        "application_url": partner.get("origin_url") or "",
    }


class FakeAidesTerritoires(LoopbackServer):
    name = "fake-aides-territoires"

    CONNEXION = CONNEXION_PATH
    AIDS = AIDS_PATH

    def __init__(self, records: list[Record], *, page_size: int = 3, token: str = TOKEN):
        super().__init__()
        self.records = list(records)
        self.page_size = page_size
        self.token = token
        self._bearers: set[str] = set()
        self._requests: list[Received] = []
        self._failures: dict[int, tuple[int, int]] = {}  # page → (status, times left)
        self._lock = threading.Lock()

    # --- knobs ---------------------------------------------------------------------------

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.records) // self.page_size))

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def calls(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def fail_page(self, page: int, times: int = 1, status: int = 500) -> None:
        """Answer the next `times` requests for `page` with `status`."""
        with self._lock:
            self._failures[page] = (status, times)

    def expire_tokens(self) -> None:
        with self._lock:
            self._bearers.clear()

    # --- lifecycle -------------------------------------------------------------------------

    # --- the HTTP app ------------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(self.CONNEXION, self._connexion, methods=["POST"]),
                Route(self.AIDS, self._aids, methods=["GET"]),
            ]
        )

    def _record(self, request: Request, page: int | None) -> None:
        with self._lock:
            self._requests.append(
                Received(
                    request.url.path,
                    page,
                    request.headers.get("x-auth-token"),
                    request.headers.get("authorization"),
                )
            )

    async def _connexion(self, request: Request) -> Response:
        self._record(request, None)
        if request.headers.get("x-auth-token") != self.token:
            return JSONResponse({"detail": "Jeton invalide."}, status_code=401)
        bearer = secrets.token_urlsafe(16)
        with self._lock:
            self._bearers.add(bearer)
        return JSONResponse({"token": bearer})

    async def _aids(self, request: Request) -> Response:
        try:
            page = int(request.query_params.get("page", "1"))
        except ValueError:
            page = 0
        self._record(request, page)
        with self._lock:
            status, times = self._failures.get(page, (0, 0))
            if times > 0:
                self._failures[page] = (status, times - 1)
        if times > 0:
            return JSONResponse({"detail": f"fake {status}"}, status_code=status)
        auth = request.headers.get("authorization") or ""
        with self._lock:
            valid = auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self._bearers
        if not valid:
            return JSONResponse({"detail": "Authentification requise."}, status_code=401)
        if not 1 <= page <= self.pages:
            return JSONResponse({"detail": "Page non valide."}, status_code=404)
        start = (page - 1) * self.page_size
        base = f"{self.url}{self.AIDS}"
        return JSONResponse(
            {
                "count": len(self.records),
                "next": f"{base}?page={page + 1}" if page < self.pages else None,
                "previous": f"{base}?page={page - 1}" if page > 1 else None,
                "results": self.records[start : start + self.page_size],
            }
        )
