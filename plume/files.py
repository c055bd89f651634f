"""Writing a file so that a crash never leaves it half-written; small JSON tables
(profiles, keys) kept in one such file."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from plume.errors import DamagedDataFile

log = logging.getLogger(__name__)


def write_atomically(path: Path, text: str) -> Path:
    """Write `text` to a temporary file beside `path`, flush it to disk, then rename it over
    `path`: readers see the old content or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_table(path: Path, key: str, what: str) -> dict[str, Any]:
    """The mapping under `key` of a JSON file written by `write_table` ({} if there is no
    file yet); a damaged file is a French error naming `what` and the file, never a silent
    reset. Its path (the server's folders) goes to the log, not into the message, which a
    caller of the API may read."""
    if not path.is_file():
        return {}
    try:
        table = json.loads(path.read_text(encoding="utf-8"))[key]
        if not isinstance(table, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("%s : fichier %s illisible (%s)", path, what, exc)
        raise DamagedDataFile(
            f"Le fichier {what} ({path.name}, dans le dossier de données) est illisible : "
            "restaurez-le depuis une sauvegarde, ou corrigez-le ; son chemin complet est dans le "
            "journal."
        ) from exc
    return table


def write_table(path: Path, key: str, table: Mapping[str, Any]) -> Path:
    """`{key: table}` as indented JSON, entries sorted, written atomically."""
    body = {key: dict(sorted(table.items()))}
    return write_atomically(path, json.dumps(body, ensure_ascii=False, indent=2) + "\n")
