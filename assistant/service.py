"""The assistant's use cases, shared by the API and the CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from assistant.chat.service import ChatService
from assistant.chat.turn import Event
from assistant.communes import CommuneProfile
from assistant.models import Answer, Passage
from assistant.rag.regimes import Place
from assistant.rag.retrieval import HistoryGap, Retriever
from plume.store import SearchFilter


@dataclass
class Assistant:
    retriever: Retriever
    chat: ChatService
    # when nothing is found: raises if the index lost what was indexed (CorpusService)
    check_index: Callable[[], None] | None = None

    @property
    def semantic(self) -> bool:
        """Whether search uses the e5 vectors beside BM25."""
        return self.retriever.local is not None

    def search(
        self,
        question: str,
        where: SearchFilter,
        limit: int = 8,
        commune: CommuneProfile | None = None,
    ) -> list[Passage]:
        found = self.retriever.search(question, where, limit, place=Place.of(commune))
        if not found:
            self._check_index()
        return found

    def _check_index(self) -> None:
        if self.check_index is not None:
            self.check_index()

    def history_gaps(
        self, question: str, where: SearchFilter, found: list[Passage]
    ) -> list[HistoryGap]:
        return self.retriever.history_gaps(question, where, {p.doc_id for p in found})

    def ask(
        self,
        question: str,
        where: SearchFilter,
        conversation_id: str | None = None,
        commune: CommuneProfile | None = None,
    ) -> Answer:
        turn = self.chat.prepare(question, where, conversation_id, commune)
        if not turn.passages:
            self._check_index()
        return self.chat.answer(turn)

    def ask_streamed(
        self,
        question: str,
        where: SearchFilter,
        conversation_id: str | None = None,
        commune: CommuneProfile | None = None,
    ) -> Iterator[Event]:
        """Retrieval happens here, before the first event; generation as events are read."""
        turn = self.chat.prepare(question, where, conversation_id, commune)
        if not turn.passages:
            self._check_index()
        return self.chat.events(turn)
