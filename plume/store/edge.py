"""Embedded backend: Qdrant's own engine in process (qdrant-edge).

One process owns a shard folder: a second process opening it fails with a WAL lock,
which we report as `StoreLocked`: the CLI then says what to do instead.

A shard is created with the vectors configured (`plume.store.layout`) and opened with
those it has. When the settings ask for others, `migrate` (`plume store migrate`) adds or
removes a named vector in place (one WAL operation), or, when the vectors' storage
changes (datatype, quantization, a dense size), copies the points into a new shard that
then takes the old one's place: the old one is kept beside it until the copy is complete,
so a crash midway loses nothing and is finished (or undone) at the next opening.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as q

from plume.errors import StoreLocked, StoreUnavailable
from plume.store import (
    DAY_FIELDS,
    DENSE,
    KEYWORD_FIELDS,
    LOCAL,
    RRF_K,
    SPARSE,
    Hit,
    Search,
    SearchFilter,
    SourceStats,
    StoredPoint,
    fusion_weights,
    held,
    needs_local,
    searchable,
    sources_from_facets,
)
from plume.store import layout as lay
from plume.store.cache import SourceStatsCache
from plume.store.damage import guarded
from plume.store.edge_layout import DATATYPES, config, copy_into, on_disk
from plume.store.layout import Layout
from plume.text import SparseVec

log = logging.getLogger(__name__)
_FACET_ALL = 1_000_000
_DATATYPES = {
    "float32": q.VectorStorageDatatype.Float32,
    "float16": q.VectorStorageDatatype.Float16,
}


def _filter(where: SearchFilter | None) -> q.Filter | None:
    if where is None:
        return None
    must: list[Any] = [
        q.FieldCondition(key=name, match=q.MatchAny(values)) for name, values in where.conditions()
    ]
    day = where.as_of_day()
    if day is not None:  # in force that day: started on or before it, not ended by then
        for key, bound in (
            ("in_force_from_day", q.RangeFloat(lte=day)),
            ("in_force_to_day", q.RangeFloat(gt=day)),
        ):
            must.append(
                q.Filter(should=[q.FieldCondition(key=key, range=bound), q.IsEmptyCondition(key)])
            )
    end = where.ends_by_day()
    if end is not None:  # texts with no known end never match
        must.append(q.FieldCondition(key="in_force_to_day", range=q.RangeFloat(lte=end)))
    must_not: list[Any] = []
    if where.except_kinds:
        must_not.append(q.FieldCondition(key="kind", match=q.MatchAny(list(where.except_kinds))))
    if where.has_local is not None:
        has = q.HasVectorCondition(LOCAL)
        (must if where.has_local else must_not).append(has)
    return q.Filter(must=must, must_not=must_not) if must_not else q.Filter(must=must)


def _sparse(vec: SparseVec) -> q.SparseVector:
    return q.SparseVector(indices=vec.indices, values=vec.values)


def _request(s: Search) -> q.QueryRequest | None:
    """The engine's request for a search; None when it has no vector to search with."""
    stages: list[q.Prefetch] = []
    names: list[str] = []
    if s.sparse:
        names.append(SPARSE)
        nearest = q.Query.Nearest(_sparse(s.sparse), using=SPARSE)
        stages.append(q.Prefetch(limit=s.prefetch_limit, query=nearest))
    for name, vector in ((DENSE, s.dense), (LOCAL, s.local)):
        if vector is not None:
            names.append(name)
            stages.append(
                q.Prefetch(
                    limit=s.prefetch_limit,
                    query=q.Query.Nearest(vector, using=name),
                    params=q.SearchParams(exact=True),
                )
            )
    if not stages:
        return None
    payload: bool | list[str] = True if s.fields is None else list(s.fields)
    if len(stages) == 1:
        only = stages[0]
        return q.QueryRequest(
            limit=s.limit,
            query=only.query,
            filter=_filter(s.where),
            with_payload=payload,
            params=only.params,
        )
    return q.QueryRequest(
        limit=s.limit,
        prefetches=stages,
        # the stub omits Fusion.Rrf as a query
        query=q.Fusion.Rrf(k=s.rrf_k, weights=fusion_weights(names, s.weights)),  # type: ignore[arg-type]
        filter=_filter(s.where),
        with_payload=payload,
    )


