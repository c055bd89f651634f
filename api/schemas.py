"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[str] | None = Field(None, description="Sources, e.g. `service-public`.")
    audiences: list[str] | None = Field(
        None, description="Publics: `Particuliers`, `Professionnels`, `Associations`."
    )
    kinds: list[str] | None = Field(None, description="`fiche`, `article`, `aide`, `document`.")


class SearchRequest(Filters):
    query: str = Field(
        ..., description="La recherche, en français.", examples=["acte de naissance"]
    )
    limit: int = Field(8, ge=1, le=50)


class ChatRequest(Filters):
    question: str = Field(
        ...,
        description="La question, en français.",
        examples=["Comment obtenir un acte de naissance ?"],
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


class ChatResponse(BaseModel):
    answer: str
    mode: str = Field(..., description="`extractive` (sans modèle) ou `refusal` (pas de source).")
    confidence: float
    citations: list[CitationOut]
    notice: str = Field(..., description="Mention de transparence (AI Act).")


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


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHit]


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
