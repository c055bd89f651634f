"""The communes' document library: upload (parse, chunk, index), list, read, delete.

Every read and delete goes through the store filter with the caller's tenants: a
commune's documents are invisible to every other commune. Uploading the same bytes
again changes nothing; a file with the name of one already in the commune's library
replaces it once the new version is indexed. A file that cannot be read gets its reason
in French and the batch goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingestion.documents.items import SOURCE, Provenance, Upload, document_item, document_nodes
from ingestion.documents.parse import ParseOptions, parse_document, title_from_name
from ingestion.documents.pdf import OcrOptions
from ingestion.pipeline import IngestSummary, index_signature, ingest
from plume.documents import tenant_doc_id
from plume.embedding import Embedder
from plume.errors import DocumentNotFound, RejectedFile, shown
from plume.keys import check_tenant
from plume.settings import Settings
from plume.store import SearchFilter, Store
from plume.text import Bm25Encoder

log = logging.getLogger(__name__)

ADDED, UNCHANGED, REPLACED, REJECTED = "ajoute", "inchange", "remplace", "refuse"
_INFO_FIELDS = (
    *("doc_id", "title", "tenant", "file_name", "doc_type", "pages", "uploaded_at"),
    *("uploaded_by", "size"),
)


@dataclass
class FileResult:
    """What became of one uploaded file."""

    name: str
    status: str = REJECTED
    doc_id: str | None = None
    format: str | None = None
    pages: int | None = None
    ocr_pages: int = 0
    chunks: int = 0
    replaced: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 2)}


@dataclass
class FilesReport(IngestSummary):
    """An upload batch: the usual ingestion summary, plus one result per file."""

    tenant: str = ""
    files: list[FileResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            **super().as_dict(),
            "tenant": self.tenant,
            "files": [f.as_dict() for f in self.files],
        }


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    tenant: str
    file_name: str
    format: str
    pages: int | None
    chunks: int
    uploaded_at: str
    uploaded_by: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_options(settings: Settings) -> ParseOptions:
    return ParseOptions(
        max_bytes=settings.upload_max_mb * 1_000_000,
        max_unzipped=settings.upload_max_unzipped_mb * 1_000_000,
        max_pages=settings.upload_max_pages,
        ocr=OcrOptions(
            languages=settings.ocr_languages, dpi=settings.ocr_dpi, workers=settings.ocr_workers
        ),
    )


def _only(tenant: str, **kwargs: Any) -> SearchFilter:
    """This tenant's documents only (the shared corpus is always visible otherwise)."""
    return SearchFilter(sources=[SOURCE], tenants=[tenant], fields={"tenant": [tenant]}, **kwargs)


def _is_current(store: Store, doc_id: str, tenant: str, signature: str) -> bool:
    """Whether these bytes are already indexed for the tenant, with today's vectors. If
    indexed with other vectors (an embedding model added since), the old points go."""
    where = _only(tenant, doc_ids=[doc_id])
    indexes = [p.get("index") for _, p in store.scan(where, ["index"])]
    if indexes and any(i != signature for i in indexes):
        store.delete(where)
        return False
    return bool(indexes)


def _replace_older(store: Store, tenant: str, name: str, doc_id: str) -> list[str]:
    """Delete the commune's earlier versions of a file of that name."""
    older = sorted(
        {
            str(p["doc_id"])
            for _, p in store.scan(_only(tenant), ["doc_id", "file_name"])
            if p.get("file_name") == name and p.get("doc_id") != doc_id
        }
    )
    if older:
        store.delete(_only(tenant, doc_ids=older))
    return older


