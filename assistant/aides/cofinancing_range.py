"""What a « Territoires d'IA » request may get when some of its conditions are not known
(« combien au maximum ? », or a question that says nothing of mutualisation, territory or
IA frugale): the grant on what is stated, the most it may reach, and the conditions that
lead there, each named. The rules and the arithmetic are the calculator's
(`assistant.aides.cofinancing`); nothing here assumes a condition silently.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from assistant.aides.cofinancing import (
    BASE_RATE,
    BONUS_POINTS,
    CAP,
    MANY_LICENCES,
    MUTUALISED_OTHERS,
    MUTUALISED_SHARE,
    QPV_SHARE,
    RAISED_BASE_RATE,
    CofinancingRequest,
    CofinancingResult,
    compute_cofinancing,
    euros,
    grant_at,
    percent,
)

Condition = Literal["mutualisation", "licences", "territoires_fragiles", "ia_frugale"]
CONDITIONS: tuple[Condition, ...] = (
    "mutualisation",
    "licences",
    "territoires_fragiles",
    "ia_frugale",
)
# the request's fields that state each condition (an API body's or a command's options)
CONDITION_FIELDS: dict[Condition, tuple[str, ...]] = {
    "mutualisation": ("other_beneficiaries", "applicant_share"),
    "licences": ("licence_count",),
    "territoires_fragiles": ("outre_mer", "action_coeur_de_ville", "qpv_share"),
    "ia_frugale": ("ia_frugale",),
}
_COUNT = {1: "une", 2: "deux", 3: "trois"}


def unknown_conditions(given: Collection[str]) -> frozenset[Condition]:
    """The conditions none of whose fields was given."""
    return frozenset(c for c, fields in CONDITION_FIELDS.items() if not set(fields) & set(given))


def incomplete_mutualisation(req: CofinancingRequest) -> bool:
    """Enough partners but the applicant's share untold: mutualised only if it is ≥ 10 %."""
    return req.other_beneficiaries >= MUTUALISED_OTHERS and req.applicant_share is None


@dataclass(frozen=True)
class Lever:
    """A condition that, when met, raises the rate."""

    key: str
    label: str
    points: int
    condition: str  # what it takes, after « si »

    @property
    def text(self) -> str:
        if self.key == "taux_de_base_40":
            return f"{self.label} au lieu de {BASE_RATE} % si {self.condition}"
        return f"+{self.points} points « {self.label} » si {self.condition}"

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "label": self.label,
            "points": self.points,
            "condition": self.condition,
        }


_MUTUALISED = (
    f"la demande est mutualisée (au moins {MUTUALISED_OTHERS} autres bénéficiaires éligibles, "
    f"le porteur supportant au moins {percent(MUTUALISED_SHARE)} des dépenses éligibles)"
)
_FRAGILE = Lever(
    "territoires_fragiles",
    "territoires fragiles",
    BONUS_POINTS,
    "la commune est en outre-mer, labellisée Action Cœur de Ville ou compte au moins "
    f"{percent(QPV_SHARE)} de sa population en QPV",
)
_FRUGAL = Lever(
    "ia_frugale", "IA frugale", BONUS_POINTS, "la solution retenue relève de l'IA frugale"
)


def _levers(
    req: CofinancingRequest, base: CofinancingResult, unknown: frozenset[Condition]
) -> list[Lever]:
    if base.eligible_total == 0:
        return []
    ways = []
    if incomplete_mutualisation(req):
        ways.append(
            f"le porteur supporte au moins {percent(MUTUALISED_SHARE)} des dépenses éligibles "
            f"(demande alors mutualisée avec {req.other_beneficiaries} autres bénéficiaires)"
        )
    elif "mutualisation" in unknown:
        ways.append(_MUTUALISED)
    if "licences" in unknown:
        ways.append(f"la demande porte sur {MANY_LICENCES} licences ou plus")
    levers = []
    if base.base_rate < RAISED_BASE_RATE and ways:
        condition = ways[0] + "".join(
            " ou si " + w.replace("la demande", "elle", 1) for w in ways[1:]
        )
        levers.append(
            Lever(
                "taux_de_base_40",
                f"taux de base de {RAISED_BASE_RATE} %",
                RAISED_BASE_RATE - base.base_rate,
                condition,
            )
        )
    if "territoires_fragiles" in unknown and not any(
        label.startswith("territoires fragiles") for label, _ in base.bonuses
    ):
        levers.append(_FRAGILE)
    if "ia_frugale" in unknown and not req.ia_frugale:
        levers.append(_FRUGAL)
    return levers if base.rate < CAP else []


