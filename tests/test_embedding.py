"""Dense vectors through the real mistralai SDK, against a fake Mistral server on loopback."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.rag.retrieval import build_filter
from assistant.runtime import Runtime
from ingestion.service import ingest_source
from plume.embedding import MistralEmbedder, build_embedder
from plume.errors import EmbeddingFailed
from plume.settings import Settings
from tests.fakes.mistral import FakeMistral, HashingEmbedder, hashed_bow

DIM = 64
QUESTION = "copie intégrale d'acte de naissance"


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(dim=DIM) as server:
        yield server


def embedder_for(fake: FakeMistral, **kwargs: int) -> MistralEmbedder:
    return MistralEmbedder(
        api_key="test", model="mistral-embed", dim=DIM, server_url=fake.url, **kwargs
    )


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- the fake's vectors --------------------------------------------------------------------


def test_hashed_vectors_are_deterministic_normalised_and_meaningful() -> None:
    a = hashed_bow("Copie intégrale d'acte de naissance", DIM)
    assert a == hashed_bow("copie INTÉGRALE d'acte de naissance", DIM)
    assert len(a) == DIM
    assert math.isclose(math.fsum(x * x for x in a), 1.0)
    near = hashed_bow("demander une copie d'acte de naissance", DIM)
    far = hashed_bow("concession funéraire au cimetière communal", DIM)
    assert cosine(a, near) > cosine(a, far)
    assert hashed_bow("", DIM)[0] == 1.0  # never a zero vector


def test_hashing_embedder_matches_the_fake_server(fake: FakeMistral) -> None:
    local = HashingEmbedder(dim=DIM)
    texts = ["mariage civil en mairie", "inscription sur les listes électorales"]
    assert embedder_for(fake).embed_documents(texts) == local.embed_documents(texts)
    assert local.embed_query(QUESTION) == hashed_bow(QUESTION, DIM)
    assert (local.name, local.dim) == (f"hashing:{DIM}", DIM)


# --- MistralEmbedder over HTTP ---------------------------------------------------------------


def test_vectors_in_input_order_and_batched(fake: FakeMistral) -> None:
    texts = [f"passage numéro {i} sur l'état civil {word}" for i, word in enumerate("abcde")]
    vectors = embedder_for(fake, batch_size=2).embed_documents(texts)

    assert vectors == [hashed_bow(t, DIM) for t in texts]
    assert all(len(v) == DIM for v in vectors)
    calls = fake.embedding_calls
    assert [len(c.inputs) for c in calls] == [2, 2, 1]
    assert [t for c in calls for t in c.inputs] == texts
    assert {c.body["model"] for c in calls} == {"mistral-embed"}
    assert calls[0].headers["authorization"] == "Bearer test"


def test_query_vector_is_one_call(fake: FakeMistral) -> None:
    assert embedder_for(fake).embed_query(QUESTION) == hashed_bow(QUESTION, DIM)
    assert [c.inputs for c in fake.embedding_calls] == [[QUESTION]]


def test_server_error_raises_embedding_failed_in_french(fake: FakeMistral) -> None:
    fake.fail_next(500, times=100)
    with pytest.raises(EmbeddingFailed, match="Le service de vectorisation a échoué") as err:
        embedder_for(fake).embed_query(QUESTION)
    assert err.value.code == "vectorisation_impossible"
    assert len(fake.embedding_calls) == 1  # a query is never retried


def test_server_error_on_documents_after_retries(fake: FakeMistral) -> None:
    fake.fail_next(500, times=100)
    started = time.monotonic()
    with pytest.raises(EmbeddingFailed, match="a échoué"):
        embedder_for(fake, retry_ms=300).embed_documents(["un passage"])
    assert len(fake.embedding_calls) >= 2  # retried, then gave up
    assert time.monotonic() - started < 5


def test_rate_limit_is_retried_then_recovers(fake: FakeMistral) -> None:
    fake.fail_next(429, times=2, retry_after_ms=10)
    vectors = embedder_for(fake).embed_documents(["mairie", "cimetière"])
    assert vectors == [hashed_bow("mairie", DIM), hashed_bow("cimetière", DIM)]
    assert len(fake.embedding_calls) == 3


def test_rate_limit_beyond_retries_raises(fake: FakeMistral) -> None:
    fake.fail_next(429, times=10_000, retry_after_ms=20)
    with pytest.raises(EmbeddingFailed, match="Le service de vectorisation a échoué"):
        embedder_for(fake, retry_ms=200).embed_documents(["un passage"])
    assert len(fake.embedding_calls) > 2


def test_wrong_dimension_raises(fake: FakeMistral) -> None:
    with FakeMistral(dim=32) as other:
        embedder = MistralEmbedder(
            api_key="test", model="mistral-embed", dim=DIM, server_url=other.url
        )
        with pytest.raises(EmbeddingFailed, match="dimension attendue 64"):
            embedder.embed_documents(["un passage"])
        assert len(other.embedding_calls) == 1


# --- configuration ------------------------------------------------------------------------------


def test_build_embedder_off_without_key_or_server(tmp_path: Path) -> None:
    assert build_embedder(Settings(data_dir=tmp_path / "d")) is None


def test_build_embedder_from_settings(fake: FakeMistral, tmp_path: Path) -> None:
    settings = Settings(
        mistral_api_key="k",
        mistral_server_url=fake.url,
        embedding_dim=DIM,
        data_dir=tmp_path / "d",
    )
    embedder = build_embedder(settings)
    assert isinstance(embedder, MistralEmbedder)
    assert (embedder.name, embedder.dim) == ("mistral:mistral-embed", DIM)
    assert embedder.embed_query("mairie") == hashed_bow("mairie", DIM)
    assert fake.embedding_calls[0].headers["authorization"] == "Bearer k"


def test_build_embedder_from_environment(
    fake: FakeMistral, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUME_MISTRAL_SERVER_URL", fake.url)
    monkeypatch.setenv("PLUME_EMBEDDING_DIM", str(DIM))
    embedder = build_embedder(Settings(data_dir=tmp_path / "d"))
    assert isinstance(embedder, MistralEmbedder)
    assert len(embedder.embed_query("mairie")) == DIM


# --- end to end: hybrid ingestion and search ------------------------------------------------------


def test_hybrid_ingest_and_search(fake: FakeMistral, mini_corpus: Path, tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        mistral_api_key="k",
        mistral_server_url=fake.url,
        embedding_dim=DIM,
    )
    runtime = Runtime.build(settings)
    try:
        assert isinstance(runtime.embedder, MistralEmbedder)
        summary = ingest_source(
            settings, runtime.store, runtime.embedder, "service-public", path=mini_corpus
        )
        assert summary.added > 0
        assert not summary.errors
        embedded = [t for c in fake.embedding_calls for t in c.inputs]
        assert len(embedded) == summary.added  # every new passage got a dense vector
        assert all(len(c.inputs) <= settings.embedding_batch for c in fake.embedding_calls)

        # the query is embedded once: the dense half of the hybrid search
        fake.clear()
        passages = runtime.assistant.search(QUESTION, build_filter(), 5)
        assert "vdd/F1427" in [p.hit.doc_id for p in passages[:3]]
        assert [c.inputs for c in fake.embedding_calls] == [[QUESTION]]

        # Mistral down: search goes on sparse-only instead of failing
        fake.fail_next(500, times=100)
        fake.clear()
        degraded = runtime.assistant.search(QUESTION, build_filter(), 5)
        assert degraded
        assert "vdd/F1427" in [p.hit.doc_id for p in degraded[:3]]
        assert len(fake.embedding_calls) == 1  # tried once, no retry at query time
        fake.recover()

        # re-ingesting unchanged content computes no vector at all
        fake.clear()
        again = ingest_source(
            settings, runtime.store, runtime.embedder, "service-public", path=mini_corpus
        )
        assert (again.added, again.updated, again.deleted) == (0, 0, 0)
        assert again.skipped == summary.added
        assert fake.embedding_calls == []
    finally:
        runtime.close()
