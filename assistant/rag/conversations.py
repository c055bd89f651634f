"""Conversation memory: llama-index chat memory per conversation id, in process (llama-index
is imported with the first conversation, not at start-up).

Bounded (oldest conversations dropped) and idle conversations expire. Issue 9 stores
conversations in the database; this is the working memory follow-ups are rewritten with.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from assistant.llm.generator import Message, Role

if TYPE_CHECKING:
    from llama_index.core.memory import ChatMemoryBuffer

HISTORY_TOKENS = 2000


class Conversations:
    def __init__(
        self,
        max_conversations: int = 2000,
        ttl_s: float = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_conversations = max_conversations
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._memories: OrderedDict[str, tuple[float, ChatMemoryBuffer]] = OrderedDict()

    def open(self, conversation_id: str | None) -> tuple[str, ChatMemoryBuffer, bool]:
        """The conversation's id, memory, and whether it starts now."""
        now = self._clock()
        with self._lock:
            for cid in [c for c, (seen, _) in self._memories.items() if now - seen > self.ttl_s]:
                del self._memories[cid]
            if conversation_id and conversation_id in self._memories:
                _, memory = self._memories.pop(conversation_id)
                self._memories[conversation_id] = (now, memory)
                return conversation_id, memory, False
            cid = conversation_id or uuid.uuid4().hex
            from llama_index.core.memory import ChatMemoryBuffer

            memory = ChatMemoryBuffer.from_defaults(token_limit=HISTORY_TOKENS)
            self._memories[cid] = (now, memory)
            while len(self._memories) > self.max_conversations:
                self._memories.popitem(last=False)
            return cid, memory, True

    @staticmethod
    def remember(
        memory: ChatMemoryBuffer, question: str, answer: str, searched: str | None = None
    ) -> None:
        """`searched`: the question as it was searched (a follow-up made to stand alone),
        what the next follow-up builds on when no model rewrites it."""
        from llama_index.core.llms import ChatMessage, MessageRole

        kwargs = {"searched": searched} if searched and searched != question else {}
        memory.put(ChatMessage(role=MessageRole.USER, content=question, additional_kwargs=kwargs))
        memory.put(ChatMessage(role=MessageRole.ASSISTANT, content=answer))

    @staticmethod
    def history(memory: ChatMemoryBuffer) -> list[Message]:
        """The turns the memory keeps (within its token limit), oldest first."""
        return [Message(cast(Role, m.role.value), str(m.content or "")) for m in memory.get()]

    @staticmethod
    def last_searched(memory: ChatMemoryBuffer) -> str:
        """The last question of the conversation as it was searched."""
        for m in reversed(memory.get()):
            if m.role.value == "user":
                return str(m.additional_kwargs.get("searched") or m.content or "")
        return ""
