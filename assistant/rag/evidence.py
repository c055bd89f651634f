"""The evidence for an answer: every sentence of the best passages, scored against the question.

A passage is retrieved for its words; the answer is in one or two of its sentences, and not
always the first ones. Each sentence (a list stays with the line that opens it) is scored on

- its **words**: the IDF-weighted share of the question's terms it holds, in the question's
  own words or in the lexicon's legal terms for them, read with its passage's title and
  headings (a sentence rarely repeats its subject: « Le délai est de 5 jours. »);
- its **facets**: whether it gives what the question asks for — who, by when, which papers,
  where, how much, how many, whether it is allowed, how (assistant.rag.facets);
- its passage's **rank** in the search, which already weighs the lexicon, the law ↔ fiche
  links and the special regimes.

A commune's own documents (kind `document`: minutes, deliberations, orders) are read by
assistant.rag.minutes: their headings, dates alone and letterheads are never sentences,
an outcome alone (« Vote : à l'unanimité ») is read with the title of what it decides. When
the question asks what was decided, a sentence that carries a decision on what the question
names (« les taux », « l'ACCDM »; anything, for « qu'a décidé le conseil du 19 mai ? »)
gains `DECISION_WEIGHT` (half of it when only its document names it), one on another
subject counts half, and so does one that decides nothing when the question names no
subject (the list of those present, the mayor's news);
when it names the day of a meeting, the documents of another day count half
(assistant.rag.meetings).

`Evidence` keeps the scored sentences and the retrieval's signals; the extractive answer,
the `pistes` and the reliability level are all read from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from assistant.models import Passage
from assistant.rag import meetings, minutes
from assistant.rag.facets import Facet, asked, given
from plume.term_stats import TermStats
from plume.text import FrenchAnalyzer, split_sentences, term_index

# An unseen term (a typo, or a word the corpus never uses) weighs about half a rare term's
# IDF: it counts against a sentence, but does not decide alone.
UNSEEN_TERM_WEIGHT = 4.0
MAX_UNIT_CHARS = 500
# sentence score = words + facets + rank, weights measured on the dev sets (bench/answers.py):
# the search's rank weighs most (2.0 against 0.35–1.2: first cited document right 0.543
# against 0.43–0.54); facets at 0.25 (0.45–0.7 chose a neighbouring rule's deadline)
WORDS_WEIGHT = 1.0
CONTEXT_WEIGHT = 0.35  # the words of the passage's title and headings, read with the sentence
FACET_WEIGHT = 0.25
RANK_WEIGHT = 2.0
DECISION_WEIGHT = 0.5  # a commune's document: a decision, for a question on what was decided
_LIST_ITEM = re.compile(r"^\s*- ")
_SAME = re.compile(r"[\W_]+")  # what two copies of a sentence may differ by


class TermWeights:
    """The question's index terms, each weighted by its rarity in the corpus (IDF)."""

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

    def found(self, text: str) -> set[str]:
        """The question's terms present in `text`, in their own words or the lexicon's."""
        present = set(self.analyzer.terms(text))
        return {t for t in self.wanted if t in present or self.equivalents.get(t, set()) & present}

    def share(self, terms: set[str]) -> float:
        return sum(self.of[t] for t in terms) / self.total

    def coverage(self, text: str) -> float:
        """IDF-weighted share of the question's terms present in `text`."""
        return self.share(self.found(text))


def units(text: str) -> list[str]:
    """Sentences of a passage; a line that opens a list (« … : ») keeps its items with it.
    A line that opens nothing (« 3/ Subventions aux associations : ») is a heading, not a
    sentence to quote."""
    out: list[str] = []
    in_list = False
    for line in text.split("\n"):
        if _LIST_ITEM.match(line) and out and (in_list or out[-1].rstrip().endswith(":")):
            out[-1] = f"{out[-1]} {line.strip()}"
            in_list = True
        else:
            out.extend(split_sentences(line))
            in_list = False
    return [shorten(u) for u in out if not _heading(u)]


