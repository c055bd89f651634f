"""Several HTTP workers on one embedded store (PLUME_WORKERS): each searches its own copy,
its writes go to the serving process, and every worker sees a write after its refresh."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bench.run import free_port
from plume import REPO_ROOT
from plume.documents import point_id
from plume.errors import StoreUnavailable
from plume.shared_store import StoreHost, connect
from plume.store import SearchFilter, StoredPoint
from plume.store.edge import EdgeStore
from plume.store_replica import connect_replica
from plume.text import Bm25Encoder

ENCODER = Bm25Encoder()
TOKEN = "test-admin-token-0123456789abcdef"


def point(doc_id: str, text: str) -> StoredPoint:
    payload = {"doc_id": doc_id, "source": "service-public", "tenant": "commun", "text": text}
    return StoredPoint(point_id(doc_id, 0), payload, ENCODER.encode_document(text))


def found(store: object, text: str) -> list[str]:
    hits = store.query(  # type: ignore[attr-defined]
        sparse=ENCODER.encode_query(text), dense=None, where=SearchFilter(), limit=5
    )
    return [h.doc_id for h in hits]


def _edge(folder: Path) -> EdgeStore:
    return EdgeStore(folder / "store", dense_dim=4)


def test_a_worker_searches_its_copy_and_writes_through_the_owner(tmp_path: Path) -> None:
    owner = _edge(tmp_path / "data")
    owner.ensure_collection()
    owner.upsert([point("vdd/F1", "Recensement citoyen à seize ans")])
    host = StoreHost(owner)
    worker = connect_replica(host.folder, _edge, refresh_s=3600)  # refreshed by hand here
    try:
        assert found(worker, "recensement") == ["vdd/F1"]
        worker.upsert([point("vdd/F2", "Lavoir communal de la place aux Herbes")])
        assert found(owner, "lavoir") == ["vdd/F2"]  # the write reached the owner's store
        deadline = time.monotonic() + 30  # its own write: the worker takes a new copy soon
        while found(worker, "lavoir") != ["vdd/F2"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        # another worker process writes through the owner too (its own connection)
        code = (
            "import sys; from plume.shared_store import connect; "
            "from tests.test_workers import point; "
            "connect(sys.argv[1]).upsert([point('vdd/F3', 'Déneigement des routes')])"
        )
        subprocess.run([sys.executable, "-c", code, str(host.folder)], check=True, cwd=REPO_ROOT)
        assert found(worker, "déneigement") == []  # another's write: until the next refresh
        assert worker.stale()
        worker.refresh_now()
        assert found(worker, "déneigement") == ["vdd/F3"]
        assert not worker.stale()
        # the owner's own writes (the e5 filler's) are seen by their files, once a minute
        owner.upsert([point("vdd/F4", "Cimetière et concessions funéraires")])
        owner.flush()
        assert not worker.stale()
        worker.files_every_s = 0
        assert worker.stale()
        worker.refresh_now()
        assert found(worker, "cimetière") == ["vdd/F4"]
        assert worker.count() == owner.count() == 4
    finally:
        worker.close()
        host.close()
        owner.close()
    assert not (tmp_path / "data" / "store.replicas").exists()  # the copies are removed


def test_a_remote_call_streams_iterators_and_raises_the_stores_errors(tmp_path: Path) -> None:
    owner = _edge(tmp_path / "data")
    owner.ensure_collection()
    owner.upsert([point(f"vdd/F{i}", f"Fiche numéro {i}") for i in range(1200)])
    host = StoreHost(owner)
    remote = connect(host.folder)
    try:
        every = SearchFilter(every_tenant=True)
        assert len(list(remote.scan(every, ["doc_id"]))) == 1200  # 3 pages of 500
        first = next(iter(remote.scan(every, ["doc_id"])))  # a stream left midway…
        assert first[1]["doc_id"].startswith("vdd/F")
        assert remote.count() == 1200  # …does not answer the next call
        with pytest.raises(ValueError, match="indexed keyword field"):
            remote.count(SearchFilter(fields={"inconnu": ["x"]}))
    finally:
        remote.close()
        host.close()
        owner.close()
    with pytest.raises(StoreUnavailable):
        connect(host.folder)  # the owner gone: a French error, not a hang


@pytest.mark.timeout(600)  # three processes start, each building a runtime
def test_plume_serve_with_two_workers(tmp_path: Path) -> None:
    data, port = tmp_path / "data", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env.update(
        PLUME_DATA_DIR=str(data),
        PLUME_ADMIN_TOKEN=TOKEN,
        PLUME_LOCAL_DENSE="false",
        PLUME_SCOPE_CLASSIFIER="false",
        PLUME_WORKERS="2",
        PLUME_WORKERS_REFRESH_S="0.5",
    )
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [sys.executable, "-c", "from cli.main import app; app()", "serve", "--port", str(port)],
            env=env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url, admin = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 240
        while log.read_text().count("Application startup complete") < 2:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        workers = set(re.findall(r"Started server process \[(\d+)\]", log.read_text()))
        assert len(workers) == 2
        with httpx.Client(base_url=url, headers=admin, timeout=60) as client:
            text = b"Le conseil municipal decide la refection du lavoir communal de Flaux."
            resp = client.post(
                "/v1/admin/documents",
                data={"tenant": "commun", "uploaded_by": "admin@test"},
                files=[("files", ("lavoir.txt", text, "text/plain"))],
            )
            assert resp.status_code == 202, resp.text
            run_id = resp.json()["id"]
            for _ in range(600):  # the same connection: the worker that runs the upload
                run = client.get(f"/v1/admin/ingest/{run_id}").json()
                if run["status"] != "en_cours":
                    break
                time.sleep(0.1)
            assert run["status"] == "termine", run
        # every new connection may reach either worker: once both have refreshed their copy
        # (a few seconds, more on a loaded machine), 20 in a row all find the upload
        deadline, in_a_row = time.monotonic() + 180, 0
        while in_a_row < 20:
            assert time.monotonic() < deadline, "the upload is not seen by every worker"
            with httpx.Client(base_url=url, timeout=60) as fresh:
                r = fresh.post("/v1/search", json={"query": "réfection du lavoir communal"})
            assert r.status_code == 200, r.text
            hits = r.json()["hits"]
            if hits and "lavoir" in hits[0]["text"].lower():
                in_a_row += 1
            else:
                in_a_row = 0
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(60)
    assert not (data / "store.replicas").exists()
