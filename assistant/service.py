"""The assistant's use cases, shared by the API and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

from assistant import extractive
from assistant.models import Answer, Passage
from assistant.retrieval import Retriever
from plume.store import SearchFilter
from plume.term_stats import TermStats


@dataclass
class Assistant:
    retriever: Retriever
    min_confidence: float = 0.5
    passages_for_answer: int = 6
    stats: TermStats | None = None

    def search(self, question: str, where: SearchFilter, limit: int = 8) -> list[Passage]:
        return self.retriever.search(question, where, limit)

    def ask(self, question: str, where: SearchFilter) -> Answer:
        passages = self.retriever.search(question, where, self.passages_for_answer)
        return extractive.answer(
            question,
            passages,
            analyzer=self.retriever.encoder.analyzer,
            min_confidence=self.min_confidence,
            stats=self.stats,
        )
