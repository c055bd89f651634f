"""The chat service: a turn is prepared, routed to its answer, and finished into events.

    prepare()  — before any byte is streamed: the follow-up is rewritten with the
                 conversation's history, the question's scope is judged (assistant.rag.scope),
                 passages are retrieved and their sentences scored (assistant.rag.evidence).
    events()   — the answer as events: `notice` (first turn), `meta`, `delta`s, then
                 `citations` (checked) and `done` (mode, reliability, ids, usage, impact).
    answer()   — the same turn, collected into one `Answer`.

The only decision taken before answering is the scope: a question outside what Plume
covers is refused with its reason; every other one is answered from the best passages.
With a model, the model reads them and answers with citations, or says it cannot (then
the closest texts are shown: `pistes`); the citation check stays the guard. Without one,
the sentences that answer are quoted, or, when the evidence is weak (reliability
« faible », assistant.rag.reliability), the closest texts. The model is reached through
the `Generator` protocol (assistant.llm.generator; llama-index's Mistral wrapper behind it)
and the memory is the conversation's turns in the records database
(assistant.rag.conversations: any replica answers any turn); the steps are ours rather than
a llama-index chat engine's, because each one has a contract to keep (the model's:
assistant.chat.model).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from itertools import islice

from assistant.aides.catalogue import AideResults
from assistant.aides.listing import format_aides, format_report
from assistant.aides.service import AidesService
from assistant.chat.model import ModelSteps
from assistant.chat.turn import MAX_SIBLINGS, PASSAGE_FIELDS, Event, Turn
from assistant.communes import CommuneProfile
from assistant.impact import estimate
from assistant.llm.breaker import CircuitBreaker
from assistant.llm.calls import counting
from assistant.llm.generator import Generator
from assistant.llm.prompts import PromptBook
from assistant.llm.support import SupportJudge
from assistant.models import AI_NOTICE, MODEL_UNAVAILABLE, Answer, Passage
from assistant.rag import authority, extractive, meetings
from assistant.rag.caveats import Caveats
from assistant.rag.conversations import Conversations
from assistant.rag.evidence import Evidence, gather
from assistant.rag.intents import detect, project_words
from assistant.rag.regimes import Place
from assistant.rag.reliability import DEFAULT as DEFAULT_RELIABILITY
from assistant.rag.reliability import EXACT, ReliabilityModel, Signals, signals
from assistant.rag.retrieval import Retriever, check_question
from assistant.rag.scope import (
    NEEDS_DOCUMENTS,
    OUT_OF_SCOPE,
    ScopeClassifier,
    Verdict,
    own_records,
)
from plume.store import Hit, SearchFilter
from plume.term_stats import TermStats

log = logging.getLogger(__name__)


class ChatService(ModelSteps):
    def __init__(
        self,
        retriever: Retriever,
        *,
        aides: AidesService,
        llm: Generator | None,
        breaker: CircuitBreaker,
        prompts: PromptBook,
        conversations: Conversations,
        stats: TermStats | None = None,
        scope: ScopeClassifier | None = None,
        reliability: ReliabilityModel = DEFAULT_RELIABILITY,
        passages_per_answer: int = 6,
        search_depth: int = 10,
        zone: str | None = None,
        caveats: Caveats | None = None,
        support: SupportJudge | None = None,
    ) -> None:
        self.retriever = retriever
        self.aides = aides  # the catalogue, funded projects and the calculator
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
        self.caveats = caveats or Caveats()  # changes of the law the texts do not hold yet
        self.support = support  # the model's judgement of unquoted sentences (issue 21)

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
            self._rewrite(turn, history)
        turn.intent = detect(turn.standalone)
        if scope is not None:
            turn.scope = scope
        elif turn.intent != "cofinancement":
            turn.scope = self.scope.judge(turn.standalone)
        if turn.scope.refused:
            turn.refusal = OUT_OF_SCOPE
            return turn
        if turn.intent in ("aides", "precedents"):
            project = project_words(turn.standalone)
            turn.precedents = self.aides.precedents_for(project) if project else None
        if turn.intent == "precedents" and turn.precedents is not None:
            return turn
        if turn.intent == "aides":  # the catalogue, within the commune's filters
            results = self.aides.find(turn.standalone, commune=commune, precedents=turn.precedents)
            if results.aides:
                turn.found_aides = results
                turn.passages = [
                    Passage(n, g.score, Hit(g.doc_id, g.score, g.payload))
                    for n, g in enumerate(results.aides, start=1)
                ]
                turn.evidence = self._gather(turn)
                return turn
        if turn.scope.label == "local":  # a commune's own facts: its documents only
            tenants = [t for t in where.tenants if t]
            if not tenants:
                turn.refusal = NEEDS_DOCUMENTS
                return turn
            where = replace(where, kinds=["document"], fields={**where.fields, "tenant": tenants})
            where = self._meeting_of_the_day(turn.standalone, where)
            turn.documents_only = True
        with counting() as spent:  # the retrieval's model calls, when switched on
            turn.passages = self.retriever.search(
                turn.search or turn.standalone,
                where,
                self.search_depth,
                place=Place.of(commune),
                context=turn.context,
            )
        turn.usage["prompt_tokens"] += spent.prompt_tokens
        turn.usage["completion_tokens"] += spent.completion_tokens
        turn.model_seconds += spent.seconds
        if turn.documents_only and turn.passages and not own_records(turn.standalone):
            self._law_after_all(turn, commune)
        # on a question of law, the official texts found outrank the commune's documents
        law = authority.law_question(turn.scope, turn.documents_only)
        turn.passages = authority.official_first(turn.passages, law=law)
        if turn.documents_only and not turn.passages:
            turn.refusal = NEEDS_DOCUMENTS
            return turn
        turn.siblings = self._siblings(turn.passages, where)
        turn.evidence = self._gather(turn)
        return turn

    def _law_after_all(self, turn: Turn, commune: CommuneProfile | None) -> None:
        """A question sent to the commune's documents by the classifier, not by its rule,
        that an official text answers as well is a question of law (issue 21: a commune's
        note that rewrites the law must not answer it alone): the official texts answer."""
        assert turn.where is not None
        found = self.retriever.search(
            turn.search or turn.standalone,
            turn.where,
            self.search_depth,
            place=Place.of(commune),
            context=turn.context,
        )
        official = [p for p in found if authority.is_official(p)]
        analyzer = self.retriever.encoder.analyzer
        read = [
            gather(turn.standalone, ps, analyzer=analyzer, stats=self.stats)
            for ps in (official, turn.passages)
        ]
        if official and authority.answers_as_well(*read):
            turn.documents_only = False
            turn.passages = authority.official_first(official, law=True)

    def _meeting_of_the_day(self, question: str, where: SearchFilter) -> SearchFilter:
        """A meeting named by its day (« le conseil du 19 mai 2021 »): the commune's
        documents of that day, when it has some — its other minutes share every other word
        of the question (« conseil », « municipal », « décidé »)."""
        days = meetings.meeting_days(question)
        if not days:
            return where
        found = self.retriever.store.scan(where, ("doc_id", "title"))
        titles = {str(p.get("doc_id")): str(p.get("title") or "") for _, p in found}
        same = meetings.of_the_day(days, titles)
        return replace(where, doc_ids=same) if same else where

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
        if turn.found_aides is not None:  # the catalogue's list, never the model's words
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

    def assess(self, turn: Turn) -> tuple[Answer, Signals]:
        """The answer read without a model — the sentences that answer, or the catalogue's
        list of aids — and the signals its reliability level is computed from."""
        assert turn.evidence is not None
        quoted = extractive.select(turn.evidence)
        if turn.found_aides is not None:
            answer = self._aides_list(turn, turn.found_aides)
        else:
            answer = extractive.answer(turn.evidence)
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

    def _aides_list(self, turn: Turn, results: AideResults) -> Answer:
        """The aids as a list: funder, rate, deadline, link, eligibility — from the catalogue's
        fields, not the model's words (they must be exact)."""
        text = format_aides(results)
        if turn.precedents is not None:
            text += "\n\nProjets comparables déjà financés : " + format_report(turn.precedents)
        return Answer(
            text=text,
            mode="grants",
            confidence=1.0,
            citations=[g.citation(n) for n, g in enumerate(results.aides, start=1)],
        )

    def _fallback(self, turn: Turn) -> Answer:
        answer = self._extractive(turn)
        answer.flags.append("modele_indisponible")
        answer.warning = MODEL_UNAVAILABLE
        return answer

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
        self.conversations.remember(turn.memory, turn.question, answer.text, turn.standalone)
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
        turn.answer = answer
        yield "done", done

    # --- without streaming ----------------------------------------------------------------

    def answer(self, turn: Turn) -> Answer:
        for _ in self.events(turn):
            pass
        assert turn.answer is not None
        return turn.answer
