"""OpenID Connect sign-in for agents (ProConnect, or any provider), through authlib.

The provider is read from its discovery document (`PLUME_OIDC_ISSUER` +
`/.well-known/openid-configuration`), whose `issuer` must be that same address. The flow is
the authorization code with PKCE (S256), a `state` and a `nonce` kept in the handshake
cookie (`api.sessions.HandshakeSession`); the ID token's signature is checked against the
provider's published keys (JWKS), and its issuer, audience, dates and nonce against ours.
What can go wrong becomes a French error: `SignInFailed` (401) for anything that cannot be
trusted, `SignInUnavailable` (502) for a provider that does not answer.
"""

from __future__ import annotations

from typing import Any

import httpx
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.httpx_client import _compat
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from joserfc.errors import BadSignatureError, ClaimError, ExpiredTokenError, JoseError
from starlette.requests import Request
from starlette.responses import Response

from plume.errors import SignInFailed, SignInNotConfigured, SignInUnavailable, shown
from plume.settings import Settings

DISCOVERY = "/.well-known/openid-configuration"
SCOPE = "openid email"
REFUSED = "Connexion refusée"
RESTART = "Recommencez depuis « Se connecter »."
UNREACHABLE = (
    "Le fournisseur d'identité ne répond pas, ou sa configuration est illisible : "
    "réessayez dans un instant, ou prévenez l'administrateur (PLUME_OIDC_ISSUER)."
)


# authlib speaks HTTP through httpx2 when installed (else httpx): either's errors
HTTP_ERRORS: tuple[type[Exception], ...] = tuple({httpx.HTTPError, _compat.httpx2.HTTPError})
_DISCOVERY_ERRORS: tuple[type[Exception], ...] = (*HTTP_ERRORS, ValueError)
_PROVIDER_ERRORS: tuple[type[Exception], ...] = (*HTTP_ERRORS, KeyError, ValueError, RuntimeError)


def configured(settings: Settings) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


class OidcClient:
    """One provider, registered once; `redirect` starts a sign-in, `email` ends it."""

    def __init__(self, settings: Settings) -> None:
        if not configured(settings) or settings.oidc_issuer is None:
            raise SignInNotConfigured(
                "La connexion des agents n'est pas configurée sur ce serveur "
                "(PLUME_OIDC_ISSUER, PLUME_OIDC_CLIENT_ID)."
            )
        self.issuer = settings.oidc_issuer.rstrip("/")
        secret = settings.oidc_client_secret
        oauth = OAuth()
        self.app: StarletteOAuth2App = oauth.register(
            "plume",
            server_metadata_url=self.issuer + DISCOVERY,
            client_id=settings.oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256", "timeout": 10},
        )

    async def _metadata(self) -> dict[str, Any]:
        try:
            metadata: dict[str, Any] = await self.app.load_server_metadata()
        except _DISCOVERY_ERRORS as exc:
            self.app.server_metadata = {}  # read again next time
            raise SignInUnavailable(UNREACHABLE) from exc
        if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
            self.app.server_metadata = {}
            raise SignInUnavailable(
                "Le fournisseur d'identité annonce un autre émetteur que PLUME_OIDC_ISSUER : "
                "connexion impossible, prévenez l'administrateur."
            )
        return metadata

    async def redirect(self, request: Request, redirect_uri: str) -> Response:
        """The redirection to the provider's sign-in page (state, nonce, PKCE kept)."""
        await self._metadata()
        try:
            response: Response = await self.app.authorize_redirect(request, redirect_uri)
        except _PROVIDER_ERRORS as exc:
            raise SignInUnavailable(UNREACHABLE) from exc
        return response

    async def email(self, request: Request) -> str:
        """The signed-in person's e-mail address, from an ID token checked in full."""
        if not request.query_params.get("state"):
            raise SignInFailed(f"{REFUSED} : paramètre « state » absent. {RESTART}")
        metadata = await self._metadata()
        claims = {  # authlib checks the issuer by default, the audience only when asked
            "iss": {"essential": True, "value": metadata["issuer"]},
            "aud": {"essential": True, "value": self.app.client_id},
        }
        try:
            token = await self.app.authorize_access_token(request, claims_options=claims)
        except MismatchingStateError:
            raise SignInFailed(
                f"{REFUSED} : demande de connexion inconnue ou expirée (paramètre « state » "
                f"différent de celui envoyé, ou plus de dix minutes écoulées). {RESTART}"
            ) from None
        except OAuthError as exc:
            reason = shown(exc.description or exc.error or "sans motif", 200)
            raise SignInFailed(f"{REFUSED} par le fournisseur d'identité : {reason}.") from None
        except BadSignatureError:
            raise SignInFailed(
                f"{REFUSED} : la signature du jeton d'identité ne correspond à aucune clé "
                "publiée par le fournisseur."
            ) from None
        except ExpiredTokenError:
            raise SignInFailed(f"{REFUSED} : jeton d'identité expiré. {RESTART}") from None
        except ClaimError as exc:
            raise SignInFailed(
                f"{REFUSED} : jeton d'identité invalide (« {shown(exc.claim, 40)} » ne "
                "correspond pas à la demande)."
            ) from None
        except JoseError:
            raise SignInFailed(f"{REFUSED} : jeton d'identité illisible ou invalide.") from None
        except _PROVIDER_ERRORS as exc:
            raise SignInUnavailable(UNREACHABLE) from exc
        userinfo = token.get("userinfo")
        if not userinfo:  # no ID token: nothing was proven
            raise SignInFailed(f"{REFUSED} : le fournisseur n'a pas donné de jeton d'identité.")
        email = userinfo.get("email")
        if not isinstance(email, str) or not email:
            raise SignInFailed(
                f"{REFUSED} : le fournisseur n'a pas donné d'adresse électronique "
                "(portée « email »)."
            )
        return email


def oidc_of(app: Any) -> OidcClient:
    """The app's OIDC client, built on first use (`SignInNotConfigured` without one)."""
    state = app.state
    client: OidcClient | None = getattr(state, "oidc", None)
    if client is None:
        client = state.oidc = OidcClient(state.runtime.settings)
    return client
