"""Reversibility: everything Plume holds, written in open formats, and read back. An
export is its owner's only (files 0600, folders 0700): it holds messages and documents.

    <folder>/manifest.json           format, date, database revision, files (rows, sha256)
    <folder>/corpus/points.jsonl     every indexed passage: id, payload (text, source,
                                     version, dates, tenant…), sparse, dense and e5 vectors
    <folder>/corpus/sources.csv      documents, passages and versions per source
    <folder>/records/<table>.jsonl   conversations, messages, usage, feedback, runs, audit,
                                     declared deployments
    <folder>/indicators/indicators.{csv,json}   the indicators over the whole history
    <folder>/state/…                 the other files of data_dir as they are (JSON):
                                     sync log, term statistics, legal-watch journal and
                                     profiles, commune profiles, API keys (hashes only)

The corpus is exported as the store's points with their vectors rather than as source
files to re-ingest: the import then needs neither the network, nor the source packages
at the same versions, nor an embedding model, and gives the same answers; uploaded
documents of communes, whose originals are not kept, are in it too.
`import_all` restores into an empty instance only, after checking every file's hash.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, func, insert, inspect, select, text

from assistant.records import indicators
from assistant.records.service import Records
from plume.db import Database
from plume.db.models import TABLES, AnswerUsage, Base, utcnow
from plume.errors import InvalidRecordsRequest
from plume.settings import Settings
from plume.store import Store, StoredPoint
from plume.text import SparseVec

FORMAT = "plume-export/1"
STATE = ("sync.json", "cles.json", "stats", "journal", "communes", "veille")
POINTS = "corpus/points.jsonl"
BATCH = 500


@dataclass(frozen=True)
class Manifest:
    folder: Path
    files: dict[str, dict[str, Any]]

    def rows(self, name: str) -> int:
        return int(self.files.get(name, {}).get("rows", 0))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def _table_rows(db: Database, model: type[Base]) -> Iterator[dict[str, Any]]:
    columns = model.__table__.columns
    with db.session() as s:
        for row in s.execute(select(model.__table__)).mappings():
            yield {c.name: _jsonable(row[c.name]) for c in columns}


def _points(store: Store) -> Iterator[dict[str, Any]]:
    for p in store.points():
        yield {
            "id": p.id,
            "payload": p.payload,
            "sparse": {"indices": p.sparse.indices, "values": p.sparse.values},
            "dense": p.dense,
            "e5": p.local,
        }


def export_all(
    store: Store, db: Database, data_dir: Path, folder: Path, *, minutes_saved: float
) -> Manifest:
    """Write everything to `folder` (which must not exist or be empty)."""
    if folder.exists() and any(folder.iterdir()):
        raise InvalidRecordsRequest(f"Le dossier {folder} n'est pas vide : choisissez-en un autre.")
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # from the start: no one else enters it while it is being written
    rows: dict[str, int] = {POINTS: _write_jsonl(folder / POINTS, _points(store))}
    with (folder / "corpus" / "sources.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter=";")
        writer.writerow(["source", "documents", "passages", "versions"])
        sources = store.list_sources()
        for s in sources:
            versions = ", ".join(f"{v} ({n})" for v, n in sorted(s.versions.items()))
            writer.writerow([s.source, s.documents, s.chunks, versions])
    rows["corpus/sources.csv"] = len(sources)
    for model in TABLES:
        name = f"records/{model.__tablename__}.jsonl"
        rows[name] = _write_jsonl(folder / name, _table_rows(db, model))
    first, last = _history(db)
    report = indicators.compute(db, first, last, minutes_saved)
    (folder / "indicators").mkdir()
    (folder / "indicators" / "indicators.csv").write_text(report.to_csv(), encoding="utf-8")
    (folder / "indicators" / "indicators.json").write_text(
        json.dumps(report.as_dict(), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    for name in STATE:
        source = data_dir / name
        if source.is_dir():
            shutil.copytree(source, folder / "state" / name)
        elif source.is_file():
            (folder / "state").mkdir(exist_ok=True)
            shutil.copy2(source, folder / "state" / name)
    files = {
        str(p.relative_to(folder)): {"sha256": _sha256(p)}
        | ({"rows": rows[str(p.relative_to(folder))]} if str(p.relative_to(folder)) in rows else {})
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
    manifest = {
        "format": FORMAT,
        "created_at": utcnow().isoformat(timespec="seconds") + "Z",
        "database_revision": _revision(db),
        "files": files,
    }
    (folder / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    _owner_only(folder)
    return Manifest(folder, files)


def _owner_only(folder: Path) -> None:
    """Every file 0600 and folder 0700: an export holds the messages and every commune's
    documents, and keeps these modes when it is copied or archived elsewhere."""
    for path in folder.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)
    folder.chmod(0o700)


def _history(db: Database) -> tuple[date, date]:
    with db.session() as s:
        oldest = s.scalar(select(func.min(AnswerUsage.created_at)))
    today = utcnow().date()
    return (oldest.date() if oldest else today), today


def _revision(db: Database) -> str | None:
    with db.engine.connect() as c:
        return c.execute(text("SELECT version_num FROM alembic_version")).scalar()


def read_manifest(folder: Path) -> Manifest:
    """The export's manifest, after checking its format and every file's hash."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InvalidRecordsRequest(
            f"{folder} n'est pas un export de Plume (manifest.json absent ou illisible)."
        ) from None
    if manifest.get("format") != FORMAT:
        raise InvalidRecordsRequest(f"Format d'export inconnu : {manifest.get('format')!r}.")
    files: dict[str, dict[str, Any]] = manifest.get("files") or {}
    for name, meta in files.items():
        path = folder / name
        if not path.is_file() or _sha256(path) != meta.get("sha256"):
            raise InvalidRecordsRequest(f"Export altéré ou incomplet : {name}.")
    return Manifest(folder, files)


