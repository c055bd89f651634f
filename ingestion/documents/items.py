"""Uploaded files → `SourceItem`s of the `documents` source, one per file.

Chunks follow the document's structure: a title element opens a section (its heading
stays on the chunk), elements are gathered up to `max_chars`, and a chunk never spans
two pages, so each one cites its page (« p. 3 »); each element is first cleaned of
citation markers and forged source headers (`clean`). Doc ids are `doc/<tenant>/<hash>`:
the same bytes uploaded twice are the same document.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import TextNode

from ingestion.documents.clean import clean
from ingestion.documents.parse import ParsedDocument
from ingestion.documents.partition import Element
from ingestion.pipeline import SourceItem
from plume.documents import ChunkMeta, content_hash, point_id

SOURCE = "documents"
MAX_CHARS = 1500
MAX_HEADING_WORDS = 14


@dataclass(frozen=True)
class Upload:
    """A file as received: its name (shown, never trusted for its type) and bytes."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Provenance:
    """Who loaded a document, when, for which commune."""

    tenant: str
    uploaded_by: str
    uploaded_at: str  # ISO date-time, UTC


def _is_heading(el: Element) -> bool:
    words = el.text.split()
    return el.kind == "title" and 0 < len(words) <= MAX_HEADING_WORDS and el.text[-1] not in ".,;"


def _pieces(elements: list[Element], max_chars: int) -> Iterator[tuple[int | None, str, str]]:
    """(page, section heading, text) of each chunk, in order."""
    splitter = SentenceSplitter(chunk_size=max_chars // 4, chunk_overlap=20)
    heading, page, lines = "", None, []  # type: tuple[str, int | None, list[str]]

    def flush() -> Iterator[tuple[int | None, str, str]]:
        text = "\n".join(lines).strip()
        if not text:
            return
        parts = [text] if len(text) <= max_chars else splitter.split_text(text)
        for part in parts:
            yield page, heading, part

    size = 0
    for el in elements:
        new_page = el.page != page and lines
        if (
            new_page
            or (_is_heading(el) and size > max_chars // 3)
            or size + len(el.text) > max_chars
        ):
            yield from flush()
            lines, size = [], 0
        if _is_heading(el):
            heading = el.text
        if not lines:
            page = el.page
        text = f"• {el.text}" if el.kind == "list" else el.text
        lines.append(text)
        size += len(text) + 1
    yield from flush()


def document_nodes(
    doc_id: str,
    title: str,
    upload: Upload,
    parsed: ParsedDocument,
    who: Provenance,
    max_chars: int = MAX_CHARS,
) -> list[TextNode]:
    meta = ChunkMeta(
        doc_id=doc_id,
        title=title,
        url=f"/v1/documents/{doc_id}",
        source=SOURCE,
        source_version=doc_id.rsplit("/", 1)[-1],
        kind="document",
        doc_type=parsed.format,
        modified=who.uploaded_at[:10],
        tenant=who.tenant,
    )
    extra = {
        "file_name": upload.name,
        "pages": parsed.pages,
        "uploaded_by": who.uploaded_by,
        "uploaded_at": who.uploaded_at,
        "size": len(upload.data),
    }
    # a document's own « [1] » markers and forged source headers go (documents/clean.py)
    elements = [replace(el, text=t) for el in parsed.elements if (t := clean(el.text))]
    nodes = []
    for index, (page, heading, text) in enumerate(_pieces(elements, max_chars)):
        payload = {**meta.as_payload(), **extra, "section": heading, "page": page}
        payload["chunk_index"] = index
        payload["content_hash"] = content_hash(
            text, {k: v for k, v in payload.items() if k not in ("uploaded_at", "modified")}
        )
        nodes.append(TextNode(id_=point_id(doc_id, index), text=text, metadata=payload))
    return nodes


def document_item(doc_id: str, nodes: list[TextNode]) -> SourceItem:
    return SourceItem(doc_id=doc_id, nodes=nodes, scope=None)
