"""The embedded store's engine configuration for a layout, its reading back, and the copy
of a shard into one with another layout (`EdgeStore.migrate`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import qdrant_edge as q

from plume.store import layout as lay
from plume.store.layout import DENSE, LOCAL, SPARSE, Layout

DATATYPES = {"float32": q.VectorStorageDatatype.Float32, "float16": q.VectorStorageDatatype.Float16}


def config(layout: Layout) -> q.EdgeConfig:
    datatype = DATATYPES[layout.datatype]
    vectors = {
        name: q.EdgeVectorParams(size=size, distance=q.Distance.Cosine, datatype=datatype)
        for name, size in layout.vectors().items()
    }
    quantization = (  # int8 copies in RAM; the originals stay on disk, read to rescore
        q.ScalarQuantizationConfig(type=q.ScalarType.Int8, quantile=0.99, memory=q.Memory.Pinned)
        if layout.quantized and vectors
        else None
    )
    return q.EdgeConfig(
        vectors=vectors or None,
        sparse_vectors={SPARSE: q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
        quantization_config=quantization,
    )


def on_disk(path: Path) -> Layout:
    """A shard's layout: its record, or what its engine config says (older shards)."""
    recorded = lay.read_file(path)
    if recorded is not None:
        return recorded
    config = json.loads((path / "edge_config.json").read_text())
    vectors = config.get("vectors") or {}
    return Layout(
        dense_dim=vectors[DENSE]["size"] if DENSE in vectors else None,
        local=LOCAL in vectors,
        datatype="float16"
        if any(v.get("datatype") == "float16" for v in vectors.values())
        else "float32",
        quantized=bool(config.get("quantization_config")),
    )


def copy_into(old: q.EdgeShard, new: Path, target: Layout) -> None:
    """Every point of `old` into a new shard at `new` made with `target` (vectors it does
    not hold left out), marked `complete` once flushed."""
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    shard = q.EdgeShard.create(str(new), config(target))
    keep = set(target.vectors()) | {SPARSE}
    offset: Any = None
    while True:
        request = q.ScrollRequest(offset=offset, limit=500, with_payload=True, with_vector=True)
        records, offset = old.scroll(request)
        batch = []
        for r in records:
            vectors = r.vector if isinstance(r.vector, dict) else {}
            kept = {k: v for k, v in vectors.items() if k in keep}
            batch.append(q.Point(id=r.id, vector=kept, payload=r.payload))
        if batch:
            shard.update(q.UpdateOperation.upsert_points(batch))
        if offset is None:
            break
    shard.flush()
    shard.close()
    lay.write_file(new, target)
    (new / "complete").touch()
