"""A worker's own copy of the embedded store, for its searches (`PLUME_WORKERS` above 1).

Sending every query to the process that owns the store is correct but does not scale: the
engine's work then runs in that one process, and its results are pickled on top
(`bench/workers.py`). So each HTTP worker reads from its own copy, made by the owner
while no write runs (`StoreHost.replicate`), and sends only its writes to the owner. A
background thread asks the owner every `refresh_s` seconds whether the store changed (a
worker's write; the owner's own, its e5 filler's vectors, once a minute at most) and then
takes a new copy, opened beside the old one and swapped in; copies are taken at most
every `PAUSE` times what the last one cost, so a long ingestion does not keep the disk
busy copying. After one of its own writes, a
worker refreshes at once: an upload through one worker is seen by the others after their
next refresh (a few seconds), by itself as soon as its copy is made.

A copy costs the store's size on disk (beside it, `store.replicas/`, removed when the
server stops) and its own page cache: suited to the default corpora; at a million passages,
a Qdrant server (PLUME_STORE_BACKEND=server) serves several workers without copies.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from plume.shared_store import WRITES, RemoteStore

log = logging.getLogger(__name__)
READS = frozenset({"query", "query_batch", "count", "scan"})
PAUSE = 5.0  # a new copy at most every 5 × the last one's cost
FILES_EVERY_S = 60.0  # the owner's own writes (e5 vectors, for hours) are fetched this often


class ReplicaStore(RemoteStore):
    def __init__(
        self, folder: Path, opener: Callable[[Path], Any], *, refresh_s: float = 2.0
    ) -> None:
        super().__init__(folder)
        self._opener = opener  # opens a copy (a data folder holding `store/`) as a Store
        self.refresh_s = refresh_s
        self._swap = threading.Lock()
        self._replica: tuple[Any, Path, Any] | None = None  # store, folder, version
        self._retired: list[tuple[Any, Path]] = []
        self._wake, self._stop = threading.Event(), threading.Event()
        self._took = self._refreshed = 0.0
        self.files_every_s = FILES_EVERY_S
        self.refreshes = 0
        self._refresh()  # the first copy now: the worker starts with its own
        self._thread = threading.Thread(target=self._watch, name="plume-replica", daemon=True)
        self._thread.start()

    def _refresh(self) -> None:
        started = time.monotonic()
        folder, version = self._call("__replicate__", (), {})
        store = self._opener(Path(folder))
        with self._swap:
            previous, self._replica = self._replica, (store, Path(folder), version)
        # the one before is closed at the next swap: searches running on it end meanwhile
        for old, path in self._retired:
            _discard(old, path)
        self._retired = [(previous[0], previous[1])] if previous else []
        self._refreshed = time.monotonic()
        self._took = self._refreshed - started
        self.refreshes += 1

    def stale(self) -> bool:
        """A worker wrote since the copy; or the owner did (its e5 filler) and the copy is
        `files_every_s` old: semantic vectors can wait, an upload should not."""
        current = self._replica
        if current is None:
            return True
        generation, files = self._call("__version__", (), {})
        if generation != current[2][0]:
            return True
        return files != current[2][1] and time.monotonic() - self._refreshed >= self.files_every_s

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(max(self.refresh_s, PAUSE * self._took))
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                if self.stale():
                    self._refresh()
            except Exception as exc:  # the owner is gone or the disk is full: reads go on
                log.warning("store copy not refreshed (%s: %s)", type(exc).__name__, exc)

    def refresh_now(self) -> None:
        """Take a new copy now if the store changed (tests, and after this worker's writes)."""
        if self.stale():
            self._refresh()

    def _attribute(self, name: str) -> Any:
        if name in READS and self._replica is not None:
            return getattr(self._replica[0], name)
        value = super()._attribute(name)
        if name in WRITES and callable(value):

            def written(*args: Any, **kwargs: Any) -> Any:
                result = value(*args, **kwargs)
                self._wake.set()  # this worker's own write: a new copy soon
                return result

            return written
        return value

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(30)
        with self._swap:
            current, self._replica = self._replica, None
        for old, path in [*self._retired, *([current[:2]] if current else [])]:
            _discard(old, path)
        self._retired = []
        super().close()


def _discard(store: Any, folder: Path) -> None:
    with contextlib.suppress(Exception):
        store.close()
    shutil.rmtree(folder, ignore_errors=True)


def connect_replica(folder: Path | str, opener: Callable[[Path], Any], refresh_s: float) -> Any:
    """The owner's store (a `plume.store.Store`), read from this worker's own copy."""
    return ReplicaStore(Path(folder), opener, refresh_s=refresh_s)
