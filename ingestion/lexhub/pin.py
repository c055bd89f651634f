"""The pin of the LexHub history (`corpus/sources.toml`, `corpus/legi.toml`): which
repository and commit, which bundle, which codes."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

NAME = "lexhub"


# the pin ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LexhubCode:
    id: str  # LEGITEXT…
    folder: str  # the repository's top-level folder
    title: str


@dataclass(frozen=True)
class Pin:
    """The LexHub source as `corpus/sources.toml` pins it, and the codes `corpus/legi.toml`
    takes from it."""

    repository: str
    commit: str  # upstream's commit
    bundle: Path | None  # a bundle of the same history beside the project, if any
    bundle_head: str
    bundle_sha256: str
    text_date: str  # ISO date of the snapshot: « texte à jour au … »
    codes: tuple[LexhubCode, ...]

    @property
    def heads(self) -> set[str]:
        """The commits a fetched copy may stand at (upstream's, or the bundle's)."""
        return {self.commit, self.bundle_head}

    @property
    def version(self) -> str:
        return f"lexhub@{self.text_date}"

    def code(self, code_id: str) -> LexhubCode | None:
        return next((c for c in self.codes if c.id == code_id), None)


def load_pin(corpus_dir: Path, project_root: Path | None = None) -> Pin | None:
    """The pinned LexHub source, or None when the manifest has none."""
    with open(corpus_dir / "sources.toml", "rb") as fh:
        entry = tomllib.load(fh).get(NAME)
    if not entry:
        return None
    with open(corpus_dir / "legi.toml", "rb") as fh:
        codes = tomllib.load(fh).get(NAME, {}).get("codes", {})
    root = project_root or corpus_dir.parent
    bundle = entry.get("bundle")
    return Pin(
        repository=entry["repository"],
        commit=entry["commit"],
        bundle=(root / bundle).resolve() if bundle else None,
        bundle_head=entry.get("bundle_head", ""),
        bundle_sha256=entry.get("bundle_sha256", ""),
        text_date=entry["text_date"],
        codes=tuple(
            LexhubCode(id=code_id, folder=c["folder"], title=c["title"])
            for code_id, c in codes.items()
        ),
    )
