"""A fake PISTE gateway on loopback: OAuth2 client credentials and the Légifrance API.

`FakePiste` runs a Starlette app under uvicorn in a background thread on 127.0.0.1 (like
`tests.fakes.mistral`). One server plays both hosts: give `fake.url` as the OAuth URL and
as the API URL.

    with FakePiste(code_tree) as fake:   # a legi-data tree, served as PISTE would
        client = PisteClient(fake.url, fake.url, CLIENT_ID, CLIENT_SECRET)
        fake.fail_next(429, times=2, path=fake.TOC)
        fake.expire_tokens()            # every token issued so far now gets 401
        fake.token_ttl_s = 0.5          # lifetime of the next tokens
        fake.calls(fake.TOKEN)          # requests received, per path

Endpoints: POST /api/oauth/token (form; 401 on bad credentials), POST
/dila/legifrance/lf-engine-app/consult/legi/tableMatieres and .../consult/getArticle
(401 without a bearer token or with an expired one; 400 on a bad body). The table of
contents is built from the legi-data tree (sections and articles split, dates in epoch
milliseconds, no text); getArticle answers the article's full data, `{"article": null}`
for an unknown id.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ingestion.piste import ARTICLE_PATH, LEGIFRANCE_PATH, TOC_PATH, TOKEN_PATH
from tests.fakes.loopback import LoopbackServer

Node = dict[str, Any]
CLIENT_ID = "plume-test-client"
CLIENT_SECRET = "s3cr3t-piste-0123456789"  # a test value


@dataclass(frozen=True)
class Received:
    path: str
    body: Any
    authorization: str | None = None


@dataclass
class _Failure:
    status: int
    times: int
    path: str | None


def epoch_ms(value: object) -> object:
    """ISO dates → epoch milliseconds (as the API sends them); anything else unchanged."""
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
        day = date.fromisoformat(value[:10])
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


_SUMMARY = ("id", "cid", "num", "etat", "intOrdre", "dateDebut", "dateFin")


def piste_toc(tree: Node, articles: dict[str, Node]) -> Node:
    """The tableMatieres answer for a legi-data tree; fills `articles` (id → full data)."""

    def convert(node: Node) -> tuple[list[Node], list[Node]]:
        sections, arts = [], []
        for child in node.get("children") or []:
            data = child.get("data") or {}
            if child.get("type") == "article":
                full = {k: epoch_ms(v) if k.startswith("date") else v for k, v in data.items()}
                articles[str(data["id"])] = full
                arts.append({k: full[k] for k in _SUMMARY if k in full})
            elif child.get("type") == "section":
                subs, its = convert(child)
                section = {k: epoch_ms(v) if k.startswith("date") else v for k, v in data.items()}
                sections.append({**section, "sections": subs, "articles": its})
        return sections, arts

    sections, arts = convert(tree)
    head = {k: v for k, v in tree["data"].items() if k != "dateModif"}
    head["modifDate"] = tree["data"].get("dateModif")  # a name PISTE may use instead
    return {**head, "sections": sections, "articles": arts}


class FakePiste(LoopbackServer):
    name = "fake-piste"

    TOKEN = TOKEN_PATH
    TOC = LEGIFRANCE_PATH + TOC_PATH
    ARTICLE = LEGIFRANCE_PATH + ARTICLE_PATH

    def __init__(
        self,
        tree: Node,
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        token_ttl_s: float = 3600.0,
    ) -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_ttl_s = token_ttl_s
        self.code_id = str(tree["data"]["id"])
        self.articles: dict[str, Node] = {}
        self.toc = piste_toc(tree, self.articles)
        self._tokens: dict[str, float] = {}  # token → monotonic expiry
        self._requests: list[Received] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()

    # --- knobs ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def calls(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def fail_next(self, status: int, times: int = 1, *, path: str | None = None) -> None:
        """Answer the next `times` requests (to `path`, or any) with `status`."""
        with self._lock:
            self._failures.append(_Failure(status, times, path))

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (the next API call gets 401)."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    # --- lifecycle -------------------------------------------------------------------------

    # --- the HTTP app ------------------------------------------------------------------------

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(self.TOKEN, self._token, methods=["POST"]),
                Route(self.TOC, self._toc, methods=["POST"]),
                Route(self.ARTICLE, self._article, methods=["POST"]),
            ]
        )

    async def _receive(self, request: Request, body: Any) -> Response | None:
        auth = request.headers.get("authorization")
        path = request.url.path
        with self._lock:
            self._requests.append(Received(path, body, auth))
            failure = next((f for f in self._failures if f.path in (None, path)), None)
            if failure is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
        if failure is not None:
            return JSONResponse({"error": f"fake {failure.status}"}, status_code=failure.status)
        return None

    def _authorized(self, request: Request) -> bool:
        auth = request.headers.get("authorization") or ""
        token = auth.removeprefix("Bearer ")
        with self._lock:
            expiry = self._tokens.get(token) if auth.startswith("Bearer ") else None
        return expiry is not None and time.monotonic() < expiry

    async def _token(self, request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        error = await self._receive(request, form)
        if error is not None:
            return error
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "Client authentication failed"},
                status_code=401,
            )
        token = secrets.token_urlsafe(16)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_s
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.token_ttl_s,
                "scope": "openid",
            }
        )

    async def _api(self, request: Request) -> tuple[Any, Response | None]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        error = await self._receive(request, body)
        if error is not None:
            return body, error
        if not self._authorized(request):
            return body, JSONResponse({"error": "invalid_token"}, status_code=401)
        if not isinstance(body, dict):
            return body, JSONResponse({"error": "bad request"}, status_code=400)
        return body, None

    async def _toc(self, request: Request) -> Response:
        body, error = await self._api(request)
        if error is not None:
            return error
        if body.get("textId") != self.code_id or body.get("nature") != "CODE":
            return JSONResponse({"error": "texte introuvable"}, status_code=404)
        return JSONResponse(self.toc)

    async def _article(self, request: Request) -> Response:
        body, error = await self._api(request)
        if error is not None:
            return error
        return JSONResponse({"article": self.articles.get(str(body.get("id")))})


def small_code(source: Node, sections: int = 2, per_section: int = 5) -> Node:
    """The first `sections` sections holding at least `per_section` articles directly,
    cut to `per_section` articles each, under their real ancestors (the breadcrumbs stay true)."""
    picked: list[tuple[list[Node], Node]] = []

    def visit(node: Node, ancestors: list[Node]) -> None:
        if len(picked) >= sections:
            return
        arts = [c for c in node.get("children") or [] if c.get("type") == "article"]
        if len(arts) >= per_section and node.get("type") == "section":
            picked.append((ancestors, {**node, "children": arts[:per_section]}))
            return
        for child in node.get("children") or []:
            if child.get("type") == "section":
                visit(child, [*ancestors, child])

    visit(source, [])
    root: Node = {"type": "code", "data": source["data"], "children": []}
    for ancestors, section in picked:
        parent = root
        for ancestor in ancestors[:-1]:
            same = next(
                (
                    c
                    for c in parent["children"]
                    if c.get("type") == "section" and c["data"]["id"] == ancestor["data"]["id"]
                ),
                None,
            )
            if same is None:
                same = {"type": "section", "data": ancestor["data"], "children": []}
                parent["children"].append(same)
            parent = same
        parent["children"].append(section)
    return root
