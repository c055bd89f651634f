"""Incremental, idempotent ingestion: source items → vectors → Store.

- Point ids are deterministic (doc id + chunk index): a rerun overwrites, never adds.
- A chunk whose content hash is already stored, with vectors computed the same way
  (analyzer version, embedding model), is skipped: nothing is recomputed.
- A document's stale chunks are deleted only after its new chunks are written, and
  documents gone upstream are deleted at the end of a complete run: a run killed midway
  leaves every document searchable, and the next run converges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from llama_index.core.schema import TextNode

from ingestion.chunking import index_text
from plume.documents import ALWAYS_TO, day_number
from plume.embedding import Embedder
from plume.store import SearchFilter, Store, StoredPoint
from plume.text import ANALYZER_VERSION, Bm25Encoder

Progress = Callable[[int], None]


@dataclass
class SourceItem:
    """One document of a source: its nodes, or the reason it is absent."""

    doc_id: str
    nodes: list[TextNode] = field(default_factory=list)
    error: str | None = None
    selected: bool = True
    # The part of a scoped source this item belongs to (e.g. one code: "legi/LEGITEXT…/").
    # For such a source, documents gone upstream are deleted only within the scopes the run
    # read: ingesting one code leaves the others alone, an unreadable file deletes nothing.
    scope: str | None = None


@dataclass
class IngestSummary:
    source: str
    version: str
    documents: int = 0
    added: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    finished_at: str = ""
    # changes the legal watch's journal gained: codes read for the first time, histories,
    # or the previous snapshot compared with this one
    journal_changes: int = 0
    archived: int = 0  # chunks of past versions kept (closed), for questions `as_of` a date

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "version": self.version,
            "journal_changes": self.journal_changes,
            "archived": self.archived,
            "documents": self.documents,
            "added": self.added,
            "updated": self.updated,
            "deleted": self.deleted,
            "skipped": self.skipped,
            "errors": list(self.errors),
            "seconds": round(self.seconds, 2),
            "finished_at": self.finished_at,
        }


def index_signature(embedder: Embedder | None) -> str:
    """How a point's vectors were computed; a change means they must be recomputed."""
    return f"{ANALYZER_VERSION}|{embedder.name if embedder else 'sparse-only'}"


_VERSION_FIELDS = ("article_id", "in_force_to_day")


def _keep_past_versions(
    nodes: list[TextNode], stale: list[str], versions: dict[str, tuple[str, int]]
) -> tuple[list[str], list[tuple[list[str], dict[str, Any]]]]:
    """A new version of an article replaces the old one as current law, but the old one stays
    searchable for the dates it was in force: it is closed (in force until the new one
    starts) rather than deleted. Returns what to delete, and what to close with what."""
    current = {str(n.metadata.get("article_id")) for n in nodes}
    starts = [n.metadata.get("in_force_from") for n in nodes if n.metadata.get("in_force_from")]
    if not starts:
        return stale, []
    start = min(str(s) for s in starts)
    until = day_number(start, ALWAYS_TO)
    delete, close = [], []
    for pid in stale:
        article_id, in_force_to = versions.get(pid, ("", ALWAYS_TO))
        if not article_id or article_id in current:
            delete.append(pid)  # the same version, cut differently: a leftover chunk
        elif in_force_to > until:
            close.append(pid)  # an older version still marked in force: it ends now
        # else: an older version already closed: kept as it is
    payload = {"in_force_to": start, "in_force_to_day": until, "state": "MODIFIE"}
    return delete, ([(close, payload)] if close else [])


