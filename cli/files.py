"""`plume ingest files PATH… --tenant <commune>` and `plume sources --tenant <commune>`:
a commune's documents from the command line, with a progress bar and a per-file report.

Called from `cli.main` (which this module imports lazily, for its helpers).
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import (
    EXIT_ITEM_ERRORS,
    domain_errors,
    err,
    load_settings,
    open_runtime,
    out,
    server_for,
)
from cli.tables import fit

STATUS_LABELS = {
    "ajoute": "ajouté",
    "inchange": "inchangé",
    "remplace": "remplacé",
    "refuse": "refusé",
}


def _files(paths: list[Path]) -> list[Path]:
    """The files named, and those under the folders named (hidden ones aside), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.is_file():
            found.append(path)
        else:
            err.print(f"[red]Erreur :[/red] « {escape(str(path))} » introuvable.")
            raise typer.Exit(1)
    return found


def ingest_files_command(paths: list[Path], tenant: str, by: str | None) -> None:
    """Index files for a commune; exit code 3 when some were refused."""
    from ingestion.documents.items import Upload
    from ingestion.documents.library import FileResult
    from plume.keys import check_tenant

    settings = load_settings()
    with domain_errors():
        check_tenant(tenant)
    files = _files(paths)
    if not files:
        err.print("[red]Erreur :[/red] aucun fichier à indexer.")
        raise typer.Exit(1)

    def uploads() -> Iterator[Upload]:  # one file in memory at a time
        for f in files:
            yield Upload(name=f.name, data=f.read_bytes())

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    hint = "Pour déposer des documents pendant qu'il tourne : POST /v1/admin/documents."
    with open_runtime(settings, if_locked=hint) as runtime, Progress(*columns, console=err) as bar:
        task = bar.add_task(f"Documents de {tenant}", total=len(files))

        def done(result: FileResult) -> None:
            bar.advance(task)
            if not err.is_terminal:
                err.print(
                    f"{STATUS_LABELS[result.status]} : {result.name}", highlight=False, markup=False
                )

        with domain_errors():
            report = runtime.documents.upload(
                uploads(), tenant, by or f"cli:{getpass.getuser()}", on_file=done
            )
    table = Table(title=f"Documents de {tenant}")
    for col in (
        "fichier",
        "résultat",
        "format",
        "pages",
        "dont OCR",
        "passages",
        "durée",
        "détail",
    ):
        table.add_column(col, overflow="fold" if col in ("fichier", "détail") else "ellipsis")
    for r in report.files:
        detail = r.error or (f"remplace {', '.join(r.replaced)}" if r.replaced else r.doc_id or "")
        table.add_row(
            escape(r.name),
            STATUS_LABELS[r.status],
            r.format or "—",
            str(r.pages or "—"),
            str(r.ocr_pages or "—"),
            str(r.chunks or "—"),
            f"{r.seconds:.1f} s",
            escape(detail),
        )
    out.print(fit(table, out))
    for message in report.errors:
        err.print(f"[yellow]refusé :[/yellow] {escape(message)}", soft_wrap=True)
    if report.errors:
        raise typer.Exit(EXIT_ITEM_ERRORS)


def list_tenant_documents(tenant: str, as_json: bool) -> None:
    """`plume sources --tenant X`: the commune's documents, pages, passages, date, by whom."""
    from plume.keys import check_tenant

    settings = load_settings()
    with domain_errors():
        check_tenant(tenant)
    server_for(settings, tenant)  # a running server: its API, with the commune's key
    with open_runtime(settings) as runtime, domain_errors():
        docs = runtime.documents.list([tenant])
    if as_json:
        sys.stdout.write(
            json.dumps([d.as_dict() for d in docs], ensure_ascii=False, indent=2) + "\n"
        )
        return
    if not docs:
        out.print(
            f"Aucun document pour « {escape(tenant)} » : "
            f"`plume ingest files CHEMIN --tenant {escape(tenant)}`."
        )
        return
    table = Table(title=f"Documents de {tenant}")
    for col in ("document", "fichier", "format", "pages", "passages", "chargé le", "par"):
        table.add_column(
            col, overflow="fold" if col in ("document", "fichier", "par") else "ellipsis"
        )
    for d in docs:
        table.add_row(
            d.doc_id,
            escape(d.file_name),
            d.format,
            str(d.pages or "—"),
            str(d.chunks),
            d.uploaded_at.replace("T", " ")[:16],
            escape(d.uploaded_by),
        )
    out.print(fit(table, out))
