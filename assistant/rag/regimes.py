"""Special regimes: the common law first, unless the commune or the question is elsewhere.

The CGCT and the electoral code repeat their rules for Alsace-Moselle, Paris-Lyon-Marseille,
Corsica and the overseas territories, often in nearly the same words: « le maire convoque
le conseil municipal » is in L2121-10 and in L2541-2 (Moselle). A secretary of an ordinary
commune needs the first. Articles under a regime's sections (`corpus/regimes.toml`) are
ranked with a lower score, unless the question names the territory or the user's commune
lies in it; they stay in the results, and their citation names the regime.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from assistant.communes import CommuneProfile
from plume.store import Hit
from plume.text import fold_accents

REGIMES_FILE = "regimes.toml"
# a regime's article keeps this share of its score (0.5 and 0.7 measured alike on the
# dev set, 0.85 too little: the common-law article must overtake its near-copy)
REGIME_WEIGHT = 0.7


_PUNCT = re.compile(r"[\s,;.()\-–]+")


def fold_path(text: str) -> str:
    """Lower case, no accents, punctuation as spaces: section titles read from slugs (LexHub)
    have lost their commas and hyphens, « Bas-Rhin » and « bas rhin » are the same."""
    return _PUNCT.sub(" ", fold_accents(text.replace("’", "'")).lower())


@dataclass(frozen=True)
class Regime:
    name: str
    sections: tuple[str, ...]  # folded fragments of a section title
    words: tuple[str, ...]  # folded words that name the territory in a question
    departements: frozenset[str]
    communes: frozenset[str] = frozenset()

    def covers(self, folded_path: str) -> bool:
        """Whether a section path (folded: lower case, no accents) is this regime's."""
        return any(s in folded_path for s in self.sections)

    def named_in(self, question: str) -> bool:
        return self.named_in_folded(fold_path(question))

    def named_in_folded(self, folded: str) -> bool:
        """Whether a folded question (`fold_path`) names the territory."""
        return self._words.search(folded) is not None

    @cached_property
    def _words(self) -> re.Pattern[str]:  # one expression for all its words
        alternatives = "|".join(re.escape(w) for w in self.words) or "(?!)"
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")

    def includes(self, departement: str | None, insee: str | None) -> bool:
        return departement in self.departements or insee in self.communes


@dataclass(frozen=True)
class Place:
    """Where the user works: her commune's département and INSEE code."""

    departement: str
    insee: str | None = None

    @classmethod
    def of(cls, commune: CommuneProfile | None) -> Place | None:
        return cls(commune.departement, commune.insee) if commune else None


@dataclass(frozen=True, eq=False)  # hashed by identity: its caches key on it cheaply
class Regimes:
    version: str
    regimes: tuple[Regime, ...]

    @classmethod
    def load(cls, corpus_dir: Path) -> Regimes:
        """The regimes of `corpus_dir/regimes.toml` (none when the file is absent)."""
        path = corpus_dir / REGIMES_FILE
        if not path.is_file():
            return cls("", ())
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        regimes = tuple(
            Regime(
                name=str(r["name"]),
                sections=tuple(fold_path(s) for s in r.get("sections", [])),
                words=tuple(fold_path(w) for w in r.get("words", [])),
                departements=frozenset(str(d) for d in r.get("departements", [])),
                communes=frozenset(str(c) for c in r.get("communes", [])),
            )
            for r in raw.get("regime", [])
        )
        return cls(str(raw.get("version", "")), regimes)

    def of(self, hit: Hit) -> Regime | None:
        """The regime an article belongs to (None: common law, or not an article)."""
        if hit.payload.get("kind") != "article":
            return None
        return self._of_section(str(hit.payload.get("section") or ""))

    @lru_cache(maxsize=8192)  # noqa: B019 - a few loaded once per process; paths repeat
    def _of_section(self, section: str) -> Regime | None:
        folded = fold_path(section)
        return next((r for r in self.regimes if r.covers(folded)), None)

    @lru_cache(maxsize=1024)  # noqa: B019 - a few loaded once per process; a question is
    def applicable(self, question: str, place: Place | None) -> frozenset[str]:  # ranked often
        """The regimes that concern this question: named in it, or where the commune is."""
        folded = fold_path(question)
        return frozenset(
            r.name
            for r in self.regimes
            if r.named_in_folded(folded)
            or (place is not None and r.includes(place.departement, place.insee))
        )

    def rank(self, hits: Sequence[Hit], question: str, place: Place | None) -> list[Hit]:
        """`hits` re-sorted, the articles of other territories' regimes with their score
        weighed down; each regime article carries its regime's name (`regime`)."""
        wanted = self.applicable(question, place)
        out: list[Hit] = []
        for hit in hits:
            regime = self.of(hit)
            if regime is not None:
                weight = 1.0 if regime.name in wanted else REGIME_WEIGHT
                hit = Hit(hit.id, hit.score * weight, {**hit.payload, "regime": regime.name})
            out.append(hit)
        return sorted(out, key=lambda h: -h.score)  # stable: ties keep their order
