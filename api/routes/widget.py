"""The chat widget's edge: `/widget.js`, the État's design system under `/dsfr/`, CORS per key.

The DSFR comes from the pinned npm package (`plume corpus fetch dsfr`), served by Plume
itself: no CDN, no external font. The widget renders in a shadow root, where `:root` and
`@font-face` do not apply, so `/widget.css` is the DSFR stylesheet with `:root` read as
`:host` and absolute asset URLs, and `/widget-fonts.css` holds its font faces for the page.

`WidgetCors` guards the browser calls of other sites: a cross-origin call to the chat or
feedback API must carry a known key (`X-Plume-Key`) whose allowed origins include the
calling page's; it is answered with CORS headers for that origin only.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import RuntimeDep
from api.errors import error_body
from assistant.models import AI_NOTICE
from plume import packages
from plume.errors import DamagedDataFile, OriginNotAllowed, PlumeError, UnknownApiKey, shown
from plume.keys import KeyStore
from plume.settings import Settings

STATIC = Path(__file__).resolve().parent.parent / "static"
DSFR_SOURCE = "dsfr"
WIDGET_API = frozenset({"/v1/chat", "/v1/feedback"})
_ASSETS = {".css", ".woff", ".woff2", ".svg", ".png", ".ico", ".webmanifest"}
_PUBLIC = {
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "Cache-Control": "public, max-age=3600",
}
_CONFIG_SLOT = "/*config*/ {} /*end*/"
_RELATIVE_URL = re.compile(r"url\((['\"]?)(?!data:|/|#|[a-z]+:)")
_ROOT = re.compile(r":root(?![\w-])")
_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}")

router = APIRouter(include_in_schema=False)


def dsfr_dist(settings: Settings) -> Path:
    """The DSFR's `dist/` folder, or `CorpusNotFetched` with the command to run."""
    pkg = packages.pinned(settings.corpus_dir, DSFR_SOURCE)
    return packages.package_dir(settings.packages_dir, pkg) / "dist"


def privacy_notice(settings: Settings) -> str:
    """What is kept, for how long, and who sees it — from the settings in force."""
    masked = (
        " (adresses électroniques, numéros de téléphone, NIR et IBAN masqués)"
        if settings.redact_personal_data
        else ""
    )
    model = (
        " La question et les extraits cités sont envoyés au modèle de langue configuré, "
        "pour rédiger la réponse."
        if settings.mistral_api_key or settings.mistral_server_url
        else ""
    )
    return (
        f"Vos questions et les réponses sont conservées {settings.retention_days} jours"
        f"{masked}, avec votre avis si vous en donnez un, pour suivre et améliorer le "
        "service, puis effacées. Rien n'est transmis à des tiers ni utilisé à des fins "
        f"commerciales.{model} N'écrivez pas de données personnelles sur les administrés."
    )


def widget_config(settings: Settings) -> dict[str, object]:
    # signIn: agents may sign in (OpenID Connect) to see their commune's documents
    signin = bool(settings.oidc_issuer and settings.oidc_client_id)
    return {"aiNotice": AI_NOTICE, "privacyNotice": privacy_notice(settings), "signIn": signin}


@lru_cache(maxsize=4)
def _shadow_css(css_path: Path, mtimes: tuple[float, float]) -> str:
    """The DSFR for a shadow root (`:root` → `:host`, asset URLs under /dsfr/), then ours."""
    css = _FONT_FACE.sub("", css_path.read_text(encoding="utf-8"))
    css = _RELATIVE_URL.sub(r"url(\1/dsfr/", _ROOT.sub(":host", css))
    own = (STATIC / "widget.css").read_text(encoding="utf-8")
    return css + "\n" + own


@lru_cache(maxsize=4)
def _font_faces(css_path: Path, mtime: float) -> str:
    faces = _FONT_FACE.findall(css_path.read_text(encoding="utf-8"))
    return "\n".join(_RELATIVE_URL.sub(r"url(\1/dsfr/", f) for f in faces)


@router.get("/widget.js")
def widget_js(runtime: RuntimeDep) -> Response:
    config = json.dumps(widget_config(runtime.settings), ensure_ascii=False).replace("</", "<\\/")
    script = (STATIC / "widget.js").read_text(encoding="utf-8").replace(_CONFIG_SLOT, config, 1)
    return Response(script, media_type="text/javascript; charset=utf-8", headers=_PUBLIC)


