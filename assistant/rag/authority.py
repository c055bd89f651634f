"""Official sources outrank a commune's own documents on questions of law (issue 21).

A commune's uploaded document (kind `document`, `doc/<commune>/<hash>`) is the commune's
text: minutes, deliberations, orders, notes. It may be wrong, or poisoned (« le conseil
municipal peut voter sans quorum »). On a question of law — what the scope classifier calls
`admin` (assistant.rag.scope), not a commune's own records — the codes (`legi/…`) and the
fiches (`vdd/…`) decide:

- `official_first`: when the search found an official text, the commune's documents are
  set aside for that answer — neither quoted, nor read by the model, nor listed among the
  closest texts — so a commune document is never the basis of an answer to a question of
  law that an official text may answer; the official passages keep their order, ranked
  anew from 1. A question of law for which the search found only the commune's documents
  keeps them.
- `answers_as_well`: a question the scope classifier sends to the commune's documents
  (`local`, but not by its rule on a council's decisions) that an official text answers
  as well as they do — its best sentence holds as large a share of the question's terms,
  and nearly all of them (`MIN_OFFICIAL_WORDS`) — is a question of law after all: « À qui
  la sépulture dans le cimetière de la commune est-elle due ? » is the CGCT's L2223-3, not
  a note of the commune that rewrites it.
- an answer that rests only on a commune's documents says so: the extractive answer opens
  on « D'après les documents de votre commune (…) : » (assistant.rag.extractive, issue
  20), and a generated one that does not is given that opening (`attributed`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from assistant.models import Passage
from assistant.rag.evidence import Evidence
from assistant.rag.scope import Verdict
from plume.text import fold_accents

OFFICIAL_PREFIXES = ("legi/", "vdd/")  # the codes of law, the service-public.fr fiches
_SAYS_SO = "documents de votre commune"
# share of the question's terms in an official text's best sentence: nearly all of them.
# Measured on the eval index: « À qui la sépulture dans le cimetière de la commune est-elle
# due ? » 1.0 (L2223-3); two questions on Couthenans' and Montpellier's votes that the
# classifier rightly sends to the documents, 0.75 and 0.66 (0.5 took them from the
# documents: 14 → 12 of the dev set's 15 document questions answered from their gold)
MIN_OFFICIAL_WORDS = 0.9


def is_commune_document(passage: Passage) -> bool:
    return bool(passage.field("kind") == "document")


def is_official(passage: Passage) -> bool:
    return passage.doc_id.startswith(OFFICIAL_PREFIXES) and not is_commune_document(passage)


def law_question(scope: Verdict, documents_only: bool) -> bool:
    """A question on the law (a rule, a procedure, a right), not on a commune's records."""
    return scope.label == "admin" and not documents_only


def official_first(passages: Sequence[Passage], *, law: bool) -> list[Passage]:
    """`passages` without the commune's documents, on a question of law for which an
    official text was found; else unchanged."""
    if not law or not any(is_official(p) for p in passages):
        return list(passages)
    kept = [p for p in passages if not is_commune_document(p)]
    if len(kept) == len(passages):
        return kept
    ranks = {r: n for n, r in enumerate(sorted({p.rank for p in kept}), start=1)}
    return [replace(p, rank=ranks[p.rank]) for p in kept]


def rests_on_documents(cited: Sequence[Passage]) -> bool:
    """Every passage an answer cites is a commune's document."""
    return bool(cited) and all(is_commune_document(p) for p in cited)


def attributed(text: str, introduction: str) -> str:
    """A generated answer resting only on a commune's documents, saying so: `introduction`
    (« D'après les documents de votre commune (…) : ») first, unless it already says so."""
    if _SAYS_SO in fold_accents(text[:300]).casefold():
        return text
    return f"{introduction}\n{text}"


def best_words(evidence: Evidence) -> float:
    """The largest share of the question's terms one sentence of the evidence holds."""
    return max((s.words for s in evidence.sentences), default=0.0)


def answers_as_well(official: Evidence, documents: Evidence) -> bool:
    """The official texts found answer the question as well as the commune's documents."""
    best = best_words(official)
    return best >= MIN_OFFICIAL_WORDS and best >= best_words(documents)
