"""The impact indicators the Territoires d'IA cofinancing asks for, twice a year.

Computed from the records over a period: declared licences, users and users trained per
commune; active users (distinct API keys that asked at least once) and adoption rate;
satisfaction (share of thumbs up among rated answers); productivity gain; energy and CO2.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from assistant.models import ANSWERED_MODES
from plume.db import Database
from plume.db.models import AnswerUsage, Deployment, Feedback
from plume.errors import InvalidRecordsRequest

DAYS_PER_MONTH = 365.25 / 12
# the dates a period may span: Plume's records cannot be older, and 9999-12-31 + 1 day
# does not exist
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
TOTAL = "total"


def method(minutes_saved: float) -> str:
    """How the productivity gain is computed, stated with the report."""
    return (
        f"Gain de productivité = réponses sourcées (hors refus) × {minutes_saved:g} minutes "
        "gagnées par réponse (hypothèse déclarée, PLUME_MINUTES_SAVED_PER_ANSWER) ÷ 60, "
        "divisé par le nombre d'agents actifs (clés d'API ayant posé au moins une question) "
        "et par le nombre de mois de la période."
    )


@dataclass(frozen=True)
class CommuneIndicators:
    commune: str
    name: str = ""
    licences: int = 0
    users: int = 0  # declared
    trained: int = 0  # declared
    active_users: int = 0
    questions: int = 0
    answered: int = 0  # with a sourced answer (not the closest texts, not a refusal)
    adoption_rate: float | None = None  # active users / declared users
    ratings_up: int = 0
    ratings_down: int = 0
    satisfaction_rate: float | None = None
    hours_saved: float = 0.0
    hours_per_agent_month: float | None = None
    energy_kwh: float = 0.0
    gwp_kgco2eq: float = 0.0


@dataclass(frozen=True)
class Indicators:
    start: date
    end: date
    minutes_saved_per_answer: float
    communes: list[CommuneIndicators]
    total: CommuneIndicators
    monthly: list[dict[str, Any]] = field(default_factory=list)

    @property
    def method(self) -> str:
        return method(self.minutes_saved_per_answer)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "minutes_saved_per_answer": self.minutes_saved_per_answer,
            "productivity_method": self.method,
            "communes": [asdict(c) for c in self.communes],
            "total": asdict(self.total),
            "monthly": self.monthly,
        }

    def to_csv(self) -> str:
        """One row per commune, then the total (`;`-separated, as French spreadsheets read)."""
        buffer = io.StringIO()
        names = list(asdict(self.total))
        writer = csv.DictWriter(buffer, fieldnames=names, delimiter=";", lineterminator="\n")
        writer.writeheader()
        for row in [*self.communes, self.total]:
            writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
        return buffer.getvalue()


def period(start: str | date | None, end: str | date | None) -> tuple[date, date]:
    """The period asked for; by default the last 6 months up to today."""
    try:
        last = date.fromisoformat(end) if isinstance(end, str) else end or date.today()
        first = date.fromisoformat(start) if isinstance(start, str) else start
    except ValueError:
        raise InvalidRecordsRequest("Date invalide : attendu AAAA-MM-JJ.") from None
    if not all(EARLIEST <= day <= LATEST for day in (first or last, last)):
        raise InvalidRecordsRequest(
            f"Période hors limites : indiquez des dates entre le {EARLIEST:%d/%m/%Y} et le "
            f"{LATEST:%d/%m/%Y}."
        )
    first = first or max(EARLIEST, last - timedelta(days=182))
    if first > last:
        raise InvalidRecordsRequest("La date de début est après la date de fin.")
    return first, last


def compute(db: Database, start: date, end: date, minutes_saved: float) -> Indicators:
    """The indicators of [start, end] (both days included)."""
    lo, hi = datetime.combine(start, time()), datetime.combine(end + timedelta(days=1), time())
    months = ((end - start).days + 1) / DAYS_PER_MONTH
    with db.session() as s:
        usage = s.execute(
            select(
                AnswerUsage.tenant,
                AnswerUsage.key_id,
                AnswerUsage.mode,
                AnswerUsage.created_at,
                AnswerUsage.energy_kwh,
                AnswerUsage.gwp_kgco2eq,
            ).where(AnswerUsage.created_at >= lo, AnswerUsage.created_at < hi)
        ).all()
        ratings = s.execute(
            select(Feedback.tenant, Feedback.rating).where(
                Feedback.created_at >= lo, Feedback.created_at < hi
            )
        ).all()
        declared = {d.commune: d for d in s.scalars(select(Deployment))}

    keys: dict[str, set[str]] = defaultdict(set)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    energy: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    monthly: dict[str, Counter[str]] = defaultdict(Counter)
    for tenant, key_id, mode, created_at, kwh, gwp in usage:
        if key_id:
            keys[tenant].add(key_id)
        answered = mode in ANSWERED_MODES  # `pistes` orient, they save no time
        counts[tenant].update(questions=1, answered=int(answered))
        energy[tenant][0] += kwh or 0.0
        energy[tenant][1] += gwp or 0.0
        monthly[created_at.strftime("%Y-%m")].update(questions=1, answered=int(answered))
    for tenant, rating in ratings:
        counts[tenant][rating] += 1

    def row(commune: str, tenants: list[str]) -> CommuneIndicators:
        d = declared.get(commune)
        users = sum(declared[t].users for t in tenants if t in declared)
        active = len(set().union(*(keys[t] for t in tenants))) if tenants else 0
        answered = sum(counts[t]["answered"] for t in tenants)
        up, down = sum(counts[t]["up"] for t in tenants), sum(counts[t]["down"] for t in tenants)
        hours = answered * minutes_saved / 60
        return CommuneIndicators(
            commune=commune,
            name=d.name if d else "",
            licences=sum(declared[t].licences for t in tenants if t in declared),
            users=users,
            trained=sum(declared[t].trained for t in tenants if t in declared),
            active_users=active,
            questions=sum(counts[t]["questions"] for t in tenants),
            answered=answered,
            adoption_rate=_ratio(active, users),
            ratings_up=up,
            ratings_down=down,
            satisfaction_rate=_ratio(up, up + down),
            hours_saved=round(hours, 2),
            hours_per_agent_month=(round(hours / active / months, 2) if active else None),
            energy_kwh=_sig(sum(energy[t][0] for t in tenants)),
            gwp_kgco2eq=_sig(sum(energy[t][1] for t in tenants)),
        )

    communes = sorted(set(declared) | set(counts))
    return Indicators(
        start=start,
        end=end,
        minutes_saved_per_answer=minutes_saved,
        communes=[row(c, [c]) for c in communes],
        total=row(TOTAL, communes),
        monthly=[{"month": m, **monthly[m]} for m in sorted(monthly)],
    )


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _sig(x: float) -> float:
    return float(f"{x:.3g}")
