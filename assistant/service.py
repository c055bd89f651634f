"""The assistant's use cases, shared by the API and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date

from assistant.chat import ChatService, Event
from assistant.communes import CommuneProfile
from assistant.models import Answer, Passage
from assistant.regimes import Place
from assistant.retrieval import Retriever
from plume.documents import french_date
from plume.store import SearchFilter


@dataclass(frozen=True)
class HistoryGap:
    """An article whose text on the day asked is not held: only versions since `since`."""

    doc_id: str
    title: str
    since: str  # ISO date

    @property
    def message(self) -> str:
        return (
            f"{self.title} : texte antérieur au {french_date(self.since)} non disponible "
            "(seules les versions en vigueur depuis cette date sont indexées ; voir Légifrance)."
        )


@dataclass
class Assistant:
    retriever: Retriever
    chat: ChatService

    def search(
        self,
        question: str,
        where: SearchFilter,
        limit: int = 8,
        commune: CommuneProfile | None = None,
    ) -> list[Passage]:
        return self.retriever.search(question, where, limit, place=Place.of(commune))

    def history_gaps(
        self, question: str, where: SearchFilter, found: list[Passage], limit: int = 5
    ) -> list[HistoryGap]:
        """For a search on a past day: the articles that answer it today but whose oldest
        text held starts after that day — « texte antérieur non disponible », rather than
        silently finding nothing."""
        if where.as_of is None or where.as_of >= date.today():
            return []
        today = replace(where, as_of=date.today(), kinds=["article"])
        seen = {p.doc_id for p in found}
        gaps = []
        for p in self.retriever.search(question, today, limit):
            since = p.field("history_from")
            if p.doc_id not in seen and since and str(since) > where.as_of.isoformat():
                gaps.append(HistoryGap(p.doc_id, str(p.field("title") or p.doc_id), str(since)))
                seen.add(p.doc_id)
        return gaps

    def ask(
        self,
        question: str,
        where: SearchFilter,
        conversation_id: str | None = None,
        commune: CommuneProfile | None = None,
    ) -> Answer:
        return self.chat.answer(self.chat.prepare(question, where, conversation_id, commune))

    def ask_streamed(
        self,
        question: str,
        where: SearchFilter,
        conversation_id: str | None = None,
        commune: CommuneProfile | None = None,
    ) -> Iterator[Event]:
        """Retrieval happens here, before the first event; generation as events are read."""
        return self.chat.events(self.chat.prepare(question, where, conversation_id, commune))
