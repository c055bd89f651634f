"""Generated answers end to end: the real mistralai SDK and llama-index wrapper talk over
HTTP to the fake Mistral server on loopback, over a real index of real fiches.

One index, one Runtime and one fake per module (ingestion takes seconds and the embedded
store opens once per process); every test starts from a well-behaved fake, a closed
breaker and fresh conversations.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2  # the mistralai SDK's HTTP client
import pytest
from fastapi.testclient import TestClient
from mistralai.client import Mistral
from pydantic import ValidationError

from api.main import create_app
from assistant.chat.model import DECLINE
from assistant.chat.turn import Event
from assistant.llm.breaker import CircuitBreaker
from assistant.llm.client import build_llm
from assistant.models import AI_NOTICE, MODEL_UNAVAILABLE
from assistant.rag.extractive import PISTES_INTRO
from assistant.rag.retrieval import build_filter
from assistant.rag.scope import OUT_OF_SCOPE
from assistant.runtime import Runtime
from ingestion.documents.items import Upload
from ingestion.service import ingest_source
from plume.settings import Settings
from tests.conftest import make_mini_corpus, package_root
from tests.fakes.mistral import CHAT, FakeMistral, ReceivedRequest, ToolCallSpec, message_text

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
BIRTH = "Comment obtenir une copie intégrale d'acte de naissance ?"
MARRIAGE = "Comment obtenir une copie intégrale d'acte de mariage ?"
FOLLOW_UP = "et pour un mariage ?"
OFF_TOPIC = "Quelle est la recette de la tarte tatin aux pommes ?"


# --- what the fake model answers ------------------------------------------------------------


def last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return message_text(users[-1]) if users else ""


def is_rewrite(body: dict[str, Any]) -> bool:
    return "Question réécrite" in last_user_text(body)


def sources_of(body: dict[str, Any]) -> dict[int, tuple[str, str]]:
    """The numbered sources of an answer prompt: n → (fiche id, passage text)."""
    prompt = last_user_text(body)
    context = prompt.split("Sources :", 1)[1].split("\n\nQuestion de la secrétaire", 1)[0]
    out: dict[int, tuple[str, str]] = {}
    for block in re.split(r"\n\n(?=<source )", context.strip()):
        head = re.match(
            r'<source n="(\d+)" kind="\w+">\n\[\1\] [^\n]*\n\(([^,)\n]*)[^\n]*\n', block
        )
        assert head and block.endswith("\n</source>"), block[:200]
        out[int(head[1])] = (head[2].rsplit("/", 1)[-1], block[head.end() : -len("\n</source>")])
    return out


def number_of(body: dict[str, Any], fiche: str) -> int:
    """The number of `fiche`'s first passage in the prompt (1 when it is absent)."""
    return next((n for n, (f, _) in sources_of(body).items() if f == fiche), 1)


def citing(fiche: str = "F1427") -> Any:
    """A well-behaved model: cites `fiche`'s passage; rewrites a follow-up as MARRIAGE."""

    def reply(body: dict[str, Any]) -> str:
        if is_rewrite(body):
            return MARRIAGE
        n = number_of(body, fiche)
        return (
            f"La demande se fait auprès de la mairie qui détient l'acte. [{n}]\n"
            f"- Elle peut aussi se faire en ligne, selon les cas. [{n}]"
        )

    return reply


def answer_calls(fake: FakeMistral) -> list[ReceivedRequest]:
    return [c for c in fake.chat_calls if not is_rewrite(c.body)]


def rewrite_calls(fake: FakeMistral) -> list[ReceivedRequest]:
    return [c for c in fake.chat_calls if is_rewrite(c.body)]


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("generation")


@pytest.fixture(scope="module")
def settings(root: Path, fake: FakeMistral) -> Settings:
    return Settings(
        data_dir=root / "d",
        mistral_api_key="k",
        mistral_server_url=fake.url,
        llm_retry_s=2,
        llm_timeout_s=2,
        breaker_failures=2,
        breaker_reset_s=60,
        admin_token=TOKEN,
    )


@pytest.fixture(scope="module")
def rt(settings: Settings, root: Path) -> Iterator[Runtime]:
    runtime = Runtime.build(settings)
    corpus = make_mini_corpus(package_root(), root / "corpus")
    ingest_source(settings, runtime.store, None, "service-public", path=corpus)
    runtime.refresh_stats()
    yield runtime
    runtime.close()


