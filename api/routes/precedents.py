"""`GET /v1/precedents`: funded projects similar to a request, with their figures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import RuntimeDep
from assistant.aides.listing import format_report

router = APIRouter(prefix="/v1", tags=["aides"])


@router.get("/precedents", summary="Projets comparables financés : nombre, montants, exemples")
def precedents(
    runtime: RuntimeDep,
    q: Annotated[str, Query(description="Le projet, en quelques mots.", max_length=500)],
    programme: Annotated[
        str | None, Query(description="DETR, DSIL, DPV, DSID ou « Fonds vert ».")
    ] = None,
    departement: Annotated[str | None, Query(description="Code du département : 78, 2A…")] = None,
    exemples: Annotated[int, Query(ge=0, le=20, description="Nombre d'exemples.")] = 5,
) -> dict[str, Any]:
    report = runtime.aides.precedents(q, programme, departement, limit=exemples)
    return {**report.as_dict(), "text": format_report(report)}
