"""A chat turn as it travels: what `ChatService.prepare` decided before any byte is streamed,
and the events the answer is streamed as."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.aides.catalogue import AideResults
from assistant.aides.precedents import PrecedentReport
from assistant.communes import CommuneProfile
from assistant.models import Answer, Passage
from assistant.rag.conversations import Memory
from assistant.rag.evidence import Evidence
from assistant.rag.intents import Intent
from assistant.rag.scope import ADMIN, Verdict
from plume.store import SearchFilter

Event = tuple[str, dict[str, Any]]  # (name, data): notice, meta, delta, reset, citations, done


@dataclass
class Turn:
    """A question ready to be answered: everything decided before streaming starts."""

    conversation_id: str
    message_id: str
    new_conversation: bool
    question: str
    standalone: str  # the question made to stand alone: what is judged, shown, scored
    passages: list[Passage]
    memory: Memory  # the conversation's last turns, read from the records database
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0}
    )
    model_seconds: float = 0.0
    # the lexicon's legal terms for the question's words (sentence scores, excerpts)
    equivalents: dict[str, frozenset[str]] = field(default_factory=dict)
    intent: Intent = "question"
    scope: Verdict = ADMIN
    refusal: str | None = None  # why Plume does not answer (out of scope, no document)
    documents_only: bool = False  # a commune's own facts: answered from its documents
    evidence: Evidence | None = None  # the passages' sentences, scored against the question
    # the other passages of the first document found (its other sections)
    siblings: list[Passage] = field(default_factory=list)
    where: SearchFilter | None = None  # what the question may see (its day, its commune)
    commune: CommuneProfile | None = None
    found_aides: AideResults | None = None  # an aids question the catalogue answers
    precedents: PrecedentReport | None = None  # similar funded projects, when there are some
    answer: Answer | None = None  # the answer once its events are out
    # a follow-up no model rewrote: searched as `search`, its previous question as context
    search: str = ""
    context: str = ""


COFINANCING_DOC = "aide/programme-territoires-d-ia"
MAX_SIBLINGS = 60  # the first document's other passages read, at most (a long fiche has
# a few dozen); what the answer, its citations and its reliability read of each
PASSAGE_FIELDS = (
    *("doc_id", "text", "title", "section", "url", "source", "source_version", "kind"),
    *("modified", "in_force_from", "in_force_to", "page", "links", "regime", "text_date"),
)
