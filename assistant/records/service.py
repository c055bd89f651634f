"""What happened, kept in the records database: answers, feedback, ingestion runs, admin
actions, declared deployments — and the purge of old conversations.

The API records each answer once it is complete (`record_answer`, or `recorded` around
the event stream); texts are redacted first when configured. Nothing here logs a question.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import CursorResult, delete, select, update

from assistant.impact import MAX_DAYS, DailyUsage
from assistant.rag.conversations import idle_turns
from assistant.records.indicators import Indicators, compute, period
from assistant.records.redaction import redact
from plume.db import Database
from plume.db.models import (
    AnswerUsage,
    AuditEntry,
    Conversation,
    Deployment,
    Feedback,
    IngestionRun,
    Message,
    utcnow,
)
from plume.documents import SHARED_TENANT
from plume.errors import DatabaseUnavailable, InvalidRecordsRequest, PlumeError, UnknownMessage

log = logging.getLogger(__name__)
Event = tuple[str, dict[str, Any]]
RATINGS = ("up", "down")
MAX_DECLARED = 10_000_000  # licences, users, trained: a bound the database's integers hold


class Summary(Protocol):
    def as_dict(self) -> Mapping[str, Any]: ...


S = TypeVar("S", bound=Summary)


@dataclass(frozen=True)
class Asker:
    """Who asked: their commune (tenant) and the public id of their API key, if any."""

    tenant: str = SHARED_TENANT
    key_id: str | None = None


@dataclass(frozen=True)
class PurgeResult:
    conversations: int
    messages: int
    comments: int
    turns: int = 0  # the chat's working memory (assistant.rag.conversations)

    def as_dict(self) -> dict[str, int]:
        return {
            "conversations": self.conversations,
            "messages": self.messages,
            "comments": self.comments,
            "turns": self.turns,
        }


class Records:
    def __init__(self, db: Database, *, redact_texts: bool = True) -> None:
        self.db = db
        self.redact_texts = redact_texts

    def _clean(self, text: str) -> str:
        return redact(text) if self.redact_texts else text

    # --- answers ---------------------------------------------------------------------------

    def record_answer(
        self,
        question: str,
        answer: Mapping[str, Any],
        asker: Asker,
        *,
        latency_s: float,
        at: datetime | None = None,
    ) -> None:
        """One answered question: its conversation, message and usage. `answer` is
        `Answer.as_dict()` (or the stream's `done` data plus its citations). A database
        failure is logged, not raised: the user still gets the answer."""
        try:
            self._record_answer(question, answer, asker, latency_s=latency_s, at=at)
        except DatabaseUnavailable as exc:
            log.warning("answer not recorded: %s", exc.message)

    def _record_answer(
        self,
        question: str,
        answer: Mapping[str, Any],
        asker: Asker,
        *,
        latency_s: float,
        at: datetime | None = None,
    ) -> None:
        at = at or utcnow()
        cid, mid = str(answer["conversation_id"]), str(answer["message_id"])
        usage = answer.get("usage") or {}
        impact = answer.get("impact") or {}
        with self.db.session() as s:
            conversation = s.get(Conversation, cid)
            if conversation is None:
                s.add(
                    Conversation(
                        id=cid, tenant=asker.tenant, key_id=asker.key_id, started_at=at, last_at=at
                    )
                )
            else:
                conversation.last_at = at
            s.add(
                Message(
                    id=mid,
                    conversation_id=cid,
                    created_at=at,
                    question=self._clean(question),
                    standalone=self._clean(str(answer.get("question") or question)),
                    answer=self._clean(str(answer.get("answer", ""))),
                    mode=str(answer.get("mode", "")),
                    confidence=float(answer.get("confidence", 0.0)),
                    flags=list(answer.get("flags") or []),
                    sources=[str(c.get("doc_id")) for c in answer.get("citations") or []],
                    model=answer.get("model"),
                    prompt_version=answer.get("prompt_version"),
                )
            )
            s.add(
                AnswerUsage(
                    message_id=mid,
                    created_at=at,
                    tenant=asker.tenant,
                    key_id=asker.key_id,
                    mode=str(answer.get("mode", "")),
                    model=answer.get("model"),
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                    completion_tokens=int(usage.get("completion_tokens", 0)),
                    latency_s=latency_s,
                    energy_kwh=impact.get("energy_kwh"),
                    gwp_kgco2eq=impact.get("gwp_kgco2eq"),
                )
            )

    def recorded(self, question: str, events: Iterator[Event], asker: Asker) -> Iterator[Event]:
        """The answer's events, unchanged; the answer is recorded before `done` is sent
        (so feedback sent right after `done` finds it)."""
        started = time.perf_counter()
        citations: list[dict[str, Any]] = []
        for name, data in events:
            if name == "citations":
                citations = list(data.get("citations") or [])
            elif name == "done":
                self.record_answer(
                    question,
                    {**data, "citations": citations},
                    asker,
                    latency_s=time.perf_counter() - started,
                )
            yield name, data

    def daily_usage(self, days: int = MAX_DAYS) -> list[DailyUsage]:
        """Per-day totals of the answers a model generated (tokens, energy, CO2), oldest
        first: `GET /v1/admin/usage`, from the database so they survive a restart."""
        since = utcnow() - timedelta(days=days)
        totals: dict[date, DailyUsage] = {}
        with self.db.session() as s:
            rows = s.scalars(
                select(AnswerUsage).where(
                    AnswerUsage.created_at >= since,
                    AnswerUsage.prompt_tokens + AnswerUsage.completion_tokens > 0,
                )
            )
            for u in rows:
                day = u.created_at.date()
                totals[day] = totals.get(day, DailyUsage(day=day)).plus(
                    prompt_tokens=u.prompt_tokens,
                    completion_tokens=u.completion_tokens,
                    energy_kwh=u.energy_kwh,
                    gwp_kgco2eq=u.gwp_kgco2eq,
                    latency_s=u.latency_s,
                )
        return [totals[d] for d in sorted(totals)]

    # --- feedback --------------------------------------------------------------------------

    def add_feedback(
        self,
        conversation_id: str,
        message_id: str,
        rating: str,
        comment: str | None = None,
        *,
        asker: Asker | None = None,
        at: datetime | None = None,
    ) -> None:
        """Rate a recorded answer (a second rating replaces the first). Only its commune
        may: an answer given to another commune's key, or to a caller without a key when
        `asker` has one, is « introuvable », exactly like one that does not exist."""
        if rating not in RATINGS:
            raise InvalidRecordsRequest("Note invalide : « up » ou « down ».")
        asker = asker or Asker()
        with self.db.session() as s:
            message = s.get(Message, message_id)
            if (
                message is None
                or message.conversation_id != conversation_id
                or message.conversation.tenant != asker.tenant
            ):
                raise UnknownMessage(
                    "Réponse introuvable : identifiants de conversation et de message "
                    "inconnus, ou conversation effacée."
                )
            conversation = message.conversation
            s.merge(
                Feedback(
                    message_id=message_id,
                    conversation_id=conversation_id,
                    created_at=at or utcnow(),
                    tenant=conversation.tenant,
                    key_id=conversation.key_id,
                    rating=rating,
                    comment=self._clean(comment) if comment else None,
                )
            )

    # --- ingestion runs, audit, deployments ------------------------------------------------

    def track(self, source: str, job: Callable[[], S]) -> S:
        """Run an ingestion `job`, recording its source, counts, duration and outcome."""
        run_id = self.start_run(source)
        try:
            summary = job()
        except PlumeError as exc:
            self.finish_run(run_id, error=exc.message)
            raise
        except Exception as exc:
            self.finish_run(run_id, error=f"Erreur inattendue : {type(exc).__name__}")
            raise
        self.finish_run(run_id, counts=summary.as_dict())
        return summary

    def start_run(self, source: str, run_id: str | None = None) -> str:
        run_id = run_id or uuid.uuid4().hex
        with self.db.session() as s:
            s.add(
                IngestionRun(
                    id=run_id, source=source, started_at=utcnow(), status="en_cours", counts={}
                )
            )
        return run_id

    def finish_run(
        self, run_id: str, *, counts: Mapping[str, Any] | None = None, error: str | None = None
    ) -> None:
        with self.db.session() as s:
            run = s.get(IngestionRun, run_id)
            if run is None:
                return
            run.finished_at = utcnow()
            run.duration_s = (run.finished_at - run.started_at).total_seconds()
            item_errors = (counts or {}).get("errors")
            run.status = "echec" if error else ("erreurs" if item_errors else "termine")
            run.counts = dict(counts or {})
            run.error = error

    def audit(self, actor: str, action: str, target: str, **details: Any) -> None:
        with self.db.session() as s:
            s.add(
                AuditEntry(at=utcnow(), actor=actor, action=action, target=target, details=details)
            )

    def recent(self, what: str, limit: int = 100) -> list[dict[str, Any]]:
        """The last ingestion runs (`ingestions`) or audit entries (`audit`), newest first."""
        model: type[IngestionRun] | type[AuditEntry] = (
            IngestionRun if what == "ingestions" else AuditEntry
        )
        order = IngestionRun.started_at if model is IngestionRun else AuditEntry.id
        with self.db.session() as s:
            rows = s.execute(select(model.__table__).order_by(order.desc()).limit(limit))
            return [
                {k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()}
                for r in rows.mappings()
            ]

    def audit_request(self, method: str, path: str, client: Any = None) -> None:
        """An admin API call (never its body: it may hold a secret)."""
        host = getattr(client, "host", None)
        self.audit(f"api:{host or 'inconnu'}", method, path)

    def declare(
        self, commune: str, *, licences: int, users: int, trained: int, name: str = ""
    ) -> None:
        """A commune's declared licences, users and users trained (replaces the last)."""
        if min(licences, users, trained) < 0:
            raise InvalidRecordsRequest("Les nombres déclarés doivent être positifs ou nuls.")
        if max(licences, users, trained) > MAX_DECLARED:
            raise InvalidRecordsRequest(
                "Les nombres déclarés sont d'au plus 10 millions : vérifiez la saisie."
            )
        if trained > users:
            raise InvalidRecordsRequest(
                "Il ne peut y avoir plus d'agents formés que d'utilisateurs déclarés."
            )
        with self.db.session() as s:
            s.merge(
                Deployment(
                    commune=commune,
                    name=name,
                    licences=licences,
                    users=users,
                    trained=trained,
                    updated_at=utcnow(),
                )
            )

    # --- retention -------------------------------------------------------------------------

    def purge(self, retention_days: int, *, now: datetime | None = None) -> PurgeResult:
        """Delete conversations idle for more than `retention_days`, with their messages and
        their working memory's turns (whatever `conversation_ttl_s` is), and clear feedback
        comments as old; ratings and usage (no text) are kept."""
        if retention_days < 1:
            raise InvalidRecordsRequest("La durée de conservation est d'au moins un jour.")
        cutoff = (now or utcnow()) - timedelta(days=retention_days)
        with self.db.session() as s:
            old = select(Conversation.id).where(Conversation.last_at < cutoff)
            messages = s.execute(delete(Message).where(Message.conversation_id.in_(old)))
            conversations = s.execute(delete(Conversation).where(Conversation.last_at < cutoff))
            comments = s.execute(
                update(Feedback)
                .where(Feedback.created_at < cutoff, Feedback.comment.is_not(None))
                .values(comment=None)
            )
            turns = s.execute(idle_turns(cutoff))
        return PurgeResult(
            conversations=_count(conversations),
            messages=_count(messages),
            comments=_count(comments),
            turns=_count(turns),
        )

    # --- the indicators, and the database itself -------------------------------------------

    def indicators(
        self, start: str | date | None, end: str | date | None, minutes_saved: float
    ) -> Indicators:
        """The programme's indicators over a period (the last 6 months by default)."""
        first, last = period(start, end)
        return compute(self.db, first, last, minutes_saved)

    def describe(self) -> str:
        """« SQLite …/plume.db » or « PostgreSQL host/db », and its tables."""
        return f"{self.db.describe()} ({len(self.db.tables())} tables)"

    def close(self) -> None:
        self.db.close()


def _count(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount or 0
