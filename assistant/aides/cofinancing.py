"""The « Territoires d'IA » cofinancing calculator (Banque des Territoires, guichet de
cofinancement, rules of May 2026). Pure and exact: money is `Decimal`, rounded to the
cent half-up; no I/O, so the API, the CLI and the assistant share one answer.

Rules: licences make at least half of the eligible expenses, deployment / integration /
training at most half (so eligible deployment = min(deployment, licences)); base rate 40 %
when the request is mutualised (three other beneficiaries or more, the applicant carrying
at least 10 %) or covers 500 licences or more, else 30 %; +10 points « territoires
fragiles », +10 points « IA frugale »; capped at 50 %; one year of access; paid half at
signature, half on the paid invoice; only purchases made from the approval date on.
When some conditions are not known, `assistant.aides.cofinancing_range` gives the grant on
what is stated and the most the others may add, each named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from plume.errors import InvalidCofinancingRequest

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
BASE_RATE = 30
RAISED_BASE_RATE = 40  # mutualised, or 500 licences or more
BONUS_POINTS = 10  # « territoires fragiles », « IA frugale »
CAP = 50
MUTUALISED_OTHERS = 3
MUTUALISED_SHARE = Decimal("0.10")
MANY_LICENCES = 500
QPV_SHARE = Decimal("0.40")
DURATION = "1 an d'accès"
MAX_AMOUNT = Decimal(10**9)  # a billion euros: far above any request, within exact cents


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def euros(value: Decimal) -> str:
    """French display: 1 000,50 €."""
    return f"{cents(value):,.2f} €".replace(",", " ").replace(".", ",")


def percent(share: Decimal) -> str:
    """0.4 → « 40 % »."""
    return f"{(share * HUNDRED).normalize():f} %".replace(".", ",")


def grant_at(eligible: Decimal, rate: int) -> Decimal:
    """The grant at `rate` % of the eligible expenses, to the cent."""
    return cents(eligible * Decimal(rate) / HUNDRED)


def parse_decimal(text: str, what: str) -> Decimal:
    """A number typed by a person (« 1 000,50 » or « 1000.50 ») → Decimal, or a French error."""
    try:
        value = Decimal(text.replace(" ", "").replace("\u202f", "").replace(",", "."))
    except InvalidOperation as exc:
        raise InvalidCofinancingRequest(f"{what} : « {text} » n'est pas un nombre.") from exc
    return value


def parse_date(text: str | None, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidCofinancingRequest(
            f"{what} : « {text} » n'est pas une date AAAA-MM-JJ."
        ) from exc


@dataclass(frozen=True)
class CofinancingRequest:
    licences_amount: Decimal
    deployment_amount: Decimal = Decimal(0)
    licence_count: int = 0
    other_beneficiaries: int = 0
    applicant_share: Decimal | None = None  # of the eligible expenses; matters when mutualised
    outre_mer: bool = False
    action_coeur_de_ville: bool = False
    qpv_share: Decimal = Decimal(0)
    ia_frugale: bool = False
    purchase_date: date | None = None
    approval_date: date | None = None


@dataclass(frozen=True)
class Cut:
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class CofinancingResult:
    request: CofinancingRequest
    eligible_licences: Decimal
    eligible_deployment: Decimal
    ineligible: list[Cut]
    base_rate: int
    base_reason: str
    bonuses: list[tuple[str, int]]
    rate: int
    capped: bool
    grant: Decimal
    grant_licences: Decimal
    grant_deployment: Decimal
    payment_signature: Decimal
    payment_invoice: Decimal
    duration: str = DURATION
    warnings: list[str] = field(default_factory=list)

    @property
    def eligible_total(self) -> Decimal:
        return self.eligible_licences + self.eligible_deployment

    def explain(self) -> str:
        req = self.request
        lines = [
            f"Licences demandées : {euros(req.licences_amount)} ; déploiement, intégration "
            f"et formation demandés : {euros(req.deployment_amount)}.",
            f"Dépenses éligibles : {euros(self.eligible_licences)} de licences + "
            f"{euros(self.eligible_deployment)} de déploiement = {euros(self.eligible_total)}.",
        ]
        lines += [f"Non éligible : {euros(c.amount)} — {c.reason}." for c in self.ineligible]
        lines.append(f"Taux de base : {self.base_rate} % ({self.base_reason}).")
        lines += [f"Bonification « {label} » : +{pts} points." for label, pts in self.bonuses]
        raw = self.base_rate + sum(p for _, p in self.bonuses)
        lines.append(
            f"Taux retenu : {self.rate} % (plafonné à {CAP} % au lieu de {raw} %)."
            if self.capped
            else f"Taux retenu : {self.rate} %."
        )
        lines.append(
            f"Subvention : {self.rate} % × {euros(self.eligible_total)} = {euros(self.grant)} "
            f"({euros(self.grant_licences)} sur les licences, "
            f"{euros(self.grant_deployment)} sur le déploiement)."
        )
        lines.append(
            f"Versement : {euros(self.payment_signature)} à la signature, "
            f"{euros(self.payment_invoice)} sur facture acquittée ; durée : {self.duration}."
        )
        lines += [f"Attention : {w}" for w in self.warnings]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        money = {
            "eligible_licences": self.eligible_licences,
            "eligible_deployment": self.eligible_deployment,
            "eligible_total": self.eligible_total,
            "grant": self.grant,
            "grant_licences": self.grant_licences,
            "grant_deployment": self.grant_deployment,
        }
        return {
            **{k: str(cents(v)) for k, v in money.items()},
            "ineligible": [
                {"amount": str(cents(c.amount)), "reason": c.reason} for c in self.ineligible
            ],
            "base_rate": self.base_rate,
            "base_reason": self.base_reason,
            "bonuses": [{"label": label, "points": pts} for label, pts in self.bonuses],
            "rate": self.rate,
            "capped": self.capped,
            "payments": [
                {"when": "à la signature", "amount": str(self.payment_signature)},
                {"when": "sur facture acquittée", "amount": str(self.payment_invoice)},
            ],
            "duration": self.duration,
            "warnings": list(self.warnings),
            "explanation": self.explain(),
        }


def _check(req: CofinancingRequest) -> None:
    for what, amount in (
        ("Montant des licences", req.licences_amount),
        ("Montant du déploiement", req.deployment_amount),
    ):
        if not amount.is_finite() or amount < 0:
            raise InvalidCofinancingRequest(f"{what} : un montant positif ou nul est attendu.")
        if amount > MAX_AMOUNT:
            raise InvalidCofinancingRequest(
                f"{what} : au plus {euros(MAX_AMOUNT)} ; vérifiez le montant saisi."
            )
        if amount != cents(amount):
            raise InvalidCofinancingRequest(f"{what} : indiquez le montant au centime près.")
    if req.licence_count < 0 or req.other_beneficiaries < 0:
        raise InvalidCofinancingRequest(
            "Le nombre de licences et le nombre d'autres bénéficiaires doivent être positifs."
        )
    for what, share in (
        ("La part du porteur", req.applicant_share),
        ("La part en QPV", req.qpv_share),
    ):
        if share is not None and (not share.is_finite() or not 0 <= share <= 1):
            raise InvalidCofinancingRequest(f"{what} doit être une fraction entre 0 et 1.")
    if req.deployment_amount > 0 and req.licences_amount == 0:
        raise InvalidCofinancingRequest(
            "Les licences sont obligatoires : le déploiement seul n'est pas éligible."
        )


def _base_rate(req: CofinancingRequest, warnings: list[str]) -> tuple[int, str]:
    share = req.applicant_share
    if req.other_beneficiaries >= MUTUALISED_OTHERS:
        if share is not None and share >= MUTUALISED_SHARE:
            return RAISED_BASE_RATE, "mutualisée"
        warnings.append(
            "Demande non mutualisée : le porteur doit supporter au moins 10 % des dépenses "
            "éligibles"
            + (" (part non indiquée)." if share is None else f" (part : {percent(share)}).")
        )
    if req.licence_count >= MANY_LICENCES:
        return RAISED_BASE_RATE, "500 licences ou plus"
    return BASE_RATE, "taux de base"


def _bonuses(req: CofinancingRequest) -> list[tuple[str, int]]:
    fragile = [
        reason
        for reason, applies in (
            ("outre-mer", req.outre_mer),
            ("Action Cœur de Ville", req.action_coeur_de_ville),
            ("au moins 40 % de la population en QPV", req.qpv_share >= QPV_SHARE),
        )
        if applies
    ]
    bonuses = [(f"territoires fragiles : {', '.join(fragile)}", BONUS_POINTS)] if fragile else []
    return bonuses + ([("IA frugale", BONUS_POINTS)] if req.ia_frugale else [])


def compute_cofinancing(req: CofinancingRequest) -> CofinancingResult:
    """The grant for one request, every step kept for `explain()`."""
    _check(req)
    warnings: list[str] = []
    licences, deployment = req.licences_amount, min(req.deployment_amount, req.licences_amount)
    cuts = []
    if deployment < req.deployment_amount:
        cuts.append(
            Cut(
                req.deployment_amount - deployment,
                "le déploiement, l'intégration et la formation sont plafonnés à 50 % "
                "des dépenses éligibles, soit le montant des licences",
            )
        )
    if req.purchase_date and req.approval_date and req.purchase_date < req.approval_date:
        when = f"{req.purchase_date:%d/%m/%Y}, avant l'accord du {req.approval_date:%d/%m/%Y}"
        cuts.append(Cut(licences + deployment, f"achat effectué le {when}"))
        warnings.append(
            f"Achat effectué le {when} : seuls les achats postérieurs à l'accord "
            "sont éligibles, la subvention est nulle."
        )
        licences = deployment = Decimal(0)
    elif req.purchase_date and not req.approval_date:
        warnings.append("Seuls les achats effectués après l'accord sont éligibles.")
    base_rate, base_reason = _base_rate(req, warnings)
    bonuses = _bonuses(req)
    raw = base_rate + sum(points for _, points in bonuses)
    rate = min(raw, CAP)
    fraction = Decimal(rate) / HUNDRED
    grant = grant_at(licences + deployment, rate)
    grant_licences = cents(licences * fraction)  # the cent of rounding goes to deployment
    signature = cents(grant / 2)
    return CofinancingResult(
        request=req,
        eligible_licences=licences,
        eligible_deployment=deployment,
        ineligible=cuts,
        base_rate=base_rate,
        base_reason=base_reason,
        bonuses=bonuses,
        rate=rate,
        capped=raw > CAP,
        grant=grant,
        grant_licences=grant_licences,
        grant_deployment=grant - grant_licences,
        payment_signature=signature,
        payment_invoice=grant - signature,
        warnings=warnings,
    )
