"""Commune profiles: set by the administrator under `/v1/admin/communes`, read by anyone
at `GET /v1/communes/{insee}` (the chat page shows which commune is selected)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminDep, RuntimeDep

router = APIRouter(tags=["communes"])
admin_router = APIRouter(
    prefix="/v1/admin/communes", tags=["administration"], dependencies=[AdminDep]
)
Insee = Annotated[
    str, Path(max_length=10, description="Code INSEE de la commune, ex. 78003, 2A004, 97101.")
]


class CommuneFlags(BaseModel):
    """The criteria the grant rules need; those left out keep their previous value."""

    model_config = ConfigDict(extra="forbid")

    action_coeur_de_ville: bool | None = Field(
        None, description="Commune du programme Action Cœur de Ville."
    )
    qpv_share: float | None = Field(
        None, description="Part de la population vivant en QPV, entre 0 et 1 (0.45 pour 45 %)."
    )
    rural: bool | None = Field(None, description="Commune rurale.")


@router.get("/v1/communes/{insee}", summary="Profil d'une commune")
def get_commune(insee: Insee, runtime: RuntimeDep) -> dict[str, Any]:
    return runtime.communes.get(insee).as_dict()


@admin_router.get("", summary="Lister les profils de commune")
def list_communes(runtime: RuntimeDep) -> list[dict[str, Any]]:
    return [p.as_dict() for p in runtime.communes.list()]


@admin_router.put("/{insee}", summary="Créer ou mettre à jour le profil d'une commune")
def put_commune(
    insee: Insee, runtime: RuntimeDep, response: Response, body: CommuneFlags | None = None
) -> dict[str, Any]:
    flags = body or CommuneFlags()
    profile, created = runtime.communes.put(
        insee,
        action_coeur_de_ville=flags.action_coeur_de_ville,
        qpv_share=flags.qpv_share,
        rural=flags.rural,
    )
    if created:
        response.status_code = 201
    return profile.as_dict()


@admin_router.delete("/{insee}", summary="Supprimer le profil d'une commune")
def delete_commune(insee: Insee, runtime: RuntimeDep) -> dict[str, Any]:
    removed = runtime.communes.delete(insee)
    return {"insee": removed.insee, "deleted": True}
