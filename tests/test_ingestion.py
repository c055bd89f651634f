"""Incremental, idempotent ingestion — including a real ingestion process killed midway."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ingestion import sync_log
from ingestion.service import ingest_source
from plume.settings import Settings
from plume.store import SearchFilter, Store
from plume.store.edge import EdgeStore
from plume.text import Bm25Encoder
from tests.conftest import MINI_FICHES

PLUME = str(Path(sys.executable).parent / "plume")
# « Indexation service-public : 40 % (100/250 documents, 2048 passages écrits) »
PROGRESS_LINE = re.compile(r"Indexation service-public : \d{1,2} % \(\d+/\d+ documents, ")


def open_edge(settings: Settings) -> EdgeStore:
    store = EdgeStore(settings.store_dir, dense_dim=settings.embedding_dim)
    store.ensure_collection()
    return store


def snapshot(store: Store) -> dict[str, tuple[str, str]]:
    """point id → (doc id, content hash): the whole observable state of a source."""
    return {
        pid: (p["doc_id"], p["content_hash"])
        for pid, p in store.scan(
            SearchFilter(sources=["service-public"]), ["doc_id", "content_hash"]
        )
    }


def edit_fiche(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


def test_first_run_then_rerun_changes_nothing(mini_corpus: Path, settings: Settings) -> None:
    store = open_edge(settings)
    first = ingest_source(settings, store, None, "service-public", path=mini_corpus)
    assert first.added > 100 and first.updated == first.deleted == first.skipped == 0
    assert first.errors == []
    before = snapshot(store)
    second = ingest_source(settings, store, None, "service-public", path=mini_corpus)
    assert (second.added, second.updated, second.deleted) == (0, 0, 0)
    assert second.skipped == first.added
    assert snapshot(store) == before
    assert sync_log.read(settings.data_dir)["service-public"]["skipped"] == first.added
    store.close()


def test_changes_upstream_are_mirrored(mini_corpus: Path, settings: Settings) -> None:
    store = open_edge(settings)
    ingest_source(settings, store, None, "service-public", path=mini_corpus)
    f1427 = mini_corpus / "data" / "particuliers" / "F1427.json"
    edit_fiche(f1427, "La démarche est toujours gratuite.", "La démarche coûte désormais 3 euros.")
    (mini_corpus / "data" / "particuliers" / "F31001.json").unlink()
    summary = ingest_source(settings, store, None, "service-public", path=mini_corpus)
    assert summary.updated >= 1 and summary.added == 0
    assert summary.deleted >= 1  # every chunk of the removed fiche
    enc = Bm25Encoder()
    hits = store.query(
        sparse=enc.encode_query("coûte désormais 3 euros"),
        dense=None,
        where=SearchFilter(),
        limit=1,
    )
    assert hits[0].doc_id == "vdd/F1427"
    assert store.count(SearchFilter(doc_ids=["vdd/F31001"])) == 0
    store.close()


def test_a_shorter_fiche_loses_its_extra_chunks(mini_corpus: Path, settings: Settings) -> None:
    store = open_edge(settings)
    ingest_source(settings, store, None, "service-public", path=mini_corpus)
    n_before = store.count(SearchFilter(doc_ids=["vdd/F1427"]))
    path = mini_corpus / "data" / "particuliers" / "F1427.json"
    tree = json.loads(path.read_text())
    pub = tree["children"][0]
    pub["children"] = [c for c in pub["children"] if c.get("name") != "ListeSituations"]
    path.write_text(json.dumps(tree))
    summary = ingest_source(settings, store, None, "service-public", path=mini_corpus)
    assert 0 < store.count(SearchFilter(doc_ids=["vdd/F1427"])) < n_before
    assert summary.deleted == n_before - store.count(SearchFilter(doc_ids=["vdd/F1427"]))
    store.close()


def test_one_bad_fiche_never_stops_the_others(mini_corpus: Path, settings: Settings) -> None:
    store = open_edge(settings)
    ingest_source(settings, store, None, "service-public", path=mini_corpus)
    n_f1427 = store.count(SearchFilter(doc_ids=["vdd/F1427"]))
    (mini_corpus / "data" / "particuliers" / "F1427.json").write_text('{"truncated": ')
    (mini_corpus / "data" / "particuliers" / "F99999.json").write_text("[]")
    summary = ingest_source(settings, store, None, "service-public", path=mini_corpus)
    assert len(summary.errors) == 2
    assert any("F1427.json" in e and "JSON illisible" in e for e in summary.errors)
    # the broken fiche keeps its previous version rather than vanishing
    assert store.count(SearchFilter(doc_ids=["vdd/F1427"])) == n_f1427
    assert store.count(SearchFilter(doc_ids=["vdd/F1367"])) > 0
    store.close()


def _copy_corpus(src: Path, dest: Path, ids: list[tuple[str, str]]) -> None:
    for audience, fiche_id in ids:
        target = dest / "data" / audience
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / "data" / audience / f"{fiche_id}.json", target / f"{fiche_id}.json")


def _selected_ids(vdd_root: Path, n: int) -> list[tuple[str, str]]:
    """n fiches of the default selection's kind, reproducibly."""
    chosen = [("particuliers", f) for f in MINI_FICHES["particuliers"]]
    for path in sorted((vdd_root / "data" / "particuliers").glob("F*.json")):
        if len(chosen) >= n:
            break
        text = path.read_text()
        if '"Fiche d\'information"' in text and ("N19810" in text or "N19805" in text):
            chosen.append(("particuliers", path.stem))
    return list(dict.fromkeys(chosen))


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env["PLUME_DATA_DIR"] = str(data_dir)
    return env


