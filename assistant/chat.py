"""A chat turn: rewrite a follow-up, retrieve, answer with the model or without, check.

    prepare()  — before any byte is streamed: the follow-up is rewritten with the
                 conversation's history, the question's scope is judged (assistant.scope),
                 passages are retrieved and their sentences scored (assistant.evidence).
    events()   — the answer as events: `notice` (first turn), `meta`, `delta`s, then
                 `citations` (checked) and `done` (mode, reliability, ids, usage, impact).
    answer()   — the same turn, collected into one `Answer`.

The only decision taken before answering is the scope: a question outside what Plume
covers is refused with its reason; every other one is answered from the best passages.
With a model, the model reads them and answers with citations, or says it cannot (then
the closest texts are shown: `pistes`); the citation check stays the guard. Without one,
the sentences that answer are quoted, or, when the evidence is weak (reliability
« faible », assistant.reliability), the closest texts. The model is llama-index's Mistral
wrapper (assistant.llm) and the memory llama-index's chat memory; the steps are ours
rather than a llama-index chat engine's, because each one has a contract to keep.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from llama_index.core.llms import LLM, ChatMessage, MessageRole
from llama_index.core.memory import ChatMemoryBuffer

from assistant import extractive
from assistant.breaker import CircuitBreaker
from assistant.caveats import Caveats
from assistant.citation_check import check_citations
from assistant.cofinancing import CofinancingRequest, compute_cofinancing
from assistant.communes import CommuneProfile
from assistant.conversations import Conversations
from assistant.evidence import Evidence, Sentence, gather
from assistant.grants import GrantFilters, GrantResults, find_grants, format_grants
from assistant.impact import estimate
from assistant.intents import Intent, detect, project_words
from assistant.model_call import counting, usage_of
from assistant.models import AI_NOTICE, MODEL_UNAVAILABLE, Answer, Citation, Passage
from assistant.precedents import (
    PrecedentReport,
    ProjectTable,
    format_report,
    similar_projects,
)
from assistant.prompts import PromptBook
from assistant.regimes import Place
from assistant.reliability import DEFAULT as DEFAULT_RELIABILITY
from assistant.reliability import EXACT, Reliability, ReliabilityModel, Signals, signals
from assistant.retrieval import Retriever, check_question
from assistant.scope import ADMIN, NEEDS_DOCUMENTS, OUT_OF_SCOPE, ScopeClassifier, Verdict
from assistant.tools import (
    COFINANCING_TOOL,
    TOOL_NAME,
    request_from_arguments,
    request_from_question,
)
from plume.documents import french_date
from plume.errors import InvalidCofinancingRequest, PlumeError
from plume.store import Hit, SearchFilter
from plume.term_stats import TermStats
from plume.text import fold_accents

log = logging.getLogger(__name__)
Event = tuple[str, dict[str, Any]]


@dataclass
class Turn:
    """A question ready to be answered: everything decided before streaming starts."""

    conversation_id: str
    message_id: str
    new_conversation: bool
    question: str
    standalone: str
    passages: list[Passage]
    memory: ChatMemoryBuffer
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0}
    )
    model_seconds: float = 0.0
    # the lexicon's legal terms for the question's words (sentence scores, excerpts)
    equivalents: dict[str, frozenset[str]] = field(default_factory=dict)
    intent: Intent = "question"
    scope: Verdict = ADMIN
    refusal: str | None = None  # why Plume does not answer (out of scope, no document)
    documents_only: bool = False  # a commune's own facts: answered from its documents
    evidence: Evidence | None = None  # the passages' sentences, scored against the question
    # the other passages of the first document found (its other sections)
    siblings: list[Passage] = field(default_factory=list)
    where: SearchFilter | None = None  # what the question may see (its day, its commune)
    commune: CommuneProfile | None = None
    grants: GrantResults | None = None  # a grant question the catalogue answers
    precedents: PrecedentReport | None = None  # similar funded projects, when there are some


COFINANCING_DOC = "aide/programme-territoires-d-ia"
MAX_SIBLINGS = 60  # the first document's other passages read, at most (a long fiche has
# a few dozen); what the answer, its citations and its reliability read of each
PASSAGE_FIELDS = (
    *("doc_id", "text", "title", "section", "url", "source", "source_version", "kind"),
    *("modified", "in_force_from", "in_force_to", "page", "links", "regime", "text_date"),
)


class IncompleteStream(Exception):
    """The model's stream stopped without saying it had finished."""


