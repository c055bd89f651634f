"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from plume.documents import INSEE_PATTERN

# a filter's value: a name of a few words (a longer one is refused, never echoed whole)
FilterValue = Annotated[str, Field(max_length=100)]


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[FilterValue] | None = Field(
        None, max_length=50, description="Sources, e.g. `service-public`."
    )
    audiences: list[FilterValue] | None = Field(
        None,
        max_length=50,
        description="Publics: `Particuliers`, `Professionnels`, `Associations`.",
    )
    kinds: list[FilterValue] | None = Field(
        None, max_length=50, description="`fiche`, `article`, `aide`, `document`."
    )
    as_of: date | None = Field(
        None,
        description="Répondre avec les textes en vigueur à cette date (AAAA-MM-JJ) ; "
        "aujourd'hui par défaut.",
    )


_COMMUNE = INSEE_PATTERN


class SearchRequest(Filters):
    query: str = Field(
        ..., description="La recherche, en français.", examples=["acte de naissance"]
    )
    limit: int = Field(8, ge=1, le=50)
    commune: str | None = Field(
        None,
        pattern=_COMMUNE,
        description="Code INSEE de la commune : les articles de son régime particulier "
        "(Alsace-Moselle, outre-mer…) ne sont pas relégués après le droit commun.",
        examples=["57463"],
    )


class ChatRequest(Filters):
    question: str = Field(
        ...,
        description="La question, en français.",
        examples=["Comment obtenir un acte de naissance ?"],
    )
    conversation_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_-]{8,64}$",
        description="Pour une question de suivi : l'identifiant rendu par la réponse précédente.",
    )
    stream: bool = Field(
        False,
        description="Réponse en Server-Sent Events : `notice`, `meta`, `delta`…, "
        "`citations`, `done` (et `reset` si le modèle échoue en cours de route).",
    )
    commune: str | None = Field(
        None,
        pattern=_COMMUNE,
        description="Code INSEE de la commune (profil défini par l'administrateur) : les "
        "questions d'aides en tiennent compte (population, territoire, zonages), et les "
        "articles de son régime particulier (Alsace-Moselle, outre-mer…) restent en tête.",
        examples=["78003"],
    )


class CitationOut(BaseModel):
    n: int
    doc_id: str
    title: str
    url: str
    excerpt: str
    section: str = ""
    source: str = ""
    source_version: str = ""
    kind: str = ""
    modified: str | None = None
    in_force_from: str | None = None
    in_force_to: str | None = None
    page: int | None = Field(None, description="Page du document (documents des communes).")
    links: list[str] = Field(
        [], description="Articles de loi cités par la fiche, ou fiches qui citent l'article."
    )
    regime: str | None = Field(
        None,
        description="Régime particulier de l'article (Alsace-Moselle, Outre-mer…) : il ne "
        "s'applique qu'à ce territoire.",
    )
    text_date: str | None = Field(
        None,
        description="Date de l'instantané d'où vient le texte (codes du miroir LexHub) : "
        "« texte à jour au … », les modifications postérieures n'y sont pas.",
    )


class ReliabilityOut(BaseModel):
    level: str = Field(..., description="`elevee`, `moyenne` ou `faible`.")
    label: str = Field(..., description="Le niveau en toutes lettres : élevée, moyenne, faible.")
    score: float = Field(
        ...,
        description="Probabilité, calibrée sur les jeux de développement, que la réponse "
        "cite une source juste.",
    )
    reasons: list[str] = Field([], description="Pourquoi ce niveau, en français.")


class ChatResponse(BaseModel):
    answer: str
    mode: str = Field(
        ...,
        description="`generative` (rédigée par le modèle), `extractive` (phrases des sources, "
        "sans modèle), `pistes` (pas de réponse certaine : les textes les plus proches, à "
        "vérifier), `refusal` (hors du champ de Plume, ou rien trouvé), `grants` (liste "
        "d'aides du catalogue), `precedents` (chiffres des projets comparables financés) "
        "ou `computation` (résultat d'un calcul, p. ex. le cofinancement Territoires d'IA).",
    )
    confidence: float = Field(..., description="Le score de fiabilité (voir `reliability`).")
    reliability: ReliabilityOut | None = Field(
        None,
        description="Niveau de fiabilité de la réponse et ses raisons (absent d'un refus).",
    )
    citations: list[CitationOut]
    see_also: list[CitationOut] = Field(
        [],
        description="À côté d'une réponse : les textes suivants de la recherche, non cités, "
        "avec leur phrase clé (`excerpt`), à vérifier.",
    )
    notice: str = Field(..., description="Mention de transparence (AI Act).")
    flags: list[str] = Field(
        [],
        description="`citation_retiree`, `phrase_non_sourcee`, `reponse_non_sourcee`, "
        "`modele_indisponible`, `modele_sans_reponse` (le modèle n'a pas trouvé la réponse "
        "dans les sources) ; pour un refus : `hors_champ`, `documents_commune_requis`, "
        "`aucune_source`.",
    )
    warning: str | None = Field(None, description="Avertissement à afficher (modèle indisponible).")
    question: str | None = Field(None, description="La question cherchée (suivi réécrit).")
    conversation_id: str | None = None
    message_id: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    usage: dict[str, int] | None = Field(None, description="Jetons du modèle pour cette réponse.")
    impact: dict[str, Any] | None = Field(None, description="Énergie (kWh) et CO2 (ecologits).")
    removed_citations: list[dict[str, Any]] = []
    tool: dict[str, Any] | None = Field(
        None,
        description="Calcul effectué : outil, arguments, appelé par le modèle ou non, résultat.",
    )


class SearchHit(BaseModel):
    rank: int
    score: float
    doc_id: str
    title: str
    section: str
    url: str
    text: str
    source: str
    source_version: str
    modified: str | None = None
    audience: list[str] = []
    page: int | None = None
    regime: str | None = Field(
        None, description="Régime particulier de l'article (Alsace-Moselle, Outre-mer…)."
    )
    in_force_from: str | None = Field(None, description="Article : en vigueur depuis (AAAA-MM-JJ).")
    in_force_to: str | None = Field(None, description="Article : en vigueur jusqu'au (AAAA-MM-JJ).")
    text_date: str | None = Field(
        None, description="Article : date à laquelle le texte indexé est à jour (AAAA-MM-JJ)."
    )


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHit]
    notices: list[str] = Field(
        [],
        description="Pour une recherche à une date passée : les articles dont le texte de ce "
        "jour n'est pas disponible (historique incomplet), plutôt qu'un silence.",
    )


class SourceOut(BaseModel):
    source: str
    documents: int
    chunks: int
    versions: dict[str, int]
    last_sync: dict[str, Any] | None = None


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field("service-public", description="Source à ingérer.")
    all: bool = Field(False, description="Toutes les fiches, pas seulement la sélection mairie.")


class IngestRun(BaseModel):
    id: str
    source: str
    status: str = Field(..., description="`en_cours`, `termine` ou `echec`.")
    summary: dict[str, Any] | None = None
    error: str | None = None
