"""Conversation memory: the turns of each conversation, rows of the records database
(`conversation_turns`), read when a turn starts and written when it ends — so any API
replica answers any turn, and a restart loses nothing. Nothing is kept in the process.

    open()          the conversation's last turns (a new one if unknown or idle too long)
    remember()      the turn just answered, numbered after the last one
    history()       the turns as chat messages, oldest first, within HISTORY_TOKENS
    last_searched() the last question as it was searched (what a follow-up builds on)

Bounded: a conversation keeps its last MAX_TURNS turns (older ones are deleted as new ones
are written) and the history given to the model holds about HISTORY_TOKENS, as
llama-index's ChatMemoryBuffer did before (its token limit; the buffer itself is gone: it
only trimmed a list the rows now give). Idle conversations expire after `ttl_s`: the time
of the newest turn, read by a query, decides — then its turns are deleted, and a sweep
deletes every expired conversation's turns now and then (every SWEEP_EVERY_S, on whichever
replica). Texts are cleaned as the records' messages are: `clean` is the records'
redaction when it is on (the runtime passes assistant.records.redaction.redact).

Two replicas answering the same conversation at once: each turn is inserted in its own
transaction with the next sequence number; the (conversation, seq) key refuses a number
taken meanwhile, and the turn is retried with the next one — turns are never overwritten
nor interleaved out of order. A database that fails is logged, not raised: the question is
answered, without its history.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Delete, String, Text, delete, func, insert, literal, select
from sqlalchemy.exc import IntegrityError

from assistant.llm.generator import Message
from plume.db import Database
from plume.db.models import ConversationTurn, utcnow
from plume.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

HISTORY_TOKENS = 2000  # the history given to the model, at most (estimated)
CHARS_PER_TOKEN = 3.5  # French text, Mistral's and cl100k's tokenizers: about 3.5 to 4
MAX_TURNS = 10  # turns read per conversation, and kept (the model reads the last 3)
SWEEP_EVERY_S = 60.0
RETRIES = 5  # sequence numbers taken by another replica meanwhile


@dataclass(frozen=True)
class Remembered:
    """One past turn: the question as asked, as searched (when it differs), its answer."""

    question: str
    searched: str | None
    answer: str


@dataclass(frozen=True)
class Memory:
    """What a turn starts with: its conversation's last turns, oldest first."""

    conversation_id: str
    turns: tuple[Remembered, ...] = ()


class Conversations:
    def __init__(
        self,
        db: Database,
        ttl_s: float = 3600,
        *,
        clean: Callable[[str], str] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._clean = clean or (lambda text: text)  # the records' redaction, when on
        self._clock = clock
        self._lock = threading.Lock()
        self._last_sweep = float("-inf")

    def open(self, conversation_id: str | None) -> tuple[str, Memory, bool]:
        """The conversation's id, memory, and whether it starts now."""
        cid = conversation_id or uuid.uuid4().hex
        self._sweep_now_and_then()
        if conversation_id is None:
            return cid, Memory(cid), True
        cutoff = self._clock() - timedelta(seconds=self.ttl_s)
        try:
            with self.db.session() as s:
                rows = list(
                    s.scalars(
                        select(ConversationTurn)
                        .where(ConversationTurn.conversation_id == cid)
                        .order_by(ConversationTurn.seq.desc())
                        .limit(MAX_TURNS)
                    )
                )
            if rows and rows[0].at < cutoff:  # idle too long: it starts again, without them
                rows = []
                with self.db.session() as s:
                    s.execute(
                        delete(ConversationTurn).where(
                            ConversationTurn.conversation_id == cid, ConversationTurn.at < cutoff
                        )
                    )
        except DatabaseUnavailable as exc:
            log.warning("conversation memory unread: %s", exc.message)
            return cid, Memory(cid), True
        turns = tuple(Remembered(r.question, r.searched, r.answer) for r in reversed(rows))
        return cid, Memory(cid, turns), not turns

    def remember(
        self, memory: Memory, question: str, answer: str, searched: str | None = None
    ) -> None:
        """Write the turn answered. `searched`: the question as it was searched (a follow-up
        made to stand alone), what the next follow-up builds on when no model rewrites it."""
        turn = {
            "conversation_id": memory.conversation_id,
            "question": self._clean(question),
            "searched": self._clean(searched) if searched and searched != question else None,
            "answer": self._clean(answer),
        }
        for attempt in range(RETRIES):
            try:
                self._insert(turn)
                return
            except DatabaseUnavailable as exc:
                if isinstance(exc.__cause__, IntegrityError) and attempt < RETRIES - 1:
                    continue  # another replica took this number: the next one
                log.warning("conversation turn not remembered: %s", exc.message)
                return

    def _insert(self, turn: dict[str, str | None]) -> None:
        """One statement takes the next number and writes the turn (SQLite locks for writing
        from its start, so two writers queue rather than fail); then the oldest turns beyond
        MAX_TURNS go."""
        cid = turn["conversation_id"]
        t = ConversationTurn
        numbered = select(
            literal(cid, String),
            func.coalesce(func.max(t.seq), 0) + 1,
            literal(self._clock(), DateTime),
            literal(turn["question"], Text),
            literal(turn["searched"], Text),
            literal(turn["answer"], Text),
        ).where(t.conversation_id == cid)
        columns = ["conversation_id", "seq", "at", "question", "searched", "answer"]
        with self.db.session() as s:
            seq = int(s.scalar(insert(t).from_select(columns, numbered).returning(t.seq)) or 0)
            if seq > MAX_TURNS:
                s.execute(delete(t).where(t.conversation_id == cid, t.seq <= seq - MAX_TURNS))

    def sweep(self) -> int:
        """Delete the turns of every conversation idle for more than `ttl_s`; how many."""
        return delete_idle(self.db, self._clock() - timedelta(seconds=self.ttl_s))

    def _sweep_now_and_then(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_sweep < SWEEP_EVERY_S:
                return
            self._last_sweep = now
        try:
            self.sweep()
        except DatabaseUnavailable as exc:
            log.warning("expired conversations not swept: %s", exc.message)

    @staticmethod
    def history(memory: Memory) -> list[Message]:
        """The turns as messages, oldest first: the newest ones within HISTORY_TOKENS."""
        kept: list[Message] = []
        budget = HISTORY_TOKENS * CHARS_PER_TOKEN
        for t in reversed(memory.turns):
            budget -= len(t.question) + len(t.answer)
            if budget < 0:
                break
            kept[:0] = [Message("user", t.question), Message("assistant", t.answer)]
        return kept

    @staticmethod
    def last_searched(memory: Memory) -> str:
        """The last question of the conversation as it was searched."""
        if not memory.turns:
            return ""
        last = memory.turns[-1]
        return last.searched or last.question


def delete_idle(db: Database, cutoff: datetime) -> int:
    """Delete the turns of the conversations whose newest turn is older than `cutoff`."""
    with db.session() as s:
        result = s.execute(idle_turns(cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def idle_turns(cutoff: datetime) -> Delete:
    """The deletion of the turns of every conversation idle since `cutoff` (its newest turn
    older): the expiry here, the retention purge in assistant.records."""
    idle = (
        select(ConversationTurn.conversation_id)
        .group_by(ConversationTurn.conversation_id)
        .having(func.max(ConversationTurn.at) < cutoff)
    )
    return delete(ConversationTurn).where(ConversationTurn.conversation_id.in_(idle))
