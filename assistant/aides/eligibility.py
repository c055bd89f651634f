"""Can this commune apply for this aid? A verdict from an aid chunk's payload and the
commune's profile, with its reasons in French.

Two kinds of payload: a national programme (`programme` and structured `rules` from
`corpus/programmes.toml`) and an aides-territoires aid (beneficiaries, perimeter,
deadline). What the data decides is decided; anything else is « à vérifier », with the
reason, never guessed:

- deadline passed → non éligible (« clôturée le … »); a pre-deposit date → a caveat;
- beneficiaries without « Communes » → non éligible; none given → à vérifier;
- perimeter: a territory containing the commune → fine; another département, region or
  France métropolitaine / Outre-mer → non éligible; any other name → à vérifier; none
  given, but every funder the council (or land agency) of one département or region →
  the funder's territory decides;
- programme rules: zones, population thresholds (eligible outright, « à vérifier » band,
  above), required or excluded flags (QPV, Action cœur de ville, rural, outre-mer) and
  the notes the data cannot decide (always « à vérifier »);
- no profile → à vérifier (« choisissez une commune »).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from assistant.aides.territories import KNOWN_TERRITORIES, funder_territories
from assistant.communes import CommuneProfile, perimeter_key

Status = Literal["eligible", "non_eligible", "a_verifier"]
ASK_FUNDER = "à vérifier auprès du financeur"
LABELS: dict[Status, str] = {
    "eligible": "Éligible",
    "non_eligible": "Non éligible",
    "a_verifier": "À vérifier",
}
# A threshold on the DGF population (CGCT L2334-2: total population plus one inhabitant per
# secondary home…) is compared with the profile's INSEE population, which is lower: within
# this margin below the threshold the commune may already be above it.
DGF_MARGIN = 0.10
_DROM = ("971", "972", "973", "974", "976")
_COMMUNES = perimeter_key("Communes")

_FLAG_LABELS = {
    "qpv": "habitants en quartier prioritaire de la politique de la ville (QPV)",
    "action_coeur_de_ville": "programme Action cœur de ville",
    "rural": "commune rurale (grille communale de densité de l'INSEE)",
    "outre_mer": "commune d'outre-mer",
}


@dataclass(frozen=True)
class Verdict:
    status: Status
    reasons: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return LABELS[self.status]

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "label": self.label, "reasons": list(self.reasons)}


@dataclass
class _Assessment:
    """Reasons in the order found; the worst finding sets the status."""

    reasons: list[str] = field(default_factory=list)
    blocked: bool = False
    doubtful: bool = False

    def ok(self, reason: str) -> None:
        self.reasons.append(reason)

    def doubt(self, reason: str) -> None:
        self.doubtful = True
        self.reasons.append(reason)

    def block(self, reason: str) -> None:
        self.blocked = True
        self.reasons.append(reason)

    def verdict(self) -> Verdict:
        status: Status = (
            "non_eligible" if self.blocked else "a_verifier" if self.doubtful else "eligible"
        )
        return Verdict(status, tuple(self.reasons))


def number(n: int) -> str:
    """French display: 3 913."""
    return f"{n:,}".replace(",", " ")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, Sequence):
        return [str(v) for v in value if str(v).strip()]
    return []


def _dates(payload: Mapping[str, Any], on: date, check: _Assessment) -> None:
    deadline = payload.get("deadline")
    if deadline:
        try:
            closing = date.fromisoformat(str(deadline)[:10])
        except ValueError:
            check.doubt(f"Date de clôture illisible (« {deadline} ») — {ASK_FUNDER}.")
        else:
            when = closing.strftime("%d/%m/%Y")
            if closing < on:
                check.block(f"Aide clôturée le {when}.")
            else:
                check.ok(f"Date limite de dépôt : {when}.")
    predeposit = payload.get("predeposit_date")
    if predeposit:
        try:
            day = date.fromisoformat(str(predeposit)[:10])
        except ValueError:
            check.doubt(f"Date de pré-dépôt illisible (« {predeposit} ») — {ASK_FUNDER}.")
            return
        when = day.strftime("%d/%m/%Y")
        if day < on:
            check.doubt(
                f"Pré-dépôt du dossier demandé avant le {when}, date passée — {ASK_FUNDER}."
            )
        else:
            check.ok(f"Attention : un pré-dépôt du dossier est demandé avant le {when}.")


def _beneficiaries(payload: Mapping[str, Any], check: _Assessment) -> None:
    audiences = _strings(payload.get("beneficiaries"))
    if not audiences:
        check.doubt(f"Bénéficiaires non précisés — {ASK_FUNDER}.")
    elif _COMMUNES not in {perimeter_key(a) for a in audiences}:
        check.block(
            f"Aide réservée à : {', '.join(audiences)} ; les communes n'en bénéficient pas."
        )


def _perimeter_from_funders(
    payload: Mapping[str, Any], profile: CommuneProfile, check: _Assessment
) -> bool:
    """An aid without a perimeter whose funders are all the département or region of
    another territory is not for the commune; one of its own territory is. True when the
    funders decided."""
    funders = _strings(payload.get("funders"))
    places = funder_territories(funders)
    if not places or any(p is None for p in places):
        return False
    own = set(profile.perimeter_keys())
    if any(p in own for p in places):
        check.ok(f"Financeur de son territoire ({', '.join(funders)}) : territoire déduit.")
    else:
        check.block(f"Financé par {', '.join(funders)} : aide d'un autre territoire.")
    return True


def _perimeter(payload: Mapping[str, Any], profile: CommuneProfile, check: _Assessment) -> None:
    perimeter = str(payload.get("perimeter") or "").strip()
    if not perimeter:
        if not _perimeter_from_funders(payload, profile, check):
            check.doubt(f"Territoire de l'aide non précisé — {ASK_FUNDER}.")
        return
    key = perimeter_key(perimeter)
    if key in profile.perimeter_keys():
        check.ok(f"Territoire « {perimeter} » : {profile.name} en fait partie.")
    elif key in KNOWN_TERRITORIES:
        check.block(f"Aide réservée au territoire « {perimeter} », hors de {profile.name}.")
    else:
        check.doubt(
            f"Territoire « {perimeter} » : appartenance de {profile.name} non vérifiable "
            f"— {ASK_FUNDER}."
        )


def _zone(rules: Mapping[str, Any], profile: CommuneProfile, check: _Assessment) -> None:
    zones = _strings(rules.get("zones"))
    if not zones:
        return
    if profile.outre_mer and profile.departement not in _DROM:
        check.doubt(
            f"Collectivité d'outre-mer à statut particulier : règles propres — {ASK_FUNDER}."
        )
    elif (zone := "drom" if profile.outre_mer else "metro") not in zones:
        where = "départements d'outre-mer" if zone == "metro" else "communes de métropole"
        check.block(f"Programme réservé aux {where}.")


def _population(rules: Mapping[str, Any], profile: CommuneProfile, check: _Assessment) -> None:
    def rule(name: str) -> int | None:
        value = rules.get(f"{name}_outre_mer") if profile.outre_mer else None
        value = rules.get(name) if value is None else value
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    n, dgf = profile.population, rules.get("population_basis") == "DGF"
    low, high, review = (
        rule("population_min"),
        rule("population_max"),
        rule("population_review_max"),
    )
    who = f"Commune de {number(n)} habitants"
    dgf_note = (
        "seuil apprécié en population DGF, qui ajoute à la population totale un habitant "
        "par résidence secondaire"
    )
    if low is not None and n < low:
        if dgf:
            check.doubt(f"{who} : sous le seuil de {number(low)}, mais {dgf_note} — {ASK_FUNDER}.")
        else:
            check.block(f"{who} : sous le seuil de {number(low)} habitants.")
        return
    if high is not None and n <= high:
        if dgf and n > high * (1 - DGF_MARGIN):
            check.doubt(f"{who}, proche du seuil de {number(high)} : {dgf_note} — {ASK_FUNDER}.")
        elif dgf:
            check.ok(f"{who} : sous le seuil de {number(high)} ; {dgf_note}.")
        else:
            check.ok(f"{who} : sous le seuil de {number(high)}.")
        return
    why = str(rules.get("review_reason") or f"éligibilité {ASK_FUNDER}")
    if review is not None and n <= review:
        if high is not None:
            check.doubt(f"{who} : au-delà de {number(high)}, {why}.")
        else:
            check.doubt(f"{who} (plafond du programme : {number(review)}) : {why}.")
    elif review is not None or high is not None:
        check.block(f"{who} : au-delà du seuil de {number(max(review or 0, high or 0))}.")


def _flag(profile: CommuneProfile, flag: str) -> bool | None:
    if flag == "qpv":
        return None if profile.qpv_share is None else profile.qpv_share > 0
    if flag == "rural":
        return profile.rural
    if flag == "outre_mer":
        return profile.outre_mer
    if flag == "action_coeur_de_ville":
        return profile.action_coeur_de_ville
    return None


def _flags(rules: Mapping[str, Any], profile: CommuneProfile, check: _Assessment) -> None:
    for wanted, flags in ((True, rules.get("requires")), (False, rules.get("excludes"))):
        for flag in _strings(flags):
            label = _FLAG_LABELS.get(flag, flag)
            value = _flag(profile, flag)
            if value is None:
                check.doubt(
                    f"Condition « {label} » : inconnue dans le profil de la commune "
                    f"(à renseigner) — {ASK_FUNDER}."
                )
            elif wanted:
                if value:
                    check.ok(f"Condition « {label} » : remplie.")
                else:
                    check.block(f"Condition « {label} » : non remplie.")
            elif value:
                check.block(f"Cas exclu de ce programme : « {label} ».")
            else:
                check.ok(f"Exclusion « {label} » : ne s'applique pas.")


def _programme(rules: Mapping[str, Any], profile: CommuneProfile, check: _Assessment) -> None:
    _zone(rules, profile, check)
    _population(rules, profile, check)
    _flags(rules, profile, check)
    for note in _strings(rules.get("notes")):
        check.doubt(f"{note[0].upper()}{note[1:]} — {ASK_FUNDER}.")


def assess(payload: Mapping[str, Any], profile: CommuneProfile | None, on: date) -> Verdict:
    """The verdict for one aid (a chunk's payload) and one commune, on a given day."""
    check = _Assessment()
    _dates(payload, on, check)
    _beneficiaries(payload, check)
    if profile is None:
        check.doubt("Aucune commune choisie : choisissez une commune pour vérifier l'éligibilité.")
        return check.verdict()
    _perimeter(payload, profile, check)
    rules = payload.get("rules")
    if isinstance(rules, Mapping):
        _programme(rules, profile, check)
    return check.verdict()
