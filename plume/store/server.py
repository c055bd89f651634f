"""Server backend: a Qdrant server through qdrant-client.

For production and scale-out (several API replicas, ingestion from another process).
`url=":memory:"` or a folder path gives qdrant-client's local mode, which the contract
tests use as the closest thing to a server available offline.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from plume.errors import StoreUnavailable
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
    cluster,
    fusion_weights,
    held,
    needs_local,
    searchable,
    sources_from_facets,
)
from plume.store.cache import SourceStatsCache
from plume.store.damage import guarded
from plume.store.layout import Layout, changes
from plume.text import SparseVec

_FACET_ALL = 1_000_000
SHARED_STATS_MAX_AGE_S = 60.0


def _filter(where: SearchFilter | None) -> models.Filter | None:
    if where is None:
        return None
    must: list[models.Condition] = [
        models.FieldCondition(key=name, match=models.MatchAny(any=values))
        for name, values in where.conditions()
    ]
    day = where.as_of_day()
    if day is not None:  # in force that day: started on or before it, not ended by then
        for key, bound in (
            ("in_force_from_day", models.Range(lte=day)),
            ("in_force_to_day", models.Range(gt=day)),
        ):
            unknown = models.IsEmptyCondition(is_empty=models.PayloadField(key=key))
            must.append(
                models.Filter(should=[models.FieldCondition(key=key, range=bound), unknown])
            )
    end = where.ends_by_day()
    if end is not None:  # texts with no known end never match
        must.append(models.FieldCondition(key="in_force_to_day", range=models.Range(lte=end)))
    must_not: list[models.Condition] = []
    if where.except_kinds:
        kinds = models.MatchAny(any=list(where.except_kinds))
        must_not.append(models.FieldCondition(key="kind", match=kinds))
    if where.has_local is not None:
        has = models.HasVectorCondition(has_vector=LOCAL)
        (must if where.has_local else must_not).append(has)
    return models.Filter(must=must, must_not=must_not) if must_not else models.Filter(must=must)


def _sparse(vec: SparseVec) -> models.SparseVector:
    return models.SparseVector(indices=vec.indices, values=vec.values)


def _request(s: Search) -> models.QueryRequest | None:
    """The server's request for a search; None when it has no vector to search with."""
    exact = models.SearchParams(exact=True)
    stages: list[models.Prefetch] = []
    names: list[str] = []
    if s.sparse:
        names.append(SPARSE)
        nearest = _sparse(s.sparse)
        stages.append(models.Prefetch(query=nearest, using=SPARSE, limit=s.prefetch_limit))
    for name, vector in ((DENSE, s.dense), (LOCAL, s.local)):
        if vector is not None:
            names.append(name)
            stages.append(
                models.Prefetch(query=vector, using=name, limit=s.prefetch_limit, params=exact)
            )
    if not stages:
        return None
    payload: bool | list[str] = True if s.fields is None else list(s.fields)
    if len(stages) == 1:
        only = stages[0]
        return models.QueryRequest(
            query=only.query,
            using=only.using,
            params=only.params,
            filter=_filter(s.where),
            limit=s.limit,
            with_payload=payload,
        )
    rrf = models.Rrf(k=s.rrf_k, weights=fusion_weights(names, s.weights))
    return models.QueryRequest(
        prefetch=stages,
        query=models.RrfQuery(rrf=rrf),
        filter=_filter(s.where),
        limit=s.limit,
        with_payload=payload,
    )


