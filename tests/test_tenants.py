"""Tenants: a commune's documents reach its own users and no one else's, by every route
(search, chat, its stream and follow-ups, sources, documents, citations), through the
HTTP API with real private (server-to-server) API keys; a public widget key, which sits in
a page's HTML, sees none of them, even from curl (issue 21, item 9)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from assistant.runtime import Runtime
from plume.settings import Settings
from tests.fakes import documents as fake

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
FLAUX, COUTHENANS = "30110", "70184"
LAVOIR = "Réfection du lavoir communal de la place aux Herbes"
QUESTION = "Qu'a décidé le conseil pour la réfection du lavoir de la place aux Herbes ?"


def flaux_minutes() -> bytes:
    return fake.text_pdf(
        [
            ["Compte rendu du conseil municipal de Flaux", "Séance du 12 mars 2025"],
            [
                LAVOIR,
                "Le conseil municipal décide à l'unanimité la réfection du lavoir communal",
                "de la place aux Herbes pour un montant de 18 400 euros.",
            ],
        ]
    )


def couthenans_minutes() -> bytes:
    return fake.text_pdf(
        [["Conseil municipal de Couthenans", "Le conseil attribue le marché de déneigement."]]
    )


def wait(client: TestClient, run_id: str) -> dict[str, Any]:
    for _ in range(600):
        run = client.get(f"/v1/admin/ingest/{run_id}", headers=ADMIN).json()
        if run["status"] != "en_cours":
            return dict(run)
        time.sleep(0.05)
    raise AssertionError("upload job did not finish")


def upload(client: TestClient, tenant: str, *files: tuple[str, bytes]) -> dict[str, Any]:
    resp = client.post(
        "/v1/admin/documents",
        headers=ADMIN,
        data={"tenant": tenant, "uploaded_by": "admin@test"},
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
    )
    assert resp.status_code == 202, resp.text
    run = wait(client, resp.json()["id"])
    assert run["status"] == "termine", run
    return dict(run["summary"])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data_dir = tmp_path_factory.mktemp("tenants") / "data"
    settings = Settings(data_dir=data_dir, admin_token=TOKEN, upload_max_mb=1)
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime)) as c:
        yield c
    runtime.close()


@pytest.fixture(scope="module")
def keys(client: TestClient) -> dict[str, dict[str, str]]:
    out = {}
    for tenant in (FLAUX, COUTHENANS):
        resp = client.post(
            "/v1/admin/cles", headers=ADMIN, json={"tenant": tenant, "kind": "privee"}
        )
        assert resp.status_code == 201 and resp.json()["kind"] == "privee"
        out[tenant] = {"X-Plume-Key": resp.json()["key"]}
    return out


@pytest.fixture(scope="module")
def flaux_doc(client: TestClient, keys: dict[str, dict[str, str]]) -> str:
    summary = upload(client, FLAUX, ("CR_2025-03-12.pdf", flaux_minutes()))
    upload(client, COUTHENANS, ("CR_deneigement.pdf", couthenans_minutes()))
    (result,) = summary["files"]
    assert result["status"] == "ajoute" and result["pages"] == 2
    return str(result["doc_id"])


def search(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    resp = client.post("/v1/search", json={"query": QUESTION}, headers=headers)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["hits"])


def test_search_sees_the_own_commune_only(
    client: TestClient, keys: dict[str, dict[str, str]], flaux_doc: str
) -> None:
    hits = search(client, keys[FLAUX])
    assert hits[0]["doc_id"] == flaux_doc and hits[0]["page"] == 2
    assert flaux_doc not in {h["doc_id"] for h in search(client, keys[COUTHENANS])}
    assert flaux_doc not in {h["doc_id"] for h in search(client, {})}


def test_chat_cites_the_document_and_its_page(
    client: TestClient, keys: dict[str, dict[str, str]], flaux_doc: str
) -> None:
    answer = client.post("/v1/chat", json={"question": QUESTION}, headers=keys[FLAUX]).json()
    cited = {c["doc_id"]: c for c in answer["citations"]}
    assert flaux_doc in cited and cited[flaux_doc]["page"] == 2
    assert cited[flaux_doc]["title"] == "CR 2025-03-12"

    other = client.post("/v1/chat", json={"question": QUESTION}, headers=keys[COUTHENANS]).json()
    assert flaux_doc not in {c["doc_id"] for c in other["citations"]}
    assert "18 400" not in other["answer"]


def test_chat_stream_and_follow_ups_stay_within_the_tenant(
    client: TestClient, keys: dict[str, dict[str, str]], flaux_doc: str
) -> None:
    stream = client.post(
        "/v1/chat", json={"question": QUESTION, "stream": True}, headers=keys[COUTHENANS]
    )
    assert stream.status_code == 200 and flaux_doc not in stream.text
    own = client.post("/v1/chat", json={"question": QUESTION, "stream": True}, headers=keys[FLAUX])
    assert flaux_doc in own.text

    first = client.post("/v1/chat", json={"question": QUESTION}, headers=keys[FLAUX]).json()
    follow_up = {"question": "et pour quel montant ?", "conversation_id": first["conversation_id"]}
    stolen = client.post("/v1/chat", json=follow_up, headers=keys[COUTHENANS]).json()
    assert flaux_doc not in json.dumps(stolen["citations"])
    assert first["conversation_id"].startswith(f"{FLAUX}_")
    assert stolen["conversation_id"].startswith(f"{COUTHENANS}_")  # not Flaux's history
    own_follow_up = client.post("/v1/chat", json=follow_up, headers=keys[FLAUX]).json()
    assert own_follow_up["conversation_id"] == first["conversation_id"]


def test_sources_count_the_callers_documents_only(
    client: TestClient, keys: dict[str, dict[str, str]], flaux_doc: str
) -> None:
    def documents(headers: dict[str, str]) -> dict[str, Any] | None:
        rows = client.get("/v1/sources", headers=headers).json()
        return next((r for r in rows if r["source"] == "documents"), None)

    assert documents({}) is None
    mine = documents(keys[FLAUX])
    assert mine is not None and mine["documents"] == 1


def test_documents_routes(
    client: TestClient, keys: dict[str, dict[str, str]], flaux_doc: str
) -> None:
    listed = client.get("/v1/documents", headers=keys[FLAUX]).json()
    assert [d["doc_id"] for d in listed] == [flaux_doc]
    assert listed[0]["uploaded_by"] == "admin@test" and listed[0]["pages"] == 2
    doc = client.get(f"/v1/documents/{flaux_doc}", headers=keys[FLAUX]).json()
    assert any(p["page"] == 2 and "lavoir" in p["text"] for p in doc["passages"])

    for headers in (keys[COUTHENANS], {}):
        assert flaux_doc not in json.dumps(client.get("/v1/documents", headers=headers).json())
        resp = client.get(f"/v1/documents/{flaux_doc}", headers=headers)
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "document_introuvable"

    admin = client.get("/v1/admin/documents", params={"tenant": FLAUX}, headers=ADMIN).json()
    assert [d["doc_id"] for d in admin] == [flaux_doc]


def test_a_public_key_sees_no_commune_document(client: TestClient, flaux_doc: str) -> None:
    created = client.post(
        "/v1/admin/cles",
        headers=ADMIN,
        json={"tenant": FLAUX, "origins": ["https://www.flaux.fr"], "label": "widget"},
    ).json()
    assert created["kind"] == "publique"  # the default
    public = {"X-Plume-Key": created["key"]}  # as curl sends it: no Origin
    assert flaux_doc not in {h["doc_id"] for h in search(client, public)}
    answer = client.post("/v1/chat", json={"question": QUESTION}, headers=public).json()
    assert flaux_doc not in json.dumps(answer) and "18 400" not in answer["answer"]
    assert answer["conversation_id"].startswith(f"{FLAUX}_")  # it still names its commune
    stream = client.post("/v1/chat", json={"question": QUESTION, "stream": True}, headers=public)
    assert stream.status_code == 200 and flaux_doc not in stream.text
    assert flaux_doc not in json.dumps(client.get("/v1/documents", headers=public).json())
    assert client.get(f"/v1/documents/{flaux_doc}", headers=public).status_code == 404


def test_a_private_key_is_refused_from_a_browser(
    client: TestClient, keys: dict[str, dict[str, str]], flaux_doc: str
) -> None:
    for browser in (
        {"Origin": "https://www.flaux.fr"},  # another site's page
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},  # Plume's own page
        {"Sec-Fetch-Site": "same-origin"},  # a GET from a page
    ):
        resp = client.post(
            "/v1/search", json={"query": QUESTION}, headers={**keys[FLAUX], **browser}
        )
        assert resp.status_code == 403, (browser, resp.text)
        error = resp.json()["error"]
        assert error["code"] == "origine_non_autorisee" and "serveur à serveur" in error["message"]
    chat = client.post(
        "/v1/chat",
        json={"question": QUESTION},
        headers={**keys[FLAUX], "Origin": "https://www.flaux.fr"},
    )
    assert chat.status_code == 403 and flaux_doc not in chat.text
    bad = client.post(
        "/v1/admin/cles",
        headers=ADMIN,
        json={"tenant": FLAUX, "kind": "privee", "origins": ["https://www.flaux.fr"]},
    )
    assert bad.status_code == 400 and "pas d'origine" in bad.json()["error"]["message"]


def test_an_unknown_key_is_refused(client: TestClient) -> None:
    for key in ("plm_" + "x" * 43, "n'importe quoi"):
        resp = client.post("/v1/search", json={"query": QUESTION}, headers={"X-Plume-Key": key})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "cle_inconnue"


def test_uploads_need_the_admin_token(client: TestClient) -> None:
    resp = client.post(
        "/v1/admin/documents", data={"tenant": FLAUX}, files=[("files", ("a.txt", b"texte"))]
    )
    assert resp.status_code == 401
    bad = client.post(
        "/v1/admin/documents",
        headers=ADMIN,
        data={"tenant": "../../etc"},
        files=[("files", ("a.txt", b"texte"))],
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "commune_invalide"


def test_bad_files_get_their_reason_and_the_batch_goes_on(
    client: TestClient, keys: dict[str, dict[str, str]]
) -> None:
    summary = upload(
        client,
        COUTHENANS,
        ("vide.pdf", b""),
        ("gros.pdf", b"%PDF-1.4\n" + b"0" * 1_200_000),
        ("chiffre.pdf", fake.encrypted_pdf()),
        ("bombe.docx", fake.zip_bomb_docx()),
        ("image.doc", b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
        ("budget.txt", b"Le budget 2025 finance la nouvelle cantine scolaire."),
    )
    results = {f["name"]: f for f in summary["files"]}
    assert results["budget.txt"]["status"] == "ajoute"
    reasons = {n: r["error"] for n, r in results.items() if r["status"] == "refuse"}
    assert set(reasons) == {"vide.pdf", "gros.pdf", "chiffre.pdf", "bombe.docx", "image.doc"}
    assert "Fichier vide" in reasons["vide.pdf"] and "trop volumineux" in reasons["gros.pdf"]
    assert "mot de passe" in reasons["chiffre.pdf"] and "bombe" in reasons["bombe.docx"]
    assert client.get("/healthz").status_code == 200
    hits = client.post(
        "/v1/search", json={"query": "cantine scolaire"}, headers=keys[COUTHENANS]
    ).json()["hits"]
    assert hits and hits[0]["title"] == "budget"


def test_delete_removes_it_from_search(client: TestClient, keys: dict[str, dict[str, str]]) -> None:
    summary = upload(client, FLAUX, ("a_supprimer.txt", "Arrêté sur les chiens errants.".encode()))
    doc_id = summary["files"][0]["doc_id"]
    query = {"query": "chiens errants"}
    assert client.post("/v1/search", json=query, headers=keys[FLAUX]).json()["hits"]
    resp = client.delete(f"/v1/admin/documents/{doc_id}", headers=ADMIN)
    assert resp.status_code == 200 and resp.json()["chunks_deleted"] >= 1
    hits = client.post("/v1/search", json=query, headers=keys[FLAUX]).json()["hits"]
    assert doc_id not in {h["doc_id"] for h in hits}
