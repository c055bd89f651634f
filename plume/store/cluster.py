"""The server backend's collection, laid out on a Qdrant cluster (`plume.store.layout`).

Multitenancy as Qdrant recommends it: one collection, the `tenant` keyword index marked
`is_tenant` (each commune's points stored together), and, when communes are mapped to
shard keys (a région, a département), custom sharding: the shared corpus under its own
key, the communes of a key on its shards, the others under `communes`. A search then
reads only the shards of the keys it may see. The layout is recorded in the collection's
metadata (`plume_layout`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from qdrant_client import models

from plume.store.layout import DENSE, LOCAL, SPARSE, Layout

METADATA_KEY = "plume_layout"
_DATATYPES = {"float32": models.Datatype.FLOAT32, "float16": models.Datatype.FLOAT16}


def vector_params(layout: Layout, size: int) -> models.VectorParams:
    quantization = None
    if layout.quantized:  # int8 copies in RAM, the originals on disk to rescore
        config = models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, quantile=0.99, always_ram=True
        )
        quantization = models.ScalarQuantization(scalar=config)
    return models.VectorParams(
        size=size,
        distance=models.Distance.COSINE,
        datatype=_DATATYPES[layout.datatype],
        quantization_config=quantization,
        on_disk=True if layout.quantized else None,
    )


def create_args(layout: Layout) -> dict[str, Any]:
    """The arguments of `create_collection` for this layout."""
    c = layout.cluster
    return {
        "vectors_config": {n: vector_params(layout, s) for n, s in layout.vectors().items()},
        "sparse_vectors_config": {SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        "shard_number": c.shards,
        "sharding_method": models.ShardingMethod.CUSTOM if c.custom else None,
        "replication_factor": c.replication,
        "write_consistency_factor": c.write_consistency,
        "metadata": {METADATA_KEY: layout.as_dict()},
    }


def tenant_index() -> models.KeywordIndexParams:
    return models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True)


def recorded(info: Any) -> Layout:
    """The layout of an existing collection: its record, or what its config says."""
    metadata = getattr(info.config, "metadata", None) or {}
    if METADATA_KEY in metadata:
        return Layout.from_dict(metadata[METADATA_KEY])
    vectors = info.config.params.vectors
    vectors = vectors if isinstance(vectors, dict) else {}
    dense = vectors.get(DENSE)
    return Layout(dense_dim=dense.size if dense else None, local=LOCAL in vectors)


def keys_for(layout: Layout, tenants: Iterable[str]) -> list[str] | None:
    """The shard keys holding these tenants' points (None: every shard)."""
    if not layout.cluster.custom:
        return None
    return sorted({layout.cluster.key_of(t) for t in tenants})


def by_key(layout: Layout, pairs: Iterable[tuple[str, Any]]) -> dict[str | None, list[Any]]:
    """(tenant, item) pairs grouped by shard key (one group, None, without custom keys)."""
    out: dict[str | None, list[Any]] = {}
    for tenant, item in pairs:
        key = layout.cluster.key_of(tenant) if layout.cluster.custom else None
        out.setdefault(key, []).append(item)
    return out


def apply(
    call: Callable[..., Any], client: Any, collection: str, current: Layout, target: Layout
) -> None:
    """The in-place part of a migration (`ServerStore.migrate`): named vectors added or
    removed, new shard keys, replication and write consistency, the layout recorded.
    `call` runs a client method (errors become `StoreUnavailable`)."""
    have, want = current.vectors(), target.vectors()
    for name in [n for n in want if n not in have]:
        params = vector_params(target, want[name])
        config = models.DenseVectorConfig(
            size=params.size, distance=params.distance, datatype=params.datatype
        )
        vector = models.DenseVectorNameConfig(dense=config)
        call(client.create_vector_name, collection, name, vector)
    for name in [n for n in have if n not in want]:
        call(client.delete_vector_name, collection, name)
    c = target.cluster
    new_keys = set(c.keys()) - set(current.cluster.keys()) if c.custom else set()
    for key in sorted(new_keys):
        call(
            client.create_shard_key,
            collection,
            key,
            shards_number=c.shards,
            replication_factor=c.replication,
        )
    call(
        client.update_collection,
        collection,
        collection_params=models.CollectionParamsDiff(
            replication_factor=c.replication, write_consistency_factor=c.write_consistency
        ),
        metadata={METADATA_KEY: target.as_dict()},
    )