@guarded
class ServerStore:
    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        collection: str = "plume",
        dense_dim: int | None = None,
        layout: Layout | None = None,
    ) -> None:
        """`layout`: what a new collection is made with (default: `dense_dim` and e5)."""
        self.collection = collection
        self.wanted = layout or Layout(dense_dim=dense_dim)
        self._layout: Layout | None = None  # read from the collection when first needed
        if url == ":memory:":
            self._client = QdrantClient(location=":memory:")
        elif url.startswith(("http://", "https://")):
            self._client = QdrantClient(url=url, api_key=api_key, timeout=30)
        else:
            self._client = QdrantClient(path=url)
        # a server may also be written by other processes (`plume ingest`, replicas): their
        # writes show in the per-source figures within a minute
        shared = url.startswith(("http://", "https://"))
        self.source_stats = SourceStatsCache(max_age=SHARED_STATS_MAX_AGE_S if shared else None)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ResponseHandlingException, UnexpectedResponse, ConnectionError) as exc:
            raise StoreUnavailable(f"Le serveur Qdrant ne répond pas correctement : {exc}") from exc

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            if not self._call(self._client.collection_exists, self.collection):
                return self.wanted
            info = self._call(self._client.get_collection, self.collection)
            self._layout = cluster.recorded(info)
        return self._layout

    def ensure_collection(self) -> None:
        if not self._call(self._client.collection_exists, self.collection):
            args = cluster.create_args(self.wanted)
            self._call(self._client.create_collection, self.collection, **args)
            self._layout = self.wanted
            for key in self.wanted.cluster.keys() if self.wanted.cluster.custom else ():
                self._create_key(key)
        schemas: dict[str, Any] = {
            **dict.fromkeys(KEYWORD_FIELDS, models.PayloadSchemaType.KEYWORD),
            "tenant": cluster.tenant_index(),  # each commune's points stored together
            **dict.fromkeys(DAY_FIELDS, models.PayloadSchemaType.INTEGER),
        }
        for name, schema in schemas.items():
            self._call(
                self._client.create_payload_index,
                self.collection,
                field_name=name,
                field_schema=schema,
            )

    def _create_key(self, key: str) -> None:
        c = self.wanted.cluster
        self._call(
            self._client.create_shard_key,
            self.collection,
            key,
            shards_number=c.shards,
            replication_factor=c.replication,
        )

    def migrate(self, target: Layout) -> Layout:
        """Vectors added or removed, replication and write consistency changed, new shard
        keys created, in place; a change of shards, of the vectors' storage or of a dense
        size needs a new collection (refused before anything is written)."""
        self.ensure_collection()
        current = self.layout
        todo = changes(current, target)
        rebuild = [c.what for c in todo if not c.in_place]
        if rebuild:
            raise StoreUnavailable(
                "Ces changements demandent une nouvelle collection : "
                + "; ".join(rebuild)
                + ". Choisissez un autre PLUME_COLLECTION, lancez `plume store init`, "
                "réingérez, puis basculez."
            )
        if not todo:
            return current
        self.wanted = target
        cluster.apply(self._call, self._client, self.collection, current, target)
        self._layout = target
        return target

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        if not points:
            return
        layout = self.layout
        batch = []
        for p in points:
            vector: dict[str, Any] = {SPARSE: _sparse(p.sparse), **held(p, layout)}
            point = models.PointStruct(id=p.id, vector=vector, payload=p.payload)
            batch.append((str(p.payload.get("tenant", "")), point))
        for key, group in cluster.by_key(layout, batch).items():
            self._call(
                self._client.upsert,
                self.collection,
                points=group,
                wait=True,
                shard_key_selector=key,
            )
        self.source_stats.stale()

    def set_local(self, vectors: Mapping[str, list[float]]) -> None:
        if not vectors:
            return
        layout = self.layout
        needs_local(layout)
        tenants: dict[str, str] = {}
        if layout.cluster.custom:  # each point's shard key, from its tenant
            found = self._call(
                self._client.retrieve, self.collection, list(vectors), with_payload=["tenant"]
            )
            tenants = {str(r.id): str((r.payload or {}).get("tenant", "")) for r in found}
        batch = [
            (tenants.get(i, ""), models.PointVectors(id=i, vector={LOCAL: list(v)}))
            for i, v in vectors.items()
        ]
        for key, group in cluster.by_key(layout, batch).items():
            self._call(
                self._client.update_vectors,
                self.collection,
                points=group,
                wait=True,
                shard_key_selector=key,
            )

    def delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            self._call(
                self._client.delete,
                self.collection,
                points_selector=models.PointIdsList(points=list(ids)),
                wait=True,
            )
            self.source_stats.stale()

    def set_payload(self, ids: Sequence[str], payload: dict[str, Any]) -> None:
        if ids:
            self._call(
                self._client.set_payload,
                self.collection,
                payload=payload,
                points=list(ids),
                wait=True,
            )
            self.source_stats.stale()

    def delete(self, where: SearchFilter) -> int:
        n = self.count(where)
        flt = _filter(where)
        if n and flt is not None:
            self._call(
                self._client.delete,
                self.collection,
                points_selector=models.FilterSelector(filter=flt),
                wait=True,
            )
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
        layout = self.layout
        requests = [self._keyed(_request(searchable(s, layout)), s.where) for s in searches]
        wanted = [r for r in requests if r is not None]
        responses = (
            iter(self._call(self._client.query_batch_points, self.collection, requests=wanted))
            if wanted
            else iter([])
        )
        return [
            [Hit(str(p.id), float(p.score), dict(p.payload or {})) for p in next(responses).points]
            if r is not None
            else []
            for r in requests
        ]

    def _keyed(self, request: models.QueryRequest | None, where: SearchFilter) -> Any:
        """The request limited to the shards of the tenants it may see (custom sharding)."""
        if request is None or where.every_tenant:
            return request
        keys = cluster.keys_for(self.layout, where.visible_tenants())
        return request if keys is None else request.model_copy(update={"shard_key": keys})

    def count(self, where: SearchFilter | None = None) -> int:
        resp = self._call(
            self._client.count, self.collection, count_filter=_filter(where), exact=True
        )
        return int(resp.count)

    def _scroll(self, where: SearchFilter | None, limit: int, **what: Any) -> Iterator[Any]:
        """Every record matching `where`, page by page."""
        offset: Any = None
        while True:
            records, offset = self._call(
                self._client.scroll,
                self.collection,
                scroll_filter=_filter(where),
                limit=limit,
                offset=offset,
                **what,
            )
            yield from records
            if offset is None:
                return

    def scan(
        self, where: SearchFilter, fields: Sequence[str]
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        for r in self._scroll(where, 1000, with_payload=list(fields)):
            yield str(r.id), dict(r.payload or {})

    def points(self, where: SearchFilter | None = None) -> Iterator[StoredPoint]:
        for r in self._scroll(where, 500, with_payload=True, with_vectors=True):
            vectors = r.vector if isinstance(r.vector, dict) else {}
            bm25 = vectors.get(SPARSE)
            sparse = (
                SparseVec(list(bm25.indices), list(bm25.values))  # type: ignore[union-attr]
                if bm25 is not None
                else SparseVec([], [])
            )
            dense, local = vectors.get(DENSE), vectors.get(LOCAL)
            yield StoredPoint(
                str(r.id),
                dict(r.payload or {}),
                sparse,
                list(dense) if dense else None,  # type: ignore[arg-type]
                list(local) if local else None,  # type: ignore[arg-type]
            )

    def _facet(self, key: str, source: str | None) -> dict[str, int]:
        flt = None
        if source is not None:
            match = models.MatchValue(value=source)
            flt = models.Filter(must=[models.FieldCondition(key="source", match=match)])
        resp = self._call(
            self._client.facet,
            self.collection,
            key=key,
            facet_filter=flt,
            limit=_FACET_ALL,
            exact=True,
        )
        return {str(h.value): int(h.count) for h in resp.hits}

    def list_sources(self) -> list[SourceStats]:
        return self.source_stats.get(lambda: sources_from_facets(self._facet))

    def flush(self) -> None:
        """The server persists on its own; nothing to do."""

    def close(self) -> None:
        self._client.close()
