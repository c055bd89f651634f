"""Agents sign in with OpenID Connect (issue 21, item 9): through a fake provider on loopback
that speaks the real protocol (discovery, authorize, token, RS256 ID token, JWKS), a session
bound to the agent's commune sees that commune's documents and no other's; whatever cannot
be trusted (state, nonce, signature, audience, dates, cookie) is a French 401 or 403."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from api.main import create_app
from api.sessions import COOKIE
from assistant.runtime import Runtime
from plume.settings import Settings
from tests.fakes.oidc import FakeOidc

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SESSION_SECRET = "cle-de-session-de-test-0123456789-abcdefghij"
FLAUX, COUTHENANS = "30110", "70184"
MARIE, PAUL = "marie.dupont@flaux.fr", "paul.martin@couthenans.fr"
LAVOIR = "Le conseil municipal décide la réfection du lavoir de la place aux Herbes."
NEIGE = "Le conseil municipal attribue le marché de déneigement du lavoir à la société Blanc."
QUESTION = "réfection du lavoir de la place aux Herbes"


def wait(client: TestClient, run_id: str) -> None:
    for _ in range(600):
        if client.get(f"/v1/admin/ingest/{run_id}", headers=ADMIN).json()["status"] != "en_cours":
            return
        time.sleep(0.05)
    raise AssertionError("upload job did not finish")


def upload(client: TestClient, tenant: str, name: str, text: str) -> str:
    resp = client.post(
        "/v1/admin/documents",
        headers=ADMIN,
        data={"tenant": tenant},
        files=[("files", (name, text.encode(), "text/plain"))],
    )
    assert resp.status_code == 202, resp.text
    wait(client, resp.json()["id"])
    run = client.get(f"/v1/admin/ingest/{resp.json()['id']}", headers=ADMIN).json()
    return str(run["summary"]["files"][0]["doc_id"])


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOidc]:
    with FakeOidc(client_id="plume-test", client_secret="secret-du-client-de-test") as fake:
        yield fake


@pytest.fixture(scope="module")
def app_and_docs(
    provider: FakeOidc, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, dict[str, str]]]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("signin") / "data",
        admin_token=TOKEN,
        oidc_issuer=provider.issuer,
        oidc_client_id="plume-test",
        oidc_client_secret="secret-du-client-de-test",
        session_secret=SESSION_SECRET,
    )
    runtime = Runtime.build(settings)
    app = create_app(settings, runtime=runtime)
    with TestClient(app) as admin:
        docs = {
            FLAUX: upload(admin, FLAUX, "lavoir.txt", LAVOIR),
            COUTHENANS: upload(admin, COUTHENANS, "neige.txt", NEIGE),
        }
        for email, tenant in ((MARIE, FLAUX), (PAUL, COUTHENANS)):
            resp = admin.post(
                "/v1/admin/agents", headers=ADMIN, json={"email": email, "tenant": tenant}
            )
            assert resp.status_code == 201, resp.text
    yield app, docs
    runtime.close()


@pytest.fixture
def client(app_and_docs: tuple[Any, dict[str, str]], provider: FakeOidc) -> Iterator[TestClient]:
    provider.reset()
    with TestClient(app_and_docs[0]) as c:
        yield c


@pytest.fixture
def docs(app_and_docs: tuple[Any, dict[str, str]]) -> dict[str, str]:
    return app_and_docs[1]


def to_provider(client: TestClient) -> str:
    """`/auth/connexion`: the redirection to the provider's authorize endpoint."""
    resp = client.get("/auth/connexion", params={"retour": "/"}, follow_redirects=False)
    assert resp.status_code == 302, resp.text
    return str(resp.headers["location"])


def back_from_provider(authorize_url: str) -> str:
    """What the browser does at the provider: its redirection back to Plume (a path)."""
    resp = httpx.get(authorize_url, follow_redirects=False)
    assert resp.status_code == 302, resp.text
    url = httpx.URL(resp.headers["location"])
    return f"{url.path}?{url.query.decode()}"


def sign_in(client: TestClient, provider: FakeOidc, email: str) -> httpx.Response:
    provider.email = email
    return client.get(back_from_provider(to_provider(client)), follow_redirects=False)


