"""Runs recorded in `eval/history.jsonl`, and the comparison of a run with the previous one.

A record holds the dataset (name and content hash), the git commit, the corpus versions,
the configuration (sparse or hybrid retrieval, judge model) and the per-kind summary.
Runs compare only with runs of the same dataset and configuration.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plume import REPO_ROOT
from plume.errors import PlumeError

HISTORY = REPO_ROOT / "eval" / "history.jsonl"
LOWER_IS_BETTER = ("latency_p50_s", "latency_p95_s")
NOT_COMPARED = ("n", *LOWER_IS_BETTER)  # latency depends on the machine


@dataclass
class RunRecord:
    dataset: str
    dataset_sha: str
    commit: str
    corpora: dict[str, list[str]]
    config: dict[str, Any]
    questions: int
    skipped: int
    summary: dict[str, dict[str, float]]
    run_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def same_setup(self, other: RunRecord) -> bool:
        """Comparable: the same questions (their content), configuration and corpora. A
        change of the questions or of the corpus (e.g. today's codes instead of 2015's)
        starts a new baseline: only the thresholds judge its first run."""
        return (
            self.dataset == other.dataset
            and self.dataset_sha == other.dataset_sha
            and self.config == other.config
            and self.corpora == other.corpora
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Delta:
    group: str
    metric: str
    before: float
    after: float
    regression: bool

    @property
    def change(self) -> float:
        return self.after - self.before


def file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def git_commit(root: Path = REPO_ROOT) -> str:
    """The checked-out commit, read from .git (no git process); "" outside a clone."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head.removeprefix("ref: ")
        if (git / ref).is_file():
            return (git / ref).read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    except OSError:
        pass
    return ""


class InvalidHistory(PlumeError):
    code = "historique_invalide"


def load(path: Path = HISTORY) -> list[RunRecord]:
    """The recorded runs, oldest first; a damaged line is an error naming it."""
    if not path.is_file():
        return []
    runs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            runs.append(RunRecord(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise InvalidHistory(f"Historique illisible : {path}, ligne {number} ({exc})") from None
    return runs


def append(record: RunRecord, path: Path = HISTORY) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record.as_dict(), ensure_ascii=False) + "\n")


def previous(record: RunRecord, runs: list[RunRecord]) -> RunRecord | None:
    """The latest recorded run of the same dataset and configuration."""
    return next((r for r in reversed(runs) if r.same_setup(record) and r is not record), None)


def compare(record: RunRecord, before: RunRecord, tolerance: float) -> list[Delta]:
    """Per group and metric, the change since `before`; a drop beyond `tolerance` is a
    regression (latencies are shown, not judged)."""
    deltas = []
    for group, row in record.summary.items():
        old = before.summary.get(group, {})
        for metric, value in row.items():
            if metric == "n" or metric not in old:
                continue
            worse = old[metric] - value if metric not in LOWER_IS_BETTER else 0.0
            deltas.append(Delta(group, metric, old[metric], value, worse > tolerance))
    return deltas
