"""A damaged or emptied index is never « ok »: real stores in a temporary folder, their files
garbled or deleted as a broken disk or a clumsy operator would, on both backends (the server
one through qdrant-client's local mode, in a folder)."""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from assistant.corpus import CorpusService, set_aside_if_damaged
from assistant.runtime import Runtime
from cli.main import app
from ingestion import sync_log
from ingestion.service import ingest_source
from plume.errors import StoreCorrupted
from plume.settings import Settings
from plume.store import SearchFilter, open_store
from tests.conftest import package_root

QUESTION = {"query": "obtenir une copie de mon acte de naissance", "limit": 3}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three real fiches (a birth certificate's among them): enough for an index."""
    root, vdd = tmp_path_factory.mktemp("damage") / "mini", package_root()
    (root / "data" / "particuliers").mkdir(parents=True)
    for fiche in ("F1427", "F1432", "F1444"):
        shutil.copyfile(
            vdd / "data" / "particuliers" / f"{fiche}.json",
            root / "data" / "particuliers" / f"{fiche}.json",
        )
    return root


def _settings(backend: str, data_dir: Path) -> Settings:
    if backend == "edge":
        return Settings(data_dir=data_dir)
    return Settings(data_dir=data_dir, store_backend="server", qdrant_url=str(data_dir / "qdrant"))


def _indexed(backend: str, corpus: Path, data_dir: Path) -> tuple[Settings, int]:
    """A real index of the mini corpus, closed: its settings and its passages."""
    settings = _settings(backend, data_dir)
    store = open_store(settings)
    store.ensure_collection()
    ingest_source(settings, store, None, "service-public", path=corpus)
    chunks = store.count()
    store.close()
    return settings, chunks


def _served(settings: Settings) -> Iterator[TestClient]:
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime)) as client:
        yield client
    runtime.close()


def _garble(files: list[Path]) -> None:
    """Overwrite a third of the bytes of the first 256 KB of each file (a broken disk)."""
    assert files, "nothing to garble"
    rng = random.Random(7)
    for path in files:
        data = bytearray(path.read_bytes())
        for i in range(0, min(len(data), 256 * 1024), 3):
            data[i] = rng.randrange(256)
        path.write_bytes(bytes(data))


