"""`GET /v1/veille`: the digest of the legal watch, from the change journal."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from api.deps import RuntimeDep
from assistant.veille import watch_digest

router = APIRouter(tags=["veille"])


@router.get("/v1/veille", summary="Veille juridique : changements des codes depuis une date")
def veille(
    runtime: RuntimeDep,
    since: Annotated[str, Query(description="Date de départ, AAAA-MM-JJ.")],
    code: Annotated[list[str] | None, Query(description="Codes (LEGITEXT…).")] = None,
    format: Annotated[Literal["json", "md", "html"], Query()] = "json",
) -> Response:
    settings = runtime.settings
    text = watch_digest(settings.data_dir, settings.corpus_dir, since, code, format)
    if format == "html":
        return HTMLResponse(text)
    if format == "md":
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
    return Response(text, media_type="application/json")