def _check_empty(store: Store, db: Database, data_dir: Path) -> None:
    present = [m.__tablename__ for m in TABLES if _count(db, m)]
    present += [n for n in STATE if (data_dir / n).exists() and n != "stats"]
    if store.count():
        present.insert(0, "index")
    if present:
        raise InvalidRecordsRequest(
            "L'import se fait dans une instance vide ; celle-ci contient déjà : "
            + ", ".join(present)
            + ". Importez dans une instance neuve : PLUME_DATA_DIR vers un dossier vide (et "
            "PLUME_DATABASE_URL vers une base vide si vous utilisez PostgreSQL)."
        )


def _count(db: Database, model: type[Base]) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model.__table__)) or 0)


def import_all(store: Store, db: Database, data_dir: Path, folder: Path) -> Manifest:
    """Restore an export into this empty instance: index, records, state files."""
    manifest = read_manifest(folder)
    _check_empty(store, db, data_dir)
    batch: list[StoredPoint] = []
    for row in _read_jsonl(folder / POINTS):
        sparse = row["sparse"]
        batch.append(
            StoredPoint(
                row["id"],
                row["payload"],
                SparseVec(sparse["indices"], sparse["values"]),
                row.get("dense"),
                row.get("e5"),
            )
        )
        if len(batch) >= BATCH:
            store.upsert(batch)
            batch = []
    store.upsert(batch)
    store.flush()
    for model in TABLES:  # parents first (conversations before messages)
        path = folder / f"records/{model.__tablename__}.jsonl"
        if path.is_file():
            _insert(db, model, _read_jsonl(path))
    state = folder / "state"
    if state.is_dir():
        shutil.copytree(state, data_dir, dirs_exist_ok=True)
    return manifest


def _insert(db: Database, model: type[Base], rows: Iterator[dict[str, Any]]) -> None:
    table = model.__table__
    dates = {c.name for c in table.columns if isinstance(c.type, DateTime)}
    # autoincrement ids are left to the database (a PostgreSQL sequence must follow)
    generated = {c.name for c in inspect(model).primary_key if c.autoincrement is True}
    chunk: list[dict[str, Any]] = []

    def flush() -> None:
        if chunk:
            with db.session() as s:
                s.execute(insert(model), chunk)
            chunk.clear()

    for row in rows:
        for name in dates:
            if row.get(name):
                row[name] = datetime.fromisoformat(row[name])
        chunk.append({k: v for k, v in row.items() if k not in generated})
        if len(chunk) >= BATCH:
            flush()
    flush()


@dataclass
class Backups:
    """Export and import of the whole instance, audited: `plume export` / `plume import`."""

    settings: Settings
    store: Store
    records: Records

    def export(self, folder: Path, actor: str) -> Manifest:
        manifest = export_all(
            self.store,
            self.records.db,
            self.settings.data_dir,
            folder,
            minutes_saved=self.settings.minutes_saved_per_answer,
        )
        self.records.audit(actor, "export", str(folder))
        return manifest

    def restore(self, folder: Path, actor: str) -> Manifest:
        """Into an empty instance only (`InvalidRecordsRequest` otherwise)."""
        manifest = import_all(self.store, self.records.db, self.settings.data_dir, folder)
        self.records.audit(actor, "import", str(folder))
        return manifest