def _heading(unit: str) -> bool:
    """A short line ending with a colon and no list after it."""
    return unit.rstrip().endswith(":") and len(unit.split()) <= 8


def shorten(unit: str) -> str:
    if len(unit) <= MAX_UNIT_CHARS:
        return unit
    return unit[:MAX_UNIT_CHARS].rsplit(" ", 1)[0] + " …"


def units_of(passage: Passage) -> list[tuple[str, bool]]:
    """(sentence, carries a decision) of a passage: a commune's document is read as such."""
    if passage.field("kind") == "document":
        return [(u.text, u.decision) for u in minutes.units(passage.text)]
    return [(text, False) for text in units(passage.text)]


def _other_day(passage: Passage, days: list[meetings.Day]) -> bool:
    """A commune's document of another day than the meeting the question names."""
    if not days or passage.field("kind") != "document":
        return False
    day = meetings.meeting_date(str(passage.field("title") or ""), [passage.text])
    return day is not None and not any(meetings.same_day(day, d) for d in days)


def _on(subject: TermWeights, text: str, passage: Passage, documents: set[str]) -> str:
    """Where a document's sentence meets what the question's decision is about: « meeting »
    when the question names nothing but the meeting (« qu'a décidé le conseil du 19 mai
    ? »), else in the « sentence » itself, in its « document » only, or nowhere (« »)."""
    if not subject.wanted:
        return "meeting"
    if subject.found(text):
        return "sentence"
    return "document" if passage.doc_id in documents else ""


def _as_decision(score: float, decides: bool, on: str) -> float:
    """A decision on what is asked gains `DECISION_WEIGHT` (half when only its document is
    on it: a deliberation's « A été élu : Fabien ABERT »); a sentence off the subject, or
    one that decides nothing when only the meeting is named, counts half."""
    if decides and on in ("meeting", "sentence"):
        return score + DECISION_WEIGHT
    if decides and on == "document":
        return score + DECISION_WEIGHT / 2
    if on in ("", "meeting"):
        return score * 0.5  # the mayor's news, those present, another item's vote
    return score


def headings(passage: Passage) -> str:
    return " ".join(str(passage.field(k) or "") for k in ("title", "section"))


@dataclass(frozen=True)
class Sentence:
    text: str
    passage: Passage
    position: int  # in its passage
    words: float  # share of the question's terms in the sentence itself
    context: float  # … in the sentence read with its passage's title and headings
    facets: frozenset[Facet]  # the question's facets it gives
    score: float
    decision: bool = False  # a decision of a commune's document, asked for (assistant.rag.minutes)

    @property
    def doc_id(self) -> str:
        return self.passage.doc_id

    @property
    def complete(self) -> bool:
        """Opens like a sentence, not a fragment of a list."""
        return self.text[:1].isupper() or self.text[:1].isdigit() or self.text[:1] in "«("


@dataclass
class Evidence:
    question: str
    asked: frozenset[Facet]
    passages: list[Passage]
    sentences: list[Sentence] = field(default_factory=list)  # best first
    weights: TermWeights | None = None

    def best(self) -> Sentence | None:
        return self.sentences[0] if self.sentences else None

    def best_of(self, doc_id: str) -> Sentence | None:
        return next((s for s in self.sentences if s.doc_id == doc_id), None)

    def documents(self) -> list[str]:
        """Doc ids in the search's order."""
        return list(dict.fromkeys(p.doc_id for p in self.passages))

    def facets_given(self, sentences: list[Sentence]) -> frozenset[Facet]:
        return frozenset(f for s in sentences for f in s.facets)

    def coverage(self, sentences: list[Sentence]) -> float:
        """Share of the question's terms found in these sentences (with their headings)."""
        if self.weights is None:
            return 0.0
        found: set[str] = set()
        for s in sentences:
            found |= self.weights.found(f"{headings(s.passage)} {s.text}")
        return self.weights.share(found)


