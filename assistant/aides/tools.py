"""The computations the assistant may call: the Territoires d'IA cofinancing calculator.

With a model, the calculator is offered to Mistral as a tool (function calling): the
model reads the question and chooses the arguments; Plume runs `compute_cofinancing`
and writes the answer from its exact result, so no figure is the model's. Without a
model (or when it calls no tool), `request_from_question` reads the same arguments from
the question's words. Either way, flags the question does not state come from the
commune's profile (outre-mer, Action Cœur de Ville, share of population in QPV).

Whether the answer is one exact figure or the range with its conditions is read from the
question's words in both modes (`conditions_in`): a question that asks for the most
(« au maximum », « jusqu'à combien », « plafond »…) or states no condition gets the range;
one that states its conditions gets the figure on what it says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from assistant.aides.cofinancing import CofinancingRequest
from assistant.aides.cofinancing_range import CONDITIONS, Condition
from assistant.communes import CommuneProfile
from plume.errors import InvalidCofinancingRequest
from plume.text import fold_accents

TOOL_NAME = "calculer_cofinancement"


def calculer_cofinancement(
    licences_amount: float,
    deployment_amount: float = 0,
    licence_count: int = 0,
    other_beneficiaries: int = 0,
    applicant_share: float | None = None,
    ia_frugale: bool = False,
    outre_mer: bool = False,
    action_coeur_de_ville: bool = False,
    qpv_share: float = 0,
) -> str:
    """Calcule le cofinancement « Territoires d'IA » (Banque des Territoires, guichet de
    cofinancement, règles de mai 2026) d'une demande : dépenses éligibles, taux, montant.
    licences_amount : montant des licences en euros HT ; deployment_amount : déploiement,
    intégration et formation en euros ; licence_count : nombre de licences ;
    other_beneficiaries : nombre de bénéficiaires éligibles associés, porteur exclu ;
    applicant_share : part (0 à 1) des dépenses portée par le porteur ; ia_frugale : la
    solution est labellisée IA frugale ; outre_mer, action_coeur_de_ville : la commune
    l'est ; qpv_share : part (0 à 1) de la population en quartier prioritaire. Ne donnez
    une condition que si la question la dit : Plume indique lui-même le maximum possible
    et les conditions pour l'atteindre quand elles manquent."""
    return "computed by Plume"  # the schema is what matters: Plume runs the calculator


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise InvalidCofinancingRequest(f"{what} : « {value} » n'est pas un nombre.") from exc
    return number


def request_from_arguments(
    args: Mapping[str, Any], commune: CommuneProfile | None = None
) -> CofinancingRequest:
    """The tool call's arguments (from the model: checked like any input) → a request."""
    share = args.get("applicant_share")
    qpv = args.get("qpv_share") or 0
    if commune is not None and commune.qpv_share is not None and not qpv:
        qpv = commune.qpv_share
    return CofinancingRequest(
        licences_amount=_decimal(args.get("licences_amount", 0), "Montant des licences"),
        deployment_amount=_decimal(args.get("deployment_amount") or 0, "Montant du déploiement"),
        licence_count=int(args.get("licence_count") or 0),
        other_beneficiaries=int(args.get("other_beneficiaries") or 0),
        applicant_share=None if share is None else _decimal(share, "Part du porteur"),
        ia_frugale=bool(args.get("ia_frugale")),
        outre_mer=bool(args.get("outre_mer")) or bool(commune and commune.outre_mer),
        action_coeur_de_ville=bool(args.get("action_coeur_de_ville"))
        or bool(commune and commune.action_coeur_de_ville),
        qpv_share=_decimal(qpv, "Part en QPV"),
    )


# --- the same arguments, read from the question (extractive mode) -------------------------

