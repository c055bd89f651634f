"""The one door to a language model: what Plume asks of it, in its own types.

The chat, the watch's summary and the retrieval levers talk to a `Generator` — chat,
stream, offer a tool — with `Message`s, and read `Reply`s; they never see a framework's
types. `assistant.llm.client.MistralGenerator` implements it over llama-index's Mistral
wrapper (the mistralai SDK underneath), imported only when a model is configured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Reply:
    text: str
    raw: Any = None  # the SDK's response, for its token counts (`calls.usage_of`)


@dataclass(frozen=True)
class Piece:
    """One piece of a streamed reply; the last one's `raw` says why the stream ended."""

    delta: str
    raw: Any = None


@dataclass(frozen=True)
class ToolReply:
    """The calls the model made of the tool offered (name, arguments), if any."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    raw: Any = None


class Generator(Protocol):
    model: str

    def chat(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout_ms: int | None = None,
    ) -> Reply: ...

    def stream(self, messages: Sequence[Message]) -> Iterator[Piece]: ...

    def call_tool(
        self, tool: Callable[..., Any], name: str, question: str, system: str
    ) -> ToolReply: ...
