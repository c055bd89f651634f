"""Reversibility: `plume export`, then `plume import` into an empty instance on the other
database, gives the same answers, records, profiles, keys and indicators."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from assistant.runtime import Runtime
from assistant.veille.profiles import ProfileStore, VeilleProfile
from cli.main import app as cli
from ingestion.service import ingest_source
from plume.keys import KeyStore
from plume.settings import Settings
from tests.conftest import make_mini_corpus, package_root
from tests.databases import KINDS, fresh_database

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
QUESTIONS = [
    "Qui peut demander la copie intégrale d'un acte de naissance ?",
    "Comment s'inscrire sur les listes électorales ?",
    "Quelle est la durée d'une concession funéraire ?",
    "Quelle est la vitesse de croisière d'un albatros hurleur ?",
]
SAME = ("answer", "mode", "confidence", "flags", "question")


def _cited(answer: dict[str, Any]) -> list[tuple[str, ...]]:
    """The citations, whatever the order of passages of equal score: a fiche repeats the
    same paragraph in two sections (« Né(e) en France », « Né(e) à l'étranger »), and the
    store breaks such ties by its internal insertion order, which a restore changes."""
    return sorted((c["doc_id"], c["title"], c["url"], c["excerpt"]) for c in answer["citations"])


@dataclass
class Instance:
    settings: Settings

    def env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PLUME_DATA_DIR", str(self.settings.data_dir))
        monkeypatch.setenv("PLUME_DATABASE_URL", self.settings.records_url)

    def serve(self) -> Iterator[TestClient]:
        runtime = Runtime.build(self.settings)
        try:
            with TestClient(create_app(self.settings, runtime=runtime)) as client:
                yield client
        finally:
            runtime.close()


def _instance(root: Path, url: str) -> Instance:
    return Instance(Settings(data_dir=root, database_url=url, admin_token=TOKEN))


KEY = "X-Plume-Key"


def _ask(client: TestClient, key: str) -> list[dict[str, Any]]:
    return [
        client.post("/v1/chat", json={"question": q}, headers={"X-Plume-Key": key}).json()
        for q in QUESTIONS
    ]


def _indicators(client: TestClient) -> dict[str, Any]:
    today = date.today().isoformat()
    r = client.get(f"/v1/admin/indicators?from={today}&to={today}", headers=ADMIN)
    assert r.status_code == 200
    return dict(r.json())


@dataclass
class RoundTrip:
    source: Instance
    target: Instance
    folder: Path
    key: str
    before: list[dict[str, Any]]
    indicators: dict[str, Any]


@pytest.fixture(scope="module", params=KINDS)
def trip(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RoundTrip]:
    root = tmp_path_factory.mktemp("export")
    other = next(k for k in KINDS if k != request.param)
    with (
        fresh_database(request.param, root) as source_url,
        fresh_database(other, root) as target_url,
    ):
        source = _instance(root / "a", source_url)
        target = _instance(root / "b", target_url)
        runtime = Runtime.build(source.settings)
        corpus = make_mini_corpus(package_root(), root / "corpus")
        ingest_source(source.settings, runtime.store, None, "service-public", path=corpus)
        runtime.close()
        key = KeyStore(source.settings.data_dir).create("78003", label="secrétariat").key
        ProfileStore(source.settings.data_dir).put(VeilleProfile("etat-civil", keywords=("acte",)))
        clients = source.serve()
        client = next(clients)
        before = _ask(client, key)
        ids = {k: before[0][k] for k in ("conversation_id", "message_id")}
        rated = client.post("/v1/feedback", json={**ids, "rating": "up"}, headers={KEY: key})
        assert rated.status_code == 201
        put = client.put(
            "/v1/admin/deploiements/78003", json={"licences": 3, "users": 2}, headers=ADMIN
        )
        assert put.status_code == 200
        indicators = _indicators(client)
        clients.close()  # the server stops: the export opens the store
        yield RoundTrip(source, target, root / "export", key, before, indicators)


def test_export_then_import_gives_the_same_answers(
    trip: RoundTrip, monkeypatch: pytest.MonkeyPatch
) -> None:
    trip.source.env(monkeypatch)
    result = CliRunner().invoke(cli, ["export", str(trip.folder)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((trip.folder / "manifest.json").read_text())
    assert manifest["format"] == "plume-export/1" and manifest["database_revision"] == "0002"
    files = manifest["files"]
    assert files["records/messages.jsonl"]["rows"] == len(QUESTIONS)
    assert files["corpus/points.jsonl"]["rows"] > 100
    assert {
        "state/cles.json",
        "state/veille/profils.json",
        "state/sync.json",
        "indicators/indicators.csv",
        "corpus/sources.csv",
    } <= set(files)
    # messages and every commune's documents: the owner's only, however it is copied
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [trip.folder, *trip.folder.rglob("*")]}
    assert {m for p, m in modes.items() if p.is_dir()} == {0o700}
    assert {m for p, m in modes.items() if p.is_file()} == {0o600}
    point = json.loads((trip.folder / "corpus/points.jsonl").open().readline())
    assert point["payload"]["source_version"] and point["sparse"]["indices"]

    trip.target.env(monkeypatch)
    result = CliRunner().invoke(cli, ["import", str(trip.folder)])
    assert result.exit_code == 0, result.output
    assert f"{files['corpus/points.jsonl']['rows']} passages" in result.output

    clients = trip.target.serve()
    client = next(clients)
    after = _ask(client, trip.key)  # the key still works: its hash came along
    for old, new in zip(trip.before, after, strict=True):
        assert {k: new[k] for k in SAME} == {k: old[k] for k in SAME}
        assert _cited(new) == _cited(old)
    assert {a["mode"] for a in after} >= {"extractive", "refusal"}
    ids = {k: trip.before[1][k] for k in ("conversation_id", "message_id")}
    rated = client.post("/v1/feedback", json={**ids, "rating": "down"}, headers={KEY: trip.key})
    assert rated.status_code == 201
    assert ProfileStore(trip.target.settings.data_dir).get("etat-civil").keywords == ("acte",)
    clients.close()


def test_indicators_survive_the_trip(trip: RoundTrip) -> None:
    exported = json.loads((trip.folder / "indicators/indicators.json").read_text())
    assert exported["total"]["questions"] == trip.indicators["total"]["questions"] == 4
    assert exported["total"]["licences"] == 3


def test_import_refuses_a_non_empty_instance_or_a_tampered_export(
    trip: RoundTrip, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    trip.target.env(monkeypatch)
    result = CliRunner().invoke(cli, ["import", str(trip.folder)])
    assert result.exit_code == 1
    assert "instance vide" in result.output and "index" in result.output
    assert "PLUME_DATA_DIR vers un dossier vide" in " ".join(result.output.split())

    tampered = tmp_path / "tampered"
    shutil.copytree(trip.folder, tampered)
    with (tampered / "records/feedback.jsonl").open("a") as f:
        f.write("{}\n")
    with fresh_database("sqlite", tmp_path) as url:
        _instance(tmp_path / "c", url).env(monkeypatch)
        result = CliRunner().invoke(cli, ["import", str(tampered)])
    assert result.exit_code == 1 and "Export altéré ou incomplet" in result.output
    result = CliRunner().invoke(cli, ["import", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "pas un export de Plume" in result.output
    result = CliRunner().invoke(cli, ["export", str(trip.folder)])
    assert result.exit_code == 1 and "n'est pas vide" in result.output


def test_both_store_backends_give_back_their_points(store: Any) -> None:
    from plume.store import SearchFilter, StoredPoint
    from plume.text import SparseVec

    written = [
        StoredPoint(
            "00000000-0000-0000-0000-00000000000" + str(n),
            {"doc_id": f"d{n}", "tenant": "commun" if n else "78003", "nested": {"a": [n]}},
            SparseVec([n, 10 + n], [0.5, 1.25]),
            [0.6, 0.8, 0.0, 0.0] if n else None,
            [1.0] + [0.0] * 383 if n == 2 else None,  # the e5 vector, once computed
        )
        for n in range(3)
    ]
    store.upsert(written)
    read = sorted(store.points(), key=lambda p: p.id)
    assert [(p.id, p.payload, p.sparse) for p in read] == [
        (p.id, p.payload, p.sparse) for p in written
    ]
    assert [p.dense and pytest.approx(p.dense) for p in read] == [p.dense for p in written]
    assert [p.local and pytest.approx(p.local) for p in read] == [p.local for p in written]
    assert [p.id for p in store.points(SearchFilter(doc_ids=["d1"]))] == [written[1].id]
