"""Agents' sessions: a signed cookie naming the agent and the one commune they act for.

`plume_session` holds `{"email", "tenant"}` signed with `PLUME_SESSION_SECRET`
(itsdangerous, HMAC-SHA256, timestamped): HttpOnly, SameSite=Lax, Secure in production,
valid `PLUME_SESSION_HOURS`. A cookie that was altered, has expired, or names an agent no
longer registered for that commune is refused with a French 401 — never read as « no
session ». Without `PLUME_SESSION_SECRET` the key is derived from the admin token (HMAC,
its own label), else drawn at random by each process: sessions then end with it
(production with sign-in refuses to start without one).

The OpenID Connect handshake keeps its state, nonce and PKCE verifier in a second signed
cookie, `plume_connexion`, under `/auth/` only, for ten minutes (`HandshakeSession`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from plume.errors import InvalidSession
from plume.keys import check_tenant
from plume.settings import Environment, Settings

COOKIE = "plume_session"
HANDSHAKE_COOKIE = "plume_connexion"
HANDSHAKE_SECONDS = 600
AUTH_PREFIX = "/auth/"


@dataclass(frozen=True)
class SessionAgent:
    """Who a valid session cookie names."""

    email: str
    tenant: str


class Sessions:
    """Issues and reads the session cookie."""

    def __init__(self, settings: Settings) -> None:
        self.secret = _secret(settings)
        self.max_age = settings.session_hours * 3600
        self.secure = settings.env is Environment.production
        self._signer = URLSafeTimedSerializer(self.secret, salt="plume.session")

    def issue(self, email: str, tenant: str) -> str:
        return self._signer.dumps({"email": email, "tenant": tenant})

    def read(self, value: str) -> SessionAgent:
        """The agent a cookie names, or `InvalidSession` (altered, expired, malformed)."""
        again = "reconnectez-vous (« Se connecter », /auth/connexion)."
        try:
            data: Any = self._signer.loads(value, max_age=self.max_age)
        except SignatureExpired:
            raise InvalidSession(f"Session expirée : {again}") from None
        except BadSignature:
            raise InvalidSession(f"Session invalide : {again}") from None
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("email", "tenant")
        ):
            raise InvalidSession(f"Session invalide : {again}")
        return SessionAgent(email=data["email"], tenant=check_tenant(data["tenant"]))

    def set_cookie(self, response: Response, email: str, tenant: str) -> None:
        response.set_cookie(
            COOKIE,
            self.issue(email, tenant),
            max_age=self.max_age,
            path="/",
            httponly=True,
            secure=self.secure,
            samesite="lax",
        )

    def clear_cookie(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, secure=self.secure, samesite="lax")


def _secret(settings: Settings) -> str:
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value()
    if settings.admin_token is not None:  # stable across workers, never the token itself
        token = settings.admin_token.get_secret_value().encode()
        return hmac.new(token, b"plume.session", hashlib.sha256).hexdigest()
    return secrets.token_urlsafe(32)


def sessions_of(app: Any) -> Sessions:
    """The app's `Sessions`, built on first use from the runtime's settings (its random
    key, when none is configured, then lives as long as the app)."""
    state = app.state
    sessions: Sessions | None = getattr(state, "sessions", None)
    if sessions is None:
        sessions = state.sessions = Sessions(state.runtime.settings)
    return sessions


class HandshakeSession:
    """Starlette's signed-cookie session (what authlib keeps the handshake in), under
    `/auth/` only, built on first use with the sessions' key."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inner: SessionMiddleware | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(AUTH_PREFIX):
            await self.app(scope, receive, send)
            return
        if self._inner is None:
            sessions = sessions_of(scope["app"])
            self._inner = SessionMiddleware(
                self.app,
                secret_key=sessions.secret + ".connexion",
                session_cookie=HANDSHAKE_COOKIE,
                max_age=HANDSHAKE_SECONDS,
                path="/auth",
                same_site="lax",
                https_only=sessions.secure,
            )
        await self._inner(scope, receive, send)
