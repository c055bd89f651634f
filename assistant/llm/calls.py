"""One short model call at a time for retrieval (assistant.llm.levers): behind the
circuit breaker, with a per-call time-out and reply cap, its tokens counted; a failure is
logged and answered with None, for the caller to keep its offline result."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from assistant.llm.breaker import CircuitBreaker
from assistant.llm.generator import Generator, Message

log = logging.getLogger(__name__)


@dataclass
class LeverUsage:
    """What a lever cost so far, to keep frugality visible (logs, bench)."""

    calls: int = 0  # requests sent to the model
    fallbacks: int = 0  # searches left offline: failure, open breaker, unreadable reply
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


def usage_of(raw: Any) -> tuple[int, int]:
    """Prompt and completion tokens from the SDK's response (a dict or an object) or from
    the last event of a stream (`.data`)."""
    if isinstance(raw, dict):
        usage = raw.get("usage")
    else:
        usage = getattr(getattr(raw, "data", raw), "usage", None)
    if usage is None:
        return 0, 0
    if isinstance(usage, dict):
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    prompt_tokens = getattr(usage, "prompt_tokens", 0) or 0
    return int(prompt_tokens), int(getattr(usage, "completion_tokens", 0) or 0)


# The retrieval calls of the request being served (see `counting`): tokens and seconds
# that its answer's usage and energy estimate must include.
_SPENT: ContextVar[LeverUsage | None] = ContextVar("plume_retrieval_spent", default=None)


@contextmanager
def counting() -> Iterator[LeverUsage]:
    """What the retrieval model calls made inside the block cost (this request only:
    other threads' calls are not counted)."""
    spent = LeverUsage()
    token = _SPENT.set(spent)
    try:
        yield spent
    finally:
        _SPENT.reset(token)


class ModelLever:
    """One short model call at a time, behind the circuit breaker, with its cost counted."""

    def __init__(self, llm: Generator, breaker: CircuitBreaker, *, timeout_s: float = 10.0) -> None:
        self.llm = llm
        self.breaker = breaker
        self.timeout_s = timeout_s
        self.usage = LeverUsage()
        self._lock = threading.Lock()

    def _fallback(self, what: str, reason: str) -> None:
        log.warning("%s: %s, offline result kept", what, reason)
        with self._lock:
            self.usage.fallbacks += 1

    def _ask(self, what: str, content: str, max_tokens: int) -> str | None:
        """The model's reply, or None (logged) when it cannot be had."""
        if not self.breaker.allow():
            self._fallback(what, "model circuit breaker open")
            return None
        started = time.perf_counter()
        try:
            response = self.llm.chat(
                [Message("user", content)],
                temperature=0.0,
                max_tokens=max_tokens,
                timeout_ms=int(self.timeout_s * 1000),
            )
        except Exception as exc:  # any model failure: search stays offline
            self.breaker.failure()
            with self._lock:
                self.usage.calls += 1
                self.usage.seconds += time.perf_counter() - started
            self._fallback(what, f"model call failed ({type(exc).__name__})")
            return None
        self.breaker.success()
        elapsed = time.perf_counter() - started
        prompt_tokens, completion_tokens = usage_of(response.raw)
        with self._lock:
            for usage in (self.usage, _SPENT.get()):
                if usage is not None:
                    usage.calls += 1
                    usage.seconds += elapsed
                    usage.prompt_tokens += prompt_tokens
                    usage.completion_tokens += completion_tokens
        log.info(
            "%s: %d prompt + %d completion tokens, %.2f s",
            what,
            prompt_tokens,
            completion_tokens,
            elapsed,
        )
        return response.text
