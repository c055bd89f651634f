"""Answers without a model, read from the evidence (assistant.rag.evidence): the sentences that
answer, each cited; or, when the evidence is weak, the closest texts to check (`pistes`).

- `answer`: the best-scored sentences across the best passages — not a passage's first
  sentences — at most `MAX_SENTENCES` from at most `MAX_DOCUMENTS` documents, each with its
  [n]; a further sentence must score nearly as well as the best one. Its introduction says
  what the sources are: the official texts, or — a council's minutes are not a source of
  law — the commune's own documents, each named (« D'après les documents de votre commune
  (compte rendu du conseil municipal du 19 mai 2021, chargé le …) : »), whose decisions
  may fill the answer (`MINUTES_PER_DOCUMENT`: the items of one meeting).
- `pistes`: « Je n'ai pas de réponse certaine ; voici les textes les plus proches, à
  vérifier » — for each of the closest documents, its key sentence, its date and its link.
- `refusal`: what Plume does not cover, with the reason (assistant.rag.scope).
"""

from __future__ import annotations

from collections.abc import Iterable

from assistant.llm.prompts import PromptBook
from assistant.models import Answer, Citation, Passage
from assistant.rag import meetings
from assistant.rag.evidence import Evidence, Sentence
from plume.documents import french_date

NOT_FOUND = PromptBook.load()["refusal"].render()
INTRO = "Voici ce que disent les sources officielles :"
INTRO_DOCUMENTS = "D'après les documents de votre commune ({documents}) :"
INTRO_BOTH = "D'après les sources officielles et les documents de votre commune ({documents}) :"
PISTES_INTRO = "Je n'ai pas de réponse certaine ; voici les textes les plus proches, à vérifier :"
# measured on the dev sets (bench/answers.py): two documents at most keep an answer on its
# subject (1.8 documents per answer, against 2.2 with three, for the same first source);
# a further sentence is quoted when it scores at least this share of the best one
MAX_SENTENCES = 4
MAX_DOCUMENTS = 2
PER_DOCUMENT = 2
MINUTES_PER_DOCUMENT = 4  # the decisions of one meeting, from a commune's document
RELATIVE_SCORE = 0.75
MAX_PISTES = 5
MAX_SEE_ALSO = 3  # beside an answer: the next closest texts, not cited
SEE_ALSO_DEPTH = 5  # ... among the search's first documents


def select(evidence: Evidence) -> list[Sentence]:
    """The sentences that answer, best first."""
    best = evidence.best()
    if best is None:
        return []
    chosen: list[Sentence] = []
    for s in evidence.sentences:
        if s.score < RELATIVE_SCORE * best.score:
            break
        docs = {c.doc_id for c in chosen}
        if s.doc_id not in docs and len(docs) == MAX_DOCUMENTS:
            continue
        if sum(c.doc_id == s.doc_id for c in chosen) == _per_document(s):
            continue
        if chosen and not s.complete:
            continue  # a list's item without the line that opens it
        chosen.append(s)
        if len(chosen) == MAX_SENTENCES:
            break
    return chosen


def _per_document(s: Sentence) -> int:
    return MINUTES_PER_DOCUMENT if s.decision else PER_DOCUMENT


def _is_document(passage: Passage) -> bool:
    return bool(passage.field("kind") == "document")


def describe(passage: Passage, texts: Iterable[str] = ()) -> str:
    """What a commune's document is — « compte rendu du conseil municipal du 19 mai 2021,
    chargé le 7 décembre 2026 » — read from its title, its passage and `texts` (others of
    the same document)."""
    title = str(passage.field("title") or passage.field("file_name") or passage.doc_id)
    uploaded = passage.field("uploaded_at") or passage.field("modified")
    found = dict.fromkeys([passage.text, *texts])
    return meetings.describe(title, str(uploaded) if uploaded else None, found)


