"""Shared fixtures. The suite runs offline: pytest-socket allows loopback only.

Real data comes from the service-public package that `make test` fetches first
(`plume corpus fetch`), and from `../shared/data` where present; tests that need
either skip with the reason when it is absent.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from llama_index.core.schema import TextNode

from ingestion.chunking import index_text
from plume import REPO_ROOT, packages
from plume.settings import Settings
from plume.shared_store import StoreHost, connect
from plume.store import Store, StoredPoint
from plume.store.edge import EdgeStore
from plume.store.server import ServerStore
from plume.text import Bm25Encoder

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"

# Real fiches the tests rely on, by theme: état civil, elections, cemeteries, urbanism,
# associations, staff, plus a form and a dossier page (not selected by default).
MINI_FICHES = {
    "particuliers": [
        "F1427",
        "F1432",
        "F1444",
        "F10449",
        "F1429",
        "F1367",
        "F1963",
        "F34809",
        "F31001",
        "F12691",
        "F1986",
        "F17578",
        "F1372",
        "F34778",
        "F1341",
        "F1751",
        "F19450",
        "F2124",
        "F1939",
        "F1633",
        "F1839",
        "F870",
        "F1618",
        "F1345",
        "F1",
    ],
    "associations": ["F1119", "F1123", "F1131"],
    "professionnels": ["F34671", "F22379", "F1633"],
}


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("PLUME_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DO_NOT_TRACK", "true")


def package_root() -> Path:
    settings = Settings()
    pkg = packages.pinned(settings.corpus_dir, "service-public")
    try:
        return packages.package_dir(settings.packages_dir, pkg)
    except Exception:
        pytest.skip("service-public package not fetched: run `plume corpus fetch` (make test does)")


@pytest.fixture(scope="session")
def vdd_root() -> Path:
    return package_root()


def load_fiche_json(root: Path, audience: str, fiche_id: str) -> dict:
    return json.loads((root / "data" / audience / f"{fiche_id}.json").read_text())


def make_mini_corpus(vdd_root: Path, root: Path) -> Path:
    """A folder shaped like the npm package holding a few dozen real fiches."""
    for audience, ids in MINI_FICHES.items():
        (root / "data" / audience).mkdir(parents=True)
        for fiche_id in ids:
            src = vdd_root / "data" / audience / f"{fiche_id}.json"
            if src.exists():
                shutil.copyfile(src, root / "data" / audience / src.name)
    return root


@pytest.fixture
def mini_corpus(vdd_root: Path, tmp_path: Path) -> Path:
    return make_mini_corpus(vdd_root, tmp_path / "mini")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", admin_token="test-admin-token-0123456789abcdef")


@pytest.fixture(params=["edge", "server", "shared"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Both backends behind the one Store interface (the server through local mode), and
    the embedded one as `plume serve`'s workers see it (plume.shared_store)."""
    s: Store
    host = owner = None
    if request.param == "edge":
        s = EdgeStore(tmp_path / "edge", dense_dim=4)
    elif request.param == "shared":
        owner = EdgeStore(tmp_path / "edge", dense_dim=4)
        host = StoreHost(owner)
        s = connect(host.folder)
    else:
        s = ServerStore(":memory:", collection="contract", dense_dim=4)
    s.ensure_collection()
    yield s
    s.close()
    if host is not None and owner is not None:
        host.close()
        owner.close()


def indexed_store(backend: str, folder: Path, nodes: Sequence[TextNode]) -> Store:
    """A store on `backend` ("edge", or "server" through local mode) holding `nodes`,
    indexed as ingestion indexes them (BM25 of their index text)."""
    s: Store
    if backend == "edge":
        s = EdgeStore(folder / "edge", dense_dim=4)
    else:
        s = ServerStore(":memory:", collection=folder.name, dense_dim=4)
    s.ensure_collection()
    encoder = Bm25Encoder()
    s.upsert(
        [
            StoredPoint(
                n.node_id, {**n.metadata, "text": n.text}, encoder.encode_document(index_text(n))
            )
            for n in nodes
        ]
    )
    return s


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty records database on both backends (PostgreSQL skipped if unreachable)."""
    from tests.databases import fresh_database

    with fresh_database(request.param, tmp_path) as url:
        yield url