class _Writer:
    """Batches upserts; stale deletions wait until the batch they follow is written."""

    def __init__(
        self,
        store: Store,
        encoder: Bm25Encoder,
        embedder: Embedder | None,
        size: int,
        on_written: Progress | None = None,
    ):
        self.store, self.encoder, self.embedder, self.size = store, encoder, embedder, size
        self.on_written = on_written
        self.nodes: list[TextNode] = []
        self.stale: list[str] = []
        self.closing: list[tuple[list[str], dict[str, Any]]] = []

    def add(
        self,
        nodes: list[TextNode],
        stale: list[str],
        closing: Sequence[tuple[list[str], dict[str, Any]]] = (),
    ) -> None:
        self.nodes.extend(nodes)
        self.stale.extend(stale)
        self.closing.extend(closing)
        if len(self.nodes) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.nodes:
            texts = [index_text(n) for n in self.nodes]
            dense = self.embedder.embed_documents(texts) if self.embedder else [None] * len(texts)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            signature = index_signature(self.embedder)
            points = [
                StoredPoint(
                    id=n.node_id,
                    payload={**n.metadata, "text": n.text, "indexed_at": now, "index": signature},
                    sparse=self.encoder.encode_document(t),
                    dense=d,
                )
                for n, t, d in zip(self.nodes, texts, dense, strict=True)
            ]
            self.store.upsert(points)
            if self.on_written:
                self.on_written(len(points))
        if self.stale:
            self.store.delete_ids(self.stale)
        for ids, payload in self.closing:
            self.store.set_payload(ids, payload)
        self.nodes, self.stale, self.closing = [], [], []


def ingest(
    items: Iterable[SourceItem],
    *,
    store: Store,
    source: str,
    version: str,
    encoder: Bm25Encoder,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    on_written: Progress | None = None,
    batch_size: int = 256,
    scoped: bool = False,
    history: bool = False,
) -> IngestSummary:
    started = time.perf_counter()
    summary = IngestSummary(source=source, version=version)
    store.ensure_collection()
    scope = SearchFilter(sources=[source])
    signature = index_signature(embedder)
    fields = ["doc_id", "content_hash", "index", *(_VERSION_FIELDS if history else ())]
    stored: dict[str, tuple[str, str]] = {}
    versions: dict[str, tuple[str, int]] = {}  # point → (article version id, in force until)
    for pid, p in store.scan(scope, fields):
        stored[pid] = (str(p.get("doc_id")), f"{p.get('content_hash')}@{p.get('index')}")
        if history:
            versions[pid] = (str(p.get("article_id")), int(p.get("in_force_to_day") or ALWAYS_TO))
    by_doc: dict[str, set[str]] = {}
    for pid, (doc_id, _) in stored.items():
        by_doc.setdefault(doc_id, set()).add(pid)

    kept_docs: set[str] = set()
    scopes: set[str] = set()
    writer = _Writer(store, encoder, embedder, batch_size, on_written)
    for item in items:
        if progress:
            progress(1)
        if item.scope is not None:
            scopes.add(item.scope)
        if item.error is not None:
            summary.errors.append(item.error)
            kept_docs.add(item.doc_id)  # keep its previous version rather than lose it
            continue
        if not item.selected:
            continue
        kept_docs.add(item.doc_id)
        summary.documents += 1
        fresh: list[TextNode] = []
        for node in item.nodes:
            known = stored.get(node.node_id)
            if known and known[1] == f"{node.metadata['content_hash']}@{signature}":
                summary.skipped += 1
                continue
            fresh.append(node)
            if known:
                summary.updated += 1
            else:
                summary.added += 1
        new_ids = {n.node_id for n in item.nodes}
        stale = sorted(by_doc.get(item.doc_id, set()) - new_ids)
        closing: list[tuple[list[str], dict[str, Any]]] = []
        if history and stale:
            stale, closing = _keep_past_versions(item.nodes, stale, versions)
            summary.archived += sum(len(ids) for ids, _ in closing)
        summary.deleted += len(stale)
        writer.add(fresh, stale, closing)
    writer.flush()

    def covered(doc_id: str) -> bool:
        return not scoped or any(doc_id.startswith(s) for s in scopes)

    gone = [
        pid
        for doc_id, pids in by_doc.items()
        if doc_id not in kept_docs and covered(doc_id)
        for pid in pids
    ]
    for start in range(0, len(gone), 1000):
        store.delete_ids(gone[start : start + 1000])
    summary.deleted += len(gone)
    store.flush()
    summary.seconds = time.perf_counter() - started
    summary.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    return summary