@dataclass(frozen=True)
class CofinancingRange:
    """The grant on the stated conditions (`base`) and, when levers remain, the most it
    may reach: the rate steps one lever after another, capped at 50 %."""

    base: CofinancingResult
    levers: list[Lever]

    @property
    def steps(self) -> list[tuple[int, Decimal]]:
        """(rate, grant) with one more lever each time, until the cap: the fewest levers."""
        rate, steps = self.base.rate, []
        for points in sorted((lever.points for lever in self.levers), reverse=True):
            if rate >= CAP:
                break
            rate = min(CAP, rate + points)
            steps.append((rate, grant_at(self.base.eligible_total, rate)))
        return steps

    @property
    def rate(self) -> int:
        return self.steps[-1][0] if self.levers else self.base.rate

    @property
    def grant(self) -> Decimal:
        return self.steps[-1][1] if self.levers else self.base.grant

    @property
    def capped(self) -> bool:
        return self.base.rate + sum(lever.points for lever in self.levers) > CAP

    def _stated(self) -> tuple[str, str]:
        """What the stated conditions give, and how to title its detail."""
        base = self.base
        reasons = [base.base_reason] if base.base_rate > BASE_RATE else []
        reasons += [label for label, _ in base.bonuses]
        rate = (
            f"au taux de {base.rate} % ({', '.join(reasons)})"
            if reasons
            else (f"au taux de base de {base.rate} %")
        )
        cut = base.eligible_deployment < base.request.deployment_amount
        line = (
            f"{euros(base.grant)} {rate} des {euros(base.eligible_total)} de dépenses éligibles "
            f"({euros(base.eligible_licences)} de licences + {euros(base.eligible_deployment)} "
            f"de déploiement{', plafonné au montant des licences' if cut else ''})."
        )
        if reasons:
            return f"Avec les conditions indiquées : {line}", "avec les conditions indiquées"
        return f"Sans autre condition : {line}", "sans autre condition"

    def explain(self) -> str:
        if not self.levers:
            return self.base.explain()
        steps, n = self.steps, len(self.levers)
        if n == 1:
            how = "si la condition suivante est remplie"
        elif len(steps) == 1:
            how = f"avec l'une des {_COUNT[n]} conditions suivantes"
        elif len(steps) == n:
            how = f"en réunissant les {_COUNT[n]} conditions suivantes"
        else:
            how = f"en réunissant {_COUNT[len(steps)]} des {_COUNT[n]} conditions suivantes"
        fewer = [f"{euros(g)}, soit {r} %, avec {_COUNT[k]}" for k, (r, g) in enumerate(steps, 1)]
        if len(fewer) > 1:
            how += f" ({' ; '.join(fewer[:-1])} seule)"
        stated, detail = self._stated()
        lines = [
            "Selon les conditions remplies, le cofinancement va de "
            f"{euros(self.base.grant)} à {euros(self.grant)}.",
            stated,
            f"Au maximum : {euros(self.grant)} ({self.rate} %"
            f"{', le plafond' if self.rate == CAP else ''}), {how} :",
            *[f"- {lever.text}{' ;' if i < n else '.'}" for i, lever in enumerate(self.levers, 1)],
        ]
        if self.capped:
            lines.append(f"Le taux est plafonné à {CAP} % : une condition de plus n'ajoute rien.")
        lines += ["", f"Détail du calcul {detail} :", self.base.explain()]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        """The calculator's fields for the stated conditions, and `maximum` (None when no
        condition left open can raise the rate)."""
        maximum = None
        if self.levers:
            maximum = {
                "rate": self.rate,
                "grant": str(self.grant),
                "capped": self.capped,
                "conditions_needed": len(self.steps),
                "conditions": [lever.as_dict() for lever in self.levers],
                "steps": [{"rate": r, "grant": str(g)} for r, g in self.steps],
            }
        return {**self.base.as_dict(), "explanation": self.explain(), "maximum": maximum}


def compute_range(req: CofinancingRequest, unknown: Collection[Condition] = ()) -> CofinancingRange:
    """The grant on what `req` states, and how far the `unknown` conditions may raise it
    (a mutualisation whose applicant's share is untold is always one of them)."""
    base = compute_cofinancing(req)
    return CofinancingRange(base, _levers(req, base, frozenset(unknown)))
