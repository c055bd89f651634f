"""The composition root: long-lived clients and one service per feature, built once at
start-up and passed in (never module globals). Both edges hold a `Runtime` and call its
services: `assistant` (search and chat), `aides`, `veille`, `corpus`, `documents`, `keys`,
`communes`, `records`, `backups`, `agents`."""

from __future__ import annotations

import _imp
import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

from assistant.aides.service import AidesService
from assistant.chat.service import ChatService
from assistant.communes import CommuneRegistry
from assistant.corpus import CorpusService
from assistant.documents import DocumentService
from assistant.llm.breaker import CircuitBreaker
from assistant.llm.client import build_llm
from assistant.llm.levers import build_model_levers
from assistant.llm.prompts import PromptBook
from assistant.llm.support import build_support_judge
from assistant.rag.caveats import Caveats
from assistant.rag.conversations import Conversations
from assistant.rag.query import QueryExpander
from assistant.rag.regimes import Regimes
from assistant.rag.reliability import ReliabilityModel
from assistant.rag.retrieval import Retriever
from assistant.rag.scope import ScopeClassifier
from assistant.records.export import Backups
from assistant.records.redaction import redact
from assistant.records.service import Records
from assistant.service import Assistant
from assistant.veille.service import VeilleService
from plume import term_stats
from plume.agents import AgentStore
from plume.db import Database
from plume.embedding import Embedder, build_embedder, build_local_embedder
from plume.keys import KeyStore
from plume.settings import Settings
from plume.store import Store, open_store
from plume.territory import Territory
from plume.text import Bm25Encoder

_UNSET: Any = object()


@dataclass
class Runtime:
    settings: Settings
    store: Store
    encoder: Bm25Encoder
    embedder: Embedder | None
    assistant: Assistant
    communes: CommuneRegistry
    records: Records
    aides: AidesService
    veille: VeilleService
    corpus: CorpusService
    documents: DocumentService
    keys: KeyStore
    backups: Backups
    agents: AgentStore  # who signs in (OpenID Connect), for which commune
    filler: Any = None  # the background e5 filler while serving (ingestion.local_vectors)

    @classmethod
    def build(cls, settings: Settings, *, embedder: Any = _UNSET, llm: Any = _UNSET) -> Runtime:
        """`embedder` and `llm` may be given (tests); by default they follow the settings."""
        db = Database(settings.records_url)
        db.upgrade()  # migrations applied at start-up (idempotent)
        records = Records(db, redact_texts=settings.redact_personal_data)
        store = open_store(settings)
        store.ensure_collection()
        encoder = Bm25Encoder.from_settings(settings)
        embedder = build_embedder(settings) if embedder is _UNSET else embedder
        local = build_local_embedder(settings)  # e5 in process: scope and semantic search
        llm = build_llm(settings) if llm is _UNSET else llm
        # one breaker in front of the model, for answers and retrieval alike
        breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
        prompts = PromptBook.load()
        rewriter, reranker = build_model_levers(settings, llm, breaker, prompts)  # off: None
        retriever = Retriever(
            store,
            encoder,
            embedder,
            prefetch_limit=settings.prefetch_limit,
            max_query_chars=settings.max_query_chars,
            expander=QueryExpander.load(settings.corpus_dir),  # lexicon, direct references
            bridge=True,  # fiche ↔ law links
            regimes=Regimes.load(settings.corpus_dir),  # the common law first
            rewriter=rewriter,
            reranker=reranker,
            local=local if settings.local_dense else None,
            local_weight=settings.local_weight,
            rrf_k=settings.rrf_k,
        )
        aides = AidesService(retriever)
        chat = ChatService(
            retriever,
            aides=aides,
            llm=llm,
            breaker=breaker,
            prompts=prompts,
            conversations=Conversations(  # in the records database: any replica, any turn
                db,
                settings.conversation_ttl_s,
                clean=redact if settings.redact_personal_data else None,
            ),
            stats=term_stats.load_all(settings.data_dir),
            scope=ScopeClassifier.load(
                settings.corpus_dir, local if settings.scope_classifier else None
            ),
            reliability=ReliabilityModel.load(settings.corpus_dir),
            zone=settings.electricity_mix_zone,
            caveats=Caveats.load(settings.corpus_dir),  # changes the texts do not hold yet
            support=build_support_judge(settings, llm, breaker, prompts),  # off: None
        )
        communes = CommuneRegistry(  # the geographic code loads on first use
            settings.data_dir, Territory(settings.packages_dir, settings.corpus_dir)
        )
        corpus = CorpusService(settings, store, embedder, records)
        assistant = Assistant(retriever, chat, check_index=corpus.check_index)
        runtime = cls(
            settings,
            store,
            encoder,
            embedder,
            assistant,
            communes,
            records,
            aides=aides,
            veille=VeilleService(settings, llm, breaker, corpus, aides, communes),
            corpus=corpus,
            documents=DocumentService(settings, store, embedder),
            keys=KeyStore(settings.data_dir),
            backups=Backups(settings, store, records),
            agents=AgentStore(settings.data_dir),
        )
        corpus.on_ingested = runtime.refresh_stats
        return runtime

    def refresh_stats(self) -> None:
        """After an ingestion: the corpus' term statistics (and maybe its funded projects)
        changed."""
        self.assistant.chat.stats = term_stats.load_all(self.settings.data_dir)
        self.aides.reload()

    def start_background(self) -> None:
        """While serving: the e5 vectors' fill, and llama-index (the model's wrapper and the
        ingestion's splitters, about a second to import) loaded now rather than by the first
        question or admin ingestion."""
        self.start_local_fill()
        threading.Thread(target=_load_llama_index, name="plume-warm-up", daemon=True).start()

    def start_local_fill(self) -> None:
        """While serving: compute the missing e5 vectors in the background (low priority)."""
        s = self.settings
        if not (s.local_dense and s.local_fill) or self.filler is not None:
            return
        if not self.store.layout.local:  # made without e5: `plume store migrate` adds it
            logging.getLogger(__name__).warning("store without e5 vectors: plume store migrate")
            return
        from ingestion.local_vectors import BackgroundFiller

        self.filler = BackgroundFiller(self.corpus.vector_filler())
        self.filler.start()

    def share_store(self) -> Any:
        """For `plume serve`'s worker processes (PLUME_WORKERS): the embedded store served
        from this process (a `plume.shared_store.StoreHost`, to close); None with a Qdrant
        server, which each worker reaches itself."""
        from plume.settings import StoreBackend

        if self.settings.store_backend is not StoreBackend.edge:
            return None
        from plume.shared_store import StoreHost

        return StoreHost(self.store)

    def close(self) -> None:
        if self.filler is not None:
            self.filler.close()
        self.store.close()
        self.records.db.close()


def _load_llama_index() -> None:
    # Other threads' new imports wait meanwhile: llama-index's package, imported from two
    # threads at once, hands one of them a half-initialised module (KeyError, ImportError:
    # an admin ingestion started right after the server failed so, 3 times out of 4).
    _imp.acquire_lock()
    try:
        importlib.import_module("llama_index.core.llms")
    finally:
        _imp.release_lock()
