from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import RuntimeDep
from api.schemas import SourceOut
from ingestion import sync_log

router = APIRouter(tags=["sources"])


@router.get("/v1/sources", response_model=list[SourceOut], summary="Corpus indexés")
def sources(runtime: RuntimeDep) -> list[SourceOut]:
    synced = sync_log.read(runtime.settings.data_dir)
    return [
        SourceOut(
            source=s.source,
            documents=s.documents,
            chunks=s.chunks,
            versions=s.versions,
            last_sync=synced.get(s.source),
        )
        for s in runtime.store.list_sources()
    ]


@router.get("/healthz", summary="État du service")
def healthz(runtime: RuntimeDep) -> dict[str, Any]:
    return {
        "status": "ok",
        "store": runtime.settings.store_backend.value,
        "chunks": runtime.store.count(),
        "dense": runtime.embedder is not None,
    }
