"""The precedents source: lists of funded projects (DETR/DSIL, Fonds vert), one point each.

`items(path)` reads one list (see `ingestion.precedents`) and yields one `SourceItem`
per project, or per malformed row (its error). A project's id is
`projet/<dataset>/<hash of programme, year, beneficiary, title, subsidy>`: importing the
same list again finds the same ids. Items carry the scope `projet/<dataset>/`, so a
re-import mirrors that list (projects gone are deleted) and leaves the others alone;
an unreadable file yields one unscoped error and deletes nothing.

The payload keeps the figures (`cost`, `subsidy`, `rate` as floats) and `match_terms`,
the analyzed words of the title and measure, with which `assistant.aides.precedents`
decides which projects are similar to a request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from llama_index.core.schema import TextNode

from ingestion.pipeline import SourceItem
from ingestion.precedents import Precedent, describe, read, slug
from plume.documents import ChunkMeta, content_hash, point_id
from plume.errors import MalformedDocument
from plume.text import FrenchAnalyzer

NAME = "precedents"
KIND = "projet"


def scope_of(dataset: str) -> str:
    return f"{KIND}/{dataset}/"


def precedent_doc_id(precedent: Precedent, occurrence: int = 1) -> str:
    """Stable id; a second identical row of the same list gets its own (`occurrence`)."""
    identity = precedent.identity + (f"\x1f{occurrence}" if occurrence > 1 else "")
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"{scope_of(precedent.dataset)}{digest}"


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def match_terms(precedent: Precedent, analyzer: FrenchAnalyzer) -> list[str]:
    """The analyzed words a request is compared with: the title's and the measure's."""
    return sorted(set(analyzer.terms(f"{precedent.project} {precedent.measure}")))


def precedent_node(
    precedent: Precedent,
    doc_id: str,
    *,
    version: str,
    dataset_title: str,
    analyzer: FrenchAnalyzer,
) -> TextNode:
    section = " – ".join(p for p in (precedent.programme, precedent.measure) if p)
    meta = ChunkMeta(
        doc_id=doc_id,
        title=precedent.project,
        url="",
        source=NAME,
        source_version=version,
        kind=KIND,
        section=section,
    )
    extra = {
        "dataset": precedent.dataset,
        "dataset_title": dataset_title,
        "programme": precedent.programme,
        "measure": precedent.measure,
        "year": precedent.year,
        "beneficiary": precedent.beneficiary,
        "commune": precedent.commune,
        "commune_insee": precedent.commune_insee,
        "departement": precedent.departement,
        "region": precedent.region,
        "cost": _number(precedent.cost),
        "subsidy": _number(precedent.subsidy),
        "rate": _number(precedent.rate),
        "match_terms": match_terms(precedent, analyzer),
    }
    year = f", {precedent.year}" if precedent.year else ""
    text = f"{precedent.project}\n{section}\n{precedent.beneficiary}{year}"
    payload = {**meta.as_payload(), **extra, "chunk_index": 0}
    payload["content_hash"] = content_hash(text, payload)
    return TextNode(id_=point_id(doc_id, 0), text=text, metadata=payload)


def items(path: Path, *, version: str) -> Iterator[SourceItem]:
    """The projects of one list of funded projects."""
    try:
        projects, errors = read(path)
    except MalformedDocument as exc:
        yield SourceItem(f"{KIND}/fichier", error=exc.message)  # unscoped: nothing deleted
        return
    dataset = slug(path.stem)
    scope = scope_of(dataset)
    title = describe(projects)
    analyzer = FrenchAnalyzer()
    seen: dict[str, int] = {}
    for precedent in projects:
        seen[precedent.identity] = seen.get(precedent.identity, 0) + 1
        doc_id = precedent_doc_id(precedent, seen[precedent.identity])
        node = precedent_node(
            precedent, doc_id, version=version, dataset_title=title, analyzer=analyzer
        )
        yield SourceItem(doc_id, nodes=[node], scope=scope)
    for n, error in enumerate(errors, start=1):
        yield SourceItem(f"{scope}erreur-{n}", error=error, scope=scope)
