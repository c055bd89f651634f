"""A fake OpenID Connect provider on loopback, speaking the real protocol (as ProConnect does).

`FakeOidc` serves, on 127.0.0.1 and a free port:

    GET  /.well-known/openid-configuration   the discovery document
    GET  /authorize   checks client, redirect URI, scope, PKCE challenge (S256), state and
                      nonce, « signs in » `fake.email` and redirects back with a code
    POST /token       checks the client's secret, the code, its redirect URI and the PKCE
                      verifier; returns an access token and an RS256-signed ID token
    GET  /jwks        the public key

    with FakeOidc(client_id="plume", client_secret="s3cret") as fake:
        fake.email = "marie@flaux.fr"
        fake.misbehave = "wrong_key"   # or "wrong_nonce", "expired", "wrong_audience",
                                       # "no_id_token", "no_email"
        fake.requests                  # (path, params) received, in order

Only what a real provider enforces is enforced: a wrong secret, code or verifier gets the
OAuth error a real one sends (`invalid_client`, `invalid_grant`), a code works once.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeOidc(LoopbackServer):
    name = "fake-oidc"

    def __init__(self, client_id: str = "plume", client_secret: str = "secret-du-client") -> None:
        super().__init__()
        self.client_id = client_id
        self.client_secret = client_secret
        self.key = RSAKey.generate_key(2048, parameters={"kid": "cle-1", "use": "sig"})
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "cle-1", "use": "sig"})
        self.email = "agent@mairie.fr"
        self.misbehave: str | None = None
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._codes: dict[str, dict[str, str]] = {}

    @property
    def issuer(self) -> str:
        return self.url

    def reset(self) -> None:
        self.misbehave = None
        self.requests.clear()
        self._codes.clear()

    # --- endpoints -----------------------------------------------------------------------

    async def _discovery(self, request: Request) -> Response:
        self.requests.append((request.url.path, {}))
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "scopes_supported": ["openid", "email"],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        self.requests.append((request.url.path, {}))
        return JSONResponse({"keys": [self.key.as_dict(private=False)]})

    async def _authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.requests.append((request.url.path, q))
        problems = [
            q.get("client_id") != self.client_id and "client_id",
            q.get("response_type") != "code" and "response_type",
            "openid" not in q.get("scope", "").split() and "scope",
            not q.get("redirect_uri") and "redirect_uri",
            not q.get("state") and "state",
            not q.get("nonce") and "nonce",
            q.get("code_challenge_method") != "S256" and "code_challenge_method",
            not q.get("code_challenge") and "code_challenge",
        ]
        wrong = [p for p in problems if p]
        if wrong:
            return JSONResponse({"error": "invalid_request", "missing": wrong}, status_code=400)
        code = secrets.token_urlsafe(16)
        self._codes[code] = q
        back = urlencode({"code": code, "state": q["state"]})
        return RedirectResponse(f"{q['redirect_uri']}?{back}", status_code=302)

    def _client_ok(self, request: Request, form: dict[str, str]) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return (user, password) == (self.client_id, self.client_secret)
        return (form.get("client_id"), form.get("client_secret")) == (
            self.client_id,
            self.client_secret,
        )

    async def _token(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.requests.append((request.url.path, form))
        if not self._client_ok(request, form):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        asked = self._codes.pop(form.get("code", ""), None)  # a code works once
        if (
            asked is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != asked["redirect_uri"]
            or _s256(form.get("code_verifier", "")) != asked["code_challenge"]
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        token: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(24),
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": asked["scope"],
        }
        if self.misbehave != "no_id_token":
            token["id_token"] = self.id_token(asked["nonce"])
        return JSONResponse(token)

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": hashlib.sha256(self.email.encode()).hexdigest()[:24],
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": self.email,
        }
        if self.misbehave == "wrong_nonce":
            claims["nonce"] = "un-autre-nonce"
        elif self.misbehave == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 1800
        elif self.misbehave == "wrong_audience":  # issued to another client, for us to see
            claims["aud"], claims["azp"] = ["un-autre-client"], self.client_id
        elif self.misbehave == "no_email":
            del claims["email"]
        key = self.other_key if self.misbehave == "wrong_key" else self.key
        return jwt.encode({"alg": "RS256", "kid": "cle-1"}, claims, key)

    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self._discovery),
                Route("/jwks", self._jwks),
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST"]),
            ]
        )
