"""The store's layout as a use case: what it holds, its creation and its migration.

`plume store etat | init | migrate` call this service. The layout the settings ask for
(`plume.store.layout.from_settings`: the vectors enabled, their storage and quantization,
the Qdrant cluster's shards, replicas and shard keys) is compared with the one recorded
with the store; `migrate` applies the difference, in place when Qdrant can (a named
vector added or removed, replication, new shard keys), else by a complete copy (edge) or
not at all (server: a new collection is needed, said before anything is written).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plume.settings import Settings, StoreBackend
from plume.store import SearchFilter, Store, open_store
from plume.store.layout import changes, from_settings


@dataclass(frozen=True)
class StoreState:
    backend: str
    location: str
    points: int
    with_local: int  # points with an e5 vector
    layout: dict[str, Any]  # recorded with the store
    wanted: dict[str, Any]  # asked by the settings
    changes: list[str]  # what `migrate` would do
    rebuild: bool  # a change needs the points copied (edge) or a new collection (server)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class StoreService:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    @classmethod
    def open(cls, settings: Settings) -> StoreService:
        """Opened on its own (an edge store is owned by one process: `plume serve` off)."""
        return cls(settings, open_store(settings))

    def close(self) -> None:
        self.store.close()

    def state(self) -> StoreState:
        s = self.settings
        wanted = from_settings(s)
        if s.store_backend is StoreBackend.edge:
            wanted = wanted.without_cluster()
            location = str(s.store_dir)
        else:
            location = f"{s.qdrant_url} / {s.collection}"
        current = self.store.layout
        todo = changes(current, wanted)
        every = SearchFilter(every_tenant=True)
        with_local = SearchFilter(every_tenant=True, has_local=True)
        return StoreState(
            backend=s.store_backend.value,
            location=location,
            points=self.store.count(every),
            with_local=self.store.count(with_local) if current.local else 0,
            layout=current.as_dict(),
            wanted=wanted.as_dict(),
            changes=[c.what for c in todo],
            rebuild=any(not c.in_place for c in todo),
        )

    def init(self) -> StoreState:
        """Create the collection with the layout asked (idempotent: an existing one is kept
        as it is; `migrate` changes it)."""
        self.store.ensure_collection()
        return self.state()

    def migrate(self) -> StoreState:
        self.store.ensure_collection()
        wanted = from_settings(self.settings)
        self.store.migrate(wanted)
        return self.state()
