"""The records tables (SQLAlchemy 2, typed). Times are naive UTC on every database.

Conversations and messages hold what people asked and are purged after the retention
period; conversation turns are the chat's working memory (what follow-ups are rewritten
with), kept until the conversation is idle for `conversation_ttl_s` and left out of
exports (`TABLES`); per-answer usage, feedback ratings, ingestion runs, the audit log and
the declared deployments hold no question text and are kept for the indicators.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Now, naive UTC (SQLite keeps no time zone; both databases store the same)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy's own class attribute)
        dict[str, Any]: JSON,
        list[str]: JSON,
        datetime: DateTime(),
    }


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(index=True)
    last_at: Mapped[datetime] = mapped_column(index=True)
    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", passive_deletes=True
    )


class Message(Base):
    """One question and its answer (texts redacted when configured)."""

    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(index=True)
    question: Mapped[str] = mapped_column(Text)
    standalone: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(20))
    confidence: Mapped[float] = mapped_column(Float)
    flags: Mapped[list[str]]
    sources: Mapped[list[str]]  # doc ids of the citations
    model: Mapped[str | None] = mapped_column(String(128))
    prompt_version: Mapped[str | None] = mapped_column(String(64))
    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class ConversationTurn(Base):
    """One turn of a conversation's working memory, numbered within the conversation: any
    replica reads it for the next follow-up (texts redacted when configured)."""

    __tablename__ = "conversation_turns"

    conversation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    question: Mapped[str] = mapped_column(Text)
    searched: Mapped[str | None] = mapped_column(Text)  # the question as it was searched
    answer: Mapped[str] = mapped_column(Text)


class AnswerUsage(Base):
    """Cost of one answer: tokens, latency, energy, CO2. Outlives the message."""

    __tablename__ = "answer_usage"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(20))
    model: Mapped[str | None] = mapped_column(String(128))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    energy_kwh: Mapped[float | None] = mapped_column(Float)
    gwp_kgco2eq: Mapped[float | None] = mapped_column(Float)


class Feedback(Base):
    """A rating of one answer (the last one given counts)."""

    __tablename__ = "feedback"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(64))
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text)


class IngestionRun(Base):
    __tablename__ = "ingestion_runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """An administrator's action (who, what, on what)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(512))
    details: Mapped[dict[str, Any]]


class Deployment(Base):
    """What a commune declares for the cofinancing report: licences, users, trained."""

    __tablename__ = "deployments"

    commune: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), default="")
    licences: Mapped[int] = mapped_column(Integer, default=0)
    users: Mapped[int] = mapped_column(Integer, default=0)
    trained: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


# what an export holds and an import restores (conversation turns: working memory, left out)
TABLES = [
    Conversation,
    Message,
    AnswerUsage,
    Feedback,
    IngestionRun,
    AuditEntry,
    Deployment,
]
