"""API keys: creation, lookup, revocation; only hashes stored; the CLI and admin API."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from assistant.runtime import Runtime
from cli.main import app
from plume.errors import (
    ApiKeyNotFound,
    DamagedDataFile,
    InvalidApiKey,
    InvalidTenant,
    UnknownApiKey,
)
from plume.keys import KeyStore, check_origin, key_id
from plume.settings import Settings

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def test_create_lookup_list_delete(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    key = store.create("30110", ["https://www.flaux.fr/", "http://localhost:8080"], "widget")
    assert key.key.startswith("plm_") and key.id == key_id(key.key)
    assert key.origins == ("https://www.flaux.fr", "http://localhost:8080")

    found = store.lookup(key.key)
    assert (found.tenant, found.label, found.id) == ("30110", "widget", key.id)
    assert found.allows_origin("https://www.flaux.fr") and not found.allows_origin("https://x.fr")
    assert store.origins() == {"https://www.flaux.fr", "http://localhost:8080"}

    listed = store.list()
    assert [k.id for k in listed] == [key.id] and listed[0].key == key.id  # never the secret
    text = store.path.read_text()
    assert key.key not in text and "30110" in text
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600

    assert store.delete(key.id).tenant == "30110"
    with pytest.raises(UnknownApiKey):
        store.lookup(key.key)
    with pytest.raises(ApiKeyNotFound):
        store.delete(key.id)


def test_a_key_added_or_revoked_by_another_process_is_seen_at_once(tmp_path: Path) -> None:
    """The key file is kept as last read (every request looks a key up) and read again as
    soon as it changes, whoever changed it: another worker, `plume cle`, a restored copy."""
    server, admin = KeyStore(tmp_path), KeyStore(tmp_path)  # two processes' views
    first = admin.create("30110", [], "widget")
    assert server.lookup(first.key).tenant == "30110"
    second = admin.create("25176", [], "widget")
    assert server.lookup(second.key).tenant == "25176"
    admin.delete(first.id)
    with pytest.raises(UnknownApiKey):
        server.lookup(first.key)
    server.path.write_text("{garbled")
    with pytest.raises(DamagedDataFile):
        server.lookup(second.key)


def test_bad_input_is_refused_in_french(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    with pytest.raises(InvalidTenant, match="code INSEE"):
        store.create("Flaux !")
    with pytest.raises(InvalidApiKey, match="Origine invalide"):
        store.create("30110", ["javascript:alert(1)"])
    with pytest.raises(InvalidApiKey):
        check_origin("https://mairie.fr/chemin")
    with pytest.raises(UnknownApiKey):
        store.lookup("plm_" + "a" * 43)
    with pytest.raises(UnknownApiKey):
        store.lookup("")
    store.create("2A004")  # Corsica's INSEE codes
    store.create("agglo-nord")  # or a slug


def test_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    created = runner.invoke(
        app, ["cle", "ajouter", "70184", "--origine", "https://couthenans.fr", "--json"]
    )
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)
    assert key["tenant"] == "70184" and key["key"].startswith("plm_")

    listed = runner.invoke(app, ["cle", "liste", "--json"])
    assert [k["id"] for k in json.loads(listed.stdout)] == [key["id"]]
    assert key["key"] not in listed.stdout

    bad = runner.invoke(app, ["cle", "ajouter", "pas une commune"])
    assert bad.exit_code == 1 and "Commune invalide" in bad.output
    assert runner.invoke(app, ["cle", "supprimer", key["id"]]).exit_code == 0
    again = runner.invoke(app, ["cle", "supprimer", key["id"]])
    assert again.exit_code == 1 and "Clé inconnue" in again.output


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", admin_token=TOKEN)
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime)) as c:
        yield c
    runtime.close()


def test_the_admin_api(client: TestClient) -> None:
    assert client.get("/v1/admin/cles").status_code == 401
    created = client.post(
        "/v1/admin/cles",
        headers=ADMIN,
        json={"tenant": "34172", "origins": ["https://montpellier.fr"], "label": "site"},
    )
    assert created.status_code == 201
    body = created.json()
    listed = client.get("/v1/admin/cles", headers=ADMIN).json()
    assert listed == [{k: v for k, v in body.items() if k != "key"}]

    bad = client.post("/v1/admin/cles", headers=ADMIN, json={"tenant": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "commune_invalide"

    assert client.get("/v1/sources", headers={"X-Plume-Key": body["key"]}).status_code == 200
    assert client.delete(f"/v1/admin/cles/{body['id']}", headers=ADMIN).status_code == 200
    revoked = client.get("/v1/sources", headers={"X-Plume-Key": body["key"]})
    assert revoked.status_code == 401 and "révoquée" in revoked.json()["error"]["message"]
    assert client.delete(f"/v1/admin/cles/{body['id']}", headers=ADMIN).status_code == 404


def test_kinds_public_by_default_private_for_servers(tmp_path: Path) -> None:
    store = KeyStore(tmp_path)
    public = store.create("30110", ["https://www.flaux.fr"])
    private = store.create("30110", label="logiciel métier", kind="privee")
    assert (public.kind, private.kind) == ("publique", "privee")
    assert not public.private and private.private
    assert private.allows_origin(None) and not private.allows_origin("https://www.flaux.fr")
    assert store.origins() == {"https://www.flaux.fr"}  # CORS never answers for a private key
    with pytest.raises(InvalidApiKey, match="pas d'origine"):
        store.create("30110", ["https://www.flaux.fr"], kind="privee")
    with pytest.raises(InvalidApiKey, match="Type de clé"):
        store.create("30110", kind="secrete")

    # a key written before kinds existed is public: it sees the shared corpus only
    raw = json.loads(store.path.read_text())
    for entry in raw["cles"].values():
        entry.pop("kind")
    store.path.write_text(json.dumps(raw))
    assert store.lookup(private.key).kind == "publique"


def test_the_cli_private_keys_and_agents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    created = runner.invoke(app, ["cle", "ajouter", "30110", "--privee", "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["kind"] == "privee"
    refused = runner.invoke(
        app, ["cle", "ajouter", "30110", "--privee", "--origine", "https://a.fr"]
    )
    assert refused.exit_code == 1 and "clé privée" in refused.output

    added = runner.invoke(app, ["agent", "ajouter", "Marie.Dupont@Flaux.fr", "30110", "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["email"] == "marie.dupont@flaux.fr"
    listed = runner.invoke(app, ["agent", "liste", "--json"])
    assert [a["tenant"] for a in json.loads(listed.stdout)] == ["30110"]
    bad = runner.invoke(app, ["agent", "ajouter", "pas-une-adresse", "30110"])
    assert bad.exit_code == 1 and "Adresse électronique invalide" in bad.output
    assert runner.invoke(app, ["agent", "supprimer", "marie.dupont@flaux.fr"]).exit_code == 0
    again = runner.invoke(app, ["agent", "supprimer", "marie.dupont@flaux.fr"])
    assert again.exit_code == 1 and "Agent inconnu" in again.output


def test_the_agents_admin_api(client: TestClient) -> None:
    assert client.get("/v1/admin/agents").status_code == 401
    body = {"email": "paul@couthenans.fr", "tenant": "70184", "label": "secrétaire"}
    created = client.post("/v1/admin/agents", headers=ADMIN, json=body)
    assert created.status_code == 201 and created.json()["tenant"] == "70184"
    assert [a["email"] for a in client.get("/v1/admin/agents", headers=ADMIN).json()] == [
        "paul@couthenans.fr"
    ]
    for bad in ({"email": "x", "tenant": "70184"}, {"email": "a@b.fr", "tenant": "../x"}):
        resp = client.post("/v1/admin/agents", headers=ADMIN, json=bad)
        assert resp.status_code == 400, resp.text
    assert client.delete("/v1/admin/agents/paul@couthenans.fr", headers=ADMIN).status_code == 200
    gone = client.delete("/v1/admin/agents/paul@couthenans.fr", headers=ADMIN)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "agent_introuvable"
