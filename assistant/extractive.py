"""Answers without a model: the most relevant sentences of the best passages, each cited.

Confidence is the share of the question's meaningful terms (analysed as for search) found
in the best passage, headings included, each term weighted by its IDF over the corpus so
that the rare words of a question count more than "mairie" or "demande". Below the
threshold Plume does not guess: it says it found no reliable source. The method is simple
and measurable; a model (issue 3) writes fluent answers on top of the same passages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from assistant.models import Answer, Citation, Passage
from assistant.prompts import PromptBook
from plume.term_stats import TermStats
from plume.text import FrenchAnalyzer, split_sentences, term_index

NOT_FOUND = PromptBook.load()["refusal"].render()
INTRO = "Voici ce que disent les sources officielles :"
# An unseen term (a typo, or a word the corpus never uses) weighs about half a rare
# term's IDF: it counts against the answer, but does not decide alone. Measured on
# bench/queries.py with the default threshold (0.55): 12 of 270 on-topic questions
# refused, 0 of 12 off-topic answered (at 0.5: 7 refused, 1 answered).
UNSEEN_TERM_WEIGHT = 4.0
MAX_EXCERPTS = 4
MAX_PASSAGES = 3
MAX_UNIT_CHARS = 500
_LIST_ITEM = re.compile(r"^\s*- ")


class _Weights:
    def __init__(
        self,
        analyzer: FrenchAnalyzer,
        question: str,
        stats: TermStats | None,
        equivalents: Mapping[str, frozenset[str]] | None = None,
    ):
        self.analyzer = analyzer
        self.wanted = set(analyzer.terms(question))
        self.equivalents = equivalents or {}  # the lexicon's legal terms for a word
        self.of = {t: self._weight(t, stats) for t in self.wanted}
        self.total = sum(self.of.values()) or 1.0

    @staticmethod
    def _weight(term: str, stats: TermStats | None) -> float:
        if stats is None or not stats.chunks:
            return 1.0
        index = term_index(term)
        return stats.idf(index) if stats.df.get(index) else UNSEEN_TERM_WEIGHT

    def coverage(self, text: str) -> float:
        """IDF-weighted share of the question's terms present in `text`, in their own words
        or in the lexicon's legal terms for them."""
        present = set(self.analyzer.terms(text))
        found = (t for t in self.wanted if t in present or self.equivalents.get(t, set()) & present)
        return sum(self.of[t] for t in found) / self.total


def _headed(passage: Passage) -> str:
    return " ".join(
        [str(passage.field("title") or ""), str(passage.field("section") or ""), passage.text]
    )


def confidence(
    analyzer: FrenchAnalyzer,
    question: str,
    passages: list[Passage],
    stats: TermStats | None = None,
    equivalents: Mapping[str, frozenset[str]] | None = None,
) -> float:
    """IDF-weighted share of the question's terms found in the best of the top passages."""
    weights = _Weights(analyzer, question, stats, equivalents)
    if not weights.wanted or not passages:
        return 0.0
    return max(weights.coverage(_headed(p)) for p in passages[:3])


def units(text: str) -> list[str]:
    """Sentences of a passage; a line that opens a list ("… :") keeps its items with it."""
    out: list[str] = []
    in_list = False
    for line in text.split("\n"):
        if _LIST_ITEM.match(line) and out and (in_list or out[-1].rstrip().endswith(":")):
            out[-1] = f"{out[-1]} {line.strip()}"
            in_list = True
        else:
            out.extend(split_sentences(line))
            in_list = False
    return [shorten(u) for u in out]


def shorten(unit: str) -> str:
    if len(unit) <= MAX_UNIT_CHARS:
        return unit
    return unit[:MAX_UNIT_CHARS].rsplit(" ", 1)[0] + " …"


def _best_units(weights: _Weights, passage: Passage, n: int, seen: set[str]) -> list[str]:
    scored = []
    for position, unit in enumerate(units(passage.text)):
        if unit in seen:
            continue  # fiches repeat each other word for word
        complete = unit[:1].isupper() or unit[:1].isdigit()  # not a fragment of a list
        scored.append((weights.coverage(unit), complete, -position, unit))
    scored.sort(reverse=True)
    chosen = [s for s in scored[:n] if s[0] > 0]
    chosen.sort(key=lambda s: -s[2])  # back in the passage's order
    return [s[3] for s in chosen]


def answer(
    question: str,
    passages: list[Passage],
    *,
    analyzer: FrenchAnalyzer,
    min_confidence: float,
    stats: TermStats | None = None,
    equivalents: Mapping[str, frozenset[str]] | None = None,
) -> Answer:
    score = confidence(analyzer, question, passages, stats, equivalents)
    if not passages or score < min_confidence:
        return Answer(text=NOT_FOUND, mode="refusal", confidence=score)

    weights = _Weights(analyzer, question, stats, equivalents)
    lines: list[str] = []
    citations: list[Citation] = []
    seen: set[str] = set()
    for passage in passages:
        if len(citations) == MAX_PASSAGES or len(lines) >= MAX_EXCERPTS:
            break
        if any(c.doc_id == passage.doc_id for c in citations):
            continue
        if citations and weights.coverage(_headed(passage)) < max(min_confidence, score * 0.8):
            continue  # further sources only when they are about the question as much
        n = len(citations) + 1
        excerpts = _best_units(weights, passage, 2 if n == 1 else 1, seen)
        if not excerpts:
            continue
        citations.append(Citation.from_passage(n, passage))
        seen.update(excerpts)
        lines.extend(f"- {u} [{n}]" for u in excerpts)
    if not citations:
        return Answer(text=NOT_FOUND, mode="refusal", confidence=score)
    return Answer(
        text="\n".join([INTRO, *lines]), mode="extractive", confidence=score, citations=citations
    )
