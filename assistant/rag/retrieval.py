"""Retrieval: a question in French → ranked passages from the Store.

Sparse BM25 always; the local e5 vectors for the passages that have them (a situation's
words find the rule's words: « finit à 23h, reprend à 7h » → repos quotidien), and the
mistral-embed vectors when a key is configured, all fused by (weighted) RRF inside Qdrant.
If an embedder fails at query time, search goes on without it.
With a model and when switched on, the model restates the question or reranks the first
results (assistant.llm.levers); on any model failure the offline result stands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from assistant.llm.levers import QueryRewriter, Reranker
from assistant.models import Passage
from assistant.rag.query import LawBridge, Query, QueryExpander
from assistant.rag.regimes import Place, Regimes
from ingestion.local_vectors import coverage
from plume.documents import AUDIENCES, KINDS, SOURCES, french_date
from plume.embedding import Embedder
from plume.errors import EmbeddingFailed, InvalidQuery, UnknownFilterValue
from plume.store import LOCAL, Search, SearchFilter, Store
from plume.text import Bm25Encoder

log = logging.getLogger(__name__)


def check_question(question: str, max_chars: int) -> str:
    question = (question or "").strip()
    if not question:
        raise InvalidQuery("La question est vide : écrivez votre question en quelques mots.")
    if len(question) > max_chars:
        raise InvalidQuery(
            f"La question est trop longue ({len(question)} caractères, {max_chars} au maximum)."
        )
    return question


def _check_values(label: str, values: Sequence[str] | None, allowed: Sequence[str]) -> None:
    for value in values or ():
        if value not in allowed:
            raise UnknownFilterValue(
                f"Valeur inconnue pour le filtre « {label} » : « {value} ». "
                f"Valeurs possibles : {', '.join(allowed)}."
            )


# What answers a question by default: funded projects (`projet`) are figures for the
# precedents report, not sources to quote; ask for them by kind.
ANSWER_KINDS = tuple(k for k in KINDS if k != "projet")
# a follow-up's previous question: its words keep the subject, the follow-up's own words
# lead (« et pour un mariage ? » after a PACS question finds the marriage fiches);
# tuned on eval/datasets/followups_dev.jsonl (eval.followups)
CONTEXT_WEIGHT = 0.3
# e5 vectors are searched once they cover this share of the passages (the rest: BM25 alone)
LOCAL_MIN_SHARE = 0.95


def build_filter(
    *,
    sources: Sequence[str] | None = None,
    audiences: Sequence[str] | None = None,
    kinds: Sequence[str] | None = None,
    tenants: Sequence[str] = (),
    as_of: date | None = None,
) -> SearchFilter:
    """A validated search filter; unknown values are refused, not silently ignored.

    Only texts in force on `as_of` are searched — today unless a date is given: repealed
    articles and versions not yet in force never answer as current law."""
    _check_values("source", sources, SOURCES)
    _check_values("public", audiences, AUDIENCES)
    _check_values("type", kinds, KINDS)
    return SearchFilter(
        sources=list(sources) if sources else None,
        audiences=list(audiences) if audiences else None,
        kinds=list(kinds) if kinds else list(ANSWER_KINDS),
        tenants=list(tenants),
        as_of=as_of or date.today(),
    )


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


class Retriever:
    def __init__(
        self,
        store: Store,
        encoder: Bm25Encoder,
        embedder: Embedder | None = None,
        *,
        prefetch_limit: int = 50,
        max_per_doc: int = 2,
        max_query_chars: int = 2000,
        expander: QueryExpander | None = None,
        bridge: bool = False,
        rewriter: QueryRewriter | None = None,
        reranker: Reranker | None = None,
        regimes: Regimes | None = None,
        local: Embedder | None = None,
        local_weight: float = 1.0,
        rrf_k: int = 60,
        fields: Sequence[str] | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.embedder = embedder
        self.prefetch_limit = prefetch_limit
        self.max_per_doc = max_per_doc
        self.max_query_chars = max_query_chars
        self.expander = expander  # town-hall lexicon, direct references (assistant.rag.query)
        self.fields = fields  # the payload fields a hit brings (None: all of them)
        self.law = LawBridge(store, encoder, fields=fields) if bridge else None  # fiche ↔ law
        self.regimes = regimes  # Alsace-Moselle, outre-mer…: the common law first
        self.rewriter = rewriter  # with a model (assistant.llm.levers): off by default
        self.reranker = reranker
        self.local = local  # e5 in process: the passages' `e5` vectors (ingestion.local_vectors)
        self.local_weight = local_weight
        self.rrf_k = rrf_k
        self._has_local: tuple[float, bool] = (0.0, False)  # (checked at, some vectors)

    def has_local_vectors(self, ttl_s: float = 30.0) -> bool:
        """Whether the e5 vectors cover enough passages to search them (LOCAL_MIN_SHARE,
        checked every `ttl_s` seconds): while the background fill has done only a part,
        the fusion would favour whichever passages it reached first, and an answer would
        change from one minute to the next."""
        now = time.monotonic()
        checked, found = self._has_local
        if not found and now - checked > ttl_s:
            done = coverage(self.store)
            found = done.done > 0 and done.done >= LOCAL_MIN_SHARE * done.total
            self._has_local = (now, found)
        return found

    def search(
        self,
        question: str,
        where: SearchFilter,
        limit: int = 8,
        *,
        place: Place | None = None,
        context: str = "",
    ) -> list[Passage]:
        """The best passages, at most `max_per_doc` per document. `place`: the user's
        commune, whose special regime (Alsace-Moselle…) is then not weighed down.
        `context`: what a follow-up builds on (the previous question), whose words weigh
        less than the question's own (CONTEXT_WEIGHT)."""
        question = check_question(question, self.max_query_chars)
        query = self.expander.expand(question) if self.expander else Query(question)
        query = query.analysed_by(self.encoder)  # once: the law bridge's queries reuse it
        texts: list[tuple[str, float]] = []
        if context:
            texts.append((context, CONTEXT_WEIGHT))
            question = f"{context} {question}"  # what the vectors and the ranks read
        expansion = self.rewriter.expand(question) if self.rewriter else None
        if expansion is not None:  # the model's legal words, or its hypothetical answer
            texts += expansion.texts
        sparse = query.sparse(self.encoder, texts)
        dense = None
        if self.embedder is not None:
            try:
                dense = self.embedder.embed_query(expansion.dense_text if expansion else question)
            except EmbeddingFailed as exc:
                log.warning("dense search skipped: %s", exc)
        local = None
        if self.local is not None and self.has_local_vectors():
            try:
                local = self.local.embed_query(question)
            except Exception as exc:  # the local engine failing: BM25 alone
                log.warning("e5 search skipped: %s", exc)
        searches = [
            Search(
                sparse,
                where,
                limit=max(limit * 4, 30),  # room for the per-document cap below
                dense=dense,
                local=local,
                prefetch_limit=max(self.prefetch_limit, limit * 4),
                weights={LOCAL: self.local_weight},
                rrf_k=self.rrf_k,
                fields=self.fields,
            )
        ]
        direct = self.law.direct_search(query, where) if self.law is not None else None
        if direct is not None:  # the articles the question names: in the same batch
            searches.append(direct)
        found = self.store.query_batch(searches)
        hits = found[0]
        if self.regimes is not None:
            hits = self.regimes.rank(hits, question, place)
        if self.law is not None:
            hits = self.law.augment(hits, query, where, found[1] if direct is not None else [])
        if self.reranker is not None:  # the model orders the first results
            hits = self.reranker.rerank(question, hits)
        per_doc: dict[str, int] = {}
        passages: list[Passage] = []
        for hit in hits:
            if per_doc.get(hit.doc_id, 0) >= self.max_per_doc:
                continue  # a few documents, not one document's every chunk
            per_doc[hit.doc_id] = per_doc.get(hit.doc_id, 0) + 1
            passages.append(Passage(rank=len(passages) + 1, score=hit.score, hit=hit))
            if len(passages) == limit:
                break
        return passages

    def history_gaps(
        self, question: str, where: SearchFilter, found: set[str], limit: int = 5
    ) -> list[HistoryGap]:
        """For a question on a past day: the articles that answer it today but whose oldest
        text held starts after that day — « texte antérieur non disponible », rather than
        silently finding nothing. `found`: the doc ids already found that day."""
        if where.as_of is None or where.as_of >= date.today():
            return []
        today = replace(where, as_of=date.today(), kinds=["article"])
        seen, gaps = set(found), []
        for p in self.search(question, today, limit):
            since = p.field("history_from")
            if p.doc_id not in seen and since and str(since) > where.as_of.isoformat():
                gaps.append(HistoryGap(p.doc_id, str(p.field("title") or p.doc_id), str(since)))
                seen.add(p.doc_id)
        return gaps