def _stored(pid: str, payload: Any, vector: Any) -> StoredPoint:
    vectors = vector if isinstance(vector, dict) else {}
    bm25 = vectors.get(SPARSE)
    sparse = SparseVec(list(bm25.indices), list(bm25.values)) if bm25 else SparseVec([], [])
    dense, local = vectors.get(DENSE), vectors.get(LOCAL)
    return StoredPoint(
        pid,
        dict(payload or {}),
        sparse,
        list(dense) if dense else None,
        list(local) if local else None,
    )


@guarded
class EdgeStore:
    def __init__(
        self, path: Path, *, dense_dim: int | None = None, layout: Layout | None = None
    ) -> None:
        """`layout`: what a new shard is made with (default: `dense_dim` and e5)."""
        self.path = Path(path)
        self.wanted = layout or Layout(dense_dim=dense_dim).without_cluster()
        self._write_lock = threading.Lock()
        # one process owns the shard: every write is seen, the figures kept until the next
        self.source_stats = SourceStatsCache()
        self._shard = self._open()
        self._layout = on_disk(self.path)
        if lay.changes(self._layout, self.wanted.without_cluster()):
            log.warning("%s: stockage à migrer (plume store migrate)", self.path)

    @property
    def layout(self) -> Layout:
        return self._layout

    @staticmethod
    def _exists(path: Path) -> bool:
        return (path / "wal").exists() or (path / "segments").exists()

    def _open(self) -> q.EdgeShard:
        try:
            if not self._exists(self.path):
                self._finish_migration()
            if self._exists(self.path):
                return q.EdgeShard.load(str(self.path))  # with the vectors it has
            self.path.mkdir(parents=True, exist_ok=True)
            shard = q.EdgeShard.create(str(self.path), config(self.wanted))
            lay.write_file(self.path, self.wanted.without_cluster())
            return shard
        except Exception as exc:
            if "WouldBlock" in str(exc):
                raise StoreLocked(
                    f"Le stockage {self.path} est déjà ouvert par un autre processus "
                    "(probablement `plume serve`) : arrêtez-le, ou passez par son API."
                ) from exc
            raise StoreUnavailable(f"Impossible d'ouvrir le stockage {self.path} : {exc}") from exc

    def _finish_migration(self) -> None:
        """A migration interrupted after the old shard was set aside: finish it."""
        new, old = (
            self.path.with_name(self.path.name + ".new"),
            self.path.with_name(self.path.name + ".old"),
        )
        if self._exists(new) and (new / "complete").exists():
            new.rename(self.path)
        elif self._exists(old):
            old.rename(self.path)  # the copy was not complete: start again from the old shard

    def migrate(self, target: Layout) -> Layout:
        target = target.without_cluster()  # one shard in process
        todo = lay.changes(self._layout, target)
        if not todo:
            return self._layout
        with self._write_lock:
            if all(c.in_place for c in todo):
                have, want = self._layout.vectors(), target.vectors()
                datatype = DATATYPES[target.datatype]
                for name, size in want.items():
                    if name not in have:
                        op = q.UpdateOperation.create_dense_vector(
                            name, size, q.Distance.Cosine, datatype=datatype
                        )
                        self._shard.update(op)
                for name in have:
                    if name not in want:
                        self._shard.update(q.UpdateOperation.delete_vector_name(name))
                self._shard.flush()
            else:
                self._rebuild(target)
            lay.write_file(self.path, target)
            self._layout = target
        self.ensure_collection()  # a rebuilt shard's payload indexes
        log.warning("%s migré : %s", self.path, "; ".join(c.what for c in todo))
        return target

    def _rebuild(self, target: Layout) -> None:
        """Copy every point into a new shard made with `target`, then swap them."""
        new = self.path.with_name(self.path.name + ".new")
        copy_into(self._shard, new, target)
        self._shard.flush()
        self._shard.close()
        old = self.path.with_name(self.path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        self.path.rename(old)
        new.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)
        (self.path / "complete").unlink(missing_ok=True)
        self._shard = q.EdgeShard.load(str(self.path))

    def ensure_collection(self) -> None:
        known = set(self._shard.info().payload_schema)
        keyword, day = q.PayloadSchemaType.Keyword, q.PayloadSchemaType.Integer
        schemas: dict[str, Any] = {
            **dict.fromkeys(KEYWORD_FIELDS, keyword),
            "tenant": q.KeywordIndexParams(is_tenant=True),  # points stored by commune
            **dict.fromkeys(DAY_FIELDS, day),
        }
        with self._write_lock:
            for name, schema in schemas.items():
                if name not in known:
                    self._shard.update(q.UpdateOperation.create_field_index(name, schema))

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        if not points:
            return
        batch = []
        for p in points:
            vector: dict[str, Any] = {SPARSE: _sparse(p.sparse), **held(p, self._layout)}
            batch.append(q.Point(id=p.id, vector=vector, payload=p.payload))
        with self._write_lock:
            self._shard.update(q.UpdateOperation.upsert_points(batch))
        self.source_stats.stale()

    def set_local(self, vectors: Mapping[str, list[float]]) -> None:
        if vectors:
            needs_local(self._layout)
            batch = [q.PointVectors(id=i, vector={LOCAL: list(v)}) for i, v in vectors.items()]
            with self._write_lock:
                self._shard.update(q.UpdateOperation.update_vectors(batch))

    def delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            with self._write_lock:
                self._shard.update(q.UpdateOperation.delete_points(list(ids)))
            self.source_stats.stale()

    def set_payload(self, ids: Sequence[str], payload: dict[str, Any]) -> None:
        if ids:
            with self._write_lock:
                self._shard.update(q.UpdateOperation.set_payload(list(ids), payload))
            self.source_stats.stale()

    def delete(self, where: SearchFilter) -> int:
        flt = _filter(where)
        n = self._shard.count(q.CountRequest(exact=True, filter=flt))
        if n and flt is not None:
            with self._write_lock:
                self._shard.update(q.UpdateOperation.delete_points_by_filter(flt))
            self.source_stats.stale()
        return n

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
        search = Search(sparse, where, limit, dense, local, prefetch_limit, weights, rrf_k, fields)
        return self._search([search])[0]

    def query_batch(self, searches: Sequence[Search]) -> list[list[Hit]]:
        return self._search(searches)

    def _search(self, searches: Sequence[Search]) -> list[list[Hit]]:
        requests = [_request(searchable(s, self._layout)) for s in searches]
        wanted = [r for r in requests if r is not None]
        if len(wanted) == 1:
            found = iter([self._shard.query(wanted[0])])
        else:  # one planned batch: the searches share a pass over the segments
            found = iter(self._shard.query_batch(q.QueryBatchRequest(wanted)) if wanted else [])
        return [
            [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in next(found)]
            if r is not None
            else []
            for r in requests
        ]

    def count(self, where: SearchFilter | None = None) -> int:
        return int(self._shard.count(q.CountRequest(exact=True, filter=_filter(where))))

    def _scroll(self, where: SearchFilter | None, limit: int, **what: Any) -> Iterator[Any]:
        """Every record matching `where`, page by page."""
        offset: Any = None
        while True:
            request = q.ScrollRequest(offset=offset, limit=limit, filter=_filter(where), **what)
            records, offset = self._shard.scroll(request)
            yield from records
            if offset is None:
                return

    def scan(
        self, where: SearchFilter, fields: Sequence[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        for r in self._scroll(where, 1000, with_payload=list(fields)):
            yield str(r.id), dict(r.payload or {})

    def points(self, where: SearchFilter | None = None) -> Iterator[StoredPoint]:
        for r in self._scroll(where, 500, with_payload=True, with_vector=True):
            yield _stored(str(r.id), r.payload, r.vector)

    def _facet(self, key: str, source: str | None) -> dict[str, int]:
        flt = None
        if source is not None:
            flt = q.Filter(must=[q.FieldCondition(key="source", match=q.MatchValue(source))])
        request = q.FacetRequest(key=key, limit=_FACET_ALL, exact=True, filter=flt)
        return {str(h.value): int(h.count) for h in self._shard.facet(request).hits}

    def list_sources(self) -> list[SourceStats]:
        return self.source_stats.get(lambda: sources_from_facets(self._facet))

    def flush(self) -> None:
        with self._write_lock:
            self._shard.flush()

    def close(self) -> None:
        with self._write_lock:
            self._shard.flush()
            self._shard.close()