def _alike(a: frozenset[str], b: frozenset[str], share: float = 0.7) -> bool:
    """Two sentences, the shorter of which is mostly in the other (« Une concession
    funéraire est un emplacement dans un cimetière… dont vous achetez l'usage » and « …
    ou dans un columbarium »): quoting both repeats the same thing."""
    small = min(len(a), len(b))
    return small >= 6 and len(a & b) / small >= share


def _rank_prior(passage: Passage, top_score: float) -> float:
    """1 for the first passage, less for those the search ranked or scored lower."""
    by_rank = 1.0 / (1.0 + 0.35 * (passage.rank - 1))
    by_score = passage.score / top_score if top_score > 0 else 0.0
    return 0.5 * by_rank + 0.5 * max(0.0, min(1.0, by_score))


def gather(
    question: str,
    passages: list[Passage],
    *,
    analyzer: FrenchAnalyzer,
    stats: TermStats | None = None,
    equivalents: Mapping[str, frozenset[str]] | None = None,
    more: Sequence[Passage] = (),
) -> Evidence:
    """Every sentence of `passages`, scored against `question`, best first; `more`: other
    passages of their documents, whose sentences are scored too (with their document's
    rank), but which are not among the search's passages."""
    weights = TermWeights(analyzer, question, stats, equivalents)
    facets = asked(question)
    evidence = Evidence(question, facets, list(passages), weights=weights)
    if not passages:
        return evidence
    top = max(p.score for p in passages)
    # the search ranks documents: a passage's prior is its document's best (within a
    # document, sentences compete on their words and facets alone)
    priors: dict[str, float] = {}
    for passage in passages:
        priors.setdefault(passage.doc_id, _rank_prior(passage, top))
    seen: set[str] = set()
    said: list[frozenset[str]] = []  # the words of the sentences kept
    extra = {id(m) for m in more}
    decisions = meetings.asks_decision(question)
    days = meetings.meeting_days(question)
    # what the decision asked for is about, if the question says (« les taux », « l'ACCDM »),
    # and the documents that speak of it
    subject = TermWeights(analyzer, meetings.subject_of(question), stats, equivalents)
    on_subject = {p.doc_id for p in [*passages, *more] if subject.found(f"{headings(p)} {p.text}")}
    for passage in [*passages, *(m for m in more if m.doc_id in priors)]:
        head = headings(passage)
        section = str(passage.field("section") or "")
        prior = priors[passage.doc_id]
        document = passage.field("kind") == "document"
        other_day = _other_day(passage, days)
        for position, (text, decides) in enumerate(units_of(passage)):
            key = _SAME.sub("", text.casefold())
            words_of = frozenset(_SAME.split(text.casefold())) - {""}
            if key in seen or any(_alike(words_of, other) for other in said):
                continue  # fiches repeat each other, word for word or nearly
            gives = given(text, facets, section)
            if id(passage) in extra and not gives and not (decisions and decides):
                continue  # another section of the document: only for what the question asks
            seen.add(key)
            said.append(words_of)
            words = weights.coverage(text)
            context = weights.coverage(f"{head} {text}")
            facet_share = len(gives) / len(facets) if facets else 0.0
            score = (
                WORDS_WEIGHT * words
                + CONTEXT_WEIGHT * context
                + FACET_WEIGHT * facet_share
                + RANK_WEIGHT * prior
            )
            if document and decisions:  # what was decided: its decisions answer
                score = _as_decision(score, decides, _on(subject, text, passage, on_subject))
            elif words == 0 and not gives:
                score *= 0.5  # a sentence that neither names the subject nor answers
            if other_day:
                score *= 0.5
            evidence.sentences.append(
                Sentence(
                    text, passage, position, words, context, gives, score, decisions and decides
                )
            )
    evidence.sentences.sort(key=lambda s: (-s.score, s.passage.rank, s.position))
    return evidence
