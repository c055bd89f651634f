"""Document frequencies of index terms, per source, kept beside the store.

Qdrant applies IDF inside its scoring but does not expose it; the extractive answerer
needs it too, to judge whether the best passage holds the question's *rare* words
("tatin", "filiation") rather than its common ones ("mairie", "demande"). Ingestion
recomputes the table for a source at the end of each complete run
(`<data_dir>/stats/<source>.json`, written atomically).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from plume.files import write_atomically


@dataclass
class TermStats:
    chunks: int = 0
    df: Counter[int] = field(default_factory=Counter)

    def idf(self, index: int) -> float:
        """BM25's IDF, as Qdrant computes it; an unseen term weighs the most."""
        n, df = self.chunks, self.df.get(index, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def merge(self, other: TermStats) -> TermStats:
        return TermStats(self.chunks + other.chunks, self.df + other.df)

    @classmethod
    def count(cls, documents: Iterable[Iterable[int]]) -> TermStats:
        stats = cls()
        for indices in documents:
            stats.chunks += 1
            stats.df.update(set(indices))
        return stats


def _folder(data_dir: Path) -> Path:
    return data_dir / "stats"


def save(data_dir: Path, source: str, stats: TermStats) -> None:
    body = {"chunks": stats.chunks, "df": {str(k): v for k, v in stats.df.items()}}
    write_atomically(_folder(data_dir) / f"{source}.json", json.dumps(body))


def load_all(data_dir: Path) -> TermStats:
    total = TermStats()
    for path in sorted(_folder(data_dir).glob("*.json")):
        try:
            raw = json.loads(path.read_text())
            part = TermStats(
                int(raw["chunks"]), Counter({int(k): int(v) for k, v in raw["df"].items()})
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged table only costs precision, never a crash
        total = total.merge(part)
    return total
