"""Typed dependencies: the runtime built at start-up, and the admin check."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.records.service import Asker
from assistant.runtime import Runtime
from ingestion.runs import IngestRuns
from plume.documents import SHARED_TENANT
from plume.keys import ApiKey

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
    request: Request,
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
    if request.method not in ("GET", "HEAD", "OPTIONS"):  # changes go to the audit log
        runtime.records.audit_request(request.method, request.url.path, request.client)


AdminDep = Depends(require_admin)


@dataclass(frozen=True)
class Caller:
    """Who is asking: the tenants (communes) whose documents they may see, the shared
    corpus always first, and their API key (None: no key, the shared corpus only)."""

    tenants: tuple[str, ...]
    key: ApiKey | None = None

    def conversation(self, given: str | None) -> str:
        """The conversation id scoped to the caller's commune (`<tenant>_<random>`): a
        follow-up sent with another commune's id starts a new conversation instead of
        reading that commune's history."""
        prefix = f"{self.tenants[-1]}_"
        if given and given.startswith(prefix):
            return given
        return prefix + (given or secrets.token_hex(10))[-20:]


def get_caller(
    runtime: RuntimeDep,
    x_plume_key: Annotated[
        str | None, Header(description="Clé d'API de la commune (sans clé : corpus commun).")
    ] = None,
) -> Caller:
    """The caller from the `X-Plume-Key` header; an unknown key is refused (401). Which
    web pages may use a key (CORS) is `api.routes.widget.WidgetCors`'s business."""
    if not x_plume_key:
        return Caller(tenants=(SHARED_TENANT,))
    key = runtime.keys.lookup(x_plume_key.strip())
    return Caller(tenants=tuple(dict.fromkeys((SHARED_TENANT, key.tenant))), key=key)


CallerDep = Annotated[Caller, Depends(get_caller)]


def asker_of(caller: Caller) -> Asker:
    """Who asked, as the records keep it: the key's commune and public id (no secret)."""
    if caller.key is None:
        return Asker()
    return Asker(tenant=caller.key.tenant, key_id=caller.key.id or None)