def introduction(sentences: list[Sentence], evidence: Evidence) -> str:
    """What the quoted sources are: the official texts, the commune's documents, or both."""
    documents = [s.passage for s in sentences if _is_document(s.passage)]
    if not documents:
        return INTRO
    template = INTRO_DOCUMENTS if len(documents) == len(sentences) else INTRO_BOTH
    return template.format(documents=_named(documents, evidence))


def documents_introduction(documents: list[Passage], evidence: Evidence) -> str:
    """« D'après les documents de votre commune (…) : », naming `documents` (issue 21: a
    generated answer resting only on them opens so)."""
    return INTRO_DOCUMENTS.format(documents=_named(documents, evidence))


def _named(documents: list[Passage], evidence: Evidence) -> str:
    found = [*evidence.passages, *(s.passage for s in evidence.sentences)]
    return "; ".join(
        dict.fromkeys(
            describe(p, [q.text for q in found if q.doc_id == p.doc_id]) for p in documents
        )
    )


def _numbered(sentences: list[Sentence]) -> tuple[dict[str, int], list[Citation]]:
    numbers: dict[str, int] = {}
    citations: list[Citation] = []
    for s in sentences:
        if s.doc_id not in numbers:
            numbers[s.doc_id] = len(numbers) + 1
            citations.append(Citation.from_passage(numbers[s.doc_id], s.passage))
    return numbers, citations


def answer(evidence: Evidence) -> Answer:
    """The sentences that answer the question, each cited, under what their sources are; a
    refusal if there is none."""
    chosen = select(evidence)
    if not chosen:
        return refusal()
    numbers, citations = _numbered(chosen)
    # grouped by source (in the order they are cited), the best sentence first
    ordered = sorted(chosen, key=lambda s: (numbers[s.doc_id], -s.score))
    lines = [f"- {s.text} [{numbers[s.doc_id]}]" for s in ordered]
    return Answer(
        text="\n".join([introduction(ordered, evidence), *lines]),
        mode="extractive",
        confidence=0.0,
        citations=citations,
    )


def _date(passage: Passage) -> str:
    if _is_document(passage):  # what it is, its day, when it was loaded
        return describe(passage)
    if passage.field("in_force_from"):
        upto = passage.field("text_date")
        snapshot = f", texte à jour au {french_date(upto)}" if upto else ""
        return f"en vigueur depuis le {passage.field('in_force_from')}{snapshot}"
    if passage.field("modified"):
        return f"mise à jour le {passage.field('modified')}"
    if passage.field("page"):
        return f"p. {passage.field('page')}"
    return ""


def pistes(evidence: Evidence, limit: int = MAX_PISTES) -> Answer:
    """The closest documents, each with its key sentence, date and link: to check."""
    lines: list[str] = []
    citations: list[Citation] = []
    for doc_id in evidence.documents():
        key = evidence.best_of(doc_id)
        if key is None:
            continue
        n = len(citations) + 1
        citations.append(Citation.from_passage(n, key.passage))
        title = str(key.passage.field("title") or doc_id)
        when = _date(key.passage)
        head = f"{title} ({when})" if when else title
        lines.append(f"- {head} : « {key.text} » [{n}]")
        if n == limit:
            break
    if not citations:
        return refusal()
    return Answer(
        text="\n".join([PISTES_INTRO, *lines]), mode="pistes", confidence=0.0, citations=citations
    )


def see_also(evidence: Evidence, cited: set[str], limit: int = MAX_SEE_ALSO) -> list[Citation]:
    """The search's next documents that the answer does not cite, each with its key
    sentence: a right answer is often among the first texts even when the one quoted is
    not it, and the secretary sees them without asking again."""
    out: list[Citation] = []
    for doc_id in evidence.documents()[:SEE_ALSO_DEPTH]:
        key = evidence.best_of(doc_id) if doc_id not in cited else None
        if key is not None:
            out.append(Citation.from_passage(len(out) + 1, key.passage, excerpt=key.text))
        if len(out) == limit:
            break
    return out


def refusal(text: str = NOT_FOUND) -> Answer:
    return Answer(text=text, mode="refusal", confidence=0.0)
