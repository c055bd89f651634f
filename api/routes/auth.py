"""`/auth/…`: agents sign in with OpenID Connect, and their session is bound to their commune.

`/auth/connexion` sends the browser to the provider; `/auth/retour` checks what it sends
back (`api.oidc`), finds the agent's commune in the registry (`plume.agents`) and sets the
session cookie (`api.sessions`); `/auth/moi` says who is signed in; `/auth/deconnexion`
ends the session. A session's requests see the shared corpus and that commune's documents.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from api.deps import CallerDep, RuntimeDep
from api.sessions import sessions_of
from plume.errors import InvalidCommuneProfile, InvalidSession, UnknownCommuneProfile

router = APIRouter(prefix="/auth", tags=["connexion"])
_BACK = "retour"


class Me(BaseModel):
    email: str
    tenant: str
    commune: str | None = None


def _local(path: str | None) -> str:
    """Where to go after signing in: a path of this server only (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path[:500]


@router.get(
    "/connexion",
    summary="Se connecter (agent) : redirige vers le fournisseur d'identité",
    status_code=302,
    response_class=RedirectResponse,
    responses={404: {"description": "Connexion non configurée"}},
)
async def sign_in(
    request: Request,
    retour: Annotated[
        str | None, Query(max_length=500, description="Page où revenir (chemin de Plume).")
    ] = None,
) -> Response:
    from api.oidc import oidc_of  # authlib: loaded with the first sign-in, not at start-up

    client = oidc_of(request.app)
    request.session[_BACK] = _local(retour)
    # the handshake's state, nonce and PKCE verifier go to its own cookie (HandshakeSession)
    return await client.redirect(request, str(request.url_for("sign_in_return")))


@router.get(
    "/retour",
    summary="Retour du fournisseur d'identité : ouvre la session de l'agent",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        401: {"description": "Connexion refusée (state, nonce, signature, jeton)"},
        403: {"description": "Agent enregistré pour aucune commune"},
        404: {"description": "Connexion non configurée"},
    },
)
async def sign_in_return(request: Request, runtime: RuntimeDep) -> RedirectResponse:
    from api.oidc import oidc_of

    client = oidc_of(request.app)
    email = await client.email(request)
    agent = runtime.agents.lookup(email)
    response = RedirectResponse(_local(request.session.pop(_BACK, None)), 303)
    sessions_of(request.app).set_cookie(response, agent.email, agent.tenant)
    return response


@router.post("/deconnexion", summary="Se déconnecter (efface la session)")
def sign_out(request: Request) -> JSONResponse:
    response = JSONResponse({"status": "deconnecte"})
    sessions_of(request.app).clear_cookie(response)
    return response


@router.get(
    "/moi",
    response_model=Me,
    summary="L'agent connecté et sa commune",
    responses={401: {"description": "Pas de session, ou session invalide ou expirée"}},
)
def me(caller: CallerDep, runtime: RuntimeDep) -> Me:
    if caller.agent is None:
        raise InvalidSession("Non connecté : « Se connecter » (/auth/connexion).")
    try:
        name: str | None = runtime.communes.get(caller.commune).name
    except (UnknownCommuneProfile, InvalidCommuneProfile):  # no profile: the code alone
        name = None
    return Me(email=caller.agent, tenant=caller.commune, commune=name)
