"""A commune's own documents, for both edges (`plume ingest files`, `plume sources --tenant`,
`/v1/admin/documents`, `/v1/documents`): upload, list, read, delete — each scoped to the
communes the caller may see (ingestion.documents.library does the work)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plume.embedding import Embedder
from plume.settings import Settings
from plume.store import Store

if TYPE_CHECKING:  # the parsers (unstructured, spaCy) load in about a second: on first use
    from ingestion.documents.items import Upload
    from ingestion.documents.library import DocumentInfo, FileResult, FilesReport


@dataclass
class DocumentService:
    settings: Settings
    store: Store
    embedder: Embedder | None

    def upload(
        self,
        uploads: Iterable[Upload],
        tenant: str,
        uploaded_by: str,
        on_file: Callable[[FileResult], None] | None = None,
    ) -> FilesReport:
        """Index each file for `tenant`; one result per file, rejected ones with their reason."""
        from ingestion.documents.library import ingest_files

        return ingest_files(
            self.settings, self.store, self.embedder, uploads, tenant, uploaded_by, on_file
        )

    def list(self, tenants: Sequence[str]) -> list[DocumentInfo]:
        from ingestion.documents.library import list_documents

        return list_documents(self.store, tenants)

    def read(self, doc_id: str, tenants: Sequence[str]) -> dict[str, Any]:
        from ingestion.documents.library import read_document

        return read_document(self.store, doc_id, tenants)

    def delete(self, doc_id: str, tenants: Sequence[str]) -> int:
        from ingestion.documents.library import delete_visible_document

        return delete_visible_document(self.store, doc_id, tenants)
