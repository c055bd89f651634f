"""The steps of a turn that call the model — rewrite a follow-up into a question that stands
alone, offer it the cofinancing calculator, stream its answer and check its citations — and
the text conventions they share with the prompts (the numbered sources, the signal of an
answer the model declines).

`ModelSteps` is mixed into `ChatService`: the steps read the service's model, circuit
breaker, prompts and reliability model, and fall back on its answers without a model.
"""

from __future__ import annotations

import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from assistant.aides.cofinancing import CofinancingRequest
from assistant.aides.cofinancing_range import compute_range
from assistant.aides.tools import (
    TOOL_NAME,
    calculer_cofinancement,
    conditions_in,
    request_from_arguments,
    request_from_question,
)
from assistant.chat.turn import COFINANCING_DOC, Event, Turn
from assistant.llm.breaker import CircuitBreaker
from assistant.llm.calls import counting, usage_of
from assistant.llm.generator import Generator, Message
from assistant.llm.prompts import PromptBook
from assistant.llm.support import SupportJudge
from assistant.models import Answer, Citation, Passage
from assistant.rag import extractive, followup
from assistant.rag.authority import attributed, rests_on_documents
from assistant.rag.citation_check import ClaimJudge, check_citations
from assistant.rag.conversations import Conversations
from assistant.rag.evidence import Evidence, Sentence
from assistant.rag.reliability import Reliability, ReliabilityModel, signals
from assistant.rag.retrieval import Retriever
from plume.documents import french_date
from plume.errors import InvalidCofinancingRequest
from plume.store import SearchFilter
from plume.text import fold_accents

log = logging.getLogger(__name__)


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


# Sources are data (prompts/system.v3.md): each sits between <source n="…" kind="…"> and
# </source>; what a passage holds can neither close its block nor open another (its angle
# brackets become ‹ ›) and its own « [1] » reads « (1) », never a number the model cites.
_ANGLES = str.maketrans({"<": "‹", ">": "›"})
_MARKER_IN_DATA = re.compile(r"\[\s*(\d+)\s*\]")
_KIND = re.compile(r"[^a-z_]")


def as_data(text: str) -> str:
    """A source's text as the model reads it: no tag, no citation marker of its own."""
    return _MARKER_IN_DATA.sub(r"(\1)", text.translate(_ANGLES))


# a commune's document, as the model reads it (prompts/answer.v3.md says what to do with it)
COMMUNE_DOCUMENT = "Document de votre commune, pas un texte officiel"


def _source(n: int, passage: Passage, head: str, meta: str) -> str:
    kind = _KIND.sub("", str(passage.field("kind") or "").lower()) or "texte"
    body = "\n".join(as_data(x) for x in (head, f"({meta})", passage.text))
    return f'<source n="{n}" kind="{kind}">\n[{n}] {body}\n</source>'


def context_block(passages: list[Passage]) -> str:
    """The numbered sources the model reads, each delimited (`_source`); [n] is what it
    cites. A commune's document is named as such, with what it is (« compte rendu du
    conseil municipal du 19 mai 2021, chargé le … »): a council's minutes are not a source
    of law."""
    blocks = []
    for n, p in enumerate(passages, start=1):
        if p.field("kind") == "document":
            what = extractive.describe(p)
            head = f"{COMMUNE_DOCUMENT} : {what}"
            blocks.append(_source(n, p, head, str(p.field("url") or "")))
            continue
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
        blocks.append(_source(n, p, heading, meta))
    return "\n\n".join(blocks)


def _request_args(request: CofinancingRequest) -> dict[str, Any]:
    return {
        k: (str(v) if not isinstance(v, bool | int | type(None)) else v)
        for k, v in vars(request).items()
    }


