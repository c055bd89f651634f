"""Known changes of the law the indexed texts do not hold yet (`corpus/caveats.toml`).

The codes mirrored from LexHub stop at December 2023: the 2025 reform of municipal
elections, for one, is not in them. An answer that cites an article under a section a
caveat names carries the caveat's message, so a secretary never takes an outdated rule
for the current one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from assistant.models import Citation
from assistant.rag.regimes import fold_path

CAVEATS_FILE = "caveats.toml"


@dataclass(frozen=True)
class Caveat:
    name: str
    codes: frozenset[str]  # LEGITEXT ids
    sections: tuple[str, ...]  # folded fragments of a section path
    message: str

    def covers(self, citation: Citation) -> bool:
        if citation.kind != "article":
            return False
        code = citation.doc_id.split("/")[1] if citation.doc_id.count("/") >= 2 else ""
        folded = fold_path(citation.section)
        return code in self.codes and any(s in folded for s in self.sections)


@dataclass(frozen=True)
class Caveats:
    caveats: tuple[Caveat, ...] = ()

    @classmethod
    def load(cls, corpus_dir: Path) -> Caveats:
        """The caveats of `corpus_dir/caveats.toml` (none when the file is absent)."""
        path = corpus_dir / CAVEATS_FILE
        if not path.is_file():
            return cls()
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        return cls(
            tuple(
                Caveat(
                    name=str(c["name"]),
                    codes=frozenset(str(x) for x in c.get("codes", [])),
                    sections=tuple(fold_path(s) for s in c.get("sections", [])),
                    message=" ".join(str(c["message"]).split()),
                )
                for c in raw.get("caveat", [])
            )
        )

    def messages(self, citations: Iterable[Citation]) -> list[str]:
        """The messages of the caveats the cited articles fall under, each once."""
        cited = list(citations)
        return [c.message for c in self.caveats if any(c.covers(x) for x in cited)]
