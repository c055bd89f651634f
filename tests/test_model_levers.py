"""Retrieval with a model (lever 6): the rewriter and the reranker, through the real
llama-index wrapper and Mistral SDK, against the fake Mistral server. Any failure of the
model leaves the offline ranking as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.llm.breaker import CircuitBreaker
from assistant.llm.client import MistralGenerator, build_llm
from assistant.llm.levers import (
    HYDE_WEIGHT,
    MAX_PASSAGE_CHARS,
    REPLY_TOKENS,
    REWRITE_WEIGHT,
    QueryRewriter,
    Reranker,
    build_model_levers,
    numbered_passages,
    parse_ranking,
    parse_terms,
)
from assistant.llm.prompts import PromptBook
from assistant.rag.retrieval import Retriever, build_filter
from assistant.runtime import Runtime
from plume.documents import SHARED_TENANT, point_id
from plume.settings import Settings
from plume.store import Hit, Store, StoredPoint
from plume.store.server import ServerStore
from plume.text import Bm25Encoder
from tests.fakes.mistral import CHAT, FakeMistral, HashingEmbedder, hashed_bow, message_text, words

DIM = 16
QUESTION = "peut-on enterrer un défunt dans le jardin de sa maison, faut-il voir la mairie ?"
LEGAL = "vdd/B"  # the law's words for it, none of the question's
DOCS = {
    "vdd/A": ("Jardin partagé", "Le jardin partagé de la mairie est ouvert à tous les habitants."),
    LEGAL: (
        "Inhumation dans une propriété privée",
        "L'inhumation dans une propriété particulière est autorisée par le préfet du "
        "département, hors de l'enceinte des villes et bourgs.",
    ),
    "vdd/C": (
        "Concession funéraire",
        "La mairie accorde au défunt une concession funéraire dans le cimetière communal.",
    ),
    "vdd/D": ("Maison de services", "La maison France services aide les habitants sans mairie."),
}
REWRITE_REPLY = (
    "Voici les termes :\n- inhumation\n- propriété particulière\n- autorisation du préfet"
)
HYDE_REPLY = (
    "L'inhumation dans une propriété particulière est autorisée par le préfet du département, "
    "après avis d'un hydrogéologue agréé."
)


def point(
    doc_id: str, title: str, text: str, encoder: Bm25Encoder, *, dense: bool = True
) -> StoredPoint:
    payload = {
        "doc_id": doc_id,
        "title": title,
        "text": text,
        "source": "service-public",
        "source_version": "1",
        "kind": "fiche",
        "audience": ["Particuliers"],
        "tenant": SHARED_TENANT,
    }
    indexed = f"{title}\n{text}"
    return StoredPoint(
        point_id(doc_id, 0),
        payload,
        encoder.encode_document(indexed),
        hashed_bow(indexed, DIM) if dense else None,
    )


def user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return message_text(users[-1]) if users else ""


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(dim=DIM) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(fake: FakeMistral) -> Iterator[None]:
    fake.reset()
    yield
    fake.reset()


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    s = ServerStore(":memory:", collection="levers", dense_dim=DIM)
    s.ensure_collection()
    encoder = Bm25Encoder()
    s.upsert([point(d, title, text, encoder) for d, (title, text) in DOCS.items()])
    yield s
    s.close()


@pytest.fixture
def llm(fake: FakeMistral) -> MistralGenerator:
    settings = Settings(mistral_api_key="k", mistral_server_url=fake.url, llm_retry_s=0)
    built = build_llm(settings)
    assert built is not None
    return built


@pytest.fixture
def breaker() -> CircuitBreaker:
    return CircuitBreaker(failures=3, reset_after_s=60)


def ranked(retriever: Retriever, question: str = QUESTION) -> list[str]:
    return [p.doc_id for p in retriever.search(question, build_filter(), 10)]


def offline(store: Store) -> list[str]:
    return ranked(Retriever(store, Bm25Encoder()))


# --- rewriting ----------------------------------------------------------------------------------


def test_rewriting_adds_the_models_legal_words(
    fake: FakeMistral, store: Store, llm: MistralGenerator, breaker: CircuitBreaker
) -> None:
    fake.chat_reply = REWRITE_REPLY
    rewriter = QueryRewriter(llm, breaker, PromptBook.load(), timeout_s=5)
    assert LEGAL not in offline(store)  # none of the question's words are in it

    got = ranked(Retriever(store, Bm25Encoder(), rewriter=rewriter))

    assert got[0] == LEGAL
    (call,) = fake.chat_calls
    prompt = user_text(call.body)
    assert QUESTION in prompt and "Termes juridiques" in prompt
    assert call.body["max_tokens"] == REPLY_TOKENS["rewrite"] and call.body["temperature"] == 0
    expansion = rewriter.expand(QUESTION)  # cached: the same question costs no new call
    assert expansion is not None and len(fake.chat_calls) == 1
    assert expansion.texts == (
        ("inhumation", REWRITE_WEIGHT),
        ("propriété particulière", REWRITE_WEIGHT),
        ("autorisation du préfet", REWRITE_WEIGHT),
    )
    assert rewriter.usage.calls == 1 and rewriter.usage.prompt_tokens > 0
    assert rewriter.usage.completion_tokens > 0 and rewriter.usage.fallbacks == 0


def test_hyde_searches_the_hypothetical_answer_sparse_and_dense(
    fake: FakeMistral, store: Store, llm: MistralGenerator, breaker: CircuitBreaker
) -> None:
    fake.chat_reply = "Paragraphe : " + HYDE_REPLY
    hyde = QueryRewriter(llm, breaker, PromptBook.load(), mode="hyde", timeout_s=5)
    embedder = HashingEmbedder(DIM)

    got = ranked(Retriever(store, Bm25Encoder(), embedder, rewriter=hyde))

    assert got[0] == LEGAL
    assert "article" in user_text(fake.chat_calls[0].body)
    assert embedder.calls == [[f"{QUESTION}\n{HYDE_REPLY}"]]  # the dense query text too
    expansion = hyde.expand(QUESTION)
    assert expansion is not None and expansion.texts == ((HYDE_REPLY, HYDE_WEIGHT),)


# --- reranking ----------------------------------------------------------------------------------


def test_reranking_follows_the_models_order(
    fake: FakeMistral, store: Store, llm: MistralGenerator, breaker: CircuitBreaker
) -> None:
    before = offline(store)
    assert len(before) >= 3
    fake.chat_reply = '```json\n{"ordre": [3, 1]}\n```'
    reranker = Reranker(llm, breaker, PromptBook.load(), timeout_s=5)

    got = ranked(Retriever(store, Bm25Encoder(), reranker=reranker))

    # the ranked ones first, then the others in their offline order
    assert got == [before[2], before[0], *before[1:2], *before[3:]]
    prompt = user_text(fake.chat_calls[0].body)
    assert QUESTION in prompt
    for n, doc_id in enumerate(before, start=1):
        title, text = DOCS[doc_id]
        assert f"[{n}] {title}\n{text}" in prompt
    assert reranker.usage.calls == 1 and reranker.usage.prompt_tokens > 0


def test_only_the_top_passages_are_shown_trimmed(
    fake: FakeMistral, llm: MistralGenerator, breaker: CircuitBreaker
) -> None:
    hits = [
        Hit(str(i), 1.0 / (i + 1), {"doc_id": f"d{i}", "title": f"T{i}", "text": "mot " * 200})
        for i in range(40)
    ]
    fake.chat_reply = json.dumps({"ordre": [40, 5, 5, 2]})  # 40 was not shown: ignored
    got = Reranker(llm, breaker, PromptBook.load(), top=30).rerank("question", hits)
    assert [h.id for h in got] == ["4", "1", "0", *map(str, range(2, 4)), *map(str, range(5, 40))]
    prompt = user_text(fake.chat_calls[0].body)
    assert "[30] T29" in prompt and "[31]" not in prompt
    assert len(numbered_passages(hits[:1])) < MAX_PASSAGE_CHARS + 20


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"ordre": [2, 1, 3]}', [2, 1, 3]),
        ("[3, 2]", [3, 2]),
        ('Voici le classement : {"classement": ["2", "1"]} Merci.', [2, 1]),
        ('{"ordre": [4, 2, 9, 2, true]}', [4, 2]),  # out of range, repeated, not a number
        ('{"ordre": [3, 1, 2', [3, 1, 2]),  # cut by max_tokens
        ('{"ordre": []}', []),  # nothing relevant: the offline order stays
        ("Je ne peux pas classer ces extraits.", None),
        ("", None),
    ],
)
def test_the_ranking_is_parsed_robustly(reply: str, expected: list[int] | None) -> None:
    assert parse_ranking(reply, 4) == expected


def test_keywords_are_parsed_from_a_list() -> None:
    reply = "Termes :\n1. « inhumation »\n* concession funéraire ; reprise\n\n" + "x" * 100
    assert parse_terms(reply) == ["inhumation", "concession funéraire", "reprise"]


# --- failures: the offline result, never an error -------------------------------------------------


@pytest.mark.parametrize("failure", ["garbage", "500", "timeout", "breaker"])
@pytest.mark.parametrize("lever", ["rewrite", "rerank"])
def test_model_failures_keep_the_offline_order(
    fake: FakeMistral,
    store: Store,
    llm: MistralGenerator,
    lever: str,
    failure: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = offline(store)
    breaker = CircuitBreaker(failures=1, reset_after_s=60)  # one outage opens it
    if failure == "garbage":
        fake.chat_reply = "Voici :" if lever == "rewrite" else "Je ne sais pas classer."
    elif failure == "500":
        fake.fail_next(500, path=CHAT)
    elif failure == "timeout":
        fake.delay_s = 2
    else:
        breaker.failure()
    book = PromptBook.load()
    model_lever: QueryRewriter | Reranker
    if lever == "rewrite":
        model_lever = QueryRewriter(llm, breaker, book, timeout_s=0.5)
        retriever = Retriever(store, Bm25Encoder(), rewriter=model_lever)
    else:
        model_lever = Reranker(llm, breaker, book, timeout_s=0.5)
        retriever = Retriever(store, Bm25Encoder(), reranker=model_lever)

    with caplog.at_level("WARNING", logger="assistant"):
        assert ranked(retriever) == before

    assert "offline result kept" in caplog.text
    assert model_lever.usage.fallbacks == 1
    assert len(fake.chat_calls) == (0 if failure == "breaker" else 1)
    # a model outage counts against the breaker, a reply it cannot use does not
    assert breaker.state == ("closed" if failure == "garbage" else "open")


def test_without_a_model_there_is_no_lever(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, retrieval_rewrite="hyde", retrieval_rerank=True)
    levers = build_model_levers(settings, build_llm(settings), CircuitBreaker(), PromptBook.load())
    assert levers == (None, None)


# --- settings: off by default ------------------------------------------------------------------


def runtime_search(settings: Settings) -> tuple[list[str], Runtime]:
    runtime = Runtime.build(settings, embedder=None)
    runtime.store.upsert(
        [point(d, t, x, runtime.encoder, dense=False) for d, (t, x) in DOCS.items()]
    )
    return ranked(runtime.assistant.retriever), runtime


def test_levers_are_off_by_default_and_make_no_call(fake: FakeMistral, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "off", mistral_server_url=fake.url)
    assert (settings.retrieval_rewrite, settings.retrieval_rerank) == ("off", False)
    got, runtime = runtime_search(settings)
    try:
        assert got and runtime.assistant.retriever.rewriter is None
        assert runtime.assistant.retriever.reranker is None
        assert fake.chat_calls == []
    finally:
        runtime.close()


def test_settings_switch_the_levers_on(fake: FakeMistral, tmp_path: Path) -> None:
    def reply(body: dict[str, Any]) -> str:
        return '{"ordre": [1]}' if "JSON" in user_text(body) else REWRITE_REPLY

    fake.chat_reply = reply
    settings = Settings(
        data_dir=tmp_path / "on",
        mistral_server_url=fake.url,
        retrieval_rewrite="rewrite",
        retrieval_rerank=True,
        rerank_top=5,
    )
    got, runtime = runtime_search(settings)
    try:
        assert got[0] == LEGAL
        assert len(fake.chat_calls) == 2  # one rewrite, one rerank
        reranker = runtime.assistant.retriever.reranker
        assert reranker is not None and reranker.top == 5
        # the answering model and the levers share one circuit breaker
        assert reranker.breaker is runtime.assistant.chat.breaker
    finally:
        runtime.close()


def test_an_answer_counts_the_retrievals_model_calls(fake: FakeMistral, tmp_path: Path) -> None:
    """Frugality is reported per answer: the rewrite's tokens are in the answer's usage and
    its energy estimate, whether or not the answer itself calls the model."""
    settings = Settings(
        data_dir=tmp_path / "usage", mistral_server_url=fake.url, retrieval_rewrite="rewrite"
    )
    fake.chat_reply = REWRITE_REPLY
    runtime = Runtime.build(settings, embedder=None)
    runtime.store.upsert(
        [point(d, t, x, runtime.encoder, dense=False) for d, (t, x) in DOCS.items()]
    )
    try:
        answer = runtime.assistant.ask(QUESTION, build_filter())
        assert "Termes juridiques" in user_text(fake.chat_calls[0].body)
        # the fake counts a prompt's tokens as the words of its messages: every call's, the
        # rewrite's included (then the answer's: no lexical gate keeps the model from it)
        sent = sum(len(words(message_text(m))) for c in fake.chat_calls for m in c.body["messages"])
        assert answer.usage["prompt_tokens"] == sent > 0
        assert answer.impact  # the energy estimate covers the retrieval's call
    finally:
        runtime.close()
