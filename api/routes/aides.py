"""`/v1/aides`: grants a commune can claim for a project, and those closing soon.

GET takes the filters as query parameters (lists repeated: `?aid_types=Subvention&
aid_types=Prêt`), POST as a JSON body; both answer the same. Unknown values, a negative
window or a deadline already passed are refused in French (400); an unknown commune
profile is a 404.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import RuntimeDep
from assistant.aides.catalogue import MAX_DAYS, AideFilters
from assistant.aides.listing import format_aides
from assistant.aides.service import DEFAULT_LIMIT
from assistant.runtime import Runtime
from plume.documents import INSEE_PATTERN

router = APIRouter(prefix="/v1/aides", tags=["aides"])
INSEE = INSEE_PATTERN


class GrantQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(
        "", description="Le projet, en quelques mots (PLUME_MAX_QUERY_CHARS au plus, 2 000)."
    )
    commune: str | None = Field(
        None, pattern=INSEE, description="Code INSEE : filtres et éligibilité de la commune."
    )
    beneficiaries: list[str] = Field([], description="Types de bénéficiaires (« Communes »…).")
    perimeters: list[str] = Field([], description="Territoires (noms) ; défaut : la commune.")
    categories: list[str] = Field([], description="Thématiques.")
    aid_types: list[str] = Field([], description="Types d'aide (« Subvention », « Prêt »…).")
    open_on: date | None = Field(
        None, description="Aides ouvertes ce jour-là (défaut : aujourd'hui)."
    )
    closing_within: int | None = Field(None, description="Clôture dans les N jours.")
    closing_by: date | None = Field(None, description="Clôture au plus tard ce jour-là.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=50)


def _search(body: GrantQuery, runtime: Runtime) -> dict[str, Any]:
    commune = runtime.communes.get(body.commune) if body.commune else None
    filters = AideFilters.build(
        beneficiaries=body.beneficiaries,
        perimeters=body.perimeters,
        categories=body.categories,
        aid_types=body.aid_types,
        open_on=body.open_on,
        closing_within=body.closing_within,
        closing_by=body.closing_by,
    )
    results = runtime.aides.find(body.q, filters, commune, limit=body.limit)
    return {**results.as_dict(), "text": format_aides(results)}


@router.get("", summary="Chercher des aides pour un projet")
def aides_get(
    runtime: RuntimeDep,
    q: str = "",
    commune: Annotated[str | None, Query(pattern=INSEE)] = None,
    beneficiaries: Annotated[list[str] | None, Query()] = None,
    perimeters: Annotated[list[str] | None, Query()] = None,
    categories: Annotated[list[str] | None, Query()] = None,
    aid_types: Annotated[list[str] | None, Query()] = None,
    open_on: date | None = None,
    closing_within: int | None = None,
    closing_by: date | None = None,
    limit: Annotated[int, Query(ge=1, le=50)] = DEFAULT_LIMIT,
) -> dict[str, Any]:
    body = GrantQuery(
        q=q,
        commune=commune,
        beneficiaries=beneficiaries or [],
        perimeters=perimeters or [],
        categories=categories or [],
        aid_types=aid_types or [],
        open_on=open_on,
        closing_within=closing_within,
        closing_by=closing_by,
        limit=limit,
    )
    return _search(body, runtime)


@router.post("", summary="Chercher des aides pour un projet (filtres en JSON)")
def aides_post(body: GrantQuery, runtime: RuntimeDep) -> dict[str, Any]:
    return _search(body, runtime)


@router.get("/echeances", summary="Aides qui ferment bientôt pour une commune")
def aides_deadlines(
    runtime: RuntimeDep,
    commune: Annotated[str | None, Query(pattern=INSEE)] = None,
    within: Annotated[int, Query(ge=0, le=MAX_DAYS, description="Jours.")] = 30,
) -> dict[str, Any]:
    profile = runtime.communes.get(commune) if commune else None
    found = runtime.aides.deadlines(profile, within)
    return {**found.as_dict(), "title": found.title, "text": "\n".join(found.lines())}
