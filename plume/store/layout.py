"""What a collection holds and how it is laid out.

The vectors configured and nothing more: `bm25` (sparse) always, `e5` (local, 384) and
`dense` (mistral-embed) only when enabled; their storage type and quantization; and on a
Qdrant cluster the shards, replicas, write consistency and the tenants' shard keys.

The layout a store was made with is recorded beside it (`plume-layout.json` in the edge
shard's folder, the collection's metadata on a server): `plume store etat` shows it and
what the settings would change, `plume store migrate` applies the change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from plume.documents import SHARED_TENANT

DENSE = "dense"
SPARSE = "bm25"
LOCAL = "e5"
LOCAL_DIM = 384
LAYOUT_FILE = "plume-layout.json"
SHARED_KEY = SHARED_TENANT  # the shared corpus' shard key
DEFAULT_KEY = "communes"  # the communes no shard key is given to
Datatype = Literal["float32", "float16"]


@dataclass(frozen=True)
class Cluster:
    """A Qdrant cluster's layout of the collection (server backend only)."""

    shards: int = 1
    replication: int = 1
    write_consistency: int = 1
    # tenant (commune) → shard key (a région, a département…): custom sharding when given
    shard_keys: Mapping[str, str] = field(default_factory=dict)

    @property
    def custom(self) -> bool:
        return bool(self.shard_keys)

    def key_of(self, tenant: str) -> str:
        if tenant == SHARED_TENANT:
            return SHARED_KEY
        return self.shard_keys.get(tenant, DEFAULT_KEY)

    def keys(self) -> list[str]:
        return sorted({SHARED_KEY, DEFAULT_KEY, *self.shard_keys.values()})


@dataclass(frozen=True)
class Layout:
    dense_dim: int | None = None  # mistral-embed's vector, when dense search is enabled
    local: bool = True  # the e5 vector
    datatype: Datatype = "float32"  # storage of the dense and e5 vectors
    quantized: bool = False  # scalar int8 copies of the dense and e5 vectors, kept in RAM
    cluster: Cluster = field(default_factory=Cluster)

    def vectors(self) -> dict[str, int]:
        """The dense named vectors and their sizes (bm25 is always there)."""
        out = {DENSE: self.dense_dim} if self.dense_dim else {}
        return {**out, **({LOCAL: LOCAL_DIM} if self.local else {})}

    def as_dict(self) -> dict[str, Any]:
        c = self.cluster
        return {
            "vectors": {SPARSE: "sparse", **self.vectors()},
            "datatype": self.datatype,
            "quantization": "int8" if self.quantized else None,
            "cluster": {
                "shards": c.shards,
                "replication": c.replication,
                "write_consistency": c.write_consistency,
                "shard_keys": dict(c.shard_keys),
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Layout:
        vectors = data.get("vectors", {})
        c = data.get("cluster") or {}
        return cls(
            dense_dim=vectors.get(DENSE),
            local=LOCAL in vectors,
            datatype=data.get("datatype", "float32"),
            quantized=data.get("quantization") == "int8",
            cluster=Cluster(
                int(c.get("shards", 1)),
                int(c.get("replication", 1)),
                int(c.get("write_consistency", 1)),
                dict(c.get("shard_keys") or {}),
            ),
        )

    def without_cluster(self) -> Layout:
        return replace(self, cluster=Cluster())


@dataclass(frozen=True)
class Change:
    what: str  # in French, for `plume store etat` / `migrate`
    in_place: bool  # False: the points are copied into a new store (or a new collection)


def changes(current: Layout, target: Layout) -> list[Change]:
    """What turns `current` into `target`."""
    out: list[Change] = []
    have, want = current.vectors(), target.vectors()
    rebuild = current.datatype != target.datatype or current.quantized != target.quantized
    for name, size in want.items():
        if name not in have:
            out.append(Change(f"ajouter le vecteur {name} ({size} dimensions)", not rebuild))
        elif have[name] != size:
            out.append(Change(f"vecteur {name} : {have[name]} → {size} dimensions", False))
    for name in have:
        if name not in want:
            out.append(Change(f"retirer le vecteur {name}", not rebuild))
    if current.datatype != target.datatype:
        out.append(Change(f"stockage des vecteurs : {current.datatype} → {target.datatype}", False))
    if current.quantized != target.quantized:
        state = "activer" if target.quantized else "retirer"
        out.append(Change(f"{state} la quantification int8", False))
    a, b = current.cluster, target.cluster
    if (a.shards, a.custom) != (b.shards, b.custom):
        out.append(Change(f"shards : {a.shards} → {b.shards}, clés {a.keys()} → {b.keys()}", False))
    elif a.custom and set(b.keys()) != set(a.keys()):
        out.append(Change(f"clés de shard : {a.keys()} → {b.keys()}", True))
    if (a.replication, a.write_consistency) != (b.replication, b.write_consistency):
        out.append(
            Change(
                f"réplication {a.replication} → {b.replication}, cohérence d'écriture "
                f"{a.write_consistency} → {b.write_consistency}",
                True,
            )
        )
    return out


def from_settings(settings: Any) -> Layout:
    """The layout the settings ask for (`settings`: a `plume.settings.Settings`)."""
    return Layout(
        dense_dim=settings.embedding_dim if settings.use_dense else None,
        local=settings.local_dense,
        datatype=settings.store_vector_datatype,
        quantized=settings.store_quantization,
        cluster=Cluster(
            settings.qdrant_shards,
            settings.qdrant_replication,
            settings.qdrant_write_consistency,
            dict(settings.qdrant_shard_keys),
        ),
    )


def read_file(folder: Path) -> Layout | None:
    path = folder / LAYOUT_FILE
    return Layout.from_dict(json.loads(path.read_text())) if path.exists() else None


def write_file(folder: Path, layout: Layout) -> None:
    tmp = folder / (LAYOUT_FILE + ".tmp")
    tmp.write_text(json.dumps(layout.as_dict(), indent=1, ensure_ascii=False))
    tmp.replace(folder / LAYOUT_FILE)
