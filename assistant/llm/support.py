"""A model's judgement of what an answer's unquoted sentences claim (issue 21).

The lexical check (assistant.rag.citation_check) sees whether a sentence's words are in the
passages it cites; a claim that uses them to say something else (« le conseil municipal
peut délibérer sans quorum » cited to the article on the quorum) passes it. With a model
configured, `SupportJudge` asks it, in one call for the whole answer, whether each of those
sentences is backed by the passages it cites (prompts/support.v*.md): only the cited
passages are sent, trimmed, as data between source tags.

The reply must be exactly a JSON object with one verdict per sentence — {"1": "oui",
"2": "non"} (a code fence around it is tolerated) — else it is garbage and the judgement
is None: the caller then refuses every sentence (fail closed). The call goes through the
circuit breaker with a time-out and a capped reply (assistant.llm.calls.ModelLever); an
open breaker or a failed call is None too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from assistant.llm.breaker import CircuitBreaker
from assistant.llm.calls import ModelLever
from assistant.llm.generator import Generator
from assistant.llm.prompts import PromptBook
from plume.settings import Settings

MAX_SOURCE_CHARS = 1500  # per cited passage sent to the judge
MAX_CLAIMS = 20  # sentences judged in one call; beyond, the answer is refused (fail closed)
REPLY_TOKENS_PER_CLAIM = 12
_FENCE = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?```\s*$", re.DOTALL | re.IGNORECASE)
_ANGLES = str.maketrans({"<": "‹", ">": "›"})
_VERDICTS = {"oui": True, "non": False}


def parse_verdicts(reply: str, count: int) -> list[bool] | None:
    """The verdicts of a reply, in the sentences' order; None unless it is exactly the
    JSON object asked for (every number 1…count, each « oui » or « non », nothing else)."""
    fenced = _FENCE.match(reply)
    text = (fenced.group(1) if fenced else reply).strip()
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or set(value) != {str(n) for n in range(1, count + 1)}:
        return None
    verdicts = [value[str(n)] for n in range(1, count + 1)]
    if not all(isinstance(v, str) and v.strip().lower() in _VERDICTS for v in verdicts):
        return None
    return [_VERDICTS[v.strip().lower()] for v in verdicts]


def _trim(text: str) -> str:
    flat = " ".join(text.split()).translate(_ANGLES)
    if len(flat) <= MAX_SOURCE_CHARS:
        return flat
    return flat[:MAX_SOURCE_CHARS].rsplit(" ", 1)[0] + " …"


class SupportJudge(ModelLever):
    """One call judging every unquoted sentence of an answer against what it cites."""

    def __init__(
        self, llm: Generator, breaker: CircuitBreaker, prompts: PromptBook, *, timeout_s: float
    ) -> None:
        super().__init__(llm, breaker, timeout_s=timeout_s)
        self.prompt = prompts["support"]

    def judge(
        self, claims: Sequence[tuple[str, Sequence[int]]], sources: Sequence[str]
    ) -> list[bool] | None:
        """For each (sentence, cited numbers), whether `sources[n - 1]` back it; None when
        no usable judgement was had."""
        if not claims:
            return []
        if len(claims) > MAX_CLAIMS:
            self._fallback("support", "too many sentences to judge")
            return None
        cited = sorted({n for _, numbers in claims for n in numbers if 1 <= n <= len(sources)})
        blocks = "\n\n".join(f'<source n="{n}">\n{_trim(sources[n - 1])}\n</source>' for n in cited)
        lines = "\n".join(
            f"{i}. {' '.join(sentence.split())} (cite : {', '.join(map(str, numbers))})"
            for i, (sentence, numbers) in enumerate(claims, start=1)
        )
        content = self.prompt.render(sources=blocks, claims=lines)
        reply = self._ask("support", content, 16 + REPLY_TOKENS_PER_CLAIM * len(claims))
        if reply is None:
            return None
        verdicts = parse_verdicts(reply, len(claims))
        if verdicts is None:
            self._fallback("support", "unreadable judgement")
        return verdicts


def build_support_judge(
    settings: Settings, llm: Generator | None, breaker: CircuitBreaker, prompts: PromptBook
) -> SupportJudge | None:
    """The judge the settings switch on (`PLUME_CITATION_JUDGE`); none without a model."""
    if llm is None or not settings.citation_judge:
        return None
    return SupportJudge(llm, breaker, prompts, timeout_s=settings.citation_judge_timeout_s)
