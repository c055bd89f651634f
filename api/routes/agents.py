"""`/v1/admin/agents`: who may sign in (OpenID Connect), and for which commune."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminDep, RuntimeDep

admin_router = APIRouter(
    prefix="/v1/admin/agents", tags=["administration"], dependencies=[AdminDep]
)
Email = Annotated[str, Path(max_length=254, description="Adresse électronique de l'agent.")]


class AgentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(
        max_length=254,
        description="Adresse électronique de l'agent, celle que donne le fournisseur "
        "d'identité (ProConnect…).",
    )
    tenant: str = Field(
        max_length=40, description="Sa commune : code INSEE (ex. 25176) ou identifiant."
    )
    label: str = Field("", max_length=200, description="Nom, fonction.")


@admin_router.get("", summary="Lister les agents et leur commune")
def list_agents(runtime: RuntimeDep) -> list[dict[str, str]]:
    return [a.as_dict() for a in runtime.agents.list()]


@admin_router.post(
    "", status_code=201, summary="Enregistrer un agent pour une commune (ou l'y déplacer)"
)
def add_agent(body: AgentBody, runtime: RuntimeDep) -> dict[str, str]:
    return runtime.agents.add(body.email, body.tenant, body.label).as_dict()


@admin_router.delete("/{email}", summary="Retirer un agent (ses sessions prennent fin)")
def delete_agent(email: Email, runtime: RuntimeDep) -> dict[str, object]:
    removed = runtime.agents.delete(email)
    return {"email": removed.email, "deleted": True}
