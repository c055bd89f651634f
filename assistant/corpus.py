"""The corpus as an administrator manages it, for both edges (`plume ingest/sources/delete/
vectors`, `/v1/admin/ingest`, `/v1/sources`, `/healthz`): what is indexed, loading a source
(recorded in the records database), removing a document, the semantic vectors' coverage,
and whether the index is sound (`health`, `check_index`, `set_aside_if_damaged`)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.records.service import Records
from ingestion import sync_log
from ingestion.local_vectors import NOT_EMBEDDED, Coverage, LocalVectorFiller, coverage
from ingestion.service import (
    CodeRow,
    code_inventory,
    delete_document,
    indexed_codes,
    ingest_source,
    missing_codes,
)
from plume.embedding import Embedder
from plume.errors import PlumeError, StoreCorrupted, StoreInconsistent, StoreUnavailable
from plume.settings import Settings
from plume.store import SearchFilter, SourceStats, Store, open_store
from plume.store.damage import corrupted, repair_hint, set_aside_index

if TYPE_CHECKING:
    from ingestion.pipeline import IngestSummary

log = logging.getLogger(__name__)
HEALTH_TIMEOUT_S = 5.0  # `/healthz` answers within this, whatever the index does


@dataclass(frozen=True)
class SourceRow:
    """One indexed source: its documents and passages, e5 coverage, versions, last run."""

    source: str
    documents: int
    chunks: int
    versions: dict[str, int]
    last_sync: dict[str, Any] | None
    e5: int = 0  # passages with their semantic vector…
    e5_total: int = 0  # …of those that get one (funded projects get none: never quoted)
    codes: list[CodeRow] = field(default_factory=list)  # the source legi: per code


@dataclass(frozen=True)
class IngestPlan:
    """What `--if-empty` decides: nothing to do (`skip`), or why it goes on (`reason`)."""

    skip: bool
    reason: str | None = None


@dataclass(frozen=True)
class IndexHealth:
    """What `/healthz` says of the index: its passages, those of each source synced, and
    what is wrong with it (`problem`: damaged, inconsistent, not answering), if anything."""

    chunks: int | None = None
    sources: dict[str, int] = field(default_factory=dict)
    problem: PlumeError | None = None


@dataclass
class CorpusService:
    settings: Settings
    store: Store
    embedder: Embedder | None
    records: Records
    # after a run, what the served process must reload (term statistics, funded projects)
    on_ingested: Callable[[], None] | None = None

    def stats(self) -> list[SourceStats]:
        return self.store.list_sources()

    def sources(self, *, vectors: bool = False, codes: bool = False) -> list[SourceRow]:
        """Every indexed source; with `vectors`, how many passages have their e5 vector; with
        `codes`, the legi source's codes (both cost more reads: the CLI's table asks them,
        not the public `/v1/sources`)."""
        stats = self.stats()
        synced = sync_log.read(self.settings.data_dir)
        by_code = code_inventory(self.settings, stats) if codes else []
        rows = []
        for s in stats:
            done, total = self._vectors(s.source) if vectors else (0, 0)
            rows.append(
                SourceRow(
                    s.source,
                    s.documents,
                    s.chunks,
                    s.versions,
                    synced.get(s.source),
                    done,
                    total,
                    by_code if s.source == "legi" else [],
                )
            )
        return rows

    def _vectors(self, source: str) -> tuple[int, int]:
        def count(has: bool | None) -> int:
            where = SearchFilter(
                sources=[source], has_local=has, every_tenant=True, except_kinds=NOT_EMBEDDED
            )
            return self.store.count(where)

        return count(True), count(None)

    def indexed_codes(self) -> dict[str, str]:
        """The codes the index holds: id → title."""
        return indexed_codes(self.settings, self.stats())

    def plan(self, source: str, path: Path | None = None) -> IngestPlan:
        """With `--if-empty`: a source whose last run completed is left alone — except the
        codes, where a code added to the corpus since the last run is still indexed. A run
        killed or failed midway left the source partial: it is resumed (ingestion is
        incremental: what was written is kept, the rest is added)."""
        if self.store.count(SearchFilter(sources=[source], every_tenant=True)) == 0:
            return IngestPlan(False)
        data_dir = self.settings.data_dir
        began = sync_log.unfinished(data_dir).get(source)
        if began is not None:
            when = began.replace("T", " à ").removesuffix("+00:00")
            return IngestPlan(
                False,
                f"la dernière indexation (commencée le {when} UTC) ne s'est pas terminée, reprise",
            )
        if source not in sync_log.read(data_dir):
            return IngestPlan(False, "aucune indexation complète enregistrée, reprise")
        missing = missing_codes(self.settings, self.stats()) if path is None else []
        if source != "legi" or not missing:
            return IngestPlan(True)
        return IngestPlan(False, f"codes pas encore indexés ({', '.join(missing)})")

    def ingest(
        self,
        source: str,
        *,
        everything: bool = False,
        path: Path | None = None,
        on_total: Callable[[int], None] | None = None,
        progress: Callable[[int], None] | None = None,
        on_written: Callable[[int], None] | None = None,
        rebuild: bool = False,
    ) -> IngestSummary:
        """Bring the index in line with `source`; the run is recorded in the database.
        `rebuild`: the source's passages are dropped first and all written anew."""
        summary = self.records.track(
            source,
            lambda: ingest_source(
                self.settings,
                self.store,
                self.embedder,
                source,
                everything=everything,
                path=path,
                on_total=on_total,
                progress=progress,
                on_written=on_written,
                rebuild=rebuild,
            ),
        )
        if self.on_ingested is not None:
            self.on_ingested()
        return summary

    def delete(self, doc_id: str) -> int:
        """The passages removed (0: the document is not in the index)."""
        return delete_document(self.store, doc_id)

    def count(self) -> int:
        return self.store.count()

    def health(self, timeout: float = HEALTH_TIMEOUT_S) -> IndexHealth:
        """Whether the index answers real reads within `timeout`: its passages counted,
        overall and for each source synced, and one passage read back whole (a garbled page
        fails there); a source the sync log says was indexed that the index lacks is an
        inconsistency (its files deleted under it)."""
        found: list[IndexHealth] = []
        worker = threading.Thread(
            target=lambda: found.append(self._health()), name="plume-health", daemon=True
        )
        worker.start()
        worker.join(timeout)
        if not found:  # the read goes on in its thread; the answer does not wait for it
            seconds = f"{timeout:g}".replace(".", ",")
            return IndexHealth(problem=StoreUnavailable(f"L'index ne répond pas en {seconds} s."))
        return found[0]

    def _health(self) -> IndexHealth:
        synced = sync_log.read(self.settings.data_dir)
        chunks, counts = None, {}
        try:
            chunks = self.store.count()
            for source in synced:
                counts[source] = self.store.count(SearchFilter(sources=[source], every_tenant=True))
            next(iter(self.store.scan(SearchFilter(every_tenant=True), ["doc_id", "text"])), None)
        except StoreCorrupted:
            return IndexHealth(chunks, counts, corrupted(_rebuild_commands(synced)))
        except PlumeError as exc:
            return IndexHealth(chunks, counts, exc)
        except Exception as exc:  # whatever the engine does, never « ok »
            log.exception("health check failed")
            error = StoreUnavailable(f"L'index ne répond pas correctement ({type(exc).__name__}).")
            return IndexHealth(chunks, counts, error)
        if getattr(self.store, "damage", None):  # a search or a write met damaged files
            return IndexHealth(chunks, counts, corrupted(_rebuild_commands(synced)))
        lost = {s: n for s, e in synced.items() if (n := sync_log.passages(e)) and not counts[s]}
        return IndexHealth(chunks, counts, _inconsistency(lost, synced, chunks) if lost else None)

    def check_index(self) -> None:
        """For a search that found nothing: `StoreInconsistent` if the index is empty
        although runs indexed passages (its files deleted under it), rather than « no
        result » forever."""
        if self.store.count() > 0:
            return
        synced = sync_log.read(self.settings.data_dir)
        lost = {s: n for s, e in synced.items() if (n := sync_log.passages(e))}
        if lost:
            raise _inconsistency(lost, synced, 0)

    def coverage(self) -> Coverage:
        """How many passages have their e5 vector, of those that get one."""
        return coverage(self.store)

    def vector_filler(self) -> LocalVectorFiller:
        """Computes the missing e5 vectors (resumable; `plume serve` runs it in the background)."""
        s = self.settings
        return LocalVectorFiller(self.store, threads=s.local_fill_threads, nice=s.local_fill_nice)

    def fill_vectors(self, progress: Callable[[Coverage], None] | None = None) -> int:
        """Compute the missing e5 vectors now; how many were done."""
        return self.vector_filler().run(progress=progress)


