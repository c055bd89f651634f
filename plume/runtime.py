"""Long-lived clients, built once at start-up and passed in (never module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.retrieval import Retriever
from assistant.service import Assistant
from plume import term_stats
from plume.embedding import Embedder, build_embedder
from plume.settings import Settings
from plume.store import Store, open_store
from plume.text import Bm25Encoder


@dataclass
class Runtime:
    settings: Settings
    store: Store
    encoder: Bm25Encoder
    embedder: Embedder | None
    assistant: Assistant

    @classmethod
    def build(cls, settings: Settings, *, embedder: Embedder | None = None) -> Runtime:
        store = open_store(settings)
        store.ensure_collection()
        encoder = Bm25Encoder(k1=settings.bm25_k1, b=settings.bm25_b, avg_len=settings.bm25_avg_len)
        embedder = embedder if embedder is not None else build_embedder(settings)
        retriever = Retriever(
            store,
            encoder,
            embedder,
            prefetch_limit=settings.prefetch_limit,
            max_query_chars=settings.max_query_chars,
        )
        assistant = Assistant(
            retriever,
            min_confidence=settings.min_confidence,
            stats=term_stats.load_all(settings.data_dir),
        )
        return cls(settings, store, encoder, embedder, assistant)

    def close(self) -> None:
        self.store.close()
