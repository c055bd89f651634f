"""French text analysis and the BM25 sparse vectors Plume sends to Qdrant.

The analyzer lowercases, strips elisions (l', d', qu', j'…), folds accents *before*
stemming so that "décès" and "deces" meet on one term, drops stopwords, and stems with
Snowball's French stemmer (PyStemmer). Tokens that hold a digit ("L2121-17", "2024")
are kept whole: they are references, not words.

Sparse vectors carry BM25's term-frequency part; Qdrant multiplies by IDF
(`Modifier.IDF` on the collection), so both backends score the same way.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import Stemmer

if TYPE_CHECKING:
    from plume.settings import Settings

# Bump when the analysis or the BM25 weighting changes: stored sparse vectors are then
# stale, and the next ingestion recomputes them all (see ingestion.pipeline).
ANALYZER_VERSION = "fr-3"

# Snowball's French stop list, folded (no accents), plus a few question words.
_STOPWORDS_TEXT = """
au aux avec ce ces dans de des du elle en et eux il ils je la le les leur lui ma mais me
meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te
tes toi ton tu un une vos votre vous c d j l a m n s t y ete etee etees etes etant etante
etants etantes suis es est sommes etes sont serai seras sera serons serez seront serais
serait serions seriez seraient etais etait etions etiez etaient fus fut fumes futes furent
sois soit soyons soyez soient fusse fusses fut fussions fussiez fussent ayant ayante
ayantes ayants eu eue eues eus ai as avons avez ont aurai auras aura aurons aurez auront
aurais aurait aurions auriez auraient avais avait avions aviez avaient eut eumes eutes
eurent aie aies ait ayons ayez aient eusse eusses eussions eussiez eussent
ceci cela celle celles celui ceux cet cette comment quel quelle quelles quels quoi dont
est-ce si sans sous vers chez peut peux pouvez peuvent faut doit dois devez doivent
voudrais voudrait voudrions voudriez veux veut voulons voulez souhaite souhaiterais aimerais
bonjour merci svp stp
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORDS_TEXT.split())

_ELISION = re.compile(r"\b(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu|quoiqu)['’]", re.IGNORECASE)
_TOKEN = re.compile(r"\w+(?:-\w+)*")
_HAS_DIGIT = re.compile(r"\d")


class _WithoutMarks(dict[int, int | None]):
    """str.translate table dropping combining marks, filled as characters are met."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        self[code] = kept
        return kept


_NO_MARKS = _WithoutMarks()


def fold_accents(text: str) -> str:
    """Accents and other combining marks removed (NFKD first): « Élu » → « Elu »."""
    return unicodedata.normalize("NFKD", text).translate(_NO_MARKS)


MAX_STEMS = 200_000  # a French corpus's vocabulary fits; a stream of made-up words does not


class FrenchAnalyzer:
    """Text → list of index terms."""

    def __init__(self) -> None:
        self._stemmer = Stemmer.Stemmer("french")
        self._stems: dict[str, str] = {}  # word → stem: a corpus repeats its words

    def tokens(self, text: str) -> list[str]:
        text = _ELISION.sub(" ", text.lower().replace("œ", "oe").replace("æ", "ae"))
        text = fold_accents(text)
        out: list[str] = []
        for raw in _TOKEN.findall(text):
            if raw.isalpha():  # most words: no digit, no hyphen
                out.append(raw)
            elif _HAS_DIGIT.search(raw):
                out.append(raw)  # article numbers, years, amounts
            else:
                out.extend(p for p in raw.split("-") if p)
        return out

    def terms(self, text: str) -> list[str]:
        """Tokens without stopwords nor single letters, stemmed; numbers as they are."""
        stems, out = self._stems, []
        for token in self.tokens(text):
            if not token.isalpha() and _HAS_DIGIT.search(token):
                out.append(token)
            elif len(token) > 1 and token not in STOPWORDS:
                stem = stems.get(token)
                if stem is None:
                    if len(stems) >= MAX_STEMS:  # questions can bring any word: bounded
                        stems.clear()
                    stem = stems[token] = self._stemmer.stemWord(token)
                out.append(stem)
        return out


@lru_cache(maxsize=1 << 16)
def term_index(term: str) -> int:
    """Stable 32-bit index of a term (same on every machine and run)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big")


@dataclass(frozen=True)
class SparseVec:
    indices: list[int]
    values: list[float]

    def __bool__(self) -> bool:
        return bool(self.indices)


class Bm25Encoder:
    """BM25 sparse vectors for documents and queries (IDF is applied by Qdrant)."""

    def __init__(
        self,
        analyzer: FrenchAnalyzer | None = None,
        k1: float = 1.2,
        b: float = 0.75,
        avg_len: float = 110.0,
    ) -> None:
        self.analyzer = analyzer or FrenchAnalyzer()
        self.k1, self.b, self.avg_len = k1, b, avg_len

    @classmethod
    def from_settings(cls, settings: Settings) -> Bm25Encoder:
        """The encoder of `PLUME_BM25_*`: ingestion and search must use the same one."""
        return cls(k1=settings.bm25_k1, b=settings.bm25_b, avg_len=settings.bm25_avg_len)

    def encode_document(self, text: str) -> SparseVec:
        terms = self.analyzer.terms(text)
        if not terms:
            return SparseVec([], [])
        norm = self.k1 * (1 - self.b + self.b * len(terms) / self.avg_len)
        weights: dict[int, float] = {}
        for term, tf in Counter(terms).items():
            idx = term_index(term)
            weights[idx] = weights.get(idx, 0.0) + tf * (self.k1 + 1) / (tf + norm)
        return SparseVec(list(weights), list(weights.values()))

    def encode_query(self, text: str) -> SparseVec:
        unique = dict.fromkeys(self.analyzer.terms(text))
        indices = list(dict.fromkeys(term_index(t) for t in unique))
        return SparseVec(indices, [1.0] * len(indices))

    def encode_weighted(
        self, texts: Sequence[tuple[str, float]], *, analysed: Mapping[int, float] | None = None
    ) -> SparseVec:
        """A query from weighted texts (the question, added terms): a term that several
        texts hold takes the highest weight it gets. `analysed`: texts already analysed
        (`term_weights`), which come first, as if given before `texts`."""
        weights = self.term_weights(texts, analysed)
        return SparseVec(list(weights), list(weights.values()))

    def term_weights(
        self, texts: Sequence[tuple[str, float]], start: Mapping[int, float] | None = None
    ) -> dict[int, float]:
        """Term index → highest weight of the weighted texts, after those of `start`."""
        weights = dict(start) if start else {}
        for text, weight in texts:
            for term in self.analyzer.terms(text):
                idx = term_index(term)
                weights[idx] = max(weights.get(idx, 0.0), weight)
        return weights


# "article L. 231-4", "art. 3", "M. le maire": a period that does not end a sentence
_ABBREVIATION = re.compile(r"\b([A-Z]|art|Art|n°|M|Mme|MM|cf|Cf)\.\s+")
_GLUE = "\u2060"  # word joiner: holds an abbreviation to what follows while splitting


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage, good enough for extractive answers."""
    held = _ABBREVIATION.sub(lambda m: f"{m.group(1)}.{_GLUE}", text)
    parts = re.split(r"(?<=[.!?;:])\s+(?=[A-ZÀ-ÖØ-Þ0-9«\"(•-])|\n+", held)
    return [p.replace(_GLUE, " ").strip(" -•\t") for p in parts if len(p.strip()) > 2]
