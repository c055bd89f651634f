from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CallerDep, RuntimeDep
from api.errors import error_body
from api.schemas import SourceOut

router = APIRouter(tags=["sources"])


@router.get("/v1/sources", response_model=list[SourceOut], summary="Corpus indexés")
def sources(runtime: RuntimeDep, caller: CallerDep) -> list[SourceOut]:
    rows = runtime.corpus.sources()
    out = [
        SourceOut(
            source=s.source,
            documents=s.documents,
            chunks=s.chunks,
            versions=s.versions,
            last_sync=s.last_sync,
        )
        for s in rows
        if s.source != "documents"  # counted below: the caller's communes only
    ]
    if any(s.source == "documents" for s in rows):
        docs = runtime.documents.list(caller.tenants)
        if docs:
            chunks = sum(d.chunks for d in docs)
            out.append(
                SourceOut(source="documents", documents=len(docs), chunks=chunks, versions={})
            )
    return out


@router.get("/livez", summary="Le processus répond", response_model=dict[str, str])
def livez() -> dict[str, str]:
    # liveness: the process serves HTTP, the index is not read (a damaged index is /healthz's
    # 503, for readiness: restarting the process would not repair it)
    return {"status": "ok"}


@router.get(
    "/healthz",
    summary="État du service",
    response_model=dict[str, Any],
    responses={503: {"description": "Index endommagé, incohérent ou sans réponse"}},
)
def healthz(runtime: RuntimeDep) -> dict[str, Any] | JSONResponse:
    # « ok » only when the index answers a real read in time and holds what was indexed;
    # else a 503 saying what is wrong and how to repair it, with the counts read
    filler = runtime.filler
    store = runtime.settings.store_backend.value
    health = runtime.corpus.health()
    if health.problem is not None:
        problem = health.problem
        body: dict[str, Any] = {"status": problem.code, "store": store, "chunks": health.chunks}
        body |= {"sources": health.sources, **error_body(problem.code, problem.message)}
        return JSONResponse(body, status_code=503)
    return {
        "status": "ok",
        "store": store,
        "chunks": health.chunks,
        "sources": health.sources,  # passages of each source synced
        "dense": runtime.embedder is not None,
        # semantic vectors: how many passages have theirs, and whether they are being filled
        "e5": {
            **runtime.corpus.coverage().as_dict(),
            "search": runtime.assistant.semantic,
            "filling": bool(filler is not None and filler.running),
            "error": filler.error if filler is not None else None,
        },
    }
