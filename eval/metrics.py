"""Retrieval metrics over ranked doc ids, and Plume's own answer metrics.

Every function scores one question; `eval.runner.summarize` averages them per kind.
Retrieval is judged on documents (a fiche, an article, an aid), not passages: the ranked
list is the passages' doc ids, first occurrence kept.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any


def first_rank(ranked: Sequence[str], gold: Sequence[str]) -> int | None:
    """1-based rank of the first gold document, or None."""
    return next((i + 1 for i, d in enumerate(ranked) if d in gold), None)


def retrieval_scores(ranked: Sequence[str], gold: Sequence[str], k: int = 10) -> dict[str, float]:
    """recall@1/5/10 (share of gold docs found in the top k), MRR@10 and nDCG@10."""
    wanted = set(gold)
    scores: dict[str, float] = {}
    for cut in (1, 5, 10):
        scores[f"recall@{cut}"] = len(wanted & set(ranked[:cut])) / len(wanted)
    rank = first_rank(ranked[:k], gold)
    scores["mrr@10"] = 1 / rank if rank else 0.0
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in wanted)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(wanted), k)))
    scores["ndcg@10"] = dcg / ideal
    return scores


def citation_precision(cited: Sequence[str], gold: Sequence[str]) -> float | None:
    """Share of the answer's cited documents that are gold; None when nothing is cited."""
    docs = set(cited)
    return len(docs & set(gold)) / len(docs) if docs else None


def refusal_correct(mode: str, gold: Sequence[str]) -> float:
    """1 when Plume refuses exactly when nothing in the corpus answers (gold empty)."""
    return float((mode == "refusal") == (not gold))


def in_force(citation: dict[str, Any], day: date) -> bool:
    """Was the cited version of an article in force on `day`? Texts without dates are."""
    start, end = citation.get("in_force_from"), citation.get("in_force_to")
    if start and date.fromisoformat(str(start)[:10]) > day:
        return False
    return not (end and date.fromisoformat(str(end)[:10]) <= day)


def date_correctness(citations: Sequence[dict[str, Any]], day: date) -> float | None:
    """Share of cited legal articles in force on the question's date; None without any."""
    articles = [c for c in citations if c.get("kind") == "article"]
    if not articles:
        return None
    return sum(in_force(c, day) for c in articles) / len(articles)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), linear interpolation; 0 for no value."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