@router.get("/widget.css")
def widget_css(runtime: RuntimeDep) -> Response:
    css = dsfr_dist(runtime.settings) / "dsfr.min.css"
    return Response(
        _shadow_css(css, (css.stat().st_mtime, (STATIC / "widget.css").stat().st_mtime)),
        media_type="text/css; charset=utf-8",
        headers=_PUBLIC,
    )


@router.get("/widget-fonts.css")
def widget_fonts(runtime: RuntimeDep) -> Response:
    """The Marianne font faces, for the page that embeds the widget."""
    css = dsfr_dist(runtime.settings) / "dsfr.min.css"
    faces = _font_faces(css, css.stat().st_mtime)
    return Response(faces, media_type="text/css; charset=utf-8", headers=_PUBLIC)


@router.get("/dsfr/{asset:path}")
def dsfr_asset(runtime: RuntimeDep, asset: Annotated[str, PathParam(max_length=300)]) -> Response:
    """A file of the DSFR's dist/ (styles, fonts, icons); nothing else of the package."""
    dist = dsfr_dist(runtime.settings).resolve()
    path = (dist / asset).resolve()
    if not path.is_relative_to(dist) or path.suffix not in _ASSETS or not path.is_file():
        return JSONResponse(
            error_body("http_404", "Ressource introuvable."), status_code=404, headers=_PUBLIC
        )
    return FileResponse(path, headers=_PUBLIC)


# --- CORS per key -------------------------------------------------------------------------


def _same_origin(headers: Headers, origin: str) -> bool:
    """The page is Plume's own. Browsers say so in `Sec-Fetch-Site` (which pages cannot
    set), and a reverse proxy may rewrite `Host`, so that is only the fallback."""
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    netloc = urlsplit(origin).netloc
    return netloc in (headers.get("host"), headers.get("x-forwarded-host"))


def _refusal(exc: PlumeError, status: int, origin: str) -> JSONResponse:
    # the refusal carries CORS headers so that the widget can show its message
    return JSONResponse(
        error_body(exc.code, exc.message),
        status_code=status,
        headers={"Access-Control-Allow-Origin": origin, "Vary": "Origin"},
    )


class WidgetCors:
    """Cross-origin calls to the widget API need a key bound to the calling origin.

    Same-origin pages (the full-page chat at `/`) and non-browser clients (no `Origin`)
    pass through untouched; so do cross-origin calls to other paths, which get no CORS
    headers (the browser keeps their answers from the calling page).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in WIDGET_API:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or _same_origin(headers, origin):
            await self.app(scope, receive, send)
            return
        refusal = self._check(scope, headers, origin)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await Response(status_code=204, headers=self._preflight(origin))(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, with_cors)

    @staticmethod
    def _preflight(origin: str) -> dict[str, str]:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type, X-Plume-Key",
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        }

    @staticmethod
    def _check(scope: Scope, headers: Headers, origin: str) -> JSONResponse | None:
        keys: KeyStore = scope["app"].state.runtime.keys
        refused = OriginNotAllowed(
            f"Le site {shown(origin)} n'est pas autorisé à utiliser Plume : demandez à "
            "l'administrateur d'ajouter son adresse à la clé du widget."
        )
        key = headers.get("x-plume-key", "").strip()
        try:
            if scope["method"] == "OPTIONS":  # a preflight carries no key: any key's origin
                return None if origin in keys.origins() else _refusal(refused, 403, origin)
            if not key:
                raise UnknownApiKey(
                    'Clé du widget manquante : ajoutez data-key="…" à la balise <script>.'
                )
            grants = keys.lookup(key)
        except UnknownApiKey as exc:
            return _refusal(exc, 401, origin)
        except DamagedDataFile as exc:  # logged where it was read; refused, never a 500
            return _refusal(exc, 503, origin)
        if grants.allows_origin(origin):
            return None
        if not grants.origins:
            refused = OriginNotAllowed(
                "Cette clé ne sert qu'aux appels de serveur à serveur : aucun site n'est "
                f"autorisé à l'utiliser depuis un navigateur. Demandez à l'administrateur "
                f"une clé de widget pour {shown(origin)} (plume cle ajouter … --origine …)."
            )
        return _refusal(refused, 403, origin)
