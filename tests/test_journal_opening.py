"""At set-up the legal watch is not empty: a code's first ingestion fills the change journal
with the versions in force in the months before its snapshot's date (`make run` →
`plume veille --since …` lists real changes), once; and an empty digest says why.

Small code trees in legi-data's shape (those of test_journal.py), written to a temporary
folder; the real package's CRPA where `plume corpus fetch` installed it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from assistant.veille.digest import veille_digest
from ingestion.journal import ChangeJournal, changes_since, compare, months_before
from ingestion.service import ingest_source
from plume import packages
from plume.settings import Settings
from plume.store.edge import EdgeStore
from tests.test_journal import NEW, OLD, RURAL, ident, parsed, tree

CRPA = "LEGITEXT000031366350"


def versioned(aid: str, num: str, day: str) -> dict[str, Any]:
    return {
        "type": "article",
        "data": {
            "id": aid,
            "num": num,
            "etat": "VIGUEUR",
            "texte": f"Texte {num}.",
            "dateDebut": day,
        },
    }


def code_file(folder: Path) -> Path:
    """A code of three articles, up to 27 March 2026: one from 2024, two of the last year."""
    articles = [
        versioned(ident(21), "L21", "2024-01-01"),
        versioned(ident(22), "L22", "2025-06-01"),
        versioned(ident(23), "L23", "2026-03-27"),
    ]
    code = tree(articles)
    code["data"]["dateModif"] = "2026-03-27"
    path = folder / f"{RURAL}.json"
    path.write_text(json.dumps(code), encoding="utf-8")
    return path


def open_edge(settings: Settings) -> EdgeStore:
    store = EdgeStore(settings.store_dir, dense_dim=settings.embedding_dim)
    store.ensure_collection()
    return store


def test_months_before() -> None:
    assert months_before(date(2026, 3, 27), 12) == date(2025, 3, 27)
    assert months_before(date(2024, 2, 29), 12) == date(2023, 2, 28)
    assert months_before(date(2026, 1, 31), 2) == date(2025, 11, 30)


def test_the_first_ingestion_fills_the_journal_once(settings: Settings, tmp_path: Path) -> None:
    path = code_file(tmp_path)
    store = open_edge(settings)
    try:
        first = ingest_source(settings, store, None, "legi", path=path)
        again = ingest_source(settings, store, None, "legi", path=path)
    finally:
        store.close()
    changes = ChangeJournal(settings.data_dir).read()
    # 12 months before the snapshot's date (27/03/2026): not the 2024 version
    assert [(c.num, c.effective) for c in changes] == [
        ("L22", "2025-06-01"),
        ("L23", "2026-03-27"),
    ]
    assert first.journal_changes == 2 and again.journal_changes == 0
    assert {c.snapshot_to for c in changes} == {f"local:{RURAL}.json"}


def test_a_code_the_journal_already_holds_is_left_to_the_comparison(
    settings: Settings, tmp_path: Path
) -> None:
    """Its later snapshots are compared with the former one: the window is read only once."""
    ChangeJournal(settings.data_dir).append(compare(parsed(OLD), parsed(NEW), "a", "b"))
    store = open_edge(settings)
    try:
        summary = ingest_source(settings, store, None, "legi", path=code_file(tmp_path))
    finally:
        store.close()
    assert summary.journal_changes == 0


def test_make_run_then_plume_veille_lists_changes(tmp_path: Path) -> None:
    """The newcomer's path: `plume ingest legi` (as `make run` does), then `plume veille`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env |= {"PLUME_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    plume = str(Path(sys.executable).parent / "plume")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([plume, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    ingested = run("ingest", "legi", "--path", str(code_file(tmp_path)))
    assert "Veille : 2 changement(s) ajouté(s) au journal." in ingested.stdout
    digest = run("veille", "--since", "2025-04-01")
    assert "2 changement(s)" in digest.stdout and "Nouvel article L23" in digest.stdout
    again = run("ingest", "legi", "--path", str(code_file(tmp_path)))
    assert "Veille" not in again.stdout


def test_the_package_codes_fill_the_journal(tmp_path: Path) -> None:
    """`plume ingest legi` without --path (the CRPA alone, to stay fast): the changes of the 12
    months before its snapshot (5 February 2026)."""
    real = Settings()
    try:
        packages.package_dir(real.packages_dir, packages.pinned(real.corpus_dir, "legi"))
    except Exception:
        pytest.skip("legi-data package not fetched: run `plume corpus fetch` (make test does)")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "sources.toml").write_bytes((real.corpus_dir / "sources.toml").read_bytes())
    (corpus / "legi.toml").write_text(f'[codes]\n{CRPA} = "CRPA seul"\n', encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "packages").symlink_to(real.packages_dir.resolve())
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus)
    store = open_edge(settings)
    try:
        summary = ingest_source(settings, store, None, "legi")
    finally:
        store.close()
    changes = ChangeJournal(settings.data_dir).read()
    assert summary.journal_changes == len(changes) == 17
    assert all((c.effective or "") >= "2025-02-05" for c in changes)
    assert {c.code_id for c in changes} == {CRPA}


def test_a_version_read_in_one_snapshot_then_compared_is_kept_once_with_its_diff(
    tmp_path: Path,
) -> None:
    journal = ChangeJournal(tmp_path)
    assert journal.append(changes_since(parsed(NEW), date(2026, 3, 20), "b")) == 2  # L1, L5
    assert journal.append(compare(parsed(OLD), parsed(NEW), "a", "b")) == 3  # L2, L3-1, L4
    recorded = {c.num: c for c in journal.read()}
    assert sorted(recorded) == ["L1", "L2", "L3-1", "L4", "L5"]
    assert recorded["L1"].kind == "modifie" and recorded["L1"].old_article_id == ident(1)
    assert ("+", "registre des chiens dangereux.") in recorded["L1"].diff
    assert journal.append(changes_since(parsed(NEW), date(2026, 3, 20), "b")) == 0
    assert len(journal.read()) == 5


def test_an_empty_digest_says_why(settings: Settings) -> None:
    corpus = settings.corpus_dir
    empty = veille_digest(settings.data_dir, corpus, "2026-01-01", None, "md")
    assert "Le journal des modifications est vide" in empty and "plume ingest legi" in empty
    ChangeJournal(settings.data_dir).append(changes_since(parsed(NEW), date(2026, 3, 1), "b"))
    later = veille_digest(settings.data_dir, corpus, "2026-06-01", None, "json")
    body = json.loads(later)
    assert body["changes"] == []
    assert "le plus récent que le journal connaît est en vigueur le 27/03/2026" in body["message"]
