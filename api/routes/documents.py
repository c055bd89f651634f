"""Communes' documents. Administrators upload them (`POST /v1/admin/documents`, a job
polled at `/v1/admin/ingest/{id}`) and list them; callers read those of their tenants
(`/v1/documents`), which the store filter enforces: another commune's document is
« introuvable », exactly like one that does not exist."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile, status

from api.deps import AdminDep, CallerDep, RunsDep, RuntimeDep
from api.schemas import IngestRun
from plume.errors import RejectedFile
from plume.keys import check_tenant

if TYPE_CHECKING:
    from ingestion.pipeline import IngestSummary
    from ingestion.runs import Run

router = APIRouter(prefix="/v1/documents", tags=["documents"])
admin_router = APIRouter(
    prefix="/v1/admin/documents", tags=["administration"], dependencies=[AdminDep]
)
_READ_CHUNK = 1 << 20
MAX_FILES = 500  # per request; bigger batches: several requests, or `plume ingest files`


async def _read(upload: UploadFile, limit: int) -> bytes:
    """The file's bytes, or only `limit + 1` of them: enough to refuse it as too big."""
    data = bytearray()
    while len(data) <= limit and (chunk := await upload.read(_READ_CHUNK)):
        data.extend(chunk)
    return bytes(data)


def _name(filename: str | None) -> str:
    """The file's own name, without any folder a client may have sent."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name.strip()
    return name[-200:] or "sans-nom"


@admin_router.post(
    "",
    response_model=IngestRun,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Déposer des documents pour une commune (PDF, DOCX, DOC, ODT, HTML, TXT, MD, EML)",
)
async def upload_documents(
    runtime: RuntimeDep,
    runs: RunsDep,
    files: Annotated[list[UploadFile], File(description="Un ou plusieurs fichiers.")],
    tenant: Annotated[str, Form(description="Commune : code INSEE, ou « commun ».")],
    uploaded_by: Annotated[str, Form(max_length=100, description="Qui dépose.")] = "admin",
) -> IngestRun:
    from ingestion.documents.items import Upload
    from ingestion.documents.library import FileResult

    check_tenant(tenant)
    if len(files) > MAX_FILES:
        raise RejectedFile(f"Trop de fichiers : {len(files)} (au plus {MAX_FILES} par envoi).")
    limit = runtime.settings.upload_max_mb * 1_000_000
    uploads: list[Upload] = [
        Upload(name=_name(f.filename), data=await _read(f, limit)) for f in files
    ]

    started: list[Run] = []
    done: list[dict[str, Any]] = []

    def progress(result: FileResult) -> None:  # what a poll sees while the batch runs
        done.append(result.as_dict())
        if started and started[0].status == "en_cours":
            started[0].summary = {"tenant": tenant, "total": len(uploads), "files": list(done)}

    def job() -> IngestSummary:
        return runtime.documents.upload(uploads, tenant, uploaded_by, on_file=progress)

    run = runs.start("documents", job)
    started.append(run)
    return IngestRun(id=run.id, source=run.source, status=run.status)


@admin_router.get("", summary="Documents d'une commune : pages, passages, date, déposant")
def admin_list(
    runtime: RuntimeDep, tenant: Annotated[str, Query(description="Commune (code INSEE).")]
) -> list[dict[str, Any]]:
    return [d.as_dict() for d in runtime.documents.list([check_tenant(tenant)])]


@router.get("", summary="Documents visibles : ceux de votre commune et du corpus commun")
def list_visible(runtime: RuntimeDep, caller: CallerDep) -> list[dict[str, Any]]:
    return [d.as_dict() for d in runtime.documents.list(caller.tenants)]


@router.get("/{doc_id:path}", summary="Un document : informations et passages par page")
def read(doc_id: str, runtime: RuntimeDep, caller: CallerDep) -> dict[str, Any]:
    return runtime.documents.read(doc_id, caller.tenants)