@pytest.fixture(autouse=True)
def _well_behaved(fake: FakeMistral, rt: Runtime) -> Iterator[None]:
    fake.reset()
    fake.chat_reply = citing()
    rt.assistant.chat.breaker.success()
    yield
    fake.reset()
    rt.assistant.chat.breaker.success()


@pytest.fixture(scope="module")
def client(settings: Settings, rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=rt)) as c:
        yield c


def ask_streamed(rt: Runtime, question: str, conversation_id: str | None = None) -> list[Event]:
    return list(rt.assistant.ask_streamed(question, build_filter(), conversation_id))


def names(events: list[Event]) -> list[str]:
    """Event names, a run of deltas collapsed into one `delta`."""
    out: list[str] = []
    for name, _ in events:
        if not (name == "delta" and out and out[-1] == "delta"):
            out.append(name)
    return out


def deltas(events: list[Event]) -> str:
    return "".join(d["text"] for n, d in events if n == "delta")


def final(events: list[Event]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `citations` and `done` events' data."""
    (cites,) = [d for n, d in events if n == "citations"]
    (done,) = [d for n, d in events if n == "done"]
    return cites, done


# --- the real SDK parses what the fake sends -----------------------------------------------------


def test_the_sdk_parses_a_tool_call(fake: FakeMistral) -> None:
    fake.tool_calls = [ToolCallSpec("chercher_fiche", {"requete": "acte de mariage"})]
    client = Mistral(api_key="k", server_url=fake.url)
    messages: Any = [{"role": "user", "content": "Cherche la fiche."}]
    response = client.chat.complete(model="mistral-small-latest", messages=messages)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == ""
    (call,) = choice.message.tool_calls or []
    assert (call.id, call.type, call.function.name) == ("call_0", "function", "chercher_fiche")
    assert json.loads(str(call.function.arguments)) == {"requete": "acte de mariage"}

    streamed = list(client.chat.stream(model="mistral-small-latest", messages=messages))
    last = streamed[-1].data.choices[0]
    assert last.finish_reason == "tool_calls"
    assert [t.function.name for t in last.delta.tool_calls or []] == ["chercher_fiche"]


def test_the_fake_knobs_reach_the_sdk(fake: FakeMistral) -> None:
    client = Mistral(api_key="k", server_url=fake.url)
    messages: Any = [{"role": "user", "content": "Bonjour"}]
    fake.chat_reply = lambda body: f"Vous avez dit : {last_user_text(body)}"
    assert client.chat.complete(model="m", messages=messages).choices[0].message.content == (
        "Vous avez dit : Bonjour"
    )

    fake.chat_reply = "un deux trois quatre cinq six"
    fake.break_stream_after = 2
    received = []
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        for event in client.chat.stream(model="m", messages=messages):
            received.append(event.data.choices[0].delta.content)
    assert "".join(str(r) for r in received) == "un deux "

    fake.break_stream_after = None
    fake.delay_s = 3
    started = time.monotonic()
    with pytest.raises(httpx2.ReadTimeout):
        client.chat.complete(model="m", messages=messages, timeout_ms=500)
    assert time.monotonic() - started < 2


# --- a generated, cited answer --------------------------------------------------------------------


def test_streamed_answer_is_cited_and_accounted(rt: Runtime, fake: FakeMistral) -> None:
    fake.chat_reply = citing("F1427")
    events = ask_streamed(rt, BIRTH)

    assert names(events) == ["notice", "meta", "delta", "citations", "done"]
    assert events[0][1]["text"] == AI_NOTICE
    meta = events[1][1]
    assert meta["question"] == BIRTH and meta["conversation_id"] and meta["message_id"]
    (call,) = fake.chat_calls
    raw = citing("F1427")(call.body)
    assert deltas(events) == raw  # the model's text, streamed as it came
    assert len([n for n, _ in events if n == "delta"]) > 3  # in pieces, not at the end

    body = call.body
    assert body["stream"] is True and body["model"] == "mistral-small-latest"
    assert body["messages"][0]["role"] == "system" and "Plume" in message_text(body["messages"][0])
    n = number_of(body, "F1427")
    assert sources_of(body)[n][0] == "F1427"

    cites, done = final(events)
    assert [c["doc_id"] for c in cites["citations"]] == ["vdd/F1427"]
    assert [c["n"] for c in cites["citations"]] == [n]
    assert cites["answer"] == raw and cites["removed"] == []
    assert done["answer"] == raw
    assert done["mode"] == "generative" and done["flags"] == [] and done["warning"] is None
    assert done["prompt_version"] == "answer.v3" and done["model"] == "mistral-small-latest"
    assert done["conversation_id"] == meta["conversation_id"]
    assert done["question"] == BIRTH
    assert done["usage"]["prompt_tokens"] > 100 and done["usage"]["completion_tokens"] > 0
    impact = done["impact"]
    assert impact["energy_kwh"] > 0 and impact["gwp_kgco2eq"] > 0
    assert impact["completion_tokens"] == done["usage"]["completion_tokens"]
    assert "citations" not in done


def test_invented_and_inexact_citations_are_removed(rt: Runtime, fake: FakeMistral) -> None:
    def reply(body: dict[str, Any]) -> str:
        n = number_of(body, "F1427")
        # a quote copied from another passage, cited with the wrong number
        other = next(text for m, (_, text) in sources_of(body).items() if m != n)
        quote = re.findall(r"[A-Za-zÀ-ÿ' ]{20,}", other)[0].strip()
        return (
            f"La demande se fait auprès de la mairie qui détient l'acte. [{n}]\n"
            f"La copie est délivrée par le préfet de région. [9]\n"
            f"Le texte précise que « {quote} ». [{n}]\n"
            f"La mairie répond « sous quarante-huit heures ouvrées ». [{n}]"
        )

    fake.chat_reply = reply
    events = ask_streamed(rt, BIRTH)
    raw = reply(fake.chat_calls[0].body)
    n = number_of(fake.chat_calls[0].body, "F1427")

    assert names(events) == ["notice", "meta", "delta", "citations", "done"]
    assert deltas(events) == raw
    cites, done = final(events)
    text = done["answer"]
    assert cites["answer"] == text != raw
    # the sentences left without a source are not shown (issue 21: a claim a poisoned
    # document put in the model's mouth is neither cited nor shown)
    assert text.splitlines() == [
        f"La demande se fait auprès de la mairie qui détient l'acte. [{n}]",
    ]
    assert "[9]" not in text
    assert done["mode"] == "generative"
    assert "citation_retiree" in done["flags"] and "phrase_non_sourcee" in done["flags"]
    assert [(r["n"], r["reason"]) for r in done["removed_citations"]] == [
        (9, "source_inconnue"),
        (n, "citation_inexacte"),
        (n, "citation_inexacte"),
    ]
    assert done["removed_citations"][2]["quote"] == "sous quarante-huit heures ouvrées"
    assert [c["n"] for c in cites["citations"]] == [n]


def test_an_unsourced_answer_is_replaced_by_the_sources(rt: Runtime, fake: FakeMistral) -> None:
    fake.chat_reply = "Il faut demander au préfet."
    events = ask_streamed(rt, BIRTH)

    assert names(events) == ["notice", "meta", "delta", "reset", "delta", "citations", "done"]
    reset = next(i for i, (name, _) in enumerate(events) if name == "reset")
    assert deltas(events[:reset]) == "Il faut demander au préfet."
    assert events[reset][1] == {"reason": "reponse_non_sourcee"}
    cites, done = final(events)
    assert deltas(events[reset:]) == done["answer"] == cites["answer"]
    assert done["answer"].startswith("Voici ce que disent les sources officielles")
    assert "préfet" not in done["answer"]
    assert done["mode"] == "extractive" and "reponse_non_sourcee" in done["flags"]
    assert done["model"] == "mistral-small-latest" and done["prompt_version"] == "answer.v3"
    assert "vdd/F1427" in [c["doc_id"] for c in cites["citations"]]


def test_a_tool_call_instead_of_an_answer_falls_back_to_the_sources(
    rt: Runtime, fake: FakeMistral
) -> None:
    fake.tool_calls = [ToolCallSpec("chercher_fiche", {"requete": "acte"})]
    events = ask_streamed(rt, BIRTH)
    cites, done = final(events)
    assert done["mode"] == "extractive" and "reponse_non_sourcee" in done["flags"]
    assert done["answer"].startswith("Voici ce que disent les sources officielles")
    assert cites["citations"]


# --- when the model fails ---------------------------------------------------------------------------


def test_rate_limit_is_retried(rt: Runtime, fake: FakeMistral) -> None:
    fake.fail_next(429, times=2, path=CHAT)
    answer = rt.assistant.ask(BIRTH, build_filter())
    assert answer.mode == "generative" and answer.flags == []
    assert len(answer_calls(fake)) == 3


def test_outage_falls_back_then_the_breaker_stops_calling(rt: Runtime, fake: FakeMistral) -> None:
    fake.fail_next(500, times=100, path=CHAT)
    for _ in range(rt.settings.breaker_failures):
        answer = rt.assistant.ask(BIRTH, build_filter())
        assert answer.mode == "extractive"
        assert answer.flags == ["modele_indisponible"]
        assert answer.warning == MODEL_UNAVAILABLE
        assert "vdd/F1427" in [c.doc_id for c in answer.citations]
        assert answer.usage == {"prompt_tokens": 0, "completion_tokens": 0}
        assert answer.impact is None
    assert len(fake.chat_calls) > rt.settings.breaker_failures  # each one was retried
    assert rt.assistant.chat.breaker.state == "open"

    fake.clear()
    started = time.monotonic()
    events = ask_streamed(rt, BIRTH)
    assert time.monotonic() - started < 1.5
    assert fake.chat_calls == []
    assert names(events) == ["notice", "meta", "delta", "citations", "done"]
    cites, done = final(events)
    assert done["mode"] == "extractive" and done["flags"] == ["modele_indisponible"]
    assert done["warning"] == MODEL_UNAVAILABLE and cites["citations"]


def test_the_open_breaker_lets_one_trial_through_after_its_pause(
    rt: Runtime, fake: FakeMistral, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    breaker = CircuitBreaker(2, 60, clock=lambda: now[0])
    monkeypatch.setattr(rt.assistant.chat, "breaker", breaker)
    breaker.failure()
    breaker.failure()
    assert rt.assistant.ask(BIRTH, build_filter()).flags == ["modele_indisponible"]
    assert fake.chat_calls == []

    now[0] += 61  # half-open: one trial, which succeeds and closes the breaker
    answer = rt.assistant.ask(BIRTH, build_filter())
    assert answer.mode == "generative" and answer.flags == []
    assert len(fake.chat_calls) == 1 and breaker.state == "closed"


def test_a_slow_model_times_out_into_the_sources(rt: Runtime, fake: FakeMistral) -> None:
    fake.delay_s = 6  # longer than llm_timeout_s
    started = time.monotonic()
    answer = rt.assistant.ask(BIRTH, build_filter())
    elapsed = time.monotonic() - started
    assert answer.mode == "extractive" and answer.flags == ["modele_indisponible"]
    assert answer.warning == MODEL_UNAVAILABLE and answer.citations
    assert rt.settings.llm_timeout_s <= elapsed < 15


def test_a_stream_broken_midway_is_reset_and_answered_from_the_sources(
    rt: Runtime, fake: FakeMistral
) -> None:
    fake.break_stream_after = 3
    events = ask_streamed(rt, BIRTH)

    assert names(events) == ["notice", "meta", "delta", "reset", "delta", "citations", "done"]
    reset = next(i for i, (name, _) in enumerate(events) if name == "reset")
    assert deltas(events[:reset]) == "La demande se "  # three chunks, then the break
    assert events[reset][1] == {"reason": "modele_indisponible"}
    cites, done = final(events)
    assert deltas(events[reset:]) == done["answer"]
    assert done["mode"] == "extractive" and done["flags"] == ["modele_indisponible"]
    assert done["warning"] == MODEL_UNAVAILABLE and cites["citations"]
    assert len(fake.chat_calls) == 1  # a stream that started is not replayed


def test_a_stream_that_ends_without_finishing_is_not_taken_as_an_answer(
    rt: Runtime, fake: FakeMistral
) -> None:
    fake.chat_reply = citing()
    fake.finish_reason = ""  # [DONE] arrives, but no chunk said the answer was finished
    _, done = final(ask_streamed(rt, BIRTH))
    assert done["mode"] == "extractive" and done["flags"] == ["modele_indisponible"]


def test_an_answer_cut_by_the_token_limit_is_flagged(rt: Runtime, fake: FakeMistral) -> None:
    fake.chat_reply = citing()
    fake.finish_reason = "length"
    _, done = final(ask_streamed(rt, BIRTH))
    assert done["mode"] == "generative" and "reponse_tronquee" in done["flags"]


# --- conversations ----------------------------------------------------------------------------------


def test_a_follow_up_is_rewritten_with_the_history(rt: Runtime, fake: FakeMistral) -> None:
    fake.chat_reply = citing("F1432")
    first = rt.assistant.ask(BIRTH, build_filter())
    assert first.mode == "generative" and first.conversation_id
    assert rewrite_calls(fake) == []  # a first question is not rewritten

    events = ask_streamed(rt, FOLLOW_UP, first.conversation_id)
    assert names(events) == ["meta", "delta", "citations", "done"]  # no notice the 2nd time
    assert events[0][1]["question"] == MARRIAGE
    cites, done = final(events)
    assert done["question"] == MARRIAGE and done["mode"] == "generative"
    assert done["conversation_id"] == first.conversation_id
    assert "vdd/F1432" in [c["doc_id"] for c in cites["citations"]]

    (rewrite,) = rewrite_calls(fake)
    prompt = last_user_text(rewrite.body)
    assert BIRTH in prompt and first.text in prompt and FOLLOW_UP in prompt
    assert rewrite.body.get("stream") is not True
    answer = answer_calls(fake)[-1]
    assert "F1432" in [f for f, _ in sources_of(answer.body).values()]
    history = [message_text(m) for m in answer.body["messages"][1:-1]]
    assert history == [BIRTH, first.text]
    # the rewrite's tokens count with the answer's
    assert done["usage"]["prompt_tokens"] > first.usage["prompt_tokens"]  # type: ignore[index]


def test_without_a_model_a_follow_up_moves_to_its_new_subject(
    rt: Runtime, fake: FakeMistral, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rt.assistant.chat, "llm", None)
    first = rt.assistant.ask(BIRTH, build_filter())
    assert first.mode == "extractive" and first.model is None and first.flags == []
    assert first.citations[0].doc_id == "vdd/F1427"  # the birth certificate's fiche
    second = rt.assistant.ask(FOLLOW_UP, build_filter(), first.conversation_id)
    assert second.question == f"{BIRTH} {FOLLOW_UP}"  # judged and shown with its context
    # ... but searched with its own words first: the marriage certificate, not the birth one
    assert second.mode == "extractive" and second.citations[0].doc_id == "vdd/F1432"
    # a follow-up of the follow-up builds on it
    third = rt.assistant.ask("et un acte de décès ?", build_filter(), first.conversation_id)
    assert "décès" in third.citations[0].title.lower(), third.citations[0].title
    assert fake.chat_calls == []


def test_a_rewrite_failure_falls_back_to_both_questions(rt: Runtime, fake: FakeMistral) -> None:
    first = rt.assistant.ask(BIRTH, build_filter())
    fake.fail_next(500, times=100, path=CHAT)
    second = rt.assistant.ask(FOLLOW_UP, build_filter(), first.conversation_id)
    assert second.question == f"{BIRTH} {FOLLOW_UP}"
    assert second.mode == "extractive" and second.flags == ["modele_indisponible"]
    assert rt.assistant.chat.breaker.state == "open"  # rewrite and answer both failed


# --- no lexical gate: the model reads the passages, answers or declines -------------------------------


# F1427 says « copie intégrale », « extrait avec filiation »: hardly a word in common
SITUATION = "mon père est né à Lyon, il me faut un papier qui montre qui sont ses parents, je m'adresse où ?"


def test_a_situation_with_few_shared_words_reaches_the_model(
    rt: Runtime, fake: FakeMistral
) -> None:
    """The question shares few words with the passages: the model still reads them."""
    answer = rt.assistant.ask(SITUATION, build_filter())
    (call,) = answer_calls(fake)
    assert "F1427" in {f for f, _ in sources_of(call.body).values()}
    assert answer.mode == "generative" and [c.doc_id for c in answer.citations] == ["vdd/F1427"]
    assert answer.reliability is not None and answer.reliability["level"] in (
        "elevee",
        "moyenne",
        "faible",
    )


def test_an_answer_the_model_declines_shows_the_closest_texts(
    rt: Runtime, fake: FakeMistral
) -> None:
    fake.chat_reply = DECLINE
    events = ask_streamed(rt, SITUATION)
    # the signal is held back, never streamed: no reset either
    assert names(events) == ["notice", "meta", "delta", "citations", "done"]
    assert DECLINE not in deltas(events)
    cites, done = final(events)
    assert done["mode"] == "pistes" and "modele_sans_reponse" in done["flags"]
    assert done["answer"].startswith(PISTES_INTRO) and deltas(events) == done["answer"]
    assert cites["citations"] and all(c["url"] for c in cites["citations"])
    assert done["reliability"]["level"] == "faible"
    assert (
        done["reliability"]["reasons"][0] == "le modèle n'a pas trouvé la réponse dans les sources"
    )
    assert done["model"] == "mistral-small-latest" and done["usage"]["completion_tokens"] > 0


def test_a_model_that_only_says_the_sources_are_silent_gives_the_closest_texts(
    rt: Runtime, fake: FakeMistral
) -> None:
    fake.chat_reply = "Les sources fournies ne permettent pas de répondre à cette question."
    events = ask_streamed(rt, SITUATION)
    assert names(events) == ["notice", "meta", "delta", "reset", "delta", "citations", "done"]
    _, done = final(events)
    assert done["mode"] == "pistes" and "modele_sans_reponse" in done["flags"]


def test_a_decline_after_some_text_is_reset_into_the_closest_texts(
    rt: Runtime, fake: FakeMistral
) -> None:
    fake.chat_reply = f"Je cherche la règle applicable. {DECLINE}"
    events = ask_streamed(rt, SITUATION)
    reset = next(i for i, (name, _) in enumerate(events) if name == "reset")
    assert deltas(events[:reset]).startswith("Je cherche")
    _, done = final(events)
    assert done["mode"] == "pistes" and DECLINE not in done["answer"]


def test_out_of_scope_is_refused_without_a_model_call(rt: Runtime, fake: FakeMistral) -> None:
    events = ask_streamed(rt, OFF_TOPIC)
    assert names(events) == ["notice", "meta", "delta", "citations", "done"]
    cites, done = final(events)
    assert done["mode"] == "refusal" and done["flags"] == ["hors_champ"]
    assert done["answer"] == OUT_OF_SCOPE == deltas(events)
    assert cites["citations"] == [] and done["impact"] is None and done["reliability"] is None
    assert fake.chat_calls == []


def test_a_communes_minutes_are_named_as_its_own_documents_to_the_model(
    rt: Runtime, fake: FakeMistral
) -> None:
    """A council's minutes are not an official source: the model reads what the document is
    (its kind, its meeting's day, when it was loaded), and the prompt says so (answer.v3)."""
    text = (
        "Compte rendu du conseil municipal\nSéance du 19 mai 2021\n"
        "Rapport sur le Prix et la Qualité du Service public (RPQS) Eau Potable\n"
        "Vote : à l'unanimité\n"
    )
    name = "20210519 - compte rendu 19 Mai 2021.txt"
    (uploaded,) = rt.documents.upload([Upload(name, text.encode())], "30110", "test").files
    fake.chat_reply = lambda body: "Le conseil a approuvé le rapport sur l'eau potable. [1]"
    try:
        events = list(
            rt.assistant.ask_streamed(
                "Qu'a décidé le conseil municipal du 19 mai 2021 ?", build_filter(tenants=["30110"])
            )
        )
    finally:
        rt.documents.delete(str(uploaded.doc_id), ["30110"])
    (call,) = answer_calls(fake)
    prompt = last_user_text(call.body)
    assert (
        "[1] Document de votre commune, pas un texte officiel : compte rendu du conseil "
        "municipal du 19 mai 2021, chargé le "
    ) in prompt
    assert "ce n'est pas un texte officiel" in prompt and "D'après les documents de votre" in prompt
    cites, done = final(events)
    assert done["mode"] == "generative" and done["prompt_version"] == "answer.v3"
    assert [c["doc_id"] for c in cites["citations"]] == [uploaded.doc_id]


# --- a model EcoLogits and llama-index do not know ----------------------------------------------------


def test_an_unknown_model_answers_without_an_impact_figure(
    rt: Runtime, fake: FakeMistral, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm = build_llm(settings.model_copy(update={"chat_model": "my-vllm-model"}))
    monkeypatch.setattr(rt.assistant.chat, "llm", llm)
    answer = rt.assistant.ask(BIRTH, build_filter())
    assert answer.mode == "generative" and answer.model == "my-vllm-model"
    assert answer.impact is not None and answer.impact["energy_kwh"] is None
    assert any("my-vllm-model" in w for w in answer.impact["warnings"])
    assert {c.body["model"] for c in fake.chat_calls} == {"my-vllm-model"}


def test_settings_refuse_a_temperature_the_model_wrapper_would_refuse(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="llm_temperature"):
        Settings(data_dir=tmp_path, mistral_api_key="k", llm_temperature=1.2)
    assert build_llm(Settings(data_dir=tmp_path, mistral_api_key="k", llm_temperature=1.0))


# --- the HTTP API -----------------------------------------------------------------------------------


def sse(text: str) -> list[Event]:
    """Server-sent events → (name, JSON data); comments (pings) skipped."""
    events: list[Event] = []
    for block in re.split(r"\r\n\r\n|\n\n|\r\r", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = fields.get(key, "") + value.removeprefix(" ")
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def test_api_streams_the_answer(client: TestClient, fake: FakeMistral) -> None:
    resp = client.post("/v1/chat", json={"question": BIRTH, "stream": True})
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    events = sse(resp.text)
    assert names(events) == ["notice", "meta", "delta", "citations", "done"]
    cites, done = final(events)
    assert deltas(events) == citing("F1427")(fake.chat_calls[0].body) == done["answer"]
    assert done["mode"] == "generative" and done["prompt_version"] == "answer.v3"
    assert "vdd/F1427" in [c["doc_id"] for c in cites["citations"]]
    assert done["conversation_id"] == events[1][1]["conversation_id"]


def test_api_stream_broken_midway_resets(client: TestClient, fake: FakeMistral) -> None:
    fake.break_stream_after = 2
    resp = client.post("/v1/chat", json={"question": BIRTH, "stream": True})
    assert resp.status_code == 200
    events = sse(resp.text)
    assert names(events) == ["notice", "meta", "delta", "reset", "delta", "citations", "done"]
    cites, done = final(events)
    assert done["mode"] == "extractive" and done["warning"] == MODEL_UNAVAILABLE
    assert cites["citations"]


def test_api_stream_of_a_bad_question_is_a_json_error(client: TestClient) -> None:
    resp = client.post("/v1/chat", json={"question": "  ", "stream": True})
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json()["error"]["code"] == "question_invalide"


def test_api_answers_and_follows_up(client: TestClient, fake: FakeMistral) -> None:
    fake.chat_reply = citing("F1432")
    resp = client.post("/v1/chat", json={"question": BIRTH})
    assert resp.status_code == 200
    body = resp.json()
    assert body["mode"] == "generative" and body["flags"] == []
    assert body["conversation_id"] and body["prompt_version"] == "answer.v3"
    assert body["usage"]["completion_tokens"] > 0 and body["impact"]["energy_kwh"] > 0

    follow = client.post(
        "/v1/chat", json={"question": FOLLOW_UP, "conversation_id": body["conversation_id"]}
    ).json()
    assert follow["question"] == MARRIAGE
    assert follow["conversation_id"] == body["conversation_id"]
    assert "vdd/F1432" in [c["doc_id"] for c in follow["citations"]]

    bad = client.post("/v1/chat", json={"question": FOLLOW_UP, "conversation_id": "../x"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "requete_invalide"


def test_api_usage_totals(client: TestClient) -> None:
    assert client.post("/v1/chat", json={"question": BIRTH}).json()["mode"] == "generative"
    assert client.get("/v1/admin/usage").status_code == 401
    resp = client.get("/v1/admin/usage", headers=ADMIN)
    assert resp.status_code == 200
    today = resp.json()[-1]
    assert today["day"] == datetime.now(UTC).date().isoformat()
    assert today["answers"] >= 1 and today["completion_tokens"] > 0
    assert today["energy_kwh"] > 0 and today["gwp_kgco2eq"] > 0
