"""What a hostile caller or a clumsy operator sent Plume, and what it now answers (issue 21):
a clear 4xx in French where there was a 500, a commune's answers rated by that commune
only, no server path or whole input echoed back, a truncated database refused at start-up,
exports readable by their owner only, and keys without origins kept off web pages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request
from typer.testing import CliRunner

from api.errors import without_paths
from api.main import create_app
from assistant.runtime import Runtime
from cli.main import app as cli
from plume import REPO_ROOT
from plume.db import Database
from plume.errors import DatabaseUnavailable
from plume.keys import KeyStore
from plume.settings import Settings

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"Content-Type": "application/json"}
FLAUX, COUTHENANS = "30110", "70184"
SITE = "https://intranet.flaux.fr"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", admin_token=TOKEN)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The API over an empty index: enough for everything but the answers' content."""
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime), base_url="http://plume.test") as c:
        yield c
    runtime.close()


def error_of(resp: Any, status: int) -> dict[str, str]:
    assert resp.status_code == status, resp.text
    error: dict[str, str] = resp.json()["error"]
    return error


# --- 500s that are now a 4xx in French ------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/search", b'{"query": "acte de naissance \\ud800"}'),
        ("POST", "/v1/chat", b'{"question": "\\ud800"}'),
        ("POST", "/v1/chat", b'{"question": "mariage \\udfff", "stream": true}'),
        ("POST", "/v1/aides", b'{"q": "toiture \\ud800 ecole"}'),
        ("POST", "/v1/admin/cles", b'{"tenant": "30110", "label": "\\udc00"}'),
        ("PUT", "/v1/admin/veille/profils/eau", b'{"keywords": ["\\ud800"]}'),
    ],
)
def test_a_lone_surrogate_is_invalid_text(
    client: TestClient, method: str, path: str, body: bytes
) -> None:
    resp = client.request(method, path, content=body, headers={**JSON, **ADMIN})

    error = error_of(resp, 422)
    assert error["code"] == "texte_invalide"
    assert error["message"].startswith("Texte invalide : caractère non valide")
    assert "event:" not in resp.text  # refused before any stream opens


def test_a_surrogate_pair_is_valid_text(client: TestClient) -> None:
    # what json.dumps sends for an emoji: two halves that make one character
    resp = client.post("/v1/search", content=b'{"query": "mairie \\ud83d\\ude00"}', headers=JSON)

    assert resp.status_code == 200 and resp.json()["query"] == "mairie \U0001f600"


def test_a_long_project_is_refused_like_a_long_question(client: TestClient) -> None:
    project = "rénovation de la toiture de l'école " * 60  # over 2,000 characters

    for resp in (
        client.get("/v1/aides", params={"q": project}),
        client.post("/v1/aides", json={"q": project}),
    ):
        error = error_of(resp, 400)
        assert "trop long" in error["message"] and "2000 au maximum" in error["message"]
    search = client.post("/v1/search", json={"query": project})
    assert "2000 au maximum" in error_of(search, 400)["message"]  # the same bound


@pytest.mark.parametrize("amount", [1e28, "1e28", "1e400", 10**30])
def test_cofinancing_amounts_are_bounded(client: TestClient, amount: object) -> None:
    resp = client.post("/v1/cofinancement", json={"licences_amount": amount})

    error = error_of(resp, 400)
    assert error["code"] == "cofinancement_invalide" and "au plus" in error["message"]
    ok = client.post("/v1/cofinancement", json={"licences_amount": 999_999_999.99})
    assert ok.status_code == 200


@pytest.mark.parametrize("origin", ["https://a.fr:99999", "https://a.fr:abc"])
def test_an_origin_with_a_bad_port_is_refused(client: TestClient, origin: str) -> None:
    resp = client.post("/v1/admin/cles", json={"tenant": FLAUX, "origins": [origin]}, headers=ADMIN)

    error = error_of(resp, 400)
    assert error["code"] == "cle_invalide" and "port" in error["message"]


