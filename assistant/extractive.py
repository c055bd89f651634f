"""Answers without a model: the most relevant sentences of the best passages, each cited.

Confidence is the share of the question's meaningful terms (analysed as for search) found
in the best passage, headings included, each term weighted by its IDF over the corpus so
that the rare words of a question count more than "mairie" or "demande". Below the
threshold Plume does not guess: it says it found no reliable source. The method is simple
and measurable; a model (issue 3) writes fluent answers on top of the same passages.
"""

from __future__ import annotations

from assistant.models import Answer, Citation, Passage
from plume.term_stats import TermStats
from plume.text import FrenchAnalyzer, split_sentences, term_index

NOT_FOUND = (
    "Je n'ai pas trouvé de source fiable pour répondre à cette question. "
    "Reformulez-la avec d'autres mots, ou adressez-vous à la préfecture, "
    "au centre de gestion ou au service juridique de votre département."
)
INTRO = "Voici ce que disent les sources officielles :"
# An unseen term (a typo, or a word the corpus never uses) weighs about half a rare
# term's IDF: it counts against the answer, but does not decide alone. Measured on
# bench/queries.py with the default threshold (0.55): 12 of 270 on-topic questions
# refused, 0 of 12 off-topic answered (at 0.5: 7 refused, 1 answered).
UNSEEN_TERM_WEIGHT = 4.0
MAX_SENTENCES = 4
MAX_PASSAGES = 3


def _passage_terms(analyzer: FrenchAnalyzer, passage: Passage) -> set[str]:
    headings = " ".join(
        [str(passage.field("title") or ""), str(passage.field("section") or ""), passage.text]
    )
    return set(analyzer.terms(headings))


def _weight(term: str, stats: TermStats | None) -> float:
    if stats is None or not stats.chunks:
        return 1.0
    index = term_index(term)
    return stats.idf(index) if stats.df.get(index) else UNSEEN_TERM_WEIGHT


def confidence(
    analyzer: FrenchAnalyzer, question: str, passages: list[Passage], stats: TermStats | None = None
) -> float:
    """IDF-weighted share of the question's terms found in the best of the top passages."""
    wanted = set(analyzer.terms(question))
    if not wanted or not passages:
        return 0.0
    weight = {t: _weight(t, stats) for t in wanted}
    total = sum(weight.values())
    return max(
        sum(weight[t] for t in wanted & _passage_terms(analyzer, p)) / total for p in passages[:3]
    )


def _best_sentences(
    analyzer: FrenchAnalyzer, wanted: set[str], passage: Passage, n: int
) -> list[str]:
    scored = []
    for position, sentence in enumerate(split_sentences(passage.text)):
        overlap = len(wanted & set(analyzer.terms(sentence)))
        scored.append((overlap, -position, sentence))
    scored.sort(reverse=True)
    chosen = [s for s in scored[:n] if s[0] > 0] or scored[:1]
    chosen.sort(key=lambda s: -s[1])  # back in the passage's order
    return [s[2] for s in chosen]


def answer(
    question: str,
    passages: list[Passage],
    *,
    analyzer: FrenchAnalyzer,
    min_confidence: float,
    stats: TermStats | None = None,
) -> Answer:
    score = confidence(analyzer, question, passages, stats)
    if not passages or score < min_confidence:
        return Answer(text=NOT_FOUND, mode="refusal", confidence=score)

    wanted = set(analyzer.terms(question))
    lines: list[str] = []
    citations: list[Citation] = []
    seen_docs: set[str] = set()
    for passage in passages:
        if len(citations) == MAX_PASSAGES or len(lines) >= MAX_SENTENCES:
            break
        if passage.doc_id in seen_docs:
            continue
        if (
            citations
            and len(wanted & _passage_terms(analyzer, passage)) / len(wanted) < min_confidence
        ):
            continue  # only passages that are about the question too
        seen_docs.add(passage.doc_id)
        n = len(citations) + 1
        sentences = _best_sentences(analyzer, wanted, passage, 2 if n == 1 else 1)
        citations.append(Citation.from_passage(n, passage))
        lines.extend(f"- {s} [{n}]" for s in sentences)
    return Answer(
        text="\n".join([INTRO, *lines]), mode="extractive", confidence=score, citations=citations
    )
