"""Retrieval with a model (lever 6), each part switched on by a setting, off by default.

- `QueryRewriter`, before the search: the model restates the secretary's question in the
  law's words (`rewrite`: a few legal keywords, prompts/rewrite.v*.md) or writes the short
  answer an article would give (`hyde`, prompts/hyde.v*.md); the text is added to the
  sparse query at a lower weight, and embedded with the question when search is hybrid.
- `Reranker`, after it: the model orders the first N passages (prompts/rerank.v*.md, JSON
  numbers); those it leaves out keep their order after the ones it ranked.

Both cost tokens on every search, so calls are short (capped replies, trimmed passages,
temperature 0, a cache of rewrites) and counted in `usage`. Any model failure (error,
time-out, open circuit breaker, unreadable reply) keeps the offline result: a warning in
the log, never an error for the user.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from assistant.llm.breaker import CircuitBreaker
from assistant.llm.calls import ModelLever
from assistant.llm.generator import Generator
from assistant.llm.prompts import PromptBook
from plume.settings import Settings
from plume.store import Hit

RewriteMode = Literal["rewrite", "hyde"]

# The model's words weigh less than the question's own (encode_weighted keeps a term's
# highest weight: a question word the model repeats stays at 1.0). Not measured against
# the real model yet (no route to the API here): `bench.retrieval_levers --model`.
REWRITE_WEIGHT = 0.75
HYDE_WEIGHT = 0.5  # a paragraph brings many generic words along with the legal ones
MAX_TERMS = 8
MAX_TERM_CHARS = 80  # longer than that, a line is a sentence, not a keyword
MAX_HYDE_CHARS = 1200
MAX_RERANK = 30
MAX_PASSAGE_CHARS = 350  # per passage shown to the reranker: 30 passages ≈ 3,000 tokens
REPLY_TOKENS = {"rewrite": 120, "hyde": 300, "rerank": 200}  # replies are short
CACHE_SIZE = 256  # rewrites kept: a question asked again costs nothing


# --- rewriting ------------------------------------------------------------------------------

_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)])\s*")


def parse_terms(reply: str) -> list[str]:
    """The keywords of a rewrite reply: one per line (or separated by ; or ,), without
    bullets, quotes or a preamble line ending with a colon."""
    terms = []
    for piece in re.split(r"[\n;,]", reply):
        term = _BULLET.sub("", piece).strip(" \t\"'«»“”*.")
        if term and not term.endswith(":") and len(term) <= MAX_TERM_CHARS:
            terms.append(term)
    return list(dict.fromkeys(terms))[:MAX_TERMS]


def parse_paragraph(reply: str) -> str | None:
    """The hypothetical answer, on one line; None when the model wrote next to nothing."""
    text = " ".join(re.sub(r"^\s*paragraphe\s*:", "", reply, flags=re.I).split())
    return text[:MAX_HYDE_CHARS] if len(text.split()) >= 3 else None


@dataclass(frozen=True)
class Expansion:
    """What the model adds to a query: weighted texts for the sparse vector, and the text
    the dense vector is computed from (the question and the model's words)."""

    texts: tuple[tuple[str, float], ...]
    dense_text: str


class QueryRewriter(ModelLever):
    def __init__(
        self,
        llm: Generator,
        breaker: CircuitBreaker,
        prompts: PromptBook,
        *,
        mode: RewriteMode = "rewrite",
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(llm, breaker, timeout_s=timeout_s)
        self.mode = mode
        self.prompt = prompts[mode]
        self._cache: OrderedDict[str, Expansion] = OrderedDict()

    def expand(self, question: str) -> Expansion | None:
        """The model's additions to the question's query; None: search it offline."""
        with self._lock:
            if question in self._cache:
                self._cache.move_to_end(question)
                return self._cache[question]
        reply = self._ask(self.mode, self.prompt.render(question=question), REPLY_TOKENS[self.mode])
        if reply is None:
            return None
        if self.mode == "hyde":
            paragraph = parse_paragraph(reply)
            added = [paragraph] if paragraph else []
            weight = HYDE_WEIGHT
        else:
            added = parse_terms(reply)
            weight = REWRITE_WEIGHT
        if not added:
            self._fallback(self.mode, "unusable reply")
            return None
        expansion = Expansion(
            tuple((text, weight) for text in added), "\n".join([question, "; ".join(added)])
        )
        with self._lock:
            self._cache[question] = expansion
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return expansion


# --- reranking ------------------------------------------------------------------------------

_FENCE = re.compile(r"```(?:json)?", re.IGNORECASE)
_ARRAY = re.compile(r"\[([\s\d,\"']*\d)")  # numbers in brackets, perhaps cut by max_tokens


def _json_numbers(text: str) -> list[int] | None:
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[min(starts) :])
    except ValueError:
        return None
    if isinstance(value, dict):  # {"ordre": [...]}, whatever the key
        value = next((v for v in value.values() if isinstance(v, list)), None)
    if not isinstance(value, list):
        return None
    numbers = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            numbers.append(item)
        elif isinstance(item, str) and item.strip().isdigit():
            numbers.append(int(item))
    return numbers


def parse_ranking(reply: str, count: int) -> list[int] | None:
    """Passage numbers (1…count) in the model's order, without repeats; None when the reply
    holds no ranking at all."""
    text = _FENCE.sub("", reply)
    numbers = _json_numbers(text)
    if numbers is None:
        match = _ARRAY.search(text)
        if match is None:
            return None
        numbers = [int(x) for x in re.findall(r"\d+", match.group(1))]
    return [n for n in dict.fromkeys(numbers) if 1 <= n <= count]


def _trim(text: str, limit: int = MAX_PASSAGE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rsplit(" ", 1)[0] + " …"


def numbered_passages(hits: Sequence[Hit]) -> str:
    """The passages as the reranker reads them: number, title and section, trimmed text."""
    blocks = []
    for n, hit in enumerate(hits, start=1):
        heading = " — ".join(
            x for x in (str(hit.payload.get(k) or "") for k in ("title", "section")) if x
        )
        blocks.append(f"[{n}] {heading or hit.doc_id}\n{_trim(hit.text)}")
    return "\n\n".join(blocks)


class Reranker(ModelLever):
    def __init__(
        self,
        llm: Generator,
        breaker: CircuitBreaker,
        prompts: PromptBook,
        *,
        top: int = MAX_RERANK,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(llm, breaker, timeout_s=timeout_s)
        self.top = max(2, min(top, MAX_RERANK))
        self.prompt = prompts["rerank"]

    def rerank(self, question: str, hits: list[Hit]) -> list[Hit]:
        """`hits` with the first `top` in the model's order; unchanged on any failure."""
        head, tail = hits[: self.top], hits[self.top :]
        if len(head) < 2:
            return hits  # nothing to order: no call
        content = self.prompt.render(
            question=question, count=str(len(head)), passages=numbered_passages(head)
        )
        reply = self._ask("rerank", content, REPLY_TOKENS["rerank"])
        if reply is None:
            return hits
        order = parse_ranking(reply, len(head))
        if order is None:
            self._fallback("rerank", "unreadable reply")
            return hits
        ranked = set(order)
        rest = [h for n, h in enumerate(head, start=1) if n not in ranked]
        return [*(head[n - 1] for n in order), *rest, *tail]


def build_model_levers(
    settings: Settings, llm: Generator | None, breaker: CircuitBreaker, prompts: PromptBook
) -> tuple[QueryRewriter | None, Reranker | None]:
    """The levers the settings switch on; none without a model."""
    if llm is None:
        return None, None
    timeout = settings.retrieval_model_timeout_s
    mode = settings.retrieval_rewrite
    rewriter = (
        QueryRewriter(llm, breaker, prompts, mode=mode, timeout_s=timeout)
        if mode != "off"
        else None
    )
    reranker = (
        Reranker(llm, breaker, prompts, top=settings.rerank_top, timeout_s=timeout)
        if settings.retrieval_rerank
        else None
    )
    return rewriter, reranker