def _rebuild_commands(synced: dict[str, dict[str, Any]]) -> list[str]:
    """`plume ingest <source> --rebuild` for each source synced (with its file's name when
    it was read from one, `--path`)."""
    commands = []
    for source, entry in synced.items():
        version = str(entry.get("version") or "")
        local = (
            f" --path …/{version.removeprefix('local:')}" if version.startswith("local:") else ""
        )
        commands.append(f"plume ingest {source}{local} --rebuild")
    return commands


def _inconsistency(
    lost: dict[str, int], synced: dict[str, dict[str, Any]], chunks: int | None
) -> StoreInconsistent:
    total = sum(lost.values())
    if not chunks:
        what = f"L'index est vide alors que {total} passages ont été indexés"
    else:
        names = ", ".join(lost)
        what = f"L'index n'a plus aucun passage de {names} alors que {total} y ont été indexés"
    commands = _rebuild_commands({s: synced[s] for s in lost})
    return StoreInconsistent(f"{what} : {repair_hint(commands)}.")


def synced_sources(settings: Settings) -> list[str]:
    """The sources a run completed for, by the sync log."""
    return list(sync_log.read(settings.data_dir))


def set_aside_if_damaged(settings: Settings) -> Path | None:
    """Before a rebuild (`plume ingest … --rebuild`): open the index and read every passage
    back; a damaged one cannot be mended point by point (a deletion reads the payload it
    removes), so it is moved aside whole (returned: where), and the next opening starts an
    empty index. None: the index is sound."""
    try:
        store = open_store(settings)
    except StoreCorrupted:
        return set_aside_index(settings)
    try:
        for _ in store.scan(SearchFilter(every_tenant=True), ["doc_id"]):
            pass
    except StoreCorrupted:
        with contextlib.suppress(Exception):
            store.close()
        return set_aside_index(settings)
    store.close()
    return None
