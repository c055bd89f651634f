"""The aids as French text: one aid in a few lines (funder, rate, deadline, link,
eligibility), the answer to « quelles aides pour … ? », the aids closing soon, and the
comparable funded projects (figures in euros and per cent, French style)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from assistant.aides.catalogue import AideMatch, AideResults, closing_soon
from assistant.aides.precedents import Example, PrecedentReport
from assistant.communes import CommuneProfile
from assistant.rag.retrieval import Retriever


def _day(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


_STATUS = {
    "eligible": "éligible d'après les données",
    "a_verifier": "à vérifier auprès du financeur",
    "non_eligible": "non éligible",
}


def aide_lines(grant: AideMatch, n: int | None = None) -> list[str]:
    """One aid as a few lines of French: funder, rate, deadline, link, eligibility."""
    ref = f" [{n}]" if n is not None else ""
    deadline = (
        f"date limite : {_day(grant.deadline)}"
        if grant.deadline
        else f"date limite : {grant.deadline_note or 'aucune date de clôture indiquée'}"
    )
    facts = [
        f"financeur : {', '.join(grant.funders) or 'non indiqué'}",
        f"taux : {grant.rate or 'non indiqué (à vérifier auprès du financeur)'}",
        deadline,
    ]
    lines = [f"- **{grant.name}**{ref} — " + " ; ".join(facts).rstrip(".") + "."]
    lines.append(f"  Lien : {grant.application_url or grant.url}")
    why = " ".join(grant.verdict.reasons)
    lines.append(f"  Éligibilité : {_STATUS[grant.verdict.status]}" + (f" — {why}" if why else ""))
    return lines


def excluded_lines(results: AideResults) -> list[str]:
    """Every aid left out, named, with why the commune cannot claim it."""
    n = len(results.excluded)
    who = results.commune.name if results.commune else "la commune"
    head = (
        f"1 aide écartée, que {who} ne peut pas demander :"
        if n == 1
        else f"{n} aides écartées, que {who} ne peut pas demander :"
    )
    return [head, *(f"- {name} — {why}" for name, why in results.excluded)]


def format_aides(results: AideResults, *, first_n: int = 1) -> str:
    """The answer to « quelles aides pour … ? » as a French list (citations numbered from
    `first_n`)."""
    who = f" pour {results.commune.name}" if results.commune else ""
    if not results.aides:
        text = (
            f"Je n'ai pas trouvé d'aide ouverte{who} correspondant à ce projet dans le "
            "catalogue (aides-territoires et programmes nationaux)."
        )
    else:
        lines = [f"Aides ouvertes au {results.filters.day:%d/%m/%Y}{who} :"]
        for i, grant in enumerate(results.aides):
            lines += aide_lines(grant, first_n + i)
        text = "\n".join(lines)
    if results.excluded:
        text += "\n\n" + "\n".join(excluded_lines(results))
    if results.commune is None:
        text += (
            "\n\nChoisissez votre commune pour que l'éligibilité (population, territoire, "
            "zonages) soit vérifiée."
        )
    return text


@dataclass(frozen=True)
class Deadlines:
    """The aids of a commune closing within `within_days` days: a section of the watch digest."""

    within_days: int
    results: AideResults

    @property
    def title(self) -> str:
        who = f" ({self.results.commune.name})" if self.results.commune else ""
        return f"Aides qui ferment dans les {self.within_days} prochains jours{who}"

    def lines(self) -> list[str]:
        if not self.results.aides:
            return ["Aucune aide du catalogue ne ferme sur cette période."]
        return [line for grant in self.results.aides for line in aide_lines(grant)]

    def as_dict(self) -> dict[str, Any]:
        return {"within_days": self.within_days, **self.results.as_dict()}


def deadlines(
    retriever: Retriever, commune: CommuneProfile | None, within_days: int, on: date | None = None
) -> Deadlines:
    return Deadlines(within_days, closing_soon(retriever, commune, within_days, on=on))


_THIN = "\u202f"  # narrow no-break space: French thousands separator, before % and €


def _group(whole: int) -> str:
    return f"{whole:,}".replace(",", _THIN)


def euros(amount: Decimal) -> str:
    """ "18 400 €" (narrow no-break spaces), to the euro."""
    return f"{_group(int(amount.quantize(Decimal(1), ROUND_HALF_UP)))}\u00a0€"


def percent(rate: Decimal) -> str:
    """0.35 → "35 %"."""
    return f"{int((rate * 100).quantize(Decimal(1), ROUND_HALF_UP))}{_THIN}%"


def _example_line(e: Example) -> str:
    who = ", ".join(str(x) for x in (e.beneficiary, e.year, e.programme) if x)
    line = f"- {e.project} ({who}) : {euros(e.subsidy)}"
    if e.cost is not None:
        line += f" pour {euros(e.cost)} HT"
    if e.rate is not None:
        line += f" ({percent(e.rate)})"
    return line


def format_report(report: PrecedentReport) -> str:
    """A short French answer: the figures, a few examples, the lists they come from."""
    if report.count == 0:
        return report.message
    plural = "s" if report.count > 1 else ""
    programmes = ", ".join(f"{name} {n}" for name, n in report.by_programme.items())
    parts = [f"{report.count} projet{plural} comparable{plural} financé{plural} ({programmes})"]
    if report.median_subsidy is not None:
        parts.append(f"subvention médiane {euros(report.median_subsidy)}")
    if report.median_rate is not None:
        parts.append(
            f"taux médian {percent(report.median_rate)} du coût HT "
            f"(sur {report.rated} projet{'s' if report.rated > 1 else ''} au coût connu)"
        )
    else:
        parts.append("taux non calculable (coût des projets non publié)")
    parts.append(f"total {euros(report.total_subsidy)}")
    lines = [" ; ".join(parts) + "."]
    if report.examples:
        lines.append("Exemples :")
        lines.extend(_example_line(e) for e in report.examples)
    lines.append("Sources : " + " ; ".join(d.label for d in report.datasets) + ".")
    return "\n".join(lines)
