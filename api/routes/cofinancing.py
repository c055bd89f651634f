"""`POST /v1/cofinancement`: the « Territoires d'IA » cofinancing calculator.

Types are checked here (422); the rules, and the French messages for values that break
them (400), live in `assistant.aides.cofinancing`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from assistant.aides.cofinancing import CofinancingRequest, compute_cofinancing

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


@router.post("/v1/cofinancement", summary="Calculer un cofinancement « Territoires d'IA »")
def cofinancement(body: CofinancingBody) -> dict[str, object]:
    return compute_cofinancing(CofinancingRequest(**body.model_dump())).as_dict()
