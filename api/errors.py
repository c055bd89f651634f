"""Domain errors → HTTP answers with a JSON body in French. Never a 500 for bad input."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ingestion.runs import RunInProgress
from plume import REPO_ROOT, errors

log = logging.getLogger(__name__)

STATUS = {
    errors.InvalidQuery: 400,
    errors.SourcePathRequired: 400,
    errors.UnknownFilterValue: 400,
    errors.InvalidWatchRequest: 400,
    errors.InvalidCofinancingRequest: 400,
    errors.InvalidAideRequest: 400,
    errors.InvalidCommuneProfile: 400,
    errors.InvalidTenant: 400,
    errors.InvalidApiKey: 400,
    errors.UnknownApiKey: 401,
    errors.OriginNotAllowed: 403,
    errors.InvalidAgent: 400,
    errors.AgentNotFound: 404,
    errors.UnknownAgent: 403,
    errors.InvalidSession: 401,
    errors.SignInFailed: 401,
    errors.SignInNotConfigured: 404,
    errors.SignInUnavailable: 502,
    errors.RejectedFile: 422,
    errors.UnknownJob: 404,
    errors.ApiKeyNotFound: 404,
    errors.UnknownSource: 404,
    errors.DocumentNotFound: 404,
    errors.UnknownMessage: 404,
    errors.UnknownProfile: 404,
    errors.UnknownTerritory: 404,
    errors.UnknownCommuneProfile: 404,
    errors.CorpusNotFetched: 409,
    errors.StoreLocked: 409,
    RunInProgress: 409,
    errors.CorruptPackage: 422,
    errors.MalformedDocument: 422,
    errors.StoreUnavailable: 503,
    errors.StoreCorrupted: 503,
    errors.StoreInconsistent: 503,
    errors.DatabaseUnavailable: 503,
    errors.DamagedDataFile: 503,
    errors.InvalidText: 422,
    errors.RateLimited: 429,
    errors.SourceUnreachable: 502,
    errors.EmbeddingFailed: 503,
}


MAX_MESSAGE = 2000


def bounded(message: str) -> str:
    """A message cut at `MAX_MESSAGE` characters: the last guard against an input echoed
    whole (each message already quotes at most `plume.errors.shown` of it)."""
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 1] + "…"


def without_paths(message: str, request: Request) -> str:
    """The server's own folders (its data folder, the code's) never reach a caller: a
    message naming a file there says « <dossier de données>/… » instead."""
    runtime = getattr(request.app.state, "runtime", None)
    folders = [(REPO_ROOT, "<plume>")]
    if runtime is not None:  # first: it may lie inside the code's folder
        folders.insert(0, (runtime.settings.data_dir, "<dossier de données>"))
    for folder, name in folders:
        for path in {str(folder.resolve()), str(folder)} - {"/", "."}:
            message = message.replace(path, name)
    return message


def error_body(code: str, message: str, **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, **extra}}


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.PlumeError)
    async def _domain(request: Request, exc: errors.PlumeError) -> JSONResponse:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        message = without_paths(bounded(exc.message), request)
        return JSONResponse(error_body(exc.code, message), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"champ": ".".join(str(p) for p in e.get("loc", ())[1:]), "probleme": e.get("msg")}
            for e in exc.errors()
        ]
        message = "Requête invalide : vérifiez les champs envoyés."
        return JSONResponse(
            error_body("requete_invalide", message, details=details), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        messages = {
            401: "Authentification requise.",
            403: "Accès refusé.",
            404: "Ressource introuvable.",
            405: "Méthode non autorisée.",
        }
        message = (
            exc.detail
            if isinstance(exc.detail, str) and exc.status_code in (401, 403, 409)
            else None
        )
        return JSONResponse(
            error_body(
                "http_" + str(exc.status_code), message or messages.get(exc.status_code, "Erreur.")
            ),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(
            error_body(
                "erreur_interne", "Une erreur inattendue est survenue. Réessayez plus tard."
            ),
            status_code=500,
        )
