"""The ground floor: settings, the French analyzer and BM25, the Store interface and its two
backends, embedders, document ids, domain errors, pinned packages. It imports nothing of
Plume above it."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent  # the project's folder (corpus/, eval/…)