_NUMBER = r"(\d{1,3}(?:[ \u00a0\u202f.]\d{3})+|\d+)(?:,(\d{1,2}))?"
_AMOUNT = re.compile(_NUMBER + r"\s*(k ?€|k ?euros?|€|euros?)")
_LICENCE_COUNT = re.compile(_NUMBER + r"\s+(?:licences?|postes?|utilisateurs?|agents?)\b")
_WORDS = {"une": 1, "un": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6}
_WORDS |= {"sept": 7, "huit": 8}
_COUNT = r"(\d+|une?|deux|trois|quatre|cinq|six|sept|huit)"
_PARTNER = r"(?:communes?|beneficiaires?|collectivites?|partenaires?|mairies?|epci)"
_PARTNERS = re.compile(rf"{_COUNT}\s+autres?\s+{_PARTNER}|\bavec\s+{_COUNT}\s+{_PARTNER}")
_AMONG = re.compile(rf"\bentre\s+{_COUNT}\s+{_PARTNER}")  # the applicant among them
_MUTUALISED = re.compile(r"\bmutualis|\bgroupement\b|\bachat group")
_ALONE = re.compile(
    r"\b(?:commune|mairie|nous|toute?s?) seule?s?\b|\bsans (?:partenaires?|mutualisation)\b"
)
_SHARE = re.compile(
    r"\b(?:port\w*|notre part\D{0,12}|part du porteur\D{0,6}|prenons en charge|financons)"
    r"\s+(\d{1,3}(?:,\d+)?)\s*%"
)
_QPV = re.compile(
    r"(\d{1,3}(?:,\d+)?)\s*%[^.;]{0,40}\bqpv\b|\bqpv\b[^.;]{0,40}?(\d{1,3}(?:,\d+)?)\s*%"
)
_OVERSEAS = re.compile(r"\boutre-? ?mer\b|\b(?:drom?|guadeloupe|martinique|guyane|mayotte)\b")
_COEUR_DE_VILLE = re.compile(r"\bc(?:oe|œ)ur de ville\b")
_FRAGILE = re.compile(r"\bqpv\b|\bquartiers? prioritaires?|\bterritoires? fragiles?")
_FRUGAL = re.compile(r"\bfrugal")
_NEGATION = re.compile(r"\b(?:pas|non|sans|ni|aucune?|hors)\b[^,;.]{0,18}$")
_MAXIMUM = re.compile(
    r"\b(?:au maximum|maxim\w*|max|plafon\w*|au mieux|au plus(?! tard)|le plus"
    r"|meilleur\w*)\b|\bjusqu'? ?a (?:combien|quel|hauteur)"
)
_LICENCE_WORD = re.compile(r"\blicen[cs]e")
_DEPLOY_WORD = re.compile(r"\b(deploi|integration|formation|accompagnement|parametrage|prestation)")


def _to_decimal(whole: str, cents: str | None) -> Decimal:
    digits = re.sub(r"[ \u00a0\u202f.]", "", whole)
    return Decimal(f"{digits}.{cents}" if cents else digits)


def _fold(text: str) -> str:
    return " ".join(fold_accents(text).casefold().replace("’", "'").split())


def request_from_question(
    question: str, commune: CommuneProfile | None = None
) -> CofinancingRequest | None:
    """« 500 € de licences et 2 000 € de déploiement, IA frugale » → a request; None when
    the question gives no licence amount (nothing to compute)."""
    text = _fold(question)
    licences: Decimal | None = None
    deployment = Decimal(0)
    for match in _AMOUNT.finditer(text):
        amount = _to_decimal(match.group(1), match.group(2))
        if match.group(3).startswith("k"):
            amount *= 1000
        after = text[match.end() : match.end() + 40]
        before = text[max(0, match.start() - 40) : match.start()]
        # the words right after the amount say what it pays for; else the words before
        for context in (after.split(",")[0].split(" et ")[0], before.split(",")[-1]):
            if _LICENCE_WORD.search(context):
                licences = (licences or Decimal(0)) + amount
                break
            if _DEPLOY_WORD.search(context):
                deployment += amount
                break
    if licences is None:
        return None
    args: dict[str, Any] = {"licences_amount": licences, "deployment_amount": deployment}
    if (count := _licence_count(text)) is not None:
        args["licence_count"] = count
    if (others := _partners(text)) is not None:
        args["other_beneficiaries"] = others
    if share := _SHARE.search(text):
        args["applicant_share"] = Decimal(share.group(1).replace(",", ".")) / 100
    if (qpv := _QPV.search(text)) and not _negated(text, qpv):
        args["qpv_share"] = Decimal((qpv.group(1) or qpv.group(2)).replace(",", ".")) / 100
    args["ia_frugale"] = _said(_FRUGAL, text) is True
    args["outre_mer"] = _said(_OVERSEAS, text) is True
    args["action_coeur_de_ville"] = _said(_COEUR_DE_VILLE, text) is True
    return request_from_arguments(args, commune)


