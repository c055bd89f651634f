"""One embedded store for several server processes: the owner serves it over a local socket.

qdrant-edge lets one process open a shard (a second one fails on the WAL's lock) and its
Python binding has no read-only follower (the Rust crate's `ReadOnlyEdgeShard` is not
exposed). With `PLUME_WORKERS` above 1, `plume serve` keeps the store in its own process
(the owner, which also fills the e5 vectors) and starts that many HTTP workers. The owner's
`StoreHost` answers them through a Unix socket in a private folder, authenticated by a
random key (`multiprocessing.connection`: HMAC handshake, pickled calls): every write goes
to the one shard, and `replicate` hands a worker a consistent copy to search
(plume.store_replica: sending each query here would keep the engine's work in one process).

Any method of the owner's store is forwarded by name (the `Store` protocol grows without
this module changing); a method returning an iterator (`scan`, `points`) streams it in
pages; an exception raised by the store is raised again in the worker.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import pickle
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from plume.errors import StoreUnavailable

log = logging.getLogger(__name__)
SOCKET, KEY = "store.sock", "store.key"
PAGE = 500  # items per message of a streamed iterator
_ITERATOR, _VALUE, _ERROR, _PAGE, _END = "iterator", "value", "error", "page", "end"


class StoreHost:
    """Serves `store` to other processes: one thread per connected worker thread."""

    def __init__(self, store: Any) -> None:  # a plume.store.Store
        self.store = store
        self.folder = Path(tempfile.mkdtemp(prefix="plume-store-"))  # 0700: this user only
        key = secrets.token_bytes(32)
        key_file = self.folder / KEY
        key_file.write_bytes(key)
        key_file.chmod(0o600)
        self._listener = Listener(str(self.folder / SOCKET), family="AF_UNIX", authkey=key)
        self._closed = threading.Event()
        self.generation = 0  # writes received from the workers
        self.replicas = replicas_root(store)
        if self.replicas is not None:  # copies left by workers of a previous run
            shutil.rmtree(self.replicas, ignore_errors=True)
        self._thread = threading.Thread(target=self._accept, name="plume-store-host", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except Exception:  # closed, or a client that failed the handshake
                if self._closed.is_set():
                    return
                continue
            threading.Thread(
                target=self._serve, args=(conn,), name="plume-store-call", daemon=True
            ).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            while True:
                try:
                    name, args, kwargs = conn.recv()
                except (EOFError, OSError):
                    return
                try:
                    self._answer(conn, name, args, kwargs)
                except (BrokenPipeError, ConnectionResetError):
                    return

    def _answer(
        self, conn: Connection, name: str, args: tuple[Any, ...], kw: dict[str, Any]
    ) -> None:
        try:
            if name in _HOST_CALLS:  # the host's own: a replica, the store's version
                conn.send((_VALUE, getattr(self, _HOST_CALLS[name])(*args)))
                return
            value = self.store
            for part in name.split("."):  # `source_stats.computations`: an attribute's own
                if part.startswith("_"):
                    raise AttributeError(name)
                value = getattr(value, part)
            if args is None:  # an attribute asked for: a method, a value, or an object
                conn.send((_VALUE, _described(value)))
                return
            result = value(*args, **kw)
            if name in WRITES:  # counted once done: a copy taken meanwhile is refreshed again
                self.generation += 1
        except Exception as exc:
            conn.send((_ERROR, _portable(exc)))
            return
        if isinstance(result, Iterator):
            conn.send((_ITERATOR, None))
            try:
                while page := list(itertools.islice(result, PAGE)):
                    conn.send((_PAGE, page))
            except Exception as exc:
                conn.send((_ERROR, _portable(exc)))
                return
            conn.send((_END, None))
            return
        try:
            conn.send((_VALUE, result))
        except (TypeError, AttributeError, pickle.PicklingError) as exc:  # nothing was sent
            conn.send((_ERROR, _portable(exc)))

    def version(self) -> tuple[int, tuple[tuple[str, int, int], ...]]:
        """Changes when the store does: a worker's write, or the files of the owner's own
        (the e5 filler's vectors)."""
        return self.generation, files_signature(Path(self.store.path))

    def replicate(self) -> tuple[str, Any]:
        """A copy of the store for a worker to read (a data folder holding `store/`) and
        the version it reflects. Taken while no write runs: the copy is consistent (the
        write-ahead log it holds is replayed when it is opened)."""
        if self.replicas is None:
            raise StoreUnavailable("Ce stockage ne se copie pas (serveur Qdrant).")
        self.replicas.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="copie-", dir=self.replicas))
        self.store.flush()
        # the backend's own lock: held by every write (ours and the e5 filler's)
        with getattr(self.store, "_write_lock", contextlib.nullcontext()):
            version = self.version()
            shutil.copytree(self.store.path, folder / "store")
        return str(folder), version

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        if self.replicas is not None:
            shutil.rmtree(self.replicas, ignore_errors=True)


