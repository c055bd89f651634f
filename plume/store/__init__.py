"""The Store: Plume's one narrow door to Qdrant.

Two backends implement it, and one contract test suite runs on both:
- `EdgeStore`: Qdrant's engine in process (qdrant-edge), the embedded default;
- `ServerStore`: a Qdrant server through qdrant-client (or its local mode in tests).

A collection holds named vectors `bm25` (sparse, IDF applied by Qdrant) and, only when
enabled (`store.layout`), `dense` (mistral-embed, cosine, optional per point) and `e5`
(multilingual-e5-small computed in process, cosine, optional per point: filled in the
background after BM25 indexing). A vector the collection lacks is left out of upserts.
Hybrid queries are fused by (weighted) RRF inside Qdrant.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Protocol

from plume.documents import SHARED_TENANT, day_number
from plume.store.layout import DENSE as DENSE
from plume.store.layout import LOCAL as LOCAL
from plume.store.layout import LOCAL_DIM as LOCAL_DIM
from plume.store.layout import SPARSE as SPARSE
from plume.store.layout import Layout
from plume.text import SparseVec

RRF_K = 60
KEYWORD_FIELDS = (
    *("doc_id", "source", "source_version", "kind", "audience", "tenant"),
    # grants (beneficiary types, aid types, themes, normalised perimeter) and funded projects
    *("beneficiaries", "aid_types", "categories", "perimeter_key", "programme", "departement"),
    "law",  # a fiche's legal basis: doc ids of the articles it cites (ingestion.references)
)
DAY_FIELDS = ("in_force_from_day", "in_force_to_day")  # integer days since 1970-01-01


@dataclass(frozen=True)
class StoredPoint:
    id: str
    payload: dict[str, Any]
    sparse: SparseVec
    dense: list[float] | None = None
    local: list[float] | None = None  # the e5 vector, when it has been computed


@dataclass(frozen=True)
class SearchFilter:
    """What a search may see. `tenants` are the caller's communes; the shared corpus is
    always visible, other communes' documents never are."""

    sources: Sequence[str] | None = None
    audiences: Sequence[str] | None = None
    kinds: Sequence[str] | None = None
    doc_ids: Sequence[str] | None = None
    tenants: Sequence[str] = ()
    as_of: date | None = None  # only texts in force that day (texts without dates always are)
    ends_by: date | None = None  # only texts whose validity ends by that day (aids closing soon)
    fields: Mapping[str, Sequence[str]] = field(default_factory=dict)  # more keyword conditions
    has_local: bool | None = None  # with (True) or without (False) an e5 vector; None: any
    every_tenant: bool = False  # maintenance (e5 vectors, coverage): every commune's points
    except_kinds: Sequence[str] = ()  # kinds left out (points without a kind stay in)

    def visible_tenants(self) -> list[str]:
        return [SHARED_TENANT, *[t for t in self.tenants if t != SHARED_TENANT]]

    def conditions(self) -> list[tuple[str, list[str]]]:
        """(field, allowed values) pairs that must all match."""
        out: list[tuple[str, list[str]]] = (
            [] if self.every_tenant else [("tenant", self.visible_tenants())]
        )
        for name, values in (
            ("source", self.sources),
            ("audience", self.audiences),
            ("kind", self.kinds),
            ("doc_id", self.doc_ids),
        ):
            if values:
                out.append((name, list(values)))
        for name, values in self.fields.items():
            if name not in KEYWORD_FIELDS:
                raise ValueError(f"{name} is not an indexed keyword field")
            out.append((name, list(values)))
        return out

    def as_of_day(self) -> int | None:
        return day_number(self.as_of.isoformat(), 0) if self.as_of else None

    def ends_by_day(self) -> int | None:
        return day_number(self.ends_by.isoformat(), 0) if self.ends_by else None


@dataclass(frozen=True)
class Hit:
    id: str
    score: float
    payload: dict[str, Any]

    @property
    def doc_id(self) -> str:
        return str(self.payload.get("doc_id", ""))

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))


@dataclass(frozen=True)
class Search:
    """One query of `Store.query_batch`: the arguments of `Store.query`."""

    sparse: SparseVec | None
    where: SearchFilter
    limit: int
    dense: list[float] | None = None
    local: list[float] | None = None
    prefetch_limit: int = 50
    weights: Mapping[str, float] | None = None
    rrf_k: int = RRF_K
    fields: Sequence[str] | None = None  # the payload fields returned; None: all of them


@dataclass(frozen=True)
class SourceStats:
    source: str
    documents: int
    chunks: int
    versions: dict[str, int] = field(default_factory=dict)
    # documents per part, when doc ids name one (`legi/<code>/<num>`: per code)
    parts: dict[str, int] = field(default_factory=dict)


Facet = Callable[[str, "str | None"], dict[str, int]]


