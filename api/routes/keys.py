"""`/v1/admin/cles`: the communes' API keys, managed by the administrator."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminDep, RuntimeDep

admin_router = APIRouter(prefix="/v1/admin/cles", tags=["administration"], dependencies=[AdminDep])
KeyId = Annotated[str, Path(description="Id de la clé (12 caractères hexadécimaux).")]


class KeyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(description="Commune : code INSEE (ex. 25176) ou identifiant.")
    origins: list[str] = Field(
        default_factory=list,
        description="Sites autorisés à l'utiliser depuis un navigateur (https://mairie.fr) : "
        "la clé du widget. Vide : aucun site, une clé pour les appels de serveur à serveur.",
    )
    label: str = Field("", max_length=200, description="À quoi sert la clé.")
    kind: Literal["publique", "privee"] = Field(
        "publique",
        description="`publique` : la clé du widget, écrite dans une page, qui voit le corpus "
        "commun seulement. `privee` : de serveur à serveur (sans origine), voit aussi les "
        "documents de la commune, refusée quand un navigateur l'envoie.",
    )


@admin_router.get("", summary="Lister les clés d'API (sans les clés elles-mêmes)")
def list_keys(runtime: RuntimeDep) -> list[dict[str, object]]:
    return [k.as_dict() for k in runtime.keys.list()]


@admin_router.post("", status_code=201, summary="Créer une clé d'API (affichée une seule fois)")
def create_key(body: KeyBody, runtime: RuntimeDep) -> dict[str, object]:
    key = runtime.keys.create(body.tenant, body.origins, body.label, body.kind)
    return {"key": key.key, **key.as_dict()}


@admin_router.delete("/{key_id}", summary="Révoquer une clé d'API")
def delete_key(key_id: KeyId, runtime: RuntimeDep) -> dict[str, object]:
    removed = runtime.keys.delete(key_id)
    return {"id": removed.id, "deleted": True}
