"""The model Plume is configured with, behind the `Generator` protocol: llama-index's
Mistral wrapper (assistant.llm.mistral) over the mistralai SDK; EU endpoint by default, a
self-hosted Mistral-compatible server (vLLM…) through `PLUME_MISTRAL_SERVER_URL`. No key
and no server: no model, and Plume answers extractively."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from assistant.llm.generator import Message, Piece, Reply, ToolReply
from plume.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.llms import ChatMessage
    from llama_index.core.tools import FunctionTool

    from assistant.llm.mistral import PlumeMistral

EU_ENDPOINT = "https://api.mistral.ai"


def _messages(messages: Sequence[Message]) -> list[ChatMessage]:
    from llama_index.core.llms import ChatMessage, MessageRole

    return [ChatMessage(role=MessageRole(m.role), content=m.content) for m in messages]


@cache
def _tool(fn: Callable[..., Any], name: str) -> FunctionTool:
    from llama_index.core.tools import FunctionTool

    return FunctionTool.from_defaults(fn=fn, name=name)  # its schema from the signature


class MistralGenerator:
    """A `Generator` over llama-index's MistralAI wrapper."""

    def __init__(self, llm: PlumeMistral) -> None:
        self.llm = llm
        self.model: str = llm.model

    def chat(
        self,
        messages: Sequence[Message],
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout_ms: int | None = None,
    ) -> Reply:
        options = {
            k: v
            for k, v in (
                ("temperature", temperature),
                ("max_tokens", max_tokens),
                ("timeout_ms", timeout_ms),
            )
            if v is not None
        }
        response = self.llm.chat(_messages(messages), **options)
        return Reply(str(response.message.content or ""), response.raw)

    def stream(self, messages: Sequence[Message]) -> Iterator[Piece]:
        for chunk in self.llm.stream_chat(_messages(messages)):
            yield Piece(chunk.delta or "", chunk.raw)

    def call_tool(
        self, tool: Callable[..., Any], name: str, question: str, system: str
    ) -> ToolReply:
        history = _messages([Message("system", system)])
        response = self.llm.chat_with_tools(
            [_tool(tool, name)], user_msg=question, chat_history=history
        )
        calls = self.llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
        return ToolReply(
            [(c.tool_name, dict(c.tool_kwargs)) for c in calls if isinstance(c.tool_kwargs, dict)],
            response.raw,
        )


def build_llm(settings: Settings) -> MistralGenerator | None:
    """The configured model, or None: Plume then answers extractively."""
    if settings.mistral_api_key is None and settings.mistral_server_url is None:
        return None
    from assistant.llm.mistral import PlumeMistral

    key = settings.mistral_api_key.get_secret_value() if settings.mistral_api_key else "none"
    llm = PlumeMistral(
        api_key=key,
        endpoint=settings.mistral_server_url or EU_ENDPOINT,
        model=settings.chat_model,
        temperature=settings.llm_temperature,
        max_tokens=settings.llm_max_tokens,
        timeout=settings.llm_timeout_s,
        retry_s=settings.llm_retry_s,
    )
    return MistralGenerator(llm)
