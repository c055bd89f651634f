"""`GET /v1/veille`: the digest of the legal watch, from the change journal; and the
watch profiles, managed by the administrator under `/v1/admin/veille/profils`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminDep, RuntimeDep
from assistant.aides.catalogue import MAX_DAYS
from assistant.veille.profiles import VeilleProfile
from plume.documents import INSEE_PATTERN

router = APIRouter(tags=["veille"])
admin_router = APIRouter(
    prefix="/v1/admin/veille", tags=["administration"], dependencies=[AdminDep]
)
ProfileName = Annotated[str, Path(description="Nom du profil (minuscules, chiffres, tirets).")]


@router.get("/v1/veille", summary="Veille juridique : changements des codes depuis une date")
def veille(
    runtime: RuntimeDep,
    since: Annotated[str, Query(description="Date de départ, AAAA-MM-JJ.")],
    code: Annotated[list[str] | None, Query(description="Codes (LEGITEXT…).")] = None,
    format: Annotated[Literal["json", "md", "html"], Query()] = "json",
    profil: Annotated[str | None, Query(description="Profil de veille à appliquer.")] = None,
    commune: Annotated[
        str | None,
        Query(
            pattern=INSEE_PATTERN,
            description="Code INSEE : ajoute les aides qui ferment bientôt pour la commune.",
        ),
    ] = None,
    echeances: Annotated[
        int, Query(ge=0, le=MAX_DAYS, description="Aides qui ferment dans les N jours.")
    ] = 30,
) -> Response:
    text = runtime.veille.digest(since, code, format, profil, commune, echeances)
    if format == "html":
        return HTMLResponse(text)
    if format == "md":
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
    return Response(text, media_type="application/json")


class ProfileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    codes: list[str] = Field(default_factory=list, description="Codes suivis (LEGITEXT…).")
    sections: list[str] = Field(
        default_factory=list, description="Extraits du chemin des sections suivies."
    )
    keywords: list[str] = Field(default_factory=list, description="Mots ou expressions suivis.")
    description: str = Field("", max_length=500)


@admin_router.get("/profils", summary="Lister les profils de veille")
def list_profiles(runtime: RuntimeDep) -> list[dict[str, object]]:
    return [p.as_dict() for p in runtime.veille.list_profiles()]


@admin_router.put("/profils/{name}", summary="Créer ou remplacer un profil de veille")
def put_profile(
    name: ProfileName, body: ProfileBody, runtime: RuntimeDep, response: Response
) -> dict[str, object]:
    profile = VeilleProfile(
        name=name,
        codes=tuple(body.codes),
        sections=tuple(body.sections),
        keywords=tuple(body.keywords),
        description=body.description,
    )
    if runtime.veille.put_profile(profile):
        response.status_code = 201
    return profile.as_dict()


@admin_router.delete("/profils/{name}", summary="Supprimer un profil de veille")
def delete_profile(name: ProfileName, runtime: RuntimeDep) -> dict[str, object]:
    runtime.veille.delete_profile(name)
    return {"name": name, "deleted": True}