def _negated(text: str, match: re.Match[str]) -> bool:
    """« pas en QPV », « sans IA frugale », « non mutualisé »: the words just before."""
    return bool(_NEGATION.search(text[max(0, match.start() - 30) : match.start()]))


def _said(pattern: re.Pattern[str], text: str) -> bool | None:
    """True: the question says so; False: it says not; None: it does not say."""
    found = list(pattern.finditer(text))
    if not found:
        return None
    return any(not _negated(text, m) for m in found)


def _licence_count(text: str) -> int | None:
    """« 600 licences », « 35 agents » — not « 500 € de licences »."""
    amounts = [m.span() for m in _AMOUNT.finditer(text)]
    counts = [
        int(_to_decimal(m.group(1), None))
        for m in _LICENCE_COUNT.finditer(text)
        if not any(start <= m.start() < end for start, end in amounts)
    ]
    return counts[-1] if counts else None


def _count(word: str) -> int:
    return int(word) if word.isdigit() else _WORDS[word]


def _partners(text: str) -> int | None:
    """How many beneficiaries besides the applicant, when the question says."""
    if match := _PARTNERS.search(text):
        return _count(match.group(1) or match.group(2))
    if match := _AMONG.search(text):
        return max(0, _count(match.group(1)) - 1)
    if _ALONE.search(text) or _said(_MUTUALISED, text) is False:
        return 0
    return None


@dataclass(frozen=True)
class ConditionsRead:
    """What a cofinancing question says of the conditions that set the rate."""

    stated: frozenset[Condition]  # by its words
    known: frozenset[Condition]  # by its words, complete, or by the commune's profile
    asks_maximum: bool

    @property
    def unknown(self) -> frozenset[Condition]:
        """The conditions to name with the most they may add: every one not known when
        the question asks for the most or states none; else only those it mentions without
        saying enough (« mutualisé » without partners: the figure is exact on the rest)."""
        if self.asks_maximum or not self.stated:
            return frozenset(CONDITIONS) - self.known
        return self.stated - self.known


def conditions_in(question: str, commune: CommuneProfile | None = None) -> ConditionsRead:
    text = _fold(question)
    mentioned: dict[Condition, bool] = {
        "mutualisation": _partners(text) is not None or bool(_MUTUALISED.search(text)),
        "licences": _licence_count(text) is not None,
        "territoires_fragiles": any(
            _said(p, text) is not None for p in (_OVERSEAS, _COEUR_DE_VILLE, _FRAGILE)
        ),
        "ia_frugale": _said(_FRUGAL, text) is not None,
    }
    complete = dict(mentioned)
    complete["mutualisation"] = _partners(text) is not None  # « mutualisé » alone says too little
    # « territoire fragile », « un QPV »: which criterion, or what share, is not said
    complete["territoires_fragiles"] = bool(
        _said(_OVERSEAS, text) is not None
        or _said(_COEUR_DE_VILLE, text) is not None
        or _QPV.search(text)
        or _said(_FRAGILE, text) is False
    )
    if commune is not None and (
        commune.outre_mer or commune.action_coeur_de_ville or commune.qpv_share is not None
    ):
        complete["territoires_fragiles"] = True  # the administrator filled the profile
    return ConditionsRead(
        stated=frozenset(c for c in CONDITIONS if mentioned[c]),
        known=frozenset(c for c in CONDITIONS if complete[c]),
        asks_maximum=bool(_MAXIMUM.search(text)),
    )
