"""Fiches → llama-index `TextNode`s, one per section of the fiche's own structure.

Each node's text is the section's body; its metadata is the chunk payload (doc id,
title, breadcrumb, section path, url, dates…). The words that make a chunk stand alone
(title, breadcrumb, section headings) are indexed with it (`index_text`) but not
repeated in the text shown to the user. Sections longer than `max_tokens` are split
by sentence with llama-index's `SentenceSplitter`, the headings staying on each piece.
"""

from __future__ import annotations

from functools import lru_cache

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import TextNode

from ingestion.fiches import Fiche
from ingestion.references import fiche_links, law_ids
from plume.documents import ChunkMeta, content_hash, payload_index_text, point_id, vdd_doc_id

MAX_TOKENS = 400
OVERLAP_TOKENS = 40
FIELD_REPEAT = 2  # times the title and the nearest heading are indexed (body: once)


@lru_cache(maxsize=4)
def _splitter(max_tokens: int) -> SentenceSplitter:
    return SentenceSplitter(chunk_size=max_tokens, chunk_overlap=OVERLAP_TOKENS)


def index_text(node: TextNode) -> str:
    """What the sparse and dense vectors are computed from: headings + body, then the
    title and the nearest heading once more (`FIELD_REPEAT`), so that they weigh more
    than a word of the body: « concession funéraire » finds the section of that name."""
    meta = node.metadata
    fields = [str(meta.get("title") or ""), str(meta.get("section") or "").split(" > ")[-1]]
    boost = "\n".join(f for f in fields if f)
    return "\n".join([payload_index_text(meta, node.text), *[boost] * (FIELD_REPEAT - 1)])


def fiche_nodes(
    fiche: Fiche, *, source: str, version: str, max_tokens: int | None = None
) -> list[TextNode]:
    doc_id = vdd_doc_id(fiche.id)
    meta = ChunkMeta(
        doc_id=doc_id,
        title=fiche.title,
        url=fiche.url,
        source=source,
        source_version=version,
        kind="fiche",
        breadcrumb=fiche.breadcrumb,
        audience=sorted(fiche.audience),
        doc_type=fiche.doc_type,
        modified=fiche.modified,
    )
    law = law_ids(fiche_links(fiche.references))  # the articles the fiche rests on
    pieces: list[tuple[str, str]] = []
    if fiche.description:
        pieces.append(("", fiche.description))
    splitter = _splitter(max_tokens or MAX_TOKENS)
    for section in fiche.sections:
        heading = " > ".join(p for p in section.path if p)
        for part in splitter.split_text(section.text):
            pieces.append((heading, part))
    if not pieces:
        pieces.append(("", fiche.title))

    nodes = []
    for index, (heading, text) in enumerate(pieces):
        payload = {**meta.as_payload(), "section": heading, "chunk_index": index, "law": law}
        payload["content_hash"] = content_hash(text, payload)
        nodes.append(TextNode(id_=point_id(doc_id, index), text=text, metadata=payload))
    return nodes
