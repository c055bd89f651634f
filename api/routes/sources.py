from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CallerDep, RuntimeDep
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


@router.get("/healthz", summary="État du service")
def healthz(runtime: RuntimeDep) -> dict[str, Any]:
    filler = runtime.filler
    return {
        "status": "ok",
        "store": runtime.settings.store_backend.value,
        "chunks": runtime.corpus.count(),
        "dense": runtime.embedder is not None,
        # semantic vectors: how many passages have theirs, and whether they are being filled
        "e5": {
            **runtime.corpus.coverage().as_dict(),
            "search": runtime.assistant.semantic,
            "filling": bool(filler is not None and filler.running),
            "error": filler.error if filler is not None else None,
        },
    }
