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

# the answer modes that answer (assistant.models.ANSWERED_MODES), the reliability levels
ANSWERED_MODES = frozenset({"generative", "extractive", "grants", "precedents", "computation"})
LEVELS = ("elevee", "moyenne", "faible")


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


def answer_outcome(
    mode: str,
    cited: Sequence[str],
    gold: Sequence[str],
    level: str | None,
    also: Sequence[str] = (),
) -> dict[str, float | None]:
    """What the secretary got, for one question.

    - `answered`: an answer (not `pistes`, not a refusal);
    - `answered_gold` / `answered_wrong` (answerable questions): an answer citing a gold
      source / citing none;
    - `pistes`, `pistes_gold`: the closest texts were shown / and one of them is gold;
    - `shown_gold` (answerable): a gold source is among what was shown: cited by the answer
      or the pistes, or among the texts to check beside the answer (`also`);
    - `also_gold` (answered): not cited, but among the texts to check beside the answer;
    - `right@<level>`: for the answer's reliability level, whether it cites a gold source
      (an answer to a question nothing answers is never right); `level_<level>`: 1 for
      the answer's level, 0 for the others (the share of answers at each level).
    """
    answerable = bool(gold)
    answered = mode in ANSWERED_MODES
    hit = bool(set(cited) & set(gold))
    out: dict[str, float | None] = {
        "answered": float(answered),
        "answered_gold": float(answered and hit) if answerable else None,
        "answered_wrong": float(answered and not hit) if answerable else None,
        "pistes": float(mode == "pistes"),
        "pistes_gold": float(mode == "pistes" and hit) if answerable else None,
        "shown_gold": float(hit or bool(set(also) & set(gold))) if answerable else None,
        "also_gold": (
            float(not hit and bool(set(also) & set(gold))) if answerable and answered else None
        ),
    }
    rated = answered or mode == "pistes"
    for name in LEVELS:
        out[f"level_{name}"] = float(level == name) if rated else None
        out[f"right@{name}"] = float(hit) if level == name else None
    return out


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