def _finish_reason(raw: Any) -> str | None:
    """`stop`, `length`… from the last stream event; None if the stream was cut short."""
    choices = getattr(getattr(raw, "data", None), "choices", None) or []
    reason = getattr(choices[0], "finish_reason", None) if choices else None
    return str(reason) if reason else None


# What the model answers when the sources do not allow an answer (prompts/answer.v2.md)
DECLINE = "[[SANS_REPONSE]]"
_DECLINE_FOLDED = "sans_reponse"


def _folded(text: str) -> str:
    return fold_accents(text).casefold()


def declines(text: str) -> bool:
    """The model says the sources do not answer (the signal, anywhere in its text)."""
    return _DECLINE_FOLDED in _folded(text).replace(" ", "_")


def _may_decline(text: str) -> bool:
    """The text so far is, or could still become, the signal: hold it back."""
    start = text.lstrip()
    return DECLINE.startswith(start) or start.startswith(DECLINE)


def _without_signal(text: str) -> str:
    return text.replace(DECLINE, "").strip()


def context_block(passages: list[Passage]) -> str:
    """The numbered sources the model reads; [n] is what it cites."""
    blocks = []
    for n, p in enumerate(passages, start=1):
        heading = " — ".join(
            x for x in (str(p.field("title") or ""), str(p.field("section") or "")) if x
        )
        dates = []
        if p.field("in_force_from"):
            dates.append(f"en vigueur depuis le {p.field('in_force_from')}")
        if p.field("modified"):
            dates.append(f"mise à jour le {p.field('modified')}")
        if p.field("text_date"):
            dates.append(f"texte à jour au {french_date(p.field('text_date'))}")
        meta = ", ".join([str(p.field("url") or ""), *dates])
        blocks.append(f"[{n}] {heading}\n({meta})\n{p.text}")
    return "\n\n".join(blocks)


def _request_args(request: CofinancingRequest) -> dict[str, Any]:
    return {
        k: (str(v) if not isinstance(v, bool | int | type(None)) else v)
        for k, v in vars(request).items()
    }


