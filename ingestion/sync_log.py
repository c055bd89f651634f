"""The last completed sync of each source, kept beside the store (`<data_dir>/sync.json`),
and the runs begun and not finished (`<data_dir>/sync-en-cours.json`).

A run notes its start (`begin`) before it writes anything; only its end records it
complete (`record`, which clears the note). A run killed or failed midway leaves its note:
its source is then known to be partial, and `plume ingest … --if-empty` resumes it.
Both files are written atomically (temporary file + rename).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plume.files import write_atomically

if TYPE_CHECKING:  # keep llama-index (behind the pipeline) out of the server's start-up
    from ingestion.pipeline import IngestSummary


def _path(data_dir: Path) -> Path:
    return data_dir / "sync.json"


def _running_path(data_dir: Path) -> Path:
    return data_dir / "sync-en-cours.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def read(data_dir: Path) -> dict[str, dict[str, Any]]:
    return _load(_path(data_dir))


def unfinished(data_dir: Path) -> dict[str, str]:
    """The sources whose last run began and did not end: source → when it began (UTC)."""
    return {str(k): str(v) for k, v in _load(_running_path(data_dir)).items()}


def begin(data_dir: Path, source: str) -> None:
    """A run of `source` starts writing: until `record`, the source is partial."""
    running = unfinished(data_dir)
    running[source] = datetime.now(UTC).isoformat(timespec="seconds")
    write_atomically(_running_path(data_dir), json.dumps(running, indent=2))


def record(data_dir: Path, summary: IngestSummary) -> None:
    data = read(data_dir)
    data[summary.source] = summary.as_dict()
    write_atomically(_path(data_dir), json.dumps(data, ensure_ascii=False, indent=2))
    running = unfinished(data_dir)
    if running.pop(summary.source, None) is not None:
        write_atomically(_running_path(data_dir), json.dumps(running, indent=2))


def passages(entry: dict[str, Any] | None) -> int:
    """How many passages a completed run left in the index (written or unchanged)."""
    entry = entry or {}
    return sum(int(entry.get(k) or 0) for k in ("added", "updated", "skipped"))
