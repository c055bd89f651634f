from __future__ import annotations

import json
import time

from fastapi import APIRouter
from sse_starlette import EventSourceResponse

from api.deps import Caller, CallerDep, RuntimeDep, asker_of
from api.schemas import (
    ChatRequest,
    ChatResponse,
    Filters,
    SearchHit,
    SearchRequest,
    SearchResponse,
)
from assistant.rag.retrieval import build_filter
from plume.store import SearchFilter

router = APIRouter(prefix="/v1", tags=["recherche"])


def _where(body: Filters, caller: Caller) -> SearchFilter:
    """The request's filters, within what the caller may see (shared corpus + its commune)."""
    return build_filter(
        sources=body.sources,
        audiences=body.audiences,
        kinds=body.kinds,
        as_of=body.as_of,
        tenants=caller.tenants,
    )


@router.post("/search", response_model=SearchResponse, summary="Rechercher des passages")
def search(body: SearchRequest, runtime: RuntimeDep, caller: CallerDep) -> SearchResponse:
    where = _where(body, caller)
    commune = runtime.communes.get(body.commune) if body.commune else None
    passages = runtime.assistant.search(body.query, where, body.limit, commune)
    hits = [
        SearchHit(
            rank=p.rank,
            score=p.score,
            doc_id=p.doc_id,
            title=str(p.field("title") or ""),
            section=str(p.field("section") or ""),
            url=str(p.field("url") or ""),
            text=p.text,
            source=str(p.field("source") or ""),
            source_version=str(p.field("source_version") or ""),
            modified=p.field("modified"),
            audience=list(p.field("audience") or []),
            page=p.field("page"),
            regime=p.field("regime"),
            in_force_from=p.field("in_force_from"),
            in_force_to=p.field("in_force_to"),
            text_date=p.field("text_date"),
        )
        for p in passages
    ]
    gaps = runtime.assistant.history_gaps(body.query, where, passages)
    return SearchResponse(query=body.query, hits=hits, notices=[g.message for g in gaps])


@router.post(
    "/chat",
    response_model=ChatResponse,
    summary="Poser une question",
    responses={200: {"content": {"text/event-stream": {}}}},
)
def chat(
    body: ChatRequest, runtime: RuntimeDep, caller: CallerDep
) -> ChatResponse | EventSourceResponse:
    where = _where(body, caller)
    commune = runtime.communes.get(body.commune) if body.commune else None
    if body.stream:
        # retrieval runs here, before the stream opens: bad input is still a plain 4xx
        events = runtime.assistant.ask_streamed(
            body.question, where, caller.conversation(body.conversation_id), commune
        )
        events = runtime.records.recorded(body.question, events, asker_of(caller))
        return EventSourceResponse(
            (
                {"event": name, "data": json.dumps(data, ensure_ascii=False)}
                for name, data in events
            ),
            ping=15,
        )
    started = time.perf_counter()
    answer = runtime.assistant.ask(
        body.question, where, caller.conversation(body.conversation_id), commune
    )
    out = answer.as_dict()
    runtime.records.record_answer(
        body.question, out, asker_of(caller), latency_s=time.perf_counter() - started
    )
    return ChatResponse.model_validate(out)
