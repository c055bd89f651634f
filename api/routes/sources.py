from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CallerDep, RuntimeDep
from api.schemas import SourceOut
from ingestion import sync_log

router = APIRouter(tags=["sources"])


@router.get("/v1/sources", response_model=list[SourceOut], summary="Corpus indexés")
def sources(runtime: RuntimeDep, caller: CallerDep) -> list[SourceOut]:
    synced = sync_log.read(runtime.settings.data_dir)
    stats = runtime.store.list_sources()
    out = [
        SourceOut(
            source=s.source,
            documents=s.documents,
            chunks=s.chunks,
            versions=s.versions,
            last_sync=synced.get(s.source),
        )
        for s in stats
        if s.source != "documents"  # counted below: the caller's communes only
    ]
    if any(s.source == "documents" for s in stats):
        from ingestion.documents.library import list_documents

        docs = list_documents(runtime.store, caller.tenants)
        if docs:
            chunks = sum(d.chunks for d in docs)
            out.append(
                SourceOut(source="documents", documents=len(docs), chunks=chunks, versions={})
            )
    return out


@router.get("/healthz", summary="État du service")
def healthz(runtime: RuntimeDep) -> dict[str, Any]:
    from ingestion.local_vectors import coverage

    filler = runtime.filler
    return {
        "status": "ok",
        "store": runtime.settings.store_backend.value,
        "chunks": runtime.store.count(),
        "dense": runtime.embedder is not None,
        # semantic vectors: how many passages have theirs, and whether they are being filled
        "e5": {
            **coverage(runtime.store).as_dict(),
            "search": runtime.assistant.retriever.local is not None,
            "filling": bool(filler is not None and filler.running),
            "error": filler.error if filler is not None else None,
        },
    }