@pytest.mark.parametrize(
    "period",
    [
        {"from": "0001-01-01", "to": "9999-12-31"},
        {"to": "0001-01-01"},
        {"from": "9999-12-31"},
    ],
)
def test_indicators_out_of_range_dates(client: TestClient, period: dict[str, str]) -> None:
    resp = client.get("/v1/admin/indicators", params=period, headers=ADMIN)

    assert "hors limites" in error_of(resp, 400)["message"]


def test_integers_beyond_the_database_are_refused(client: TestClient) -> None:
    body = {"licences": 2**64, "users": 1}

    resp = client.put(f"/v1/admin/deploiements/{FLAUX}", json=body, headers=ADMIN)

    assert error_of(resp, 422)["code"] == "requete_invalide"
    fine = client.put(
        f"/v1/admin/deploiements/{FLAUX}", json={**body, "licences": 3}, headers=ADMIN
    )
    assert fine.status_code == 200


def test_the_cli_bounds_declared_numbers_too(settings: Settings, monkeypatch: Any) -> None:
    monkeypatch.setenv("PLUME_DATA_DIR", str(settings.data_dir))
    args = ["deploiement", FLAUX, "--licences", str(2**63), "--utilisateurs", "1"]

    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 1 and "au plus 10 millions" in result.output


# --- a garbled keys file --------------------------------------------------------------------


def test_a_garbled_keys_file_is_a_503_without_the_path(
    client: TestClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    key = KeyStore(settings.data_dir).create(FLAUX, [SITE]).key
    (settings.data_dir / "cles.json").write_text('{"cles": {"abc": ', encoding="utf-8")
    preflight = {"Origin": SITE, "Access-Control-Request-Method": "POST"}
    caplog.set_level(logging.ERROR)

    answers = [
        client.options("/v1/chat", headers=preflight),
        client.post(
            "/v1/chat", json={"question": "mariage"}, headers={"Origin": SITE, "X-Plume-Key": key}
        ),
        client.post("/v1/search", json={"query": "mariage"}, headers={"X-Plume-Key": key}),
        client.get("/v1/admin/cles", headers=ADMIN),
    ]

    for resp in answers:
        error = error_of(resp, 503)
        assert error["code"] == "fichier_de_donnees_illisible"
        assert "cles.json" in error["message"] and str(settings.data_dir) not in resp.text
    assert answers[0].headers["access-control-allow-origin"] == SITE  # the widget can say so
    assert str(settings.data_dir / "cles.json") in caplog.text  # the operator finds it
    no_key = client.post("/v1/search", json={"query": "mariage"})
    assert no_key.status_code == 200  # the shared corpus needs no key


def test_messages_never_carry_the_servers_folders(client: TestClient, settings: Settings) -> None:
    request = Request({"type": "http", "app": client.app})
    damaged = f"{settings.data_dir}/packages/cog/data/communes.json illisible ; {REPO_ROOT}/corpus"

    message = without_paths(damaged, request)

    assert str(settings.data_dir) not in message and str(REPO_ROOT) not in message
    assert message.startswith("<dossier de données>/packages/cog/data/communes.json")


# --- echoes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/admin/documents/doc/30110/", "/v1/documents/doc/30110/", "/v1/admin/ingest/"]
)
def test_a_huge_id_is_not_echoed_whole(client: TestClient, path: str) -> None:
    method = client.delete if path.startswith("/v1/admin/documents/") else client.get

    resp = method(path + "x" * 60_000, headers=ADMIN)

    message = error_of(resp, 404)["message"]
    assert "xxxxxxxxxx" in message and len(message) < 250 and "…" in message


def test_unknown_values_are_quoted_short(client: TestClient) -> None:
    long = "y" * 5_000
    answers = [
        client.get("/v1/veille", params={"since": long}),
        client.get("/v1/precedents", params={"q": "toiture", "programme": long}),
        client.post("/v1/aides", json={"aid_types": [long]}),
        client.post("/v1/admin/ingest", json={"source": long}, headers=ADMIN),
        client.delete(f"/v1/admin/veille/profils/{long}", headers=ADMIN),
        client.post("/v1/search", json={"query": "mariage", "sources": [long]}),
    ]

    for resp in answers:
        assert 400 <= resp.status_code < 500 and len(resp.text) < 1_000, resp.text[:200]


