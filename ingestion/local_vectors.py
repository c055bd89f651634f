"""The passages' e5 vectors, computed after BM25 indexing, in the background.

BM25 answers as soon as a source is indexed; the semantic vectors (multilingual-e5-small
in process, plume.embedding.LocalEmbedder) follow, because a 2-core machine embeds only a
few dozen passages a second. The filler takes the passages that have no e5 vector yet —
new ones, and changed ones, since a changed passage is written again without one
(unchanged passages keep theirs: they are skipped by hash) — embeds what `local_text`
says in a worker process at low priority, so that answering keeps its cores, and stores
the vectors. Killed midway, it resumes where it stopped: the passages still without a
vector are what it does next.

    filler = LocalVectorFiller(store)
    filler.run(stop=event, progress=lambda c: print(c.done, c.total))
    coverage(store)            # Coverage(done=…, total=…)
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context
from typing import Any

from plume.store import SearchFilter, Store

log = logging.getLogger(__name__)
# What is embedded: the passage's title, headings and beginning (bench/e5_text.py: 1,000
# characters embed 2.5 times slower for a recall@10 of 0.81 against 0.77, 26 questions)
MAX_CHARS = 400
BATCH = 32
# Funded projects are figures for the precedents report, never quoted nor searched by
# meaning: no vector (11,181 passages of the default corpus, some 11 minutes saved). The others
# in this order: a commune's documents (few, its own), the fiches (what is asked most),
# the grants, then the articles of the codes in force today (the most numerous), and last
# their past versions (asked about only for a past date).
NOT_EMBEDDED = ("projet",)
ORDER: tuple[tuple[tuple[str, ...] | None, bool], ...] = (
    (("document",), False),
    (("fiche",), False),
    (("aide",), False),
    (("article",), True),  # in force today
    (None, False),
)


@dataclass(frozen=True)
class Coverage:
    done: int  # passages with an e5 vector
    total: int

    @property
    def share(self) -> float:
        return self.done / self.total if self.total else 1.0

    def as_dict(self) -> dict[str, object]:
        return {"done": self.done, "total": self.total, "share": round(self.share, 4)}


def coverage(store: Store) -> Coverage:
    def count(has_local: bool | None) -> int:
        where = SearchFilter(has_local=has_local, every_tenant=True, except_kinds=NOT_EMBEDDED)
        return store.count(where)

    return Coverage(count(True), count(None))


def local_text(payload: Mapping[str, Any], limit: int = MAX_CHARS) -> str:
    """The passage as e5 reads it: its title, its nearest headings, then its text, cut."""
    section = str(payload.get("section") or "")
    near = " > ".join(section.split(" > ")[-2:]) if section else ""
    head = " — ".join(x for x in (str(payload.get("title") or ""), near) if x)
    text = " ".join(str(payload.get("text") or "").split())
    return f"{head}. {text}"[:limit] if head else text[:limit]


# --- the worker process ------------------------------------------------------------------

_model: Any = None


def _exit_with(parent: int) -> None:
    """The worker never outlives its server: killed (kill -9, OOM), the server cannot stop
    it, and an orphan would embed on at full speed for nobody."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _start_worker(threads: int | None, nice: int) -> None:
    """In the worker: lower its priority, cap its threads, load the model once; exit when
    the server does."""
    global _model
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    if nice:
        with contextlib.suppress(OSError):  # not allowed here: the normal priority
            os.nice(nice)
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    from plume.embedding import LocalEmbedder

    _model = LocalEmbedder()


def _embed(texts: list[str]) -> list[list[float]]:
    assert _model is not None
    return list(_model.embed_documents(texts))


class LocalVectorFiller:
    """Embeds, batch after batch, the passages that have no e5 vector."""

    def __init__(
        self, store: Store, *, batch: int = BATCH, threads: int | None = None, nice: int = 10
    ) -> None:
        self.store = store
        self.batch = batch
        self.threads = threads
        self.nice = nice

    def _missing(self) -> list[tuple[str, dict[str, Any]]]:
        """The next batch of passages without a vector, in the order of `ORDER`."""
        out: dict[str, dict[str, Any]] = {}
        for kinds, today in ORDER:
            where = SearchFilter(
                kinds=kinds,
                has_local=False,
                every_tenant=True,
                except_kinds=NOT_EMBEDDED,
                as_of=date.today() if today else None,
            )
            for pid, payload in self.store.scan(where, ["title", "section", "text"]):
                if len(out) == self.batch:
                    return list(out.items())
                out.setdefault(pid, payload)
        return list(out.items())

    def run(
        self,
        stop: threading.Event | None = None,
        progress: Callable[[Coverage], None] | None = None,
    ) -> int:
        """Embed until every passage has its vector, or `stop` is set; how many were done."""
        done = 0
        started = time.perf_counter()
        context = get_context("spawn")  # a fresh process: its own threads and priority
        with ProcessPoolExecutor(
            max_workers=1,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self.threads, self.nice),
        ) as pool:
            while not (stop and stop.is_set()):
                batch = self._missing()
                if not batch:
                    break
                vectors = pool.submit(_embed, [local_text(p) for _, p in batch]).result()
                if stop and stop.is_set():
                    break
                self.store.set_local({pid: v for (pid, _), v in zip(batch, vectors, strict=True)})
                done += len(batch)
                if progress is not None:
                    progress(coverage(self.store))
        if done:
            self.store.flush()
            rate = done / max(time.perf_counter() - started, 1e-6)
            log.info("e5 vectors: %d passages embedded (%.1f per second)", done, rate)
        return done


class BackgroundFiller:
    """The filler in a daemon thread of the server: started with it, stopped with it."""

    def __init__(self, filler: LocalVectorFiller) -> None:
        self.filler = filler
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="e5-vectors", daemon=True)
        self.error: str | None = None

    def _run(self) -> None:
        try:
            self.filler.run(self.stop)
        except Exception as exc:  # never take the server down: search stays BM25
            self.error = str(exc)
            log.warning("e5 vectors stopped: %s", exc)

    def start(self) -> None:
        self.thread.start()

    def close(self, timeout: float = 30.0) -> None:
        self.stop.set()
        self.thread.join(timeout)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()