def hits(client: TestClient, **kwargs: Any) -> set[str]:
    resp = client.post("/v1/search", json={"query": QUESTION}, **kwargs)
    assert resp.status_code == 200, resp.text
    return {h["doc_id"] for h in resp.json()["hits"]}


def test_a_session_sees_its_communes_documents_only(
    client: TestClient, provider: FakeOidc, docs: dict[str, str]
) -> None:
    assert client.get("/auth/moi").status_code == 401
    assert docs[FLAUX] not in hits(client)  # before signing in: the shared corpus only

    done = sign_in(client, provider, MARIE)
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = done.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert "SameSite=lax" in cookie and "Max-Age=28800" in cookie and "Secure" not in cookie
    (authorize,) = [q for path, q in provider.requests if path == "/authorize"]
    assert authorize["code_challenge_method"] == "S256" and authorize["nonce"]
    (token,) = [f for path, f in provider.requests if path == "/token"]
    assert token["code_verifier"]  # PKCE: the verifier went to the token endpoint only

    me = client.get("/auth/moi").json()
    assert me["email"] == MARIE and me["tenant"] == FLAUX
    seen = hits(client)
    assert docs[FLAUX] in seen and docs[COUTHENANS] not in seen
    answer = client.post("/v1/chat", json={"question": f"Qu'a décidé le conseil : {QUESTION} ?"})
    assert answer.status_code == 200
    assert docs[FLAUX] in {c["doc_id"] for c in answer.json()["citations"]}
    assert answer.json()["conversation_id"].startswith(f"{FLAUX}_")
    listed = {d["doc_id"] for d in client.get("/v1/documents").json()}
    assert listed == {docs[FLAUX]}

    client.cookies.clear()
    assert sign_in(client, provider, PAUL).status_code == 303
    seen = hits(client)
    assert docs[COUTHENANS] in seen and docs[FLAUX] not in seen
    resp = client.get(f"/v1/documents/{docs[FLAUX]}")
    assert resp.status_code == 404


def test_signing_out_ends_the_session(client: TestClient, provider: FakeOidc) -> None:
    assert sign_in(client, provider, MARIE).status_code == 303
    assert client.get("/auth/moi").status_code == 200
    out = client.post("/auth/deconnexion")
    assert out.status_code == 200 and f'{COOKIE}=""' in out.headers["set-cookie"]
    resp = client.get("/auth/moi")
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "session_invalide"