WRITES = frozenset(
    {"upsert", "delete_ids", "set_payload", "delete", "set_local", "migrate", "ensure_collection"}
)
_HOST_CALLS = {"__version__": "version", "__replicate__": "replicate"}


def replicas_root(store: Any) -> Path | None:
    """Where workers' copies of an embedded store go: beside it, `store.replicas/`."""
    path = getattr(store, "path", None)
    return Path(path).with_name(Path(path).name + ".replicas") if path is not None else None


def files_signature(path: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for sub in ("wal", "segments"):
        with contextlib.suppress(OSError):
            for entry in os.scandir(path / sub):
                st = entry.stat()
                out.append((f"{sub}/{entry.name}", st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


def _described(value: Any) -> tuple[str, Any]:
    """A method by its name; a value that pickles, itself; any other object (the figures'
    cache, with its locks), as an object whose attributes are asked for in turn."""
    if callable(value):
        return "method", None
    try:
        pickle.dumps(value)
    except Exception:
        return "object", None
    return "value", value


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling, else its message as StoreUnavailable."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return StoreUnavailable(f"Erreur du stockage : {type(exc).__name__}: {exc}")


class RemoteStore:
    """The owner's store, seen from a worker: each thread keeps its own connection."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        try:
            self._key = (self.folder / KEY).read_bytes()
        except OSError as exc:
            raise StoreUnavailable(
                f"Le processus qui détient le stockage ne répond pas ({self.folder})."
            ) from exc
        self._local = threading.local()
        self._methods: set[str] = set()
        self._call("count", (), {})  # fails now, at start-up, if the owner is not there

    def _conn(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = Client(str(self.folder / SOCKET), family="AF_UNIX", authkey=self._key)
            except OSError as exc:
                raise StoreUnavailable(
                    "Le processus qui détient le stockage ne répond pas : relancez `plume serve`."
                ) from exc
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.close()

    def _call(self, name: str, args: tuple[Any, ...] | None, kwargs: dict[str, Any]) -> Any:
        conn = self._conn()
        try:
            conn.send((name, args, kwargs))
            kind, value = conn.recv()
        except (EOFError, OSError) as exc:
            self._drop()
            raise StoreUnavailable(
                "Le processus qui détient le stockage ne répond pas : relancez `plume serve`."
            ) from exc
        if kind == _ERROR:
            raise value
        if kind == _ITERATOR:
            return self._pages(conn)
        return value

    def _pages(self, conn: Connection) -> Iterator[Any]:
        finished = False
        try:
            while True:
                kind, value = conn.recv()
                if kind == _END:
                    finished = True
                    return
                if kind == _ERROR:
                    finished = True
                    raise value
                yield from value
        finally:
            if not finished:  # left midway: the rest of the stream would answer the next call
                self._drop()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._attribute(name)

    def _attribute(self, name: str) -> Any:
        if name not in self._methods:
            what, value = self._call(name, None, {})
            if what == "value":
                return value  # a property (its current value): asked again each time
            if what == "object":
                return _Remote(self, name)
            self._methods.add(name)

        def method(*args: Any, **kwargs: Any) -> Any:
            return self._call(name, args, kwargs)

        method.__name__ = name.rsplit(".", 1)[-1]
        return method

    def close(self) -> None:
        """The worker's connection only: the store itself is the owner's to close."""
        self._drop()

    def flush(self) -> None:
        self._call("flush", (), {})


class _Remote:
    """An object of the owner's store (`store.source_stats`): its attributes are read there."""

    def __init__(self, store: RemoteStore, name: str) -> None:
        self._store, self._name = store, name

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._store._attribute(f"{self._name}.{name}")


def connect(folder: Path | str) -> Any:
    """The store (a `plume.store.Store`) of the `plume serve` process owning this folder."""
    return RemoteStore(Path(folder))
