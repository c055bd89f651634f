"""The computations the assistant may call: the Territoires d'IA cofinancing calculator.

With a model, the calculator is offered to Mistral as a tool (function calling): the
model reads the question and chooses the arguments; Plume runs `compute_cofinancing`
and writes the answer from its exact result, so no figure is the model's. Without a
model (or when it calls no tool), `request_from_question` reads the same arguments from
the question's words. Either way, flags the question does not state come from the
commune's profile (outre-mer, Action Cœur de Ville, share of population in QPV).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from assistant.aides.cofinancing import CofinancingRequest
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
    l'est ; qpv_share : part (0 à 1) de la population en quartier prioritaire."""
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
_WORDS = {"deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8}
_PARTNERS = re.compile(
    r"(\d+|deux|trois|quatre|cinq|six|sept|huit)\s+autres?\s+"
    r"(?:communes?|beneficiaires?|collectivites?|partenaires?|mairies?)"
)
_SHARE = re.compile(r"\bport\w*\s+(\d{1,3}(?:,\d+)?)\s*%")
_QPV = re.compile(
    r"(\d{1,3}(?:,\d+)?)\s*%[^.;]{0,40}\bqpv\b|\bqpv\b[^.;]{0,40}?(\d{1,3}(?:,\d+)?)\s*%"
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
    amounts = {m.span() for m in _AMOUNT.finditer(text)}
    for match in _LICENCE_COUNT.finditer(text):
        if not any(start <= match.start() < end for start, end in amounts):
            args["licence_count"] = int(_to_decimal(match.group(1), None))
    if partners := _PARTNERS.search(text):
        word = partners.group(1)
        args["other_beneficiaries"] = int(word) if word.isdigit() else _WORDS[word]
    if share := _SHARE.search(text):
        args["applicant_share"] = Decimal(share.group(1).replace(",", ".")) / 100
    if qpv := _QPV.search(text):
        args["qpv_share"] = Decimal((qpv.group(1) or qpv.group(2)).replace(",", ".")) / 100
    args["ia_frugale"] = "frugal" in text
    args["outre_mer"] = bool(re.search(r"\boutre-? ?mer\b", text))
    args["action_coeur_de_ville"] = "coeur de ville" in text or "cœur de ville" in text
    return request_from_arguments(args, commune)
