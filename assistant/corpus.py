"""The corpus as an administrator manages it, for both edges (`plume ingest/sources/delete/
vectors`, `/v1/admin/ingest`, `/v1/sources`, `/healthz`): what is indexed, loading a source
(recorded in the records database), removing a document, the semantic vectors' coverage."""

from __future__ import annotations

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
from plume.settings import Settings
from plume.store import SearchFilter, SourceStats, Store

if TYPE_CHECKING:
    from ingestion.pipeline import IngestSummary


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
    ) -> IngestSummary:
        """Bring the index in line with `source`; the run is recorded in the database."""
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
