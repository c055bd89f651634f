"""`GET /v1/veille`: the digest of the legal watch, from the change journal; and the
watch profiles, managed by the administrator under `/v1/admin/veille/profils`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminDep, RuntimeDep
from assistant.grants import MAX_DAYS, deadlines
from assistant.veille.digest import watch_digest
from assistant.veille.profiles import ProfileStore, WatchProfile, refuse_unindexed
from ingestion.service import indexed_codes

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
            pattern=r"^[0-9][0-9AB][0-9]{3}$",
            description="Code INSEE : ajoute les aides qui ferment bientôt pour la commune.",
        ),
    ] = None,
    echeances: Annotated[
        int, Query(ge=0, le=MAX_DAYS, description="Aides qui ferment dans les N jours.")
    ] = 30,
) -> Response:
    settings = runtime.settings
    chat = runtime.assistant.chat
    llm = chat.llm if chat.breaker.allow() else None  # with a model: a written summary on top
    closing = None
    if commune:
        profile = runtime.communes.get(commune)
        closing = deadlines(runtime.assistant.retriever, profile, echeances)
    text = watch_digest(
        settings.data_dir, settings.corpus_dir, since, code, format, profil, llm, closing
    )
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
    return [p.as_dict() for p in ProfileStore(runtime.settings.data_dir).list()]


@admin_router.put("/profils/{name}", summary="Créer ou remplacer un profil de veille")
def put_profile(
    name: ProfileName, body: ProfileBody, runtime: RuntimeDep, response: Response
) -> dict[str, object]:
    profile = WatchProfile(
        name=name,
        codes=tuple(body.codes),
        sections=tuple(body.sections),
        keywords=tuple(body.keywords),
        description=body.description,
    )
    indexed = indexed_codes(runtime.settings, runtime.store.list_sources())
    refuse_unindexed(profile, indexed, runtime.settings.data_dir)
    if ProfileStore(runtime.settings.data_dir).put(profile):
        response.status_code = 201
    return profile.as_dict()


@admin_router.delete("/profils/{name}", summary="Supprimer un profil de veille")
def delete_profile(name: ProfileName, runtime: RuntimeDep) -> dict[str, object]:
    ProfileStore(runtime.settings.data_dir).delete(name)
    return {"name": name, "deleted": True}
