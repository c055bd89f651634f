"""Typed dependencies: the runtime built at start-up, and the admin check."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.sessions import COOKIE, sessions_of
from assistant.records.service import Asker
from assistant.runtime import Runtime
from ingestion.runs import IngestRuns
from plume.documents import SHARED_TENANT
from plume.errors import InvalidSession, OriginNotAllowed, UnknownAgent
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
    corpus always first; the commune they ask for (records, feedback, conversations); their
    API key, or the signed-in agent's e-mail address (neither: the shared corpus only)."""

    tenants: tuple[str, ...]
    key: ApiKey | None = None
    commune: str = SHARED_TENANT
    agent: str | None = None

    def conversation(self, given: str | None) -> str:
        """The conversation id scoped to the caller's commune (`<tenant>_<random>`): a
        follow-up sent with another commune's id starts a new conversation instead of
        reading that commune's history."""
        prefix = f"{self.commune}_"
        if given and given.startswith(prefix):
            return given
        return prefix + (given or secrets.token_hex(10))[-20:]


def _from_browser(request: Request) -> bool:
    """A browser's request: browsers send `Origin` (on every POST and cross-origin call) or
    `Sec-Fetch-Site` (on every request, which pages cannot forge)."""
    return "origin" in request.headers or "sec-fetch-site" in request.headers


def _with_documents(tenant: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys((SHARED_TENANT, tenant)))


def get_caller(
    request: Request,
    runtime: RuntimeDep,
    x_plume_key: Annotated[
        str | None,
        Header(
            description="Clé d'API de la commune. Publique (widget) : corpus commun ; privée "
            "(serveur à serveur) : aussi les documents de la commune. Sans clé : corpus "
            "commun, ou la session de l'agent connecté (cookie plume_session)."
        ),
    ] = None,
) -> Caller:
    """The caller from the `X-Plume-Key` header, else the agent's session cookie; an
    unknown key or an invalid session is refused (401), a private key sent by a browser
    too (403). Which web pages may use a public key (CORS) is
    `api.routes.widget.WidgetCors`'s business."""
    if x_plume_key:
        key = runtime.keys.lookup(x_plume_key.strip())
        if not key.private:  # in a page's HTML: it names the commune, it sees no document
            return Caller(tenants=(SHARED_TENANT,), key=key, commune=key.tenant)
        if _from_browser(request):
            raise OriginNotAllowed(
                "Clé privée envoyée par un navigateur : elle ne sert qu'aux appels de serveur "
                "à serveur. Le widget d'une page prend une clé publique ; les agents se "
                "connectent pour voir les documents de leur commune."
            )
        return Caller(tenants=_with_documents(key.tenant), key=key, commune=key.tenant)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return Caller(tenants=(SHARED_TENANT,))
    session = sessions_of(request.app).read(cookie)
    try:
        agent = runtime.agents.lookup(session.email)
    except UnknownAgent:
        agent = None
    if agent is None or agent.tenant != session.tenant:  # removed, or moved: signed out
        raise InvalidSession(
            "Session révoquée : votre compte n'est plus enregistré pour cette commune ; "
            "reconnectez-vous ou voyez l'administrateur."
        )
    return Caller(tenants=_with_documents(agent.tenant), commune=agent.tenant, agent=agent.email)


CallerDep = Annotated[Caller, Depends(get_caller)]


def asker_of(caller: Caller) -> Asker:
    """Who asked, as the records keep it: the commune and the key's public id (no secret;
    an agent's session has no key id)."""
    return Asker(tenant=caller.commune, key_id=caller.key.id or None if caller.key else None)
