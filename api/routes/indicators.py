"""Admin: the cofinancing's impact indicators (JSON, CSV, HTML), declared deployments, and
the sovereignty sheet."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminDep, RuntimeDep
from assistant.records.report import render_html
from assistant.records.service import MAX_DECLARED
from assistant.records.sovereignty import build_sheet
from plume.documents import TENANT_PATTERN

router = APIRouter(prefix="/v1/admin", tags=["administration"], dependencies=[AdminDep])


@router.get(
    "/indicators",
    summary="Indicateurs d'impact (Territoires d'IA) sur une période",
    response_model=None,
)
def get_indicators(
    runtime: RuntimeDep,
    start: Annotated[date | None, Query(alias="from", description="Début (AAAA-MM-JJ).")] = None,
    end: Annotated[date | None, Query(alias="to", description="Fin, incluse.")] = None,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
) -> dict[str, Any] | PlainTextResponse | HTMLResponse:
    report = runtime.records.indicators(start, end, runtime.settings.minutes_saved_per_answer)
    if format == "csv":
        return PlainTextResponse(report.to_csv(), media_type="text/csv; charset=utf-8")
    if format == "html":
        return HTMLResponse(render_html(report))
    return report.as_dict()


class DeploymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=256, description="Nom de la commune.")
    licences: int = Field(..., ge=0, le=MAX_DECLARED, description="Licences acquises.")
    users: int = Field(..., ge=0, le=MAX_DECLARED, description="Utilisateurs (agents) déclarés.")
    trained: int = Field(0, ge=0, le=MAX_DECLARED, description="Utilisateurs formés (déclarés).")


@router.put("/deploiements/{commune}", summary="Déclarer licences, utilisateurs et formés")
def declare(
    commune: Annotated[str, Path(pattern=TENANT_PATTERN)],
    body: DeploymentIn,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    runtime.records.declare(
        commune, licences=body.licences, users=body.users, trained=body.trained, name=body.name
    )
    return {"commune": commune, **body.model_dump()}


@router.get(
    "/souverainete",
    summary="Fiche IA souveraine (configuration en cours)",
    response_model=None,
)
def sovereignty_sheet(
    runtime: RuntimeDep,
    format: Annotated[Literal["json", "md"], Query()] = "json",
) -> dict[str, Any] | PlainTextResponse:
    sheet = build_sheet(runtime.settings)
    if format == "md":
        return PlainTextResponse(sheet.markdown(), media_type="text/markdown; charset=utf-8")
    return sheet.as_dict()


@router.get("/ingestions", summary="Dernières ingestions : source, nombres, durée, statut")
def ingestion_runs(
    runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return runtime.records.recent("ingestions", limit)


@router.get("/audit", summary="Journal des actions d'administration")
def audit_log(
    runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    return runtime.records.recent("audit", limit)