# --- feedback: the answer's commune only ------------------------------------------------------


@pytest.fixture
def keys(client: TestClient) -> dict[str, dict[str, str]]:
    store = KeyStore(client.app.state.runtime.settings.data_dir)  # type: ignore[attr-defined]
    return {t: {"X-Plume-Key": store.create(t).key} for t in (FLAUX, COUTHENANS)}


def answer(client: TestClient, headers: dict[str, str]) -> dict[str, str]:
    out = client.post("/v1/chat", json={"question": "Quand a lieu le conseil ?"}, headers=headers)
    assert out.status_code == 200
    return {k: out.json()[k] for k in ("conversation_id", "message_id")}


def rate(client: TestClient, ids: dict[str, str], headers: dict[str, str]) -> Any:
    return client.post("/v1/feedback", json={**ids, "rating": "down"}, headers=headers)


def test_only_the_answers_commune_rates_it(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    flaux = answer(client, keys[FLAUX])
    unknown = {**flaux, "message_id": "0" * 32}

    refusals = [
        rate(client, flaux, keys[COUTHENANS]),
        rate(client, flaux, {}),
        rate(client, unknown, keys[FLAUX]),
    ]

    # another commune's answer, or none at all: the same 404, the same words
    assert {(r.status_code, r.json()["error"]["message"]) for r in refusals} == {
        (404, refusals[2].json()["error"]["message"])
    }
    assert rate(client, flaux, keys[FLAUX]).status_code == 201
    indicators = client.get("/v1/admin/indicators", headers=ADMIN).json()
    rated = {c["commune"]: c for c in indicators["communes"]}
    assert FLAUX in rated and COUTHENANS not in rated


def test_an_answer_without_a_key_is_rated_without_one(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    anonymous = answer(client, {})

    assert rate(client, anonymous, keys[FLAUX]).status_code == 404
    assert rate(client, anonymous, {}).status_code == 201


# --- keys without origins: server to server -------------------------------------------------


def test_a_key_without_origins_is_for_servers_only(client: TestClient) -> None:
    created = client.post("/v1/admin/cles", json={"tenant": FLAUX}, headers=ADMIN).json()
    key = {"X-Plume-Key": created["key"]}
    question = {"question": "mariage"}

    server = client.post("/v1/chat", json=question, headers=key)
    browser = client.post("/v1/chat", json=question, headers={**key, "Origin": SITE})
    preflight = client.options(
        "/v1/chat", headers={"Origin": SITE, "Access-Control-Request-Method": "POST"}
    )

    assert server.status_code == 200
    error = error_of(browser, 403)
    assert error["code"] == "origine_non_autorisee" and "serveur à serveur" in error["message"]
    assert preflight.status_code == 403
    schema = client.get("/openapi.json").json()["components"]["schemas"]["KeyBody"]
    assert "serveur à serveur" in schema["properties"]["origins"]["description"]


# --- a truncated records database -------------------------------------------------------------


def test_an_emptied_database_is_refused_at_start(settings: Settings, monkeypatch: Any) -> None:
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "plume.db").write_bytes(b"")  # a disk full, a copy cut short

    with pytest.raises(DatabaseUnavailable, match="vide \\(0 octet\\)") as caught:
        Database(settings.records_url)
    assert "plume import" in caught.value.message and "supprimez" in caught.value.message
    monkeypatch.setenv("PLUME_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(cli, ["indicateurs"])
    assert result.exit_code == 1 and "vide (0 octet)" in result.output
    assert (settings.data_dir / "plume.db").stat().st_size == 0  # left as it was found


def test_a_new_instance_starts_without_a_database_file(settings: Settings) -> None:
    db = Database(settings.records_url)  # no file: a fresh instance
    db.upgrade()

    assert "messages" in db.tables()
    db.close()
