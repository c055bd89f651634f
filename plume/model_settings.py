"""The model's settings (Mistral: EU API or self-hosted), one section of `plume.settings.Settings`.

Kept apart only to keep modules small: `Settings` inherits these fields, which read
`PLUME_` variables like every other setting.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class ModelSettings(BaseSettings):
    """The model (answers, judgements, retrieval levers) and the dense embeddings."""

    mistral_api_key: SecretStr | None = Field(
        None, description="Mistral API key. Without it Plume answers extractively (no model)."
    )
    mistral_server_url: str | None = Field(
        None,
        description="Base URL of a self-hosted Mistral-compatible server; the EU API "
        "(https://api.mistral.ai) when unset.",
    )
    chat_model: str = Field(
        "mistral-small-latest", description="Model that writes answers (EU API or self-hosted)."
    )
    llm_temperature: float = Field(
        0.2, ge=0.0, le=1.0, description="Sampling temperature (the model wrapper allows 0 to 1)."
    )
    llm_max_tokens: int = Field(700, ge=50, le=8000, description="Longest answer, in tokens.")
    llm_timeout_s: int = Field(30, ge=1, description="Time-out of one model call, in seconds.")
    llm_retry_s: float = Field(
        8.0,
        ge=0.0,
        description="How long 429/5xx are retried (exponential backoff) before falling back.",
    )
    breaker_failures: int = Field(
        3, ge=1, description="Consecutive model failures that open the circuit breaker."
    )
    breaker_reset_s: float = Field(
        60.0, ge=1.0, description="How long the open breaker skips the model before a trial."
    )
    electricity_mix_zone: str | None = Field(
        None,
        description="ISO 3166-1 alpha-3 zone of the model's data centre for energy/CO2 "
        "estimates (ecologits); the provider's default when unset.",
    )
    judge_model: str | None = Field(
        None,
        description="Model that judges answers in `plume eval` (ragas' LLM metrics: "
        "faithfulness, relevancy…), on the same Mistral key or server; unset: only the "
        "metrics that need no model.",
    )
    retrieval_rewrite: Literal["off", "rewrite", "hyde"] = Field(
        "off",
        description="Model step before the search (needs a model): `rewrite` adds the "
        "question's legal keywords as the model states them, `hyde` a short hypothetical "
        "answer in the style of an article. Off by default: not yet measured against the "
        "real model (`python -m bench.retrieval_levers --model`); one call per question.",
    )
    retrieval_rerank: bool = Field(
        False,
        description="Let the model reorder the first `rerank_top` passages of each search "
        "(needs a model; one call per search, about 3,000 prompt tokens). Off by default "
        "until measured.",
    )
    rerank_top: int = Field(
        30, ge=2, le=30, description="Passages the model reranks (the first ones found)."
    )
    retrieval_model_timeout_s: float = Field(
        10.0,
        ge=0.5,
        description="Time-out of one rewriting or reranking call, in seconds: beyond, the "
        "search goes on without the model.",
    )
    citation_judge: bool = Field(
        True,
        description="With a model: it also judges, in one call per answer, whether each "
        "unquoted sentence is backed by the passages it cites (issue 21); a sentence it "
        "refuses, or every one when its reply is unusable, loses its citations and is not shown.",
    )
    citation_judge_timeout_s: float = Field(
        10.0, ge=0.5, description="Time-out of the citation judgement's call, in seconds."
    )
    embedding_model: str = Field("mistral-embed", description="Model for dense vectors.")
    embedding_dim: int = Field(1024, description="Dimension of the embedding model's vectors.")
    embedding_batch: int = Field(64, ge=1, le=512, description="Texts sent per embedding call.")
    dense_enabled: bool | None = Field(
        None,
        description="Compute dense vectors. Default: on when a Mistral key or server is set.",
    )