def _rebuild(settings: Settings, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PLUME_DATA_DIR", str(settings.data_dir))
    if settings.store_backend.value == "server":
        monkeypatch.setenv("PLUME_STORE_BACKEND", "server")
        monkeypatch.setenv("PLUME_QDRANT_URL", str(settings.qdrant_url))
    done = CliRunner().invoke(app, ["ingest", "service-public", "--path", str(corpus), "--rebuild"])
    assert done.exit_code == 0, done.output
    return done.output


def test_garbled_payload_pages_answer_503_with_the_repair_then_rebuild_repairs(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, chunks = _indexed("edge", corpus, tmp_path / "data")
    _garble(sorted(settings.store_dir.glob("segments/*/payload_storage/page_*.dat")))

    for client in _served(settings):
        health = client.get("/healthz")
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["status"] == body["error"]["code"] == "index_endommage"
        assert body["chunks"] == chunks and body["sources"] == {"service-public": chunks}
        message = body["error"]["message"]
        assert message.startswith("L'index de recherche est endommagé")
        assert "`plume ingest service-public --path …/mini --rebuild`" in message
        for resp in (
            client.post("/v1/search", json=QUESTION),
            client.post("/v1/chat", json={"question": QUESTION["query"]}),
        ):
            assert resp.status_code == 503, resp.text  # not a 500
            assert resp.json()["error"]["code"] == "index_endommage"

    said = _rebuild(settings, corpus, monkeypatch)
    assert "Index endommagé mis de côté" in said
    assert list(settings.data_dir.glob("store.endommage-*"))  # kept for inspection
    for client in _served(settings):
        health = client.get("/healthz")
        assert health.status_code == 200 and health.json()["chunks"] == chunks
        assert client.post("/v1/search", json=QUESTION).json()["hits"]


def test_a_write_to_damaged_files_keeps_a_domain_error_at_every_opening(
    corpus: Path, tmp_path: Path
) -> None:
    """qdrant-edge replays the failed write at each opening: the index no longer opens,
    and says so in French, with the way out."""
    settings, _ = _indexed("edge", corpus, tmp_path / "data")
    _garble(sorted(settings.store_dir.glob("segments/*/payload_storage/page_*.dat")))
    store = open_store(settings)
    with pytest.raises(StoreCorrupted, match="--rebuild"):
        store.delete(SearchFilter(sources=["service-public"], every_tenant=True))
    with pytest.raises(StoreCorrupted):
        list(store.scan(SearchFilter(), ["doc_id"]))
    store.close()
    with pytest.raises(StoreCorrupted, match="plume ingest <source> --rebuild"):
        open_store(settings)
    assert set_aside_if_damaged(settings) is not None
    assert open_store(settings).count() == 0  # a new, empty index


def test_a_garbled_local_qdrant_file_is_a_domain_error_and_rebuild_repairs(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, chunks = _indexed("server", corpus, tmp_path / "data")
    folder = Path(str(settings.qdrant_url))
    _garble(sorted(folder.glob("collection/*/storage.sqlite")))
    with pytest.raises(StoreCorrupted, match="endommagé"):  # not sqlite3.DatabaseError
        open_store(settings)

    said = _rebuild(settings, corpus, monkeypatch)
    assert "Index endommagé mis de côté" in said
    for client in _served(settings):
        health = client.get("/healthz")
        assert health.status_code == 200, health.text
        assert health.json()["sources"] == {"service-public": chunks}


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_an_emptied_index_is_an_inconsistency_not_zero_hits(
    backend: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, chunks = _indexed(backend, corpus, tmp_path / "data")
    if backend == "edge":
        # a small shard's write-ahead log still holds every write, and would replay them:
        # on a large one it was truncated, and deleting `segments/` empties the index
        shutil.rmtree(settings.store_dir / "segments")
        shutil.rmtree(settings.store_dir / "wal")
    else:
        shutil.rmtree(Path(str(settings.qdrant_url)) / "collection")

    for client in _served(settings):
        health = client.get("/healthz")
        assert health.status_code == 503, health.text
        error = health.json()["error"]
        assert error["code"] == "index_incoherent"
        assert error["message"].startswith(
            f"L'index est vide alors que {chunks} passages ont été indexés : reconstruisez-le"
        )
        assert "--rebuild" in error["message"]
        search = client.post("/v1/search", json=QUESTION)
        assert search.status_code == 503 and search.json()["error"] == error
    if backend == "server":
        return  # its rebuild is the garbled file's test

    said = _rebuild(settings, corpus, monkeypatch)  # a sound index, only emptied
    assert "mis de côté" not in said and not list(settings.data_dir.glob("store.endommage-*"))
    assert sync_log.read(settings.data_dir)["service-public"]["added"] == chunks
    for client in _served(settings):
        health = client.get("/healthz").json()
        assert health["status"] == "ok"
        assert health["chunks"] == chunks and health["sources"] == {"service-public": chunks}


def test_rebuild_drops_the_source_and_writes_it_anew(corpus: Path, tmp_path: Path) -> None:
    settings, chunks = _indexed("edge", corpus, tmp_path / "data")
    store = open_store(settings)
    again = ingest_source(settings, store, None, "service-public", path=corpus, rebuild=True)
    assert (again.added, again.skipped, store.count()) == (chunks, 0, chunks)
    store.close()


class _Stuck:
    """A store whose reads never come back (a hung disk, a server that does not answer)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def count(self, where: SearchFilter | None = None) -> int:
        self.release.wait(10)
        return 0


def test_health_answers_in_time_when_the_index_hangs(tmp_path: Path) -> None:
    stuck = _Stuck()
    corpus = CorpusService(Settings(data_dir=tmp_path), stuck, None, None)  # type: ignore[arg-type]
    health = corpus.health(timeout=0.2)
    stuck.release.set()
    assert health.problem is not None and health.problem.code == "stockage_indisponible"
    assert health.problem.message == "L'index ne répond pas en 0,2 s."
