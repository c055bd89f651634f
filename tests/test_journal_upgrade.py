"""Ingesting a newer legi-data snapshot records what changed in the change journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion.journal import ChangeJournal
from ingestion.service import journal_upgrade
from plume import packages
from plume.settings import Settings

CODE_RURAL = "LEGITEXT000022197698"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    real = Settings()
    for source in ("legi", "legi-previous"):
        try:
            packages.package_dir(real.packages_dir, packages.pinned(real.corpus_dir, source))
        except Exception:
            pytest.skip(f"{source} not fetched: run `plume corpus fetch` (make test does)")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "packages").symlink_to(real.packages_dir.resolve())
    return Settings(data_dir=tmp_path / "data")


def test_a_newer_snapshot_appends_its_changes_once(settings: Settings) -> None:
    current = packages.pinned(settings.corpus_dir, "legi")
    root = packages.package_dir(settings.packages_dir, current)
    previous = packages.pinned(settings.corpus_dir, "legi-previous").version

    added = journal_upgrade(settings, previous, root, current.version, codes=[CODE_RURAL])
    assert added == 7  # Décret n° 2026-208: seven articles of the chambres d'agriculture
    changes = ChangeJournal(settings.data_dir).read()
    assert {c.kind for c in changes} == {"modifie"}
    assert {(c.snapshot_from, c.snapshot_to) for c in changes} == {(previous, current.version)}
    assert journal_upgrade(settings, previous, root, current.version, codes=[CODE_RURAL]) == 0


def test_nothing_to_compare_when_the_old_snapshot_is_gone(settings: Settings) -> None:
    current = packages.pinned(settings.corpus_dir, "legi")
    root = packages.package_dir(settings.packages_dir, current)
    assert journal_upgrade(settings, "1.0.0", root, current.version, codes=[CODE_RURAL]) == 0


def _section_holding(tree: dict, num: str) -> dict | None:  # type: ignore[type-arg]
    """The innermost section of a code tree that holds article `num`."""
    for child in tree.get("children", []):
        if child.get("type") == "article" and child["data"].get("num") == num:
            return tree
        found = _section_holding(child, num)
        if found is not None:
            return found
    return None


def test_a_question_on_a_changed_article_cites_its_new_version(settings: Settings) -> None:
    import json

    from assistant.rag.retrieval import build_filter
    from assistant.runtime import Runtime
    from ingestion.service import ingest_source

    root = packages.package_dir(settings.packages_dir, packages.pinned(settings.corpus_dir, "legi"))
    tree = json.loads((root / "data" / f"{CODE_RURAL}.json").read_bytes())
    section = _section_holding(tree, "D511-59")
    assert section is not None
    tree["children"] = [section]  # the code, reduced to the section of the changed article
    trimmed = settings.data_dir / f"{CODE_RURAL}.json"
    trimmed.write_text(json.dumps(tree))

    runtime = Runtime.build(settings, llm=None)
    try:
        ingest_source(settings, runtime.store, None, "legi", path=trimmed)
        runtime.refresh_stats()
        answer = runtime.assistant.ask(
            "les séances des chambres d'agriculture sont-elles publiques ?", build_filter()
        )
    finally:
        runtime.close()
    cited = {c.doc_id: c for c in answer.citations}
    article = cited[f"legi/{CODE_RURAL}/D511-59"]
    assert article.in_force_from == "2026-03-27"  # the version of Décret n° 2026-208
    assert "procès-verbal" in article.excerpt  # the new text, not the 2.511.0 one


def test_the_version_in_force_on_a_date_answers_for_that_date(settings: Settings) -> None:
    """2.511.0 then 2.513.0 of one section: the old D511-59 is closed, not deleted."""
    import json
    from datetime import date

    from assistant.rag.retrieval import build_filter
    from assistant.runtime import Runtime
    from ingestion.service import ingest_source

    def trimmed(source: str) -> Path:
        root = packages.package_dir(
            settings.packages_dir, packages.pinned(settings.corpus_dir, source)
        )
        tree = json.loads((root / "data" / f"{CODE_RURAL}.json").read_bytes())
        tree["children"] = [_section_holding(tree, "D511-59")]
        path = settings.data_dir / source / f"{CODE_RURAL}.json"
        path.parent.mkdir()
        path.write_text(json.dumps(tree))
        return path

    runtime = Runtime.build(settings, llm=None)
    try:
        ingest_source(settings, runtime.store, None, "legi", path=trimmed("legi-previous"))
        upgrade = ingest_source(settings, runtime.store, None, "legi", path=trimmed("legi"))
        assert upgrade.archived >= 1  # the former D511-59, kept for its dates
        question = "les séances des chambres d'agriculture sont-elles publiques ?"

        def excerpt(day: date | None) -> str:
            passages = runtime.assistant.search(question, build_filter(as_of=day), 5)
            [hit] = [p for p in passages if p.doc_id == f"legi/{CODE_RURAL}/D511-59"]
            return f"{hit.text} | {hit.field('in_force_from')} → {hit.field('in_force_to')}"

        before = excerpt(date(2026, 3, 1))
        assert "publication de leurs procès-verbaux" in before and "→ 2026-03-27" in before
        now = excerpt(None)
        assert "est publié" in now and "2026-03-27 → None" in now
    finally:
        runtime.close()


def test_plume_veille_since_a_date_inside_one_snapshot(settings: Settings) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env["PLUME_DATA_DIR"] = str(settings.data_dir)
    plume = str(Path(sys.executable).parent / "plume")
    journal = subprocess.run(
        [plume, "veille", "journal", "--since", "2026-03-20"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert journal.returncode == 0, journal.stderr
    # the code by its name, its id beside it
    assert f"Code rural et de la pêche maritime ({CODE_RURAL}) : 7 nouveau(x) changement(s)" in (
        " ".join(journal.stdout.split())
    )
    digest = subprocess.run(
        [plume, "veille", "--since", "2026-03-20", "--code", CODE_RURAL, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert digest.returncode == 0, digest.stderr
    rows = json.loads(digest.stdout)["changes"]
    assert {r["num"] for r in rows} >= {"D511-59", "D511-54-1"}
    assert {r["effective"] for r in rows if r["num"] == "D511-59"} == {"2026-03-27"}
    future = subprocess.run(
        [plume, "veille", "--since", "2999-01-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert future.returncode == 1 and "futur" in future.stderr
