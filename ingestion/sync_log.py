"""The last completed sync of each source, kept beside the store (`<data_dir>/sync.json`).

Written atomically (temporary file + rename) at the end of a complete run only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plume.files import write_atomically

if TYPE_CHECKING:  # keep llama-index (behind the pipeline) out of the server's start-up
    from ingestion.pipeline import IngestSummary


def _path(data_dir: Path) -> Path:
    return data_dir / "sync.json"


def read(data_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(_path(data_dir).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def record(data_dir: Path, summary: IngestSummary) -> None:
    data = read(data_dir)
    data[summary.source] = summary.as_dict()
    write_atomically(_path(data_dir), json.dumps(data, ensure_ascii=False, indent=2))