def ingest_files(
    settings: Settings,
    store: Store,
    embedder: Embedder | None,
    uploads: Iterable[Upload],
    tenant: str,
    uploaded_by: str,
    on_file: Callable[[FileResult], None] | None = None,
) -> FilesReport:
    """Index each file for `tenant`; one result per file, rejected ones with their reason."""
    check_tenant(tenant)
    started = time.perf_counter()
    report = FilesReport(source=SOURCE, version=tenant, tenant=tenant)
    options, encoder = parse_options(settings), Bm25Encoder.from_settings(settings)
    signature = index_signature(embedder)
    store.ensure_collection()
    for upload in uploads:
        result = FileResult(name=upload.name)
        t0 = time.perf_counter()
        try:
            result.doc_id = doc_id = tenant_doc_id(tenant, upload.data)
            if _is_current(store, doc_id, tenant, signature):
                result.status = UNCHANGED
                report.skipped += 1
            else:
                parsed = parse_document(upload.data, options)
                result.format, result.pages, result.ocr_pages = (
                    parsed.format,
                    parsed.pages,
                    parsed.ocr_pages,
                )
                who = Provenance(
                    tenant, uploaded_by, datetime.now(UTC).isoformat(timespec="seconds")
                )
                title = parsed.subject or title_from_name(upload.name)
                nodes = document_nodes(doc_id, title, upload, parsed, who)
                written = ingest(
                    [document_item(doc_id, nodes)],
                    store=store,
                    source=SOURCE,
                    version=tenant,
                    encoder=encoder,
                    embedder=embedder,
                    scoped=True,  # this batch's files only: the rest of the library stays
                )
                result.chunks = len(nodes)
                result.replaced = _replace_older(store, tenant, upload.name, doc_id)
                result.status = REPLACED if result.replaced else ADDED
                report.documents += 1
                report.added += written.added
                report.updated += written.updated
                report.deleted += len(result.replaced)
        except RejectedFile as exc:
            result.status, result.error = REJECTED, exc.message
        except Exception as exc:  # a parser's surprise must not stop the batch
            log.exception("unexpected error reading %s", upload.name)
            result.status = REJECTED
            result.error = f"Fichier illisible (erreur inattendue : {type(exc).__name__})."
        if result.error:
            report.errors.append(f"{upload.name} : {result.error}")
        result.seconds = time.perf_counter() - t0
        report.files.append(result)
        if on_file:
            on_file(result)
    store.flush()
    report.seconds = time.perf_counter() - started
    report.finished_at = datetime.now(UTC).isoformat(timespec="seconds")
    return report


def list_documents(store: Store, tenants: Sequence[str]) -> list[DocumentInfo]:
    """The uploaded documents of these tenants, with their chunk counts."""
    where = SearchFilter(sources=[SOURCE], tenants=list(tenants), fields={"tenant": list(tenants)})
    docs: dict[str, dict[str, Any]] = {}
    chunks: dict[str, int] = {}
    for _, p in store.scan(where, _INFO_FIELDS):
        doc_id = str(p.get("doc_id"))
        docs.setdefault(doc_id, p)
        chunks[doc_id] = chunks.get(doc_id, 0) + 1
    infos = [
        DocumentInfo(
            doc_id=doc_id,
            title=str(p.get("title") or ""),
            tenant=str(p.get("tenant") or ""),
            file_name=str(p.get("file_name") or ""),
            format=str(p.get("doc_type") or ""),
            pages=p.get("pages"),
            chunks=chunks[doc_id],
            uploaded_at=str(p.get("uploaded_at") or ""),
            uploaded_by=str(p.get("uploaded_by") or ""),
            size=int(p.get("size") or 0),
        )
        for doc_id, p in docs.items()
    ]
    return sorted(infos, key=lambda d: (d.tenant, d.uploaded_at, d.file_name))


def read_document(store: Store, doc_id: str, tenants: Sequence[str]) -> dict[str, Any]:
    """A visible document's information and passages (page, section, text), in order."""
    where = SearchFilter(sources=[SOURCE], doc_ids=[doc_id], tenants=list(tenants))
    rows = [
        p for _, p in store.scan(where, [*_INFO_FIELDS, "chunk_index", "page", "section", "text"])
    ]
    if not rows:
        raise DocumentNotFound(f"Document introuvable : « {shown(doc_id)} ».")
    rows.sort(key=lambda p: int(p.get("chunk_index") or 0))
    first = rows[0]
    info = {k: first.get(k) for k in _INFO_FIELDS}
    passages = [
        {"page": p.get("page"), "section": p.get("section") or "", "text": p.get("text")}
        for p in rows
    ]
    return {**info, "chunks": len(rows), "passages": passages}


def delete_visible_document(store: Store, doc_id: str, tenants: Sequence[str]) -> int:
    """Remove a visible uploaded document; `DocumentNotFound` if the caller cannot see it."""
    where = SearchFilter(sources=[SOURCE], doc_ids=[doc_id], tenants=list(tenants))
    deleted = store.delete(where)
    if not deleted:
        raise DocumentNotFound(f"Document introuvable : « {shown(doc_id)} ».")
    store.flush()
    return deleted
