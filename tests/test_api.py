"""The HTTP API, in process (FastAPI's TestClient), over a real index of real fiches."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api.main import create_app
from assistant.runtime import Runtime
from ingestion.service import ingest_source
from plume.settings import Settings
from tests.conftest import make_mini_corpus, package_root

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def _serve(corpus: Path, data_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir, admin_token=TOKEN)
    runtime = Runtime.build(settings)
    ingest_source(settings, runtime.store, None, "service-public", path=corpus)
    with TestClient(create_app(settings, runtime=runtime)) as c:
        yield c
    runtime.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One index for the read-only tests of this module."""
    root = tmp_path_factory.mktemp("api")
    yield from _serve(make_mini_corpus(package_root(), root / "corpus"), root / "data")


@pytest.fixture
def fresh_client(mini_corpus: Path, tmp_path: Path) -> Iterator[TestClient]:
    """An index of its own, for tests that change it."""
    yield from _serve(mini_corpus, tmp_path / "data")


def error_of(resp) -> dict:  # type: ignore[no-untyped-def]
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["message"] and body["error"]["code"]
    return body["error"]


def test_health_and_docs(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["chunks"] > 100 and health["dense"] is False
    e5 = health["e5"]  # semantic vectors: none computed in this index, none being computed
    assert e5["done"] == 0 and e5["total"] == health["chunks"] and e5["filling"] is False
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/search", "/v1/chat", "/v1/sources", "/healthz", "/v1/admin/ingest"} <= set(paths)
    page = client.get("/")
    assert (
        page.status_code == 200
        and "Plume" in page.text
        and "intelligence artificielle" in page.text
    )


def test_search_finds_the_birth_certificate_fiche(client: TestClient) -> None:
    resp = client.post(
        "/v1/search", json={"query": "obtenir une copie de mon acte de naissance", "limit": 3}
    )
    assert resp.status_code == 200
    hits = resp.json()["hits"]
    assert "vdd/F1427" in [h["doc_id"] for h in hits]
    hit = hits[0]
    assert hit["url"].startswith("https://www.service-public.fr/") and hit["source_version"]
    assert [h["rank"] for h in hits] == [1, 2, 3]


def test_search_as_of_a_date(client: TestClient) -> None:
    # fiches carry no validity dates: they answer whatever the date
    hits = client.post(
        "/v1/search", json={"query": "acte de naissance", "as_of": "2019-06-01"}
    ).json()["hits"]
    assert hits


def test_search_filters(client: TestClient) -> None:
    hits = client.post(
        "/v1/search", json={"query": "statuts", "audiences": ["Associations"]}
    ).json()["hits"]
    assert hits and all("Associations" in h["audience"] for h in hits)
    hits = client.post(
        "/v1/search", json={"query": "acte de naissance", "sources": ["service-public"]}
    ).json()["hits"]
    assert hits


def test_chat_answers_with_citations(client: TestClient) -> None:
    resp = client.post(
        "/v1/chat",
        json={"question": "Qui peut obtenir la copie intégrale d'un acte de naissance ?"},
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["mode"] == "extractive"
    assert "[1]" in body["answer"]
    # the sentence that says who may ask, from another section of the fiche than the one
    # the search ranks first (« Copie intégrale » says what the copy contains)
    first_line = body["answer"].split("\n")[1]
    assert first_line.startswith("- Les personnes suivantes peuvent obtenir une copie intégrale")
    assert "intelligence artificielle" in body["notice"]
    first = body["citations"][0]
    assert first["doc_id"] == "vdd/F1427"
    assert first["url"] == "https://www.service-public.fr/particuliers/vosdroits/F1427"
    assert first["modified"] == "2019-11-26" and first["excerpt"] and first["title"]
    for c in body["citations"]:
        assert f"[{c['n']}]" in body["answer"]
    # beside the answer, the next closest texts it does not cite, each with its key sentence
    also = body["see_also"]
    assert 1 <= len(also) <= 3 and all(a["excerpt"] and a["url"] for a in also)
    assert not {a["doc_id"] for a in also} & {c["doc_id"] for c in body["citations"]}


def test_chat_answers_with_a_reliability_level_and_its_reasons(client: TestClient) -> None:
    body = client.post(
        "/v1/chat",
        json={"question": "Qui peut obtenir la copie intégrale d'un acte de naissance ?"},
    ).json()
    level = body["reliability"]
    assert level["level"] in ("elevee", "moyenne") and level["label"] in ("élevée", "moyenne")
    assert 0 < level["score"] == body["confidence"] <= 1
    assert any(r.startswith("source : fiche service-public.fr") for r in level["reasons"])


def test_chat_refuses_what_plume_does_not_cover(client: TestClient) -> None:
    body = client.post(
        "/v1/chat", json={"question": "Quelle est la recette de la tarte tatin aux pommes ?"}
    ).json()
    assert body["mode"] == "refusal" and body["flags"] == ["hors_champ"]
    assert body["citations"] == [] and body["reliability"] is None
    assert body["answer"].startswith("Cette question sort du champ de Plume")


def test_chat_asks_for_the_communes_documents_for_its_own_facts(client: TestClient) -> None:
    body = client.post(
        "/v1/chat",
        json={"question": "qu'a décidé le conseil municipal de Couthenans le 24 février 2023 ?"},
    ).json()
    assert body["mode"] == "refusal" and body["flags"] == ["documents_commune_requis"]
    assert "documents chargés pour votre commune" in body["answer"]


@pytest.mark.parametrize(
    ("path", "payload", "status", "code"),
    [
        ("/v1/chat", {"question": "   "}, 400, "question_invalide"),
        ("/v1/search", {"query": ""}, 400, "question_invalide"),
        ("/v1/chat", {"question": "a" * 2001}, 400, "question_invalide"),
        ("/v1/search", {"query": "mariage", "sources": ["wikipedia"]}, 400, "filtre_invalide"),
        ("/v1/search", {"query": "mariage", "audiences": ["Martiens"]}, 400, "filtre_invalide"),
        ("/v1/search", {"query": "mariage", "limit": 0}, 422, "requete_invalide"),
        ("/v1/search", {"query": "mariage", "colour": "blue"}, 422, "requete_invalide"),
        ("/v1/chat", {}, 422, "requete_invalide"),
        ("/v1/search", {"query": "mariage", "as_of": "2019-13-01"}, 422, "requete_invalide"),
        ("/v1/chat", {"question": "mariage", "as_of": "hier"}, 422, "requete_invalide"),
    ],
)
def test_bad_input_gets_a_clear_4xx(
    client: TestClient, path: str, payload: dict, status: int, code: str
) -> None:
    resp = client.post(path, json=payload)
    assert resp.status_code == status
    assert error_of(resp)["code"] == code


def test_curl_without_content_type_works(client: TestClient) -> None:
    """`curl -X POST …/v1/chat -d '{"question": …}'` labels JSON as a form."""
    resp = client.post(
        "/v1/chat",
        content='{"question": "copie intégrale acte de naissance"}'.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200 and resp.json()["citations"]


def test_malformed_json_body_is_a_4xx(client: TestClient) -> None:
    resp = client.post(
        "/v1/chat", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 422
    assert "invalide" in error_of(resp)["message"]


def test_sources(client: TestClient) -> None:
    [sp] = client.get("/v1/sources").json()
    assert (
        sp["source"] == "service-public"
        and sp["documents"] >= 25
        and sp["chunks"] > sp["documents"]
    )
    assert sp["last_sync"]["finished_at"]


def test_admin_routes_need_the_token(client: TestClient) -> None:
    assert client.post("/v1/admin/ingest", json={}).status_code == 401
    wrong = client.delete("/v1/admin/documents/vdd/F1427", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and error_of(wrong)["message"]


def test_admin_delete_document(fresh_client: TestClient) -> None:
    client = fresh_client
    resp = client.delete("/v1/admin/documents/vdd/F1427", headers=ADMIN)
    assert resp.status_code == 200 and resp.json()["chunks_deleted"] > 0
    hits = client.post("/v1/search", json={"query": "copie intégrale acte de naissance"}).json()[
        "hits"
    ]
    assert "vdd/F1427" not in [h["doc_id"] for h in hits]
    again = client.delete("/v1/admin/documents/vdd/F1427", headers=ADMIN)
    assert again.status_code == 404 and error_of(again)["code"] == "document_introuvable"


def test_admin_ingest_runs_in_the_server(client: TestClient) -> None:
    # the pinned package is not installed in this data dir: the run fails cleanly
    resp = client.post("/v1/admin/ingest", json={"source": "service-public"}, headers=ADMIN)
    assert resp.status_code == 202
    run_id = resp.json()["id"]
    for _ in range(100):
        run = client.get(f"/v1/admin/ingest/{run_id}", headers=ADMIN).json()
        if run["status"] != "en_cours":
            break
        time.sleep(0.05)
    assert run["status"] == "echec" and "plume corpus fetch" in run["error"]
    assert client.get("/healthz").json()["chunks"] > 0  # the index is still there
    unknown = client.post("/v1/admin/ingest", json={"source": "nope"}, headers=ADMIN)
    assert unknown.status_code == 404 and "service-public" in error_of(unknown)["message"]
    assert client.get("/v1/admin/ingest/zzz", headers=ADMIN).status_code == 404


def test_admin_disabled_without_token(mini_corpus: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime)) as c:
        resp = c.post("/v1/admin/ingest", json={}, headers=ADMIN)
        assert resp.status_code == 403 and "PLUME_ADMIN_TOKEN" in error_of(resp)["message"]
    runtime.close()


@pytest.mark.parametrize(
    "token",
    [
        None,
        "changeme",
        "short-token",
        "a" * 64,  # long, and one character
        "changemechangemechangeme",  # a word, three times
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL",  # a run of consecutive ones
        "Password-Admin-Plume-2026-Password-Admin-Plume",  # common words
        TOKEN,  # the tests' own: fine in development, not in production
    ],
)
def test_production_refuses_a_weak_admin_token(token: str | None, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="PLUME_ADMIN_TOKEN est trop faible") as caught:
        Settings(env="production", admin_token=token, data_dir=tmp_path)
    assert "secrets.token_urlsafe(32)" in str(caught.value)  # how to make one


def test_production_accepts_a_random_admin_token(tmp_path: Path) -> None:
    for _ in range(200):
        for token in (secrets.token_urlsafe(32), secrets.token_hex(32)):
            Settings(env="production", admin_token=token, data_dir=tmp_path)
    Settings(env="development", admin_token="a" * 64, data_dir=tmp_path)  # not judged there
