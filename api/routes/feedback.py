"""`POST /v1/feedback`: a thumbs up or down (and a comment) on one answer."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CallerDep, RuntimeDep, asker_of

router = APIRouter(prefix="/v1", tags=["avis"])


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conversation_id: str = Field(..., min_length=1, max_length=64)
    message_id: str = Field(..., min_length=1, max_length=64)
    rating: Literal["up", "down"] = Field(..., description="`up` (utile) ou `down`.")
    comment: str | None = Field(None, max_length=2000, description="Commentaire libre.")


class FeedbackResponse(BaseModel):
    status: Literal["ok"] = "ok"


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Donner son avis sur une réponse",
    responses={
        404: {"description": "Réponse inconnue, d'une autre commune, ou conversation effacée."}
    },
)
def feedback(body: FeedbackRequest, runtime: RuntimeDep, caller: CallerDep) -> FeedbackResponse:
    # only the answer's commune may rate it (its key's commune, or no key for an answer
    # given without one); another's answer is « introuvable », as one that does not exist
    runtime.records.add_feedback(
        body.conversation_id,
        body.message_id,
        body.rating,
        body.comment,
        asker=asker_of(caller),
    )
    return FeedbackResponse()