def sources_from_facets(facet: Facet) -> list[SourceStats]:
    """`list_sources` for any backend, given its facet counts (field, within a source)."""
    stats = []
    for source, chunks in sorted(facet("source", None).items()):
        if not chunks:  # every passage deleted: qdrant-edge may still name the value
            continue
        doc_ids = facet("doc_id", source)
        parts: dict[str, int] = {}
        for doc_id in doc_ids:
            kind, _, rest = doc_id.partition("/")
            part, _, leaf = rest.partition("/")
            if leaf:
                parts[f"{kind}/{part}"] = parts.get(f"{kind}/{part}", 0) + 1
        stats.append(
            SourceStats(source, len(doc_ids), chunks, facet("source_version", source), parts)
        )
    return stats


class Store(Protocol):
    """The operations Plume needs from a vector store, and nothing more."""

    def ensure_collection(self) -> None:
        """Create the collection and its payload indexes if missing (idempotent)."""

    @property
    def layout(self) -> Layout:
        """What the collection holds now (vectors, quantization, cluster layout)."""

    def migrate(self, target: Layout) -> Layout:
        """Bring the collection to `target` (vectors added or removed, rebuilt if need be);
        returns the layout now recorded."""

    def upsert(self, points: Sequence[StoredPoint]) -> None: ...

    def delete_ids(self, ids: Sequence[str]) -> None: ...

    def set_payload(self, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Set these payload fields on these points (other fields unchanged)."""

    def delete(self, where: SearchFilter) -> int:
        """Delete the points matching `where`; returns how many were deleted."""

    def query(
        self,
        *,
        sparse: SparseVec | None,
        dense: list[float] | None,
        where: SearchFilter,
        limit: int,
        prefetch_limit: int = 50,
        local: list[float] | None = None,
        weights: Mapping[str, float] | None = None,
        rrf_k: int = RRF_K,
        fields: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Hybrid search: the candidates of each vector given (sparse, dense, local) fused by
        RRF (constant `rrf_k`) in Qdrant, each list weighted by `weights[name]` (1 by
        default; Qdrant divides a rank by its list's weight, so weights matter at small k).
        `fields`: the payload fields returned (None: all)."""

    def query_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        """Several queries in one call to the engine, their hits in the same order."""

    def set_local(self, vectors: Mapping[str, list[float]]) -> None:
        """Set the e5 vector of these points (point id → vector); the rest is unchanged."""

    def count(self, where: SearchFilter | None = None) -> int: ...

    def scan(
        self, where: SearchFilter, fields: Sequence[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every matching point's id and the requested payload fields."""

    def points(self, where: SearchFilter | None = None) -> Iterator[StoredPoint]:
        """Every matching point with its whole payload and vectors (export)."""

    def list_sources(self) -> list[SourceStats]: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def open_store(settings: Any) -> Store:
    """Build the configured backend. `settings` is a `plume.settings.Settings`."""
    from plume.settings import StoreBackend
    from plume.store.layout import from_settings

    wanted = from_settings(settings)
    if settings.store_host is not None and settings.store_backend is StoreBackend.edge:
        from plume.store_replica import connect_replica  # a worker of `plume serve --workers`

        def copy(folder: Any) -> Store:  # its own copy: searches; writes go to the owner
            return open_store(settings.model_copy(update={"data_dir": folder, "store_host": None}))

        shared: Store = connect_replica(settings.store_host, copy, settings.workers_refresh_s)
        return shared
    if settings.store_backend is StoreBackend.edge:
        from plume.store.edge import EdgeStore

        return EdgeStore(settings.store_dir, layout=wanted)
    from plume.store.server import ServerStore

    key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
    return ServerStore(
        settings.qdrant_url,
        api_key=key,
        collection=settings.collection,
        layout=wanted,
    )


def held(point: StoredPoint, layout: Layout) -> dict[str, list[float]]:
    """The point's dense and e5 vectors the collection holds (the others are left out: a
    store made without them, until `plume store migrate`)."""
    have = layout.vectors()
    given = ((DENSE, point.dense), (LOCAL, point.local))
    return {name: v for name, v in given if v is not None and name in have}


def searchable(search: Search, layout: Layout) -> Search:
    """The search without the vectors the collection lacks (a model configured before
    `plume store migrate` added its vector: BM25 answers meanwhile)."""
    have = layout.vectors()
    dense = search.dense if DENSE in have else None
    local = search.local if LOCAL in have else None
    if (dense, local) == (search.dense, search.local):
        return search
    return replace(search, dense=dense, local=local)


def needs_local(layout: Layout) -> None:
    if not layout.local:
        from plume.errors import StoreUnavailable

        raise StoreUnavailable(
            "Le stockage n'a pas de vecteur e5 : activez PLUME_LOCAL_DENSE puis lancez "
            "`plume store migrate`."
        )


def fusion_weights(
    stages: Sequence[str], weights: Mapping[str, float] | None
) -> list[float] | None:
    """The RRF weight of each prefetch, in order; None when they all weigh 1."""
    if not weights:
        return None
    out = [float(weights.get(name, 1.0)) for name in stages]
    return None if all(w == 1.0 for w in out) else out
