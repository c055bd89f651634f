from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, status

from api.deps import AdminDep, RunsDep, RuntimeDep
from api.schemas import IngestRequest, IngestRun
from ingestion import service
from plume.errors import DocumentNotFound, shown

if TYPE_CHECKING:
    from ingestion.pipeline import IngestSummary

router = APIRouter(prefix="/v1/admin", tags=["administration"], dependencies=[AdminDep])


@router.post(
    "/ingest",
    response_model=IngestRun,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Lancer l'ingestion d'une source",
)
def start_ingest(body: IngestRequest, runtime: RuntimeDep, runs: RunsDep) -> IngestRun:
    source = service.check_source(body.source)

    def job() -> IngestSummary:
        return runtime.corpus.ingest(source, everything=body.all)

    run = runs.start(source, job)
    return IngestRun(id=run.id, source=run.source, status=run.status)


@router.get("/ingest/{run_id}", response_model=IngestRun, summary="Suivre une ingestion")
def ingest_status(run_id: str, runs: RunsDep) -> IngestRun:
    run = runs.get(run_id)
    if run is None:
        raise DocumentNotFound(f"Aucune ingestion « {shown(run_id)} ».")
    return IngestRun(
        id=run.id, source=run.source, status=run.status, summary=run.summary, error=run.error
    )


@router.get("/usage", summary="Consommation par jour : réponses, jetons, énergie, CO2")
def usage(runtime: RuntimeDep) -> list[dict[str, object]]:
    return [day.as_dict() for day in runtime.records.daily_usage()]  # kept in the database


@router.delete("/documents/{doc_id:path}", summary="Retirer un document de l'index")
def delete_document(doc_id: str, runtime: RuntimeDep) -> dict[str, object]:
    deleted = runtime.corpus.delete(doc_id)
    if not deleted:
        raise DocumentNotFound(f"Le document « {shown(doc_id)} » n'est pas dans l'index.")
    return {"doc_id": doc_id, "chunks_deleted": deleted}