def test_a_tampered_or_expired_cookie_is_refused(
    client: TestClient, provider: FakeOidc, docs: dict[str, str]
) -> None:
    assert sign_in(client, provider, PAUL).status_code == 303
    value = client.cookies[COOKIE]
    payload, _, signature = value.partition(".")
    forged = URLSafeTimedSerializer("pas-la-bonne-cle", salt="plume.session").dumps(
        {"email": PAUL, "tenant": FLAUX}
    )
    for bad in (payload + "A." + signature, forged, "n-importe-quoi"):
        client.cookies.clear()
        client.cookies.set(COOKIE, bad)
        resp = client.post("/v1/search", json={"query": QUESTION})
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"]["message"].startswith("Session invalide")

    class Yesterday(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 24 * 3600

    old = URLSafeTimedSerializer(SESSION_SECRET, salt="plume.session", signer=Yesterday)
    client.cookies.clear()
    client.cookies.set(COOKIE, old.dumps({"email": PAUL, "tenant": COUTHENANS}))
    resp = client.post("/v1/search", json={"query": QUESTION})
    assert resp.status_code == 401 and "expirée" in resp.json()["error"]["message"]


def test_removing_an_agent_ends_their_sessions(client: TestClient, provider: FakeOidc) -> None:
    email = "remplacante@flaux.fr"
    client.post("/v1/admin/agents", headers=ADMIN, json={"email": email, "tenant": FLAUX})
    assert sign_in(client, provider, email).status_code == 303
    assert client.get("/auth/moi").status_code == 200
    assert client.delete(f"/v1/admin/agents/{email}", headers=ADMIN).status_code == 200
    resp = client.get("/auth/moi")
    assert resp.status_code == 401 and "révoquée" in resp.json()["error"]["message"]


def test_an_unregistered_agent_is_refused(client: TestClient, provider: FakeOidc) -> None:
    resp = sign_in(client, provider, "inconnu@ailleurs.fr")
    assert resp.status_code == 403 and COOKIE not in resp.headers.get("set-cookie", "")
    error = resp.json()["error"]
    assert error["code"] == "agent_inconnu" and "plume agent ajouter" in error["message"]


def test_a_forged_or_missing_state_is_refused(client: TestClient, provider: FakeOidc) -> None:
    provider.email = MARIE
    back = back_from_provider(to_provider(client))
    forged = back.replace("state=", "state=x")
    resp = client.get(forged, follow_redirects=False)
    assert resp.status_code == 401 and "state" in resp.json()["error"]["message"]
    assert client.get("/auth/retour?code=abc", follow_redirects=False).status_code == 401
    other = TestClient(client.app)  # another browser: not the one that asked
    resp = other.get(back, follow_redirects=False)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "connexion_refusee"
    assert client.get(back, follow_redirects=False).status_code == 303  # the real one still works
    again = client.get(back, follow_redirects=False)  # a state is used once
    assert again.status_code == 401


@pytest.mark.parametrize(
    ("misbehave", "said"),
    [
        ("wrong_key", "signature"),
        ("wrong_nonce", "« nonce »"),
        ("wrong_audience", "« aud »"),
        ("expired", "expiré"),
        ("no_id_token", "pas donné de jeton d'identité"),
        ("no_email", "adresse électronique"),
    ],
)
def test_an_id_token_that_cannot_be_trusted_is_refused(
    client: TestClient, provider: FakeOidc, misbehave: str, said: str
) -> None:
    provider.misbehave = misbehave
    resp = sign_in(client, provider, MARIE)
    assert resp.status_code == 401, resp.text
    error = resp.json()["error"]
    assert error["code"] == "connexion_refusee" and said in error["message"], error
    assert COOKIE not in client.cookies


def test_without_oidc_nothing_changes(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime)) as c:
        resp = c.get("/auth/connexion", follow_redirects=False)
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "connexion_non_configuree"
        assert '"signIn": false' in c.get("/widget.js").text
        assert c.post("/v1/search", json={"query": QUESTION}).status_code == 200
    runtime.close()


def test_the_widget_offers_to_sign_in(client: TestClient) -> None:
    assert '"signIn": true' in client.get("/widget.js").text


def test_an_unreachable_provider_is_a_clear_502(tmp_path: Any) -> None:
    with FakeOidc() as gone:
        issuer = gone.issuer  # closed when the block ends: nothing listens there any more
    settings = Settings(data_dir=tmp_path / "data", oidc_issuer=issuer, oidc_client_id="plume")
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime)) as c:
        resp = c.get("/auth/connexion", follow_redirects=False)
        assert resp.status_code == 502 and "ne répond pas" in resp.json()["error"]["message"]
    runtime.close()


def test_production_needs_a_strong_session_secret(tmp_path: Any) -> None:
    strong = {"admin_token": "Zq3-vK9pL2xW7mN4bT8yR1cF6hJ0sD5gA_eU", "env": "production"}
    oidc = {"oidc_issuer": "https://auth.exemple.fr", "oidc_client_id": "plume"}
    with pytest.raises(ValueError, match="PLUME_SESSION_SECRET"):
        Settings(data_dir=tmp_path, **strong, **oidc)
    with pytest.raises(ValueError, match="PLUME_SESSION_SECRET"):
        Settings(data_dir=tmp_path, **strong, **oidc, session_secret="changemechangeme")
    Settings(data_dir=tmp_path, **strong, **oidc, session_secret=SESSION_SECRET + "-Zq3vK9pL2")
    Settings(data_dir=tmp_path, **strong)  # without sign-in, no session secret needed


def test_after_signing_in_only_a_plume_page(client: TestClient, provider: FakeOidc) -> None:
    provider.email = MARIE
    for asked, landing in (
        ("/?q=1", "/?q=1"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
    ):
        client.cookies.clear()
        there = client.get("/auth/connexion", params={"retour": asked}, follow_redirects=False)
        done = client.get(back_from_provider(there.headers["location"]), follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == landing
