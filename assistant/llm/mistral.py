"""llama-index's Mistral wrapper over the mistralai SDK, as Plume configures it (imported
only when a model is configured: llama-index takes about a second to load).

Two gaps of the wrapper are closed here: it passes `max_retries` to the SDK as an int,
which the SDK ignores (so 429 and 5xx were never retried), and it refuses model names it
does not list, which rules out a self-hosted model. EU endpoint by default; a self-hosted
Mistral-compatible server (vLLM…) through `PLUME_MISTRAL_SERVER_URL`.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import LLMMetadata
from llama_index.llms.mistralai import MistralAI
from mistralai.client.utils import BackoffStrategy, RetryConfig
from pydantic import PrivateAttr

SELF_HOSTED_CONTEXT = 32_000


def retry_config(max_elapsed_s: float) -> RetryConfig | None:
    """Exponential backoff on 429, 500, 502, 503, 504 and connection errors."""
    if max_elapsed_s <= 0:
        return None
    strategy = BackoffStrategy(
        initial_interval=300,
        max_interval=4_000,
        exponent=2.0,
        max_elapsed_time=int(max_elapsed_s * 1000),
        jitter_ms=100,
    )
    return RetryConfig("backoff", strategy, retry_connection_errors=True)


class PlumeMistral(MistralAI):  # type: ignore[misc]  # the wrapper ships no type hints
    _retries: RetryConfig | None = PrivateAttr(default=None)

    def __init__(self, *, retry_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._retries = retry_config(retry_s)

    @property
    def metadata(self) -> LLMMetadata:
        try:
            known: LLMMetadata = super().metadata
            return known
        except ValueError:  # a self-hosted model the wrapper does not know
            return LLMMetadata(
                context_window=SELF_HOSTED_CONTEXT,
                num_output=self.max_tokens,
                is_chat_model=True,
                model_name=self.model,
            )

    @property
    def _model_kwargs(self) -> dict[str, Any]:
        kwargs = dict(super()._model_kwargs)
        kwargs["retries"] = self._retries
        return kwargs
