"""Live Légifrance codes through PISTE, the State's API gateway, as legi-data snapshots.

`PisteClient` authenticates with OAuth2 client credentials (`POST {oauth_url}/api/oauth/token`,
form `grant_type=client_credentials, client_id, client_secret, scope=openid`), keeps the
bearer token until shortly before it expires, fetches a new one once when the API answers
401, and retries 429/5xx and network errors a few times with exponential backoff (a
`Retry-After` header in seconds is honoured, capped).

`fetch_code` reads a code's table of contents, then each article, and assembles the tree
in exactly the shape the npm package `@socialgouv/legi-data` publishes and
`ingestion.legi.parse_code` reads; `save_snapshot` writes it as `<folder>/<LEGITEXT>.json`,
so `plume ingest legi --path <folder or file>` indexes it with the usual pipeline.

What is assumed about PISTE's JSON (public docs; field names vary a little between
versions of the API, so the whole mapping lives in `legi_data`, easy to adjust):

- `POST {api_url}/dila/legifrance/lf-engine-app/consult/legi/tableMatieres` with
  `{"textId", "date": "YYYY-MM-DD", "nature": "CODE"}` answers the code
  `{"id", "cid", "title", "dateDebutVersion", "dateFinVersion", "sections": [...]}` where a
  section is `{"id", "cid", "title", "etat", "dateDebut", "dateFin", "sections": [...],
  "articles": [{"id", "cid", "num", "etat", "dateDebut", "dateFin", ...}]}`; the code's
  `dateModif` may be named `modifDate`, a section's title `titre`, `intOrdre` may be
  absent (then articles come before sub-sections, as in Légifrance's own display).
- `POST .../consult/getArticle` with `{"id": "LEGIARTI…"}` answers
  `{"article": {"id", "cid", "num", "etat", "dateDebut", "dateFin", "texte", "texteHtml",
  "nota", "notaHtml", "articleVersions", "lienModifications"}}`; `{"article": null}` means
  an unknown id.
- Dates are epoch milliseconds or ISO strings; both are kept as they come (the parser
  reads both). A table of contents without title nor sections means an unknown code.

Secrets never reach a message: the client secret is masked everywhere, and any text the
server sends back is scrubbed of it before being shown.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import date as Date
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from ingestion.retrying import Retrying
from plume.errors import (
    MalformedDocument,
    SourceUnauthorized,
    SourceUnreachable,
    UnknownSource,
)
from plume.files import write_atomically

Node = dict[str, Any]

PROD_OAUTH_URL = "https://oauth.piste.gouv.fr"
PROD_API_URL = "https://api.piste.gouv.fr"
SANDBOX_OAUTH_URL = "https://sandbox-oauth.piste.gouv.fr"
SANDBOX_API_URL = "https://sandbox-api.piste.gouv.fr"
TOKEN_PATH = "/api/oauth/token"
LEGIFRANCE_PATH = "/dila/legifrance/lf-engine-app"
TOC_PATH = "/consult/legi/tableMatieres"
ARTICLE_PATH = "/consult/getArticle"

_CODE_ID = re.compile(r"LEGITEXT\d{12}")
_ARTICLE_ID = re.compile(r"LEGIARTI\d{12}")

# legi-data field ← PISTE field(s), first present wins. The one place to adjust.
_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "code": {
        "id": ("id", "textId"),
        "cid": ("cid", "id", "textId"),
        "title": ("title", "titre"),
        "etat": ("etat", "jurisState"),
        "dateModif": ("dateModif", "modifDate"),
        "dateDebutVersion": ("dateDebutVersion", "dateDebut"),
        "dateFinVersion": ("dateFinVersion", "dateFin"),
    },
    "section": {
        "id": ("id",),
        "cid": ("cid", "id"),
        "title": ("title", "titre"),
        "etat": ("etat",),
        "intOrdre": ("intOrdre",),
        "dateDebut": ("dateDebut",),
        "dateFin": ("dateFin",),
    },
    "article": {
        "id": ("id",),
        "cid": ("cid", "id"),
        "num": ("num",),
        "etat": ("etat",),
        "intOrdre": ("intOrdre",),
        "dateDebut": ("dateDebut",),
        "dateFin": ("dateFin",),
        "texte": ("texte",),
        "texteHtml": ("texteHtml",),
        "nota": ("nota",),
        "notaHtml": ("notaHtml",),
        "articleVersions": ("articleVersions",),
        "lienModifications": ("lienModifications",),
    },
}


def legi_data(kind: str, *sources: Node | None) -> Node:
    """The legi-data `data` of a code, section or article from PISTE's objects.

    For an article, `sources` are the getArticle answer then the table-of-contents entry:
    the first that has a field gives it."""
    data: Node = {}
    for target, names in _FIELDS[kind].items():
        for source in sources:
            if not source:
                continue
            value = next((source[n] for n in names if source.get(n) not in (None, "")), None)
            if value is not None:
                data[target] = value
                break
    if kind == "code" and "dateModif" not in data and "dateDebutVersion" in data:
        data["dateModif"] = data["dateDebutVersion"]
    return data


def mask(secret: str) -> str:
    """What may be shown of a secret: nothing but its length class."""
    return "*" * 10 if secret else "(vide)"


class PisteClient:
    """The Légifrance API through PISTE. Pass `http` to share (or fake) the HTTP client."""

    def __init__(
        self,
        oauth_url: str,
        api_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
        expiry_margin_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.oauth_url = oauth_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self._secret = (
            client_secret.get_secret_value()
            if isinstance(client_secret, SecretStr)
            else client_secret
        )
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)))
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.expiry_margin_s = expiry_margin_s
        self._sleep = sleep
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0

    def __repr__(self) -> str:
        return (
            f"PisteClient(api_url={self.api_url!r}, client_id={self.client_id!r}, "
            f"client_secret={mask(self._secret)!r})"
        )

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> PisteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP ------------------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        text = text[:300]
        return text.replace(self._secret, mask(self._secret)) if self._secret else text

    def _send(self, what: str, call: Callable[[], httpx.Response]) -> httpx.Response:
        retrying = Retrying(
            "PISTE", self.attempts, self.backoff_s, self.max_backoff_s, self._sleep, self._scrub
        )
        return retrying.send(what, call)

    def _fetch_token(self) -> None:
        url = self.oauth_url + TOKEN_PATH
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": "openid",
        }
        resp = self._send("le jeton OAuth", lambda: self.http.post(url, data=form))
        if resp.status_code in (400, 401, 403):
            raise SourceUnauthorized(
                f"PISTE a refusé les identifiants (HTTP {resp.status_code}) : vérifiez "
                f"PLUME_PISTE_CLIENT_ID (« {self.client_id} ») et PLUME_PISTE_CLIENT_SECRET "
                f"({mask(self._secret)}), et que l'application a accès à l'API Légifrance."
            )
        body = self._json(resp, "le jeton OAuth")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SourceUnreachable("PISTE n'a pas renvoyé de jeton d'accès (access_token).")
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        margin = min(self.expiry_margin_s, lifetime / 2)
        self._token, self._expires_at = token, self._clock() + lifetime - margin

    def _bearer(self) -> str:
        if self._token is None or self._clock() >= self._expires_at:
            self._fetch_token()
        assert self._token is not None
        return self._token

    def _json(self, resp: httpx.Response, what: str) -> Node:
        if resp.status_code != 200:
            raise SourceUnreachable(
                f"PISTE a répondu {resp.status_code} pour {what} : {self._scrub(resp.text)}"
            )
        try:
            body = resp.json()
        except ValueError as exc:
            raise SourceUnreachable(
                f"Réponse illisible de PISTE pour {what} (JSON attendu)."
            ) from exc
        if not isinstance(body, dict):
            raise SourceUnreachable(f"Réponse inattendue de PISTE pour {what} (objet attendu).")
        return body

    def _post(self, path: str, payload: Node, what: str) -> httpx.Response:
        url = self.api_url + LEGIFRANCE_PATH + path
        for refreshed in (False, True):
            token = self._bearer()
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            resp = self._send(what, partial(self.http.post, url, json=payload, headers=headers))
            if resp.status_code != 401:
                return resp
            self._token = None  # expired or revoked early: one new token, one more try
            if refreshed:
                break
        raise SourceUnauthorized(
            f"PISTE refuse l'accès à l'API Légifrance ({what}) même avec un jeton neuf : "
            "vérifiez que l'application PISTE est abonnée à l'API Légifrance."
        )

    # --- Légifrance --------------------------------------------------------------------------

    def table_of_contents(self, text_id: str, date: Date | str | None = None) -> Node:
        """The code's table of contents on `date` (today by default)."""
        if not _CODE_ID.fullmatch(text_id):
            raise UnknownSource(
                f"Identifiant de code invalide : « {text_id} » (LEGITEXT et 12 chiffres attendus)."
            )
        day = _iso_day(date)
        what = f"la table des matières de {text_id}"
        payload = {"textId": text_id, "date": day, "nature": "CODE"}
        resp = self._post(TOC_PATH, payload, what)
        if resp.status_code in (400, 404):
            raise UnknownSource(f"Code inconnu de Légifrance : {text_id} (au {day}).")
        toc = self._json(resp, what)
        if not (toc.get("title") or toc.get("titre")) and not toc.get("sections"):
            raise UnknownSource(f"Code inconnu de Légifrance : {text_id} (au {day}).")
        return toc

    def article(self, article_id: str) -> Node:
        """One article (`article` of getArticle's answer)."""
        if not _ARTICLE_ID.fullmatch(article_id):
            raise MalformedDocument(f"identifiant d'article invalide : {article_id!r}")
        what = f"l'article {article_id}"
        resp = self._post(ARTICLE_PATH, {"id": article_id}, what)
        if resp.status_code in (400, 404):
            raise UnknownSource(f"Article inconnu de Légifrance : {article_id}.")
        found = self._json(resp, what).get("article")
        if not isinstance(found, dict):
            raise UnknownSource(f"Article inconnu de Légifrance : {article_id}.")
        return found

    def fetch_code(
        self, text_id: str, date: Date | str | None = None, limit_articles: int | None = None
    ) -> Node:
        """The code as a legi-data tree (`limit_articles`: the first N articles only)."""
        toc = self.table_of_contents(text_id, date)
        budget = [limit_articles if limit_articles is not None else -1]
        data = legi_data("code", toc)
        data.setdefault("id", text_id)
        children = self._children(toc, budget)
        return {"type": "code", "data": data, "children": children}

    def _children(self, node: Node, budget: list[int]) -> list[Node]:
        items: list[tuple[int, int, str, Node]] = []
        for i, entry in enumerate(_dicts(node.get("articles"))):
            items.append((_order(entry), i, "article", entry))
        for i, entry in enumerate(_dicts(node.get("sections"))):
            items.append((_order(entry), len(items) + i, "section", entry))
        items.sort(key=lambda t: (t[0], t[1]))
        children: list[Node] = []
        for _, _, kind, entry in items:
            if budget[0] == 0:
                break
            if kind == "article":
                full = self.article(str(entry.get("id") or ""))
                children.append({"type": "article", "data": legi_data("article", full, entry)})
                budget[0] -= 1
            else:
                below = self._children(entry, budget)
                if below:  # an empty section (or one cut by the limit) adds nothing
                    section = legi_data("section", entry)
                    children.append({"type": "section", "data": section, "children": below})
        return children


def _dicts(value: object) -> list[Node]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _order(entry: Node) -> int:
    """Légifrance's `intOrdre`, when given; else keep the listing order."""
    try:
        return int(entry.get("intOrdre", 0))
    except (TypeError, ValueError):
        return 0


def _iso_day(value: Date | str | None) -> str:
    if value is None:
        return Date.today().isoformat()
    if isinstance(value, Date):
        return value.isoformat()
    try:
        return Date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise MalformedDocument(f"date invalide « {value} » : attendu AAAA-MM-JJ.") from exc


def save_snapshot(tree: Node, folder: Path) -> Path:
    """Write `tree` to `<folder>/<LEGITEXT>.json` atomically (temporary file, then rename)."""
    code_id = str((tree.get("data") or {}).get("id") or "")
    if tree.get("type") != "code" or not _CODE_ID.fullmatch(code_id):
        raise MalformedDocument("ce n'est pas l'arbre d'un code Légifrance (LEGITEXT… attendu)")
    return write_atomically(folder / f"{code_id}.json", json.dumps(tree, ensure_ascii=False))
