"""A damaged index: the engine's failures become a domain error, and the index is set aside.

qdrant-edge raises a bare `Exception` for everything; those that say its files cannot be
read back (« Service runtime error: Failed to decode value… », « Inconsistent storage »)
mean garbled pages, or a write-ahead log holding an operation that fails on them (a write
to a garbled shard leaves one, and the shard then no longer opens). qdrant-client's local
mode fails on its SQLite file. `guarded` wraps a backend's operations so that these raise
`StoreCorrupted` with the repair hint, and remembers it on the store (`damage`): the
health check reports it afterwards. Other errors are left as they are.

Such an index cannot be mended point by point (deleting a point reads its payload), so
`set_aside` moves it away whole; `plume ingest <source> --rebuild` then starts a new one.
"""

from __future__ import annotations

import functools
import logging
import pickle
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from plume.errors import PlumeError, StoreCorrupted, StoreUnavailable

log = logging.getLogger(__name__)

_MARKERS = ("Service runtime error", "Service internal error", "Inconsistent storage")
# the operations of the `Store` protocol, and opening it
_OPERATIONS = (
    *("__init__", "ensure_collection", "upsert", "delete_ids", "set_payload", "delete"),
    *("query", "query_batch", "set_local", "count", "list_sources", "flush", "close"),
)
_GENERATORS = ("scan", "points")

REBUILD = "plume ingest <source> --rebuild"
StoreClass = TypeVar("StoreClass", bound=type)


def repair_hint(commands: list[str] | None = None) -> str:
    """What an administrator runs: `commands` (one per source indexed), or the general form."""
    each = "" if commands else " pour chaque source indexée"
    shown = [f"`{c}`" for c in commands or [REBUILD]]
    return f"reconstruisez-le, serveur arrêté : {', puis '.join(shown)}{each}"


def corrupted(commands: list[str] | None = None) -> StoreCorrupted:
    return StoreCorrupted(
        "L'index de recherche est endommagé (fichiers illisibles) : aucune recherche n'est "
        f"possible. Administrateur : {repair_hint(commands)}."
    )


def is_damage(exc: BaseException | None) -> bool:
    """Whether the engine says its files cannot be read back."""
    if isinstance(exc, sqlite3.DatabaseError | pickle.UnpicklingError):
        return True
    text = str(exc)
    system = "(os error" in text or "WouldBlock" in text  # a full disk, a lock: not damage
    return type(exc) is Exception and text.startswith(_MARKERS) and not system


def _translated(store: Any, exc: BaseException) -> StoreCorrupted | None:
    # `EdgeStore._open` says « unavailable » of whatever fails; a lock stays a lock
    cause = exc.__cause__ if isinstance(exc, StoreUnavailable) else exc
    if isinstance(cause, PlumeError) or not is_damage(cause):
        return None
    log.error("damaged index: %s", cause)
    error = corrupted()
    store.damage = error.message
    return error


def _wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Exception as exc:
            if (error := _translated(self, exc)) is not None:
                raise error from exc
            raise

    return call


def _wrap_generator(fn: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    @functools.wraps(fn)
    def call(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from fn(self, *args, **kwargs)
        except Exception as exc:
            if (error := _translated(self, exc)) is not None:
                raise error from exc
            raise

    return call


def guarded(cls: StoreClass) -> StoreClass:
    """A store backend whose engine failures on damaged files raise `StoreCorrupted`."""
    cls.damage = None  # type: ignore[attr-defined]  # the damage seen, for the health check
    for name in _OPERATIONS:
        setattr(cls, name, _wrap(getattr(cls, name)))
    for name in _GENERATORS:
        setattr(cls, name, _wrap_generator(getattr(cls, name)))
    return cls


def set_aside_index(settings: Any) -> Path | None:
    """Set the configured index aside (`settings`: a `plume.settings.Settings`): the shard
    folder, or the folder of qdrant-client's local mode. A Qdrant server's collection is
    the server's to repair."""
    from plume.settings import StoreBackend

    url = str(settings.qdrant_url or "")
    if settings.store_backend is StoreBackend.edge:
        return set_aside(settings.store_dir)
    if url == ":memory:":
        return None
    if url.startswith(("http://", "https://")):
        raise StoreCorrupted(
            f"La collection « {settings.collection} » du serveur Qdrant est endommagée : "
            "restaurez-en un instantané (snapshot) ou supprimez-la sur le serveur, puis "
            "relancez l'indexation."
        )
    return set_aside(Path(url))


def set_aside(folder: Path) -> Path | None:
    """Move a damaged index's folder beside it (`<name>.endommage-<time>`), kept for
    inspection; None when there is none. The next opening starts an empty index."""
    if not folder.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target = folder.with_name(f"{folder.name}.endommage-{stamp}")
    folder.rename(target)
    log.warning("damaged index %s set aside as %s", folder, target)
    return target
