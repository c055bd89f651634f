"""Answer metrics with ragas 0.4.

Always (no model): context precision and recall of the answer's passages against the gold
sources (ragas' id-based metrics on doc ids), text-based context precision against the gold
documents' passages, and the answer's string similarity to the reference answer.
With a judge model (`PLUME_JUDGE_MODEL`, on Mistral's OpenAI-compatible API): faithfulness,
response relevancy, LLM context precision and recall, factual correctness.
ragas' telemetry is off (`RAGAS_DO_NOT_TRACK`), set before ragas is imported.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from plume.settings import Settings

os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

log = logging.getLogger(__name__)
MISTRAL_API = "https://api.mistral.ai"
OFFLINE_METRICS = (
    "context_precision_ids",
    "context_recall_ids",
    "context_precision_text",
    "string_similarity",
)
JUDGED_METRICS = (
    "faithfulness",
    "response_relevancy",
    "context_precision_llm",
    "context_recall_llm",
    "factual_correctness",
)


@dataclass(frozen=True)
class AnswerSample:
    """What one question produced, with what it should have produced."""

    question: str
    response: str
    contexts: Sequence[str]
    context_ids: Sequence[str]
    reference: str
    gold: Sequence[str]
    reference_contexts: Sequence[str]


@dataclass(frozen=True)
class Judge:
    """ragas' LLM and embeddings, built on an OpenAI-compatible client."""

    llm: Any
    embeddings: Any
    model: str


def build_judge(settings: Settings, client: Any | None = None) -> Judge | None:
    """The judge configured in the settings (or on `client`); None when no model is set."""
    if not settings.judge_model:
        return None
    from openai import AsyncOpenAI
    from ragas.embeddings.base import embedding_factory
    from ragas.llms import llm_factory

    if client is None:
        key = settings.mistral_api_key.get_secret_value() if settings.mistral_api_key else "none"
        base = (settings.mistral_server_url or MISTRAL_API).rstrip("/")
        client = AsyncOpenAI(api_key=key, base_url=f"{base}/v1", timeout=settings.llm_timeout_s)
    llm = llm_factory(settings.judge_model, provider="openai", client=client)
    embeddings = embedding_factory("openai", model=settings.embedding_model, client=client)
    return Judge(llm, embeddings, settings.judge_model)


async def _offline(sample: AnswerSample) -> dict[str, float | None]:
    from ragas import SingleTurnSample

    # the legacy single-turn metrics: 0.4's collections have no id-based or text-based
    # context metrics yet; their modules are imported directly (the package path warns)
    from ragas.metrics._context_precision import (
        IDBasedContextPrecision,
        NonLLMContextPrecisionWithReference,
    )
    from ragas.metrics._context_recall import IDBasedContextRecall
    from ragas.metrics.collections import NonLLMStringSimilarity

    scores: dict[str, float | None] = dict.fromkeys(OFFLINE_METRICS)
    if sample.reference:
        result = await NonLLMStringSimilarity().ascore(
            reference=sample.reference, response=sample.response or ""
        )
        scores["string_similarity"] = float(result.value)
    if not sample.gold or not sample.context_ids:
        return scores  # a refusal case: nothing to retrieve, judged by refusal accuracy
    ids = SingleTurnSample(
        retrieved_context_ids=list(sample.context_ids), reference_context_ids=list(sample.gold)
    )
    scores["context_precision_ids"] = await IDBasedContextPrecision().single_turn_ascore(ids)
    scores["context_recall_ids"] = await IDBasedContextRecall().single_turn_ascore(ids)
    if sample.reference_contexts:
        texts = SingleTurnSample(
            retrieved_contexts=list(sample.contexts),
            reference_contexts=list(sample.reference_contexts),
        )
        metric = NonLLMContextPrecisionWithReference()
        scores["context_precision_text"] = await metric.single_turn_ascore(texts)
    return scores


async def _value(label: str, call: Awaitable[Any]) -> float | None:
    """A judged score, or None (logged) when the judge fails on this sample."""
    try:
        result = await call
    except Exception as exc:  # a judge's bad JSON or time-out must not stop the run
        log.warning("judged metric %s failed: %s", label, exc)
        return None
    value = getattr(result, "value", result)
    return float(value) if isinstance(value, int | float) else None


async def _judged(sample: AnswerSample, judge: Judge) -> dict[str, float | None]:
    from ragas.metrics.collections import (
        AnswerRelevancy,
        ContextPrecisionWithReference,
        ContextRecall,
        FactualCorrectness,
        Faithfulness,
    )

    scores: dict[str, float | None] = dict.fromkeys(JUDGED_METRICS)
    if not sample.response:
        return scores
    question, response, contexts = sample.question, sample.response, list(sample.contexts)
    scores["response_relevancy"] = await _value(
        "response_relevancy",
        AnswerRelevancy(llm=judge.llm, embeddings=judge.embeddings).ascore(
            user_input=question, response=response
        ),
    )
    if contexts:
        scores["faithfulness"] = await _value(
            "faithfulness",
            Faithfulness(llm=judge.llm).ascore(
                user_input=question, response=response, retrieved_contexts=contexts
            ),
        )
    if sample.reference and contexts and sample.gold:
        scores["context_precision_llm"] = await _value(
            "context_precision_llm",
            ContextPrecisionWithReference(llm=judge.llm).ascore(
                user_input=question, reference=sample.reference, retrieved_contexts=contexts
            ),
        )
        scores["context_recall_llm"] = await _value(
            "context_recall_llm",
            ContextRecall(llm=judge.llm).ascore(
                user_input=question, retrieved_contexts=contexts, reference=sample.reference
            ),
        )
    if sample.reference:
        scores["factual_correctness"] = await _value(
            "factual_correctness",
            FactualCorrectness(llm=judge.llm).ascore(response=response, reference=sample.reference),
        )
    return scores


async def _score_all(
    samples: Sequence[AnswerSample], judge: Judge | None, concurrency: int
) -> list[dict[str, float | None]]:
    gate = asyncio.Semaphore(concurrency)

    async def one(sample: AnswerSample) -> dict[str, float | None]:
        async with gate:
            scores = await _offline(sample)
            if judge is not None:
                scores |= await _judged(sample, judge)
            return scores

    return list(await asyncio.gather(*(one(s) for s in samples)))


def score_answers(
    samples: Sequence[AnswerSample], judge: Judge | None = None, concurrency: int = 4
) -> list[dict[str, float | None]]:
    """ragas' scores for each sample, in order (None where a metric does not apply)."""
    return asyncio.run(_score_all(samples, judge, concurrency))
