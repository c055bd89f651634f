"""Typed dependencies: the runtime built at start-up, and the admin check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ingestion.runs import IngestRuns
from plume.runtime import Runtime

_bearer = HTTPBearer(auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_runs(request: Request) -> IngestRuns:
    runs: IngestRuns = request.app.state.runs
    return runs


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
RunsDep = Annotated[IngestRuns, Depends(get_runs)]


def require_admin(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    token = runtime.settings.admin_token
    if token is None:
        raise HTTPException(403, "Administration désactivée : définissez PLUME_ADMIN_TOKEN.")
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), token.get_secret_value().encode()
    ):
        raise HTTPException(
            401, "Jeton d'administration manquant ou invalide.", {"WWW-Authenticate": "Bearer"}
        )


AdminDep = Depends(require_admin)
