"""Run a dataset through Plume: search, answer, score, and average per kind.

Each question is searched (top 10 documents, for the retrieval metrics) and asked (the
answer, its citations and its latency); ragas then scores the answers in one batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from statistics import fmean
from typing import Any

from assistant.rag.retrieval import build_filter
from assistant.service import Assistant
from eval import metrics
from eval.answers import AnswerSample, Judge, score_answers
from eval.dataset import EvalItem
from plume.store import SearchFilter, Store

TOP_K = 10
CONTEXTS = 6  # passages an answer is built on (ChatService.passages_per_answer)
RETRIEVAL_METRICS = ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
PLUME_METRICS = ("citation_precision", "refusal_accuracy", "date_correctness")
# what the secretary gets (eval.metrics.answer_outcome)
ANSWER_METRICS = (
    "answered_gold",
    "shown_gold",
    "also_gold",
    "answered_wrong",
    "pistes_gold",
    "answered",
    "pistes",
    "refusal_accuracy",
)
RELIABILITY_METRICS = tuple(f"{m}{level}" for level in metrics.LEVELS for m in ("right@", "level_"))
ALL = "all"


@dataclass
class ItemResult:
    item: EvalItem
    ranked: list[str]
    mode: str
    answer: str
    citations: list[dict[str, Any]]
    latency_s: float
    reliability: dict[str, Any] | None = None
    contexts: list[tuple[str, str]] = field(default_factory=list)  # (doc id, text) read
    scores: dict[str, float | None] = field(default_factory=dict)
    see_also: list[str] = field(default_factory=list)  # doc ids to check beside the answer

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.item.id,
            "kind": self.item.kind,
            "question": self.item.question,
            "gold": list(self.item.gold),
            "ranked": self.ranked,
            "mode": self.mode,
            "level": (self.reliability or {}).get("level"),
            "reliability": self.reliability,
            "answer": self.answer,
            "cited": [c["doc_id"] for c in self.citations],
            "see_also": self.see_also,
            "latency_s": round(self.latency_s, 4),
            "scores": self.scores,
        }


def _where(item: EvalItem) -> SearchFilter:
    return build_filter(as_of=item.as_of, tenants=[item.tenant] if item.tenant else ())


def gold_passages(store: Store, gold: Sequence[str], limit: int = 40) -> list[str]:
    """The gold documents' passages (every version), the reference contexts of ragas."""
    if not gold:
        return []
    points = store.scan(SearchFilter(doc_ids=list(gold)), ["text"])
    return [str(p.get("text", "")) for _, p in points][:limit]


def run_item(assistant: Assistant, item: EvalItem) -> ItemResult:
    where = _where(item)
    passages = assistant.search(item.question, where, TOP_K * 3)
    ranked = list(dict.fromkeys(p.doc_id for p in passages))[:TOP_K]
    started = time.perf_counter()
    answer = assistant.ask(item.question, where)
    latency = time.perf_counter() - started
    citations = [c.as_dict() for c in answer.citations]
    result = ItemResult(
        item, ranked, answer.mode, answer.text, citations, latency, answer.reliability
    )
    result.contexts = [(p.doc_id, p.text) for p in passages[:CONTEXTS]]
    day = item.as_of or date.today()
    result.scores = {
        "citation_precision": (
            metrics.citation_precision([c["doc_id"] for c in citations], item.gold)
            if item.gold
            else None
        ),
        "refusal_accuracy": metrics.refusal_correct(answer.mode, item.gold),
        "date_correctness": metrics.date_correctness(citations, day),
    }
    level = (answer.reliability or {}).get("level")
    cited = [c["doc_id"] for c in citations]
    result.see_also = [c.doc_id for c in answer.see_also]
    result.scores |= metrics.answer_outcome(
        answer.mode, cited, item.gold, level, also=result.see_also
    )
    if item.gold:
        result.scores |= metrics.retrieval_scores(ranked, item.gold, TOP_K)
    return result


def run_dataset(
    assistant: Assistant,
    store: Store,
    items: Sequence[EvalItem],
    *,
    judge: Judge | None = None,
) -> list[ItemResult]:
    """Every item searched, answered and scored (retrieval, Plume's and ragas' metrics)."""
    results = [run_item(assistant, item) for item in items]
    samples = [
        AnswerSample(
            question=r.item.question,
            response="" if r.mode in ("refusal", "pistes") else r.answer,
            contexts=[text for _, text in r.contexts],
            context_ids=[doc_id for doc_id, _ in r.contexts],
            reference=r.item.reference,
            gold=r.item.gold,
            reference_contexts=gold_passages(store, r.item.gold),
        )
        for r in results
    ]
    for result, scores in zip(results, score_answers(samples, judge), strict=True):
        result.scores |= scores
    return results


def summarize(results: Sequence[ItemResult]) -> dict[str, dict[str, float]]:
    """Mean of each metric per kind and over all questions (metrics that do not apply to a
    question are left out of its mean), plus the count and the latency percentiles."""
    groups: dict[str, list[ItemResult]] = {ALL: list(results)}
    for r in results:
        groups.setdefault(r.item.kind, []).append(r)
        for tag in r.item.tags:
            groups.setdefault(f"tag:{tag}", []).append(r)
    summary: dict[str, dict[str, float]] = {}
    for name, members in groups.items():
        row: dict[str, float] = {"n": float(len(members))}
        names = dict.fromkeys(m for r in members for m in r.scores)
        for metric in names:
            values = [v for r in members if (v := r.scores.get(metric)) is not None]
            if values:
                row[metric] = fmean(values)
        latencies = [r.latency_s for r in members]
        row["latency_p50_s"] = metrics.percentile(latencies, 50)
        row["latency_p95_s"] = metrics.percentile(latencies, 95)
        summary[name] = row
    return summary
