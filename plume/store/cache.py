"""The per-source statistics of a store, computed once and kept until the next write.

Counting documents per source reads every passage's `doc_id` (facets): about 2 s on the
default corpus (90,950 passages), during which the engine holds the process. `/v1/sources`
is public, so the figures are kept: a write through the store (upsert, deletion, payload
change) marks them stale, and the next reader computes them again. Semantic vectors
(`set_local`) change no count and leave them fresh: the e5 filler writes for hours.

One reader computes at a time; readers arriving meanwhile get the previous figures, never
a second scan (pollers cannot stack them). While writes keep coming (an ingestion), a
costly computation starts again only `PAUSE` times its own duration after the previous one
began: the figures then lag by that much (10 s on the default corpus; a small index is
always exact), and polling takes at most a fifth of the process. With `max_age`, figures
are also recomputed after that many seconds: another process may write to a Qdrant server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from plume.store import SourceStats

PAUSE = 5.0  # a costly computation every 5 × its duration at most
COSTLY_S = 0.05  # below, the figures are always recomputed at once


class SourceStatsCache:
    def __init__(
        self, *, max_age: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age = max_age
        self._clock = clock
        self._generation = 0  # writes seen
        self._value: list[SourceStats] | None = None
        self._computed = -1  # the generation `_value` reflects
        self._started = self._took = 0.0  # when the last computation began, how long it took
        self._state = threading.Lock()
        self._computing = threading.Lock()
        self.computations = 0  # how many times the figures were computed (tests, benchmark)

    def stale(self) -> None:
        """A write has completed: the figures must be computed again."""
        with self._state:
            self._generation += 1

    def _fresh(self) -> bool:
        if self._value is None or self._computed != self._generation:
            return False
        return self.max_age is None or self._clock() - self._started < self.max_age

    def _deferred(self) -> bool:
        return self._took >= COSTLY_S and self._clock() - self._started < PAUSE * self._took

    def get(self, compute: Callable[[], list[SourceStats]]) -> list[SourceStats]:
        with self._state:
            if self._fresh() or (self._value is not None and self._deferred()):
                return list(self._value or [])
            previous = self._value
        # a first reader waits for the figures; later ones take the previous figures while
        # another reader computes the new ones
        if not self._computing.acquire(blocking=previous is None):
            return list(previous or [])
        try:
            with self._state:
                if self._fresh():
                    return list(self._value or [])
                generation = self._generation  # read before: a write during the scan counts
            started = self._clock()
            value = compute()
            self.computations += 1
            with self._state:
                self._value, self._computed = value, generation
                self._started, self._took = started, self._clock() - started
            return list(value)
        finally:
            self._computing.release()
