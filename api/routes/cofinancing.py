"""`POST /v1/cofinancement`: the « Territoires d'IA » cofinancing calculator.

Types are checked here (422); the rules, and the French messages for values that break
them (400), live in `assistant.aides.cofinancing`. The conditions the body leaves out are
not known: the answer then carries `maximum`, the most they may add, each one named
(`assistant.aides.cofinancing_range`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from assistant.aides.cofinancing import CofinancingRequest
from assistant.aides.cofinancing_range import compute_range, unknown_conditions

router = APIRouter(tags=["cofinancement"])


class CofinancingBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    licences_amount: Decimal = Field(description="Montant des licences, en euros.")
    deployment_amount: Decimal = Field(
        Decimal(0), description="Déploiement, intégration et formation, en euros."
    )
    licence_count: int = Field(0, description="Nombre de licences.")
    other_beneficiaries: int = Field(
        0, description="Bénéficiaires éligibles autres que le porteur."
    )
    applicant_share: Decimal | None = Field(
        None, description="Part (0–1) des dépenses éligibles portée par le porteur."
    )
    outre_mer: bool = False
    action_coeur_de_ville: bool = False
    qpv_share: Decimal = Field(Decimal(0), description="Part (0–1) de la population en QPV.")
    ia_frugale: bool = False
    purchase_date: date | None = None
    approval_date: date | None = None


@router.post(
    "/v1/cofinancement",
    summary="Calculer un cofinancement « Territoires d'IA »",
    description="Le calcul exact sur les conditions indiquées. Quand des conditions manquent "
    "(`other_beneficiaries`/`applicant_share`, `licence_count`, `outre_mer`/"
    "`action_coeur_de_ville`/`qpv_share`, `ia_frugale`), `maximum` donne le plus qu'elles "
    "peuvent ajouter (taux, montant, étapes) et les conditions nommées pour y parvenir ; "
    "`null` quand rien ne peut plus relever le taux.",
)
def cofinancement(body: CofinancingBody) -> dict[str, object]:
    request = CofinancingRequest(**body.model_dump())
    return compute_range(request, unknown_conditions(body.model_fields_set)).as_dict()