class ModelSteps(ABC):
    """What `ChatService` brings: its model and breaker, prompts and reliability model, and
    the answers it gives without a model."""

    retriever: Retriever
    llm: Generator | None
    breaker: CircuitBreaker
    prompts: PromptBook
    reliability: ReliabilityModel
    passages_per_answer: int
    support: SupportJudge | None  # the model's judgement of unquoted sentences (issue 21)

    @property
    def model_name(self) -> str | None:
        return getattr(self.llm, "model", None) if self.llm is not None else None

    @abstractmethod
    def _extractive(self, turn: Turn) -> Answer: ...

    @abstractmethod
    def _fallback(self, turn: Turn) -> Answer: ...

    @abstractmethod
    def _finish(self, turn: Turn, answer: Answer, *, streamed: bool = False) -> Iterator[Event]: ...

    @staticmethod
    def _rated(answer: Answer, reliability: Reliability) -> Answer:
        if answer.mode != "refusal":
            answer.confidence = reliability.score
            answer.reliability = reliability.as_dict()
        return answer

    def _judge(self, evidence: Evidence, quoted: list[Sentence]) -> Reliability:
        return self.reliability.judge(signals(evidence, quoted))

    def _rewrite(self, turn: Turn, history: list[Message]) -> None:
        """ "et pour un mariage ?" → a question that stands alone (`turn.standalone`); without
        a model, the follow-up is searched with its previous question as context."""
        alone = followup.rewrite(Conversations.last_searched(turn.memory), turn.question)
        turn.standalone, turn.search, turn.context = alone.question, alone.search, alone.context
        if self.llm is None or not self.breaker.allow():
            return
        lines = [
            f"{'Secrétaire' if m.role == 'user' else 'Assistant'} : {m.content}"
            for m in history[-6:]
        ]
        prompt = self.prompts["followup"].render(history="\n".join(lines), question=turn.question)
        started = time.perf_counter()
        try:
            response = self.llm.chat([Message("user", prompt)])
        except Exception as exc:  # any model failure: keep going without it
            self.breaker.failure()
            log.warning("follow-up rewrite failed: %s", type(exc).__name__)
            return
        self.breaker.success()
        turn.model_seconds += time.perf_counter() - started
        self._add_usage(turn, response.raw)
        rewritten = response.text.strip().splitlines()
        if rewritten and rewritten[0].strip(' «»"'):
            turn.standalone, turn.search, turn.context = rewritten[0].strip(' «»"'), "", ""

    @staticmethod
    def _add_usage(turn: Turn, raw: Any) -> None:
        prompt_tokens, completion_tokens = usage_of(raw)
        turn.usage["prompt_tokens"] += prompt_tokens
        turn.usage["completion_tokens"] += completion_tokens

    def _cofinancing(self, turn: Turn) -> Answer | None:
        """The calculator, called by the model (tool calling) or on the question's words;
        None when the question gives nothing to compute (then the rules are quoted). A
        question that asks for the most, or states no condition, gets the range: the grant
        on what it says and the most the other conditions may add, each named — decided by
        its words, with and without a model."""
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
            result = compute_range(request, conditions_in(turn.standalone, turn.commune).unknown)
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
        system = self.prompts["system"].render()
        started = time.perf_counter()
        try:
            response = self.llm.call_tool(
                calculer_cofinancement, TOOL_NAME, turn.standalone, system
            )
        except Exception as exc:  # model down: the question's words will do
            self.breaker.failure()
            log.warning("tool call failed: %s", type(exc).__name__)
            return None
        self.breaker.success()
        turn.model_seconds += time.perf_counter() - started
        self._add_usage(turn, response.raw)
        return next((args for name, args in response.calls if name == TOOL_NAME), None)

    def _generate(self, turn: Turn) -> Iterator[Event]:
        """The model's answer, streamed. Its first characters are held back until they
        cannot be the signal of an answer it declines (prompts/answer: DECLINE)."""
        assert self.llm is not None
        prompt = self.prompts["answer"]
        context = turn.passages[: self.passages_per_answer]
        messages = [
            Message("system", self.prompts["system"].render()),
            *Conversations.history(turn.memory)[-6:],
            Message(
                "user", prompt.render(context=context_block(context), question=turn.standalone)
            ),
        ]
        text, started, last_raw, held = "", time.perf_counter(), None, True
        try:
            for chunk in self.llm.stream(messages):
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

    def _judge_of(self, context: list[Passage]) -> ClaimJudge | None:
        """The model's judgement of the answer's unquoted sentences against `context`."""
        support = self.support
        if support is None:
            return None
        sources = [
            f"{p.field('title') or ''} — {p.field('section') or ''}\n{p.text}" for p in context
        ]
        return lambda claims: support.judge([(c.sentence, c.cited) for c in claims], sources)

    def _checked(self, turn: Turn, text: str, prompt_version: str) -> Answer:
        """The model's text after the citation check. When it declines (the signal, or only
        « the sources do not say »), the closest texts; when nothing it said is tied to a
        source, the answer read from the evidence."""
        assert turn.evidence is not None
        context = turn.passages[: self.passages_per_answer]
        with counting() as spent:  # the judgement's call, when there is one
            check = check_citations(
                _without_signal(text), context, judge=self._judge_of(context), drop_unsupported=True
            )
        turn.usage["prompt_tokens"] += spent.prompt_tokens
        turn.usage["completion_tokens"] += spent.completion_tokens
        turn.model_seconds += spent.seconds
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
        if rests_on_documents(cited):  # it says so (issue 21)
            intro = extractive.documents_introduction(cited, turn.evidence)
            check = replace(check, text=attributed(check.text, intro))
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