@pytest.mark.slow
def test_killed_ingestion_leaves_index_searchable_and_rerun_converges(
    vdd_root: Path, tmp_path: Path
) -> None:
    ids = _selected_ids(vdd_root, 300)
    old, new = tmp_path / "old", tmp_path / "new"
    _copy_corpus(vdd_root, old, ids[:250])
    _copy_corpus(vdd_root, new, ids[50:])  # 50 fiches gone, 50 new ones
    for path in (new / "data" / "particuliers").glob("*.json"):  # every kept fiche changed
        edit_fiche(path, "service-public.fr", "service-public.gouv.fr")

    # Reference: a clean ingestion of the new corpus.
    ref_settings = Settings(data_dir=tmp_path / "ref")
    clean = subprocess.run(
        [PLUME, "ingest", "service-public", "--path", str(new)],
        env=_env(ref_settings.data_dir),
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # In a log (stderr not a terminal), a line per tenth of the source, not one per batch.
    said = clean.stderr.splitlines()
    assert len(said) <= 10 and said[-1].startswith("Indexation service-public : terminée ("), said
    assert sum(PROGRESS_LINE.match(line) is not None for line in said) >= 3, said
    ref = open_edge(ref_settings)
    expected = snapshot(ref)
    ref.close()

    # The old corpus is indexed; then a run of the new one is killed midway.
    settings = Settings(data_dir=tmp_path / "live")
    subprocess.run(
        [PLUME, "ingest", "service-public", "--path", str(old)],
        env=_env(settings.data_dir),
        check=True,
        capture_output=True,
        timeout=600,
    )
    old_store = open_edge(settings)
    before = snapshot(old_store)
    old_docs = {doc for doc, _ in before.values()}
    old_store.close()

    # Killed right after its first progress line, which the CLI writes when its stderr is
    # not a terminal, after a batch was written and before the last document was read:
    # midway by construction, whatever the machine's speed.
    proc = subprocess.Popen(
        [PLUME, "ingest", "service-public", "--path", str(new)],
        env=_env(settings.data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    midway_line = next((line for line in proc.stderr if PROGRESS_LINE.match(line)), None)
    assert midway_line, "the run ended before its first progress line: grow the corpus"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    store = open_edge(settings)
    midway = snapshot(store)
    assert midway != expected, "the kill came after the run finished"
    progressed = [
        pid for pid, h in expected.items() if before.get(pid) != h and midway.get(pid) == h
    ]
    assert progressed, "the kill came before the run wrote anything"
    docs = Counter(doc for doc, _ in midway.values())
    assert old_docs <= set(docs), "a document of the previous index disappeared"
    enc = Bm25Encoder()
    assert store.query(
        sparse=enc.encode_query("acte de naissance"), dense=None, where=SearchFilter(), limit=3
    )
    store.close()

    rerun = subprocess.run(
        [PLUME, "ingest", "service-public", "--path", str(new)],
        env=_env(settings.data_dir),
        capture_output=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr
    store = open_edge(settings)
    final = snapshot(store)
    assert final == expected  # same points, same content, nothing left over
    assert store.count() == len(expected)  # no duplicate
    store.close()


def test_vectors_are_recomputed_when_the_way_to_compute_them_changes(
    mini_corpus: Path, settings: Settings
) -> None:
    from tests.fakes.mistral import HashingEmbedder

    settings = Settings(data_dir=settings.data_dir, embedding_dim=32)
    store = open_edge(settings)
    first = ingest_source(settings, store, None, "service-public", path=mini_corpus)
    dense = ingest_source(
        settings, store, HashingEmbedder(dim=32), "service-public", path=mini_corpus
    )
    assert dense.updated == first.added and dense.skipped == 0  # dense vectors added everywhere
    again = ingest_source(
        settings, store, HashingEmbedder(dim=32), "service-public", path=mini_corpus
    )
    assert again.skipped == first.added and again.updated == 0
    hits = store.query(
        sparse=None,
        dense=HashingEmbedder(dim=32).embed_query("acte de naissance"),
        where=SearchFilter(),
        limit=3,
    )
    assert hits  # every point now has a dense vector
    store.close()


def test_a_killed_first_ingestion_is_resumed_by_if_empty(
    vdd_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make run` runs `plume ingest … --if-empty`: a first run killed midway left a partial
    index, which the next one completes (not « déjà indexée » forever); then it is a no-op."""
    from typer.testing import CliRunner

    from cli.main import app

    corpus = tmp_path / "corpus"
    _copy_corpus(vdd_root, corpus, _selected_ids(vdd_root, 40))
    ref_settings = Settings(data_dir=tmp_path / "ref")  # a clean run, in process
    ref = open_edge(ref_settings)
    ingest_source(ref_settings, ref, None, "service-public", path=corpus)
    expected = snapshot(ref)
    ref.close()

    settings = Settings(data_dir=tmp_path / "live")
    command = [PLUME, "ingest", "service-public", "--path", str(corpus), "--if-empty"]
    proc = subprocess.Popen(
        command,
        env=_env(settings.data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    midway_line = next((line for line in proc.stderr if PROGRESS_LINE.match(line)), None)
    assert midway_line, "the run ended before its first progress line: grow the corpus"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = open_edge(settings)
    partial = store.count()
    store.close()
    assert 0 < partial < len(expected), "the kill did not leave a partial index"

    monkeypatch.setenv("PLUME_DATA_DIR", str(settings.data_dir))
    resumed = CliRunner().invoke(app, command[1:])  # the same command, in process
    assert resumed.exit_code == 0, resumed.output
    assert "ne s'est pas terminée, reprise" in resumed.output, resumed.output
    store = open_edge(settings)
    assert snapshot(store) == expected and store.count() == len(expected)
    store.close()

    again = CliRunner().invoke(app, command[1:])
    assert again.exit_code == 0, again.output
    assert again.output.strip() == "service-public : déjà indexée, rien à faire."


def test_a_run_failed_midway_leaves_its_source_to_resume(
    mini_corpus: Path, settings: Settings
) -> None:
    """The sync log says complete only at a run's end: a later run that fails midway (after
    a first complete one) leaves the source partial, and `--if-empty` goes on."""
    from assistant.runtime import Runtime

    runtime = Runtime.build(settings)
    assert runtime.corpus.plan("service-public", mini_corpus).skip is False  # empty
    runtime.corpus.ingest("service-public", path=mini_corpus)
    assert runtime.corpus.plan("service-public", mini_corpus).skip is True

    def broken_disk(n: int) -> None:
        raise OSError("disque plein")

    edit_fiche(
        mini_corpus / "data" / "particuliers" / "F1427.json",
        "La démarche est toujours gratuite.",
        "La démarche coûte désormais 3 euros.",
    )
    with pytest.raises(OSError):
        runtime.corpus.ingest("service-public", path=mini_corpus, on_written=broken_disk)
    plan = runtime.corpus.plan("service-public", mini_corpus)
    assert plan.skip is False and plan.reason and "ne s'est pas terminée" in plan.reason
    runtime.corpus.ingest("service-public", path=mini_corpus)
    assert runtime.corpus.plan("service-public", mini_corpus).skip is True
    runtime.close()