class ChatService:
    def __init__(
        self,
        retriever: Retriever,
        *,
        llm: LLM | None,
        breaker: CircuitBreaker,
        prompts: PromptBook,
        conversations: Conversations,
        stats: TermStats | None = None,
        scope: ScopeClassifier | None = None,
        reliability: ReliabilityModel = DEFAULT_RELIABILITY,
        passages_per_answer: int = 6,
        search_depth: int = 10,
        zone: str | None = None,
        projects: ProjectTable | None = None,
        caveats: Caveats | None = None,
    ) -> None:
        self.retriever = retriever
        self.llm = llm
        self.breaker = breaker
        self.prompts = prompts
        self.conversations = conversations
        self.stats = stats
        self.scope = scope or ScopeClassifier(None, None)
        self.reliability = reliability
        self.passages_per_answer = passages_per_answer  # what the model reads
        self.search_depth = search_depth  # what the evidence and the pistes are read from
        self.zone = zone
        self.projects = projects or ProjectTable(retriever.store)  # funded projects, read once
        self.caveats = caveats or Caveats()  # changes of the law the texts do not hold yet

    @property
    def model_name(self) -> str | None:
        return getattr(self.llm, "model", None) if self.llm is not None else None

    # --- before the stream ---------------------------------------------------------------

    def prepare(
        self,
        question: str,
        where: SearchFilter,
        conversation_id: str | None = None,
        commune: CommuneProfile | None = None,
        *,
        scope: Verdict | None = None,
    ) -> Turn:
        """`scope`: the verdict to use instead of the classifier's (calibration)."""
        question = check_question(question, self.retriever.max_query_chars)
        cid, memory, new = self.conversations.open(conversation_id)
        turn = Turn(cid, uuid.uuid4().hex, new, question, question, [], memory, where=where)
        turn.commune = commune
        history = Conversations.history(memory)
        if history:
            turn.standalone = self._rewrite(turn, history)
        turn.intent = detect(turn.standalone)
        if scope is not None:
            turn.scope = scope
        elif turn.intent != "cofinancement":
            turn.scope = self.scope.judge(turn.standalone)
        if turn.scope.refused:
            turn.refusal = OUT_OF_SCOPE
            return turn
        if turn.intent in ("aides", "precedents"):
            turn.precedents = self._precedents(turn.standalone)
        if turn.intent == "precedents" and turn.precedents is not None:
            return turn
        if turn.intent == "aides":  # the catalogue, within the commune's filters
            results = find_grants(
                self.retriever, turn.standalone, GrantFilters.build(), commune, limit=5
            )
            if results.grants:
                turn.grants = results
                turn.passages = [
                    Passage(n, g.score, Hit(g.doc_id, g.score, g.payload))
                    for n, g in enumerate(results.grants, start=1)
                ]
                turn.evidence = self._gather(turn)
                return turn
        if turn.scope.label == "local":  # a commune's own facts: its documents only
            tenants = [t for t in where.tenants if t]
            if not tenants:
                turn.refusal = NEEDS_DOCUMENTS
                return turn
            where = replace(where, kinds=["document"], fields={**where.fields, "tenant": tenants})
            turn.documents_only = True
        with counting() as spent:  # the retrieval's model calls, when switched on
            turn.passages = self.retriever.search(
                turn.standalone, where, self.search_depth, place=Place.of(commune)
            )
        turn.usage["prompt_tokens"] += spent.prompt_tokens
        turn.usage["completion_tokens"] += spent.completion_tokens
        turn.model_seconds += spent.seconds
        if turn.documents_only and not turn.passages:
            turn.refusal = NEEDS_DOCUMENTS
            return turn
        turn.siblings = self._siblings(turn.passages, where)
        turn.evidence = self._gather(turn)
        return turn

    def _siblings(self, passages: list[Passage], where: SearchFilter) -> list[Passage]:
        """The other passages of the first document found: the sentence that answers is
        often in another section of the fiche the search found (« Qui peut faire la
        demande ? » beside « Copie intégrale »). They rank with that document."""
        if not passages:
            return []
        first = passages[0]
        seen = {p.hit.id for p in passages}
        found = self.retriever.store.scan(replace(where, doc_ids=[first.doc_id]), PASSAGE_FIELDS)
        return [
            Passage(first.rank, first.score, Hit(pid, first.score, payload))
            for pid, payload in islice(((i, p) for i, p in found if i not in seen), MAX_SIBLINGS)
        ]

    def _gather(self, turn: Turn) -> Evidence:
        analyzer = self.retriever.encoder.analyzer
        lexicon = self.retriever.expander.lexicon if self.retriever.expander else None
        if lexicon is not None:  # « délib » is answered by a passage on « délibération »
            turn.equivalents = lexicon.equivalents(turn.standalone, analyzer)
        return gather(
            turn.standalone,
            turn.passages,
            more=turn.siblings,
            analyzer=analyzer,
            stats=self.stats,
            equivalents=turn.equivalents,
        )

    def _precedents(self, question: str) -> PrecedentReport | None:
        """Funded projects like the one asked about, if the lists hold some."""
        project = project_words(question)
        if not project:
            return None
        r = self.retriever
        try:
            report = similar_projects(
                r.store, r.encoder, project, embedder=r.embedder, table=self.projects
            )
            unknown = set(report.unknown_words)  # « refaire »: in no project's title
            rest = " ".join(w for w in project.split() if w not in unknown)
            if not report.count and unknown and rest:
                report = similar_projects(
                    r.store, r.encoder, rest, embedder=r.embedder, table=self.projects
                )
        except PlumeError as exc:
            log.warning("precedents skipped: %s", exc.message)
            return None
        return report if report.count else None

    def _rewrite(self, turn: Turn, history: list[ChatMessage]) -> str:
        """ "et pour un mariage ?" → a question that stands alone."""
        last_question = next(
            (str(m.content) for m in reversed(history) if m.role == MessageRole.USER), ""
        )
        fallback = f"{last_question} {turn.question}".strip()
        if self.llm is None or not self.breaker.allow():
            return fallback  # without a model, the previous question gives the topic
        lines = [
            f"{'Secrétaire' if m.role == MessageRole.USER else 'Assistant'} : {m.content}"
            for m in history[-6:]
        ]
        prompt = self.prompts["followup"].render(history="\n".join(lines), question=turn.question)
        started = time.perf_counter()
        try:
            response = self.llm.chat([ChatMessage(role=MessageRole.USER, content=prompt)])
        except Exception as exc:  # any model failure: keep going without it
            self.breaker.failure()
            log.warning("follow-up rewrite failed: %s", type(exc).__name__)
            return fallback
        self.breaker.success()
        turn.model_seconds += time.perf_counter() - started
        self._add_usage(turn, response.raw)
        rewritten = (response.message.content or "").strip().splitlines()
        return rewritten[0].strip(' «»"') if rewritten and rewritten[0].strip() else fallback

    @staticmethod
    def _add_usage(turn: Turn, raw: Any) -> None:
        prompt_tokens, completion_tokens = usage_of(raw)
        turn.usage["prompt_tokens"] += prompt_tokens
        turn.usage["completion_tokens"] += completion_tokens

    # --- the stream -------------------------------------------------------------------------

    def events(self, turn: Turn) -> Iterator[Event]:
        if turn.new_conversation:
            yield "notice", {"text": AI_NOTICE}
        yield (
            "meta",
            {
                "conversation_id": turn.conversation_id,
                "message_id": turn.message_id,
                "question": turn.standalone,
            },
        )
        if turn.refusal is not None:  # out of scope, or a commune's facts without its documents
            yield from self._finish(turn, self._refusal(turn, turn.refusal))
            return
        if turn.grants is not None:  # the catalogue's list, never the model's words
            yield from self._finish(turn, self._extractive(turn))
            return
        if turn.intent == "precedents" and turn.precedents is not None:
            text = "Projets comparables déjà financés : " + format_report(turn.precedents)
            answer = Answer(text=text, mode="precedents", confidence=1.0)
            answer.reliability = EXACT.as_dict()
            yield from self._finish(turn, answer)
            return
        if turn.intent == "cofinancement":
            computed = self._cofinancing(turn)
            if computed is not None:
                computed.reliability = EXACT.as_dict()
                yield from self._finish(turn, computed)
                return
        if turn.evidence is None or not turn.passages:  # nothing retrieved
            yield from self._finish(turn, self._refusal(turn, extractive.NOT_FOUND))
            return
        if self.llm is None:
            yield from self._finish(turn, self._extractive(turn))
            return
        if not self.breaker.allow():
            yield from self._finish(turn, self._fallback(turn))
            return
        yield from self._generate(turn)

    def _refusal(self, turn: Turn, text: str) -> Answer:
        answer = extractive.refusal(text)
        if turn.scope.label == "hors_champ":
            answer.flags.append("hors_champ")
        elif turn.refusal == NEEDS_DOCUMENTS:
            answer.flags.append("documents_commune_requis")
        else:
            answer.flags.append("aucune_source")
        return answer

    def _judge(self, evidence: Evidence, quoted: list[Sentence]) -> Reliability:
        return self.reliability.judge(signals(evidence, quoted))

    def assess(self, turn: Turn) -> tuple[Answer, Signals]:
        """The answer read without a model — the sentences that answer, or the catalogue's
        list of aids — and the signals its reliability level is computed from."""
        assert turn.evidence is not None
        quoted = extractive.select(turn.evidence)
        if turn.grants is not None:
            answer = self._grants_list(turn, turn.grants)
        else:
            answer = extractive.answer(turn.evidence, documents=turn.documents_only)
        return answer, signals(turn.evidence, quoted)

    def _extractive(self, turn: Turn) -> Answer:
        """The answer read from the evidence, or — when its level is « faible » — the
        closest texts (`pistes`); for a commune's own facts, that it found nothing."""
        answer, found = self.assess(turn)
        reliability = self.reliability.judge(found)
        if reliability.level == "faible" and answer.mode in ("extractive", "refusal"):
            if turn.documents_only:
                answer = self._refusal(turn, NEEDS_DOCUMENTS)
            else:
                answer = extractive.pistes(turn.evidence)  # type: ignore[arg-type]
        return self._rated(answer, reliability)

    @staticmethod
    def _rated(answer: Answer, reliability: Reliability) -> Answer:
        if answer.mode != "refusal":
            answer.confidence = reliability.score
            answer.reliability = reliability.as_dict()
        return answer

    def _grants_list(self, turn: Turn, results: GrantResults) -> Answer:
        """The aids as a list: funder, rate, deadline, link, eligibility — from the catalogue's
        fields, not the model's words (they must be exact)."""
        text = format_grants(results)
        if turn.precedents is not None:
            text += "\n\nProjets comparables déjà financés : " + format_report(turn.precedents)
        return Answer(
            text=text,
            mode="grants",
            confidence=1.0,
            citations=[g.citation(n) for n, g in enumerate(results.grants, start=1)],
        )

    def _cofinancing(self, turn: Turn) -> Answer | None:
        """The calculator, called by the model (tool calling) or on the question's words;
        None when the question gives nothing to compute (then the rules are quoted)."""
        request, called_by = None, "question"
        try:
            if self.llm is not None and self.breaker.allow():
                args = self._tool_call(turn)
                if args is not None:
                    request, called_by = request_from_arguments(args, turn.commune), "modele"
            if request is None:
                request = request_from_question(turn.standalone, turn.commune)
            if request is None:
                return None
            result = compute_cofinancing(request)
        except InvalidCofinancingRequest as exc:
            return Answer(
                text=f"Calcul impossible : {exc.message}",
                mode="computation",
                confidence=1.0,
                flags=["calcul_impossible"],
            )
        rules = [p for p in turn.passages if p.doc_id == COFINANCING_DOC][:1]
        if not rules:
            where = SearchFilter(doc_ids=[COFINANCING_DOC])
            rules = self.retriever.search(turn.standalone, where, limit=1)
        cite = " [1]" if rules else ""
        text = (
            "Cofinancement « Territoires d'IA » (guichet de cofinancement de la Banque des "
            f"Territoires, règles de mai 2026){cite} :\n{result.explain()}"
        )
        return Answer(
            text=text,
            mode="computation",
            confidence=1.0,
            citations=[Citation.from_passage(1, rules[0])] if rules else [],
            flags=[f"outil:{TOOL_NAME}"],
            model=self.model_name if called_by == "modele" else None,
            tool={
                "name": TOOL_NAME,
                "called_by": called_by,
                "arguments": _request_args(request),
                "result": result.as_dict(),
            },
        )

    def _tool_call(self, turn: Turn) -> dict[str, Any] | None:
        """Offer the calculator to the model; its arguments if it calls it."""
        assert self.llm is not None
        system = ChatMessage(role=MessageRole.SYSTEM, content=self.prompts["system"].render())
        started = time.perf_counter()
        try:
            response = self.llm.chat_with_tools(  # type: ignore[attr-defined]
                [COFINANCING_TOOL], user_msg=turn.standalone, chat_history=[system]
            )
            calls = self.llm.get_tool_calls_from_response(  # type: ignore[attr-defined]
                response, error_on_no_tool_call=False
            )
        except Exception as exc:  # model down: the question's words will do
            self.breaker.failure()
            log.warning("tool call failed: %s", type(exc).__name__)
            return None
        self.breaker.success()
        turn.model_seconds += time.perf_counter() - started
        self._add_usage(turn, response.raw)
        for call in calls:
            if call.tool_name == TOOL_NAME and isinstance(call.tool_kwargs, dict):
                return dict(call.tool_kwargs)
        return None

    def _fallback(self, turn: Turn) -> Answer:
        answer = self._extractive(turn)
        answer.flags.append("modele_indisponible")
        answer.warning = MODEL_UNAVAILABLE
        return answer

    def _generate(self, turn: Turn) -> Iterator[Event]:
        """The model's answer, streamed. Its first characters are held back until they
        cannot be the signal of an answer it declines (prompts/answer: DECLINE)."""
        assert self.llm is not None
        prompt = self.prompts["answer"]
        context = turn.passages[: self.passages_per_answer]
        messages = [
            ChatMessage(role=MessageRole.SYSTEM, content=self.prompts["system"].render()),
            *Conversations.history(turn.memory)[-6:],
            ChatMessage(
                role=MessageRole.USER,
                content=prompt.render(context=context_block(context), question=turn.standalone),
            ),
        ]
        text, started, last_raw, held = "", time.perf_counter(), None, True
        try:
            for chunk in self.llm.stream_chat(messages):
                last_raw = chunk.raw
                if not chunk.delta:
                    continue
                text += chunk.delta
                if not held:
                    yield "delta", {"text": chunk.delta}
                elif not _may_decline(text):
                    held = False
                    yield "delta", {"text": text}
            finish = _finish_reason(last_raw)
            if finish is None:
                raise IncompleteStream("the stream ended without a finish reason")
        except Exception as exc:  # model down, time-out, broken stream: answer without it
            self.breaker.failure()
            log.warning("generation failed after %d characters: %s", len(text), type(exc).__name__)
            if not held:
                yield "reset", {"reason": "modele_indisponible"}
            yield from self._finish(turn, self._fallback(turn))
            return
        self.breaker.success()
        turn.model_seconds += time.perf_counter() - started
        self._add_usage(turn, last_raw)
        answer = self._checked(turn, text, prompt.id)
        if finish == "length":
            answer.flags.append("reponse_tronquee")
        if answer.mode == "generative":
            yield from self._finish(turn, answer, streamed=not held)
        else:
            if not held:
                yield "reset", {"reason": answer.flags[-1] if answer.flags else answer.mode}
            yield from self._finish(turn, answer)

    def _checked(self, turn: Turn, text: str, prompt_version: str) -> Answer:
        """The model's text after the citation check. When it declines (the signal, or only
        « the sources do not say »), the closest texts; when nothing it said is tied to a
        source, the answer read from the evidence."""
        assert turn.evidence is not None
        context = turn.passages[: self.passages_per_answer]
        check = check_citations(_without_signal(text), context)
        flags = []
        if check.removed:
            flags.append("citation_retiree")
        if check.unsupported:
            flags.append("phrase_non_sourcee")
        if declines(text) or (not check.cited and not check.unsupported and text.strip()):
            reliability = self._judge(turn.evidence, extractive.select(turn.evidence))
            reliability = Reliability(
                "faible",
                min(reliability.score, self.reliability.low),
                ["le modèle n'a pas trouvé la réponse dans les sources", *reliability.reasons],
            )
            declined = self._rated(extractive.pistes(turn.evidence), reliability)
            declined.flags = [*flags, "modele_sans_reponse"]
            declined.model, declined.prompt_version = self.model_name, prompt_version
            return declined
        if not check.cited:
            grounded = self._extractive(turn)
            grounded.flags = [*flags, "reponse_non_sourcee"]
            grounded.model, grounded.prompt_version = self.model_name, prompt_version
            return grounded
        cited = [context[n - 1] for n in check.cited]
        quoted = [s for p in cited if (s := turn.evidence.best_of(p.doc_id)) is not None]
        reliability = self._judge(turn.evidence, quoted)
        if check.removed and reliability.level == "elevee":
            reliability = Reliability(
                "moyenne",
                reliability.score,
                ["une citation du modèle a été retirée", *reliability.reasons],
            )
        answer = Answer(
            text=check.text,
            mode="generative",
            confidence=0.0,
            citations=[Citation.from_passage(n, context[n - 1]) for n in check.cited],
            flags=flags,
            model=self.model_name,
            prompt_version=prompt_version,
            removed_citations=[
                {"n": r.n, "reason": r.reason, "sentence": r.sentence, "quote": r.quote}
                for r in check.removed
            ],
        )
        return self._rated(answer, reliability)

    def _finish(self, turn: Turn, answer: Answer, *, streamed: bool = False) -> Iterator[Event]:
        if not streamed:
            yield "delta", {"text": answer.text}
        answer.conversation_id, answer.message_id = turn.conversation_id, turn.message_id
        answer.question = turn.standalone
        answer.usage = dict(turn.usage)
        if turn.usage["completion_tokens"] or turn.model_seconds:
            impact = estimate(
                self.model_name or "",
                prompt_tokens=turn.usage["prompt_tokens"],
                completion_tokens=turn.usage["completion_tokens"],
                latency_s=turn.model_seconds,
                zone=self.zone,
            )
            answer.impact = impact.as_dict()
        Conversations.remember(turn.memory, turn.question, answer.text)
        if answer.mode in ("extractive", "generative") and turn.evidence is not None:
            cited = {c.doc_id for c in answer.citations}
            answer.see_also = extractive.see_also(turn.evidence, cited)
        known_gaps = self.caveats.messages(answer.citations)
        if turn.where is not None:  # a question on a past day before the history held
            cited = {c.doc_id for c in answer.citations}
            gaps = self.retriever.history_gaps(turn.standalone, turn.where, cited)
            known_gaps += [g.message for g in gaps]
        if known_gaps:
            answer.warning = "\n".join(x for x in (answer.warning, *known_gaps) if x)
        yield (
            "citations",
            {
                "answer": answer.text,
                "citations": [c.as_dict() for c in answer.citations],
                "removed": answer.removed_citations,
            },
        )
        done = answer.as_dict()
        done.pop("citations")
        yield "done", done

    # --- without streaming ----------------------------------------------------------------

    def answer(self, turn: Turn) -> Answer:
        final: dict[str, Any] = {}
        citations: list[dict[str, Any]] = []
        for name, data in self.events(turn):
            if name == "citations":
                citations = data["citations"]
            elif name == "done":
                final = data
        final["text"] = final.pop("answer")
        final["citations"] = [Citation(**c) for c in citations]
        final["see_also"] = [Citation(**c) for c in final.get("see_also") or []]
        return Answer(**final)
