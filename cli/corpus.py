"""`plume corpus`, `ingest`, `sources`, `vectors`, `delete`: what an administrator loads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    parse_day,
    run,
    server_for,
)
from cli.progress import DoneColumn, IngestLog
from cli.tables import fit, minute
from plume import packages

if TYPE_CHECKING:
    from cli.remote import RemoteServer
    from plume.settings import Settings

corpus_app = typer.Typer(help="Corpus de référence (paquets épinglés).", no_args_is_help=True)


@corpus_app.command("fetch")
def corpus_fetch(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Sources (toutes par défaut).")
    ] = None,
    archive: Annotated[
        Path | None, typer.Option(help="Installer depuis une archive .tgz locale (même empreinte).")
    ] = None,
) -> None:
    """Télécharge les paquets épinglés depuis le registre npm et vérifie leur intégrité."""
    from ingestion import npm
    from ingestion.service import fetch
    from plume import packages

    settings = load_settings()
    if archive is not None:
        if not sources or len(sources) != 1:
            err.print("[red]Erreur :[/red] avec --archive, nommez une seule source.")
            raise typer.Exit(1)
        with domain_errors():
            pkg = packages.pinned(settings.corpus_dir, sources[0])
            path = npm.fetch_package(pkg, settings.packages_dir, "", archive=archive)
        out.print(f"{sources[0]} : {pkg.package} {pkg.version} installé dans {path.parent}")
        return

    def skipped(name: str, why: str) -> None:
        err.print(
            f"[yellow]{name} : non disponible, ses codes ne seront pas indexés[/yellow] ({why})"
        )

    for name, path in run(lambda: fetch(settings, sources or None, on_skip=skipped)).items():
        out.print(f"{name} : prêt ({path.parent if path.name == 'package' else path})")


@corpus_app.command("piste")
def corpus_piste(
    codes: Annotated[list[str], typer.Argument(help="Codes à télécharger (LEGITEXT…).")],
    day: Annotated[
        str | None,
        typer.Option("--date", help="Version en vigueur à cette date (AAAA-MM-JJ) ; aujourd'hui."),
    ] = None,
    dossier: Annotated[
        Path | None, typer.Option(help="Dossier de destination ; <data_dir>/piste par défaut.")
    ] = None,
) -> None:
    """Télécharge des codes depuis l'API Légifrance (PISTE) pour `plume ingest legi --path`."""
    from ingestion.piste import PisteClient, save_snapshot

    settings = load_settings()
    if not settings.piste_client_id or settings.piste_client_secret is None:
        err.print(
            "[red]Erreur :[/red] identifiants PISTE absents : définissez PLUME_PISTE_CLIENT_ID "
            "et PLUME_PISTE_CLIENT_SECRET (application créée sur https://piste.gouv.fr, "
            "abonnée à l'API Légifrance)."
        )
        raise typer.Exit(1)
    if day is not None:
        parse_day(day)
    folder = dossier or settings.data_dir / "piste"
    client = PisteClient(
        settings.piste_oauth_url,
        settings.piste_api_url,
        settings.piste_client_id,
        settings.piste_client_secret,
    )
    with client, domain_errors():
        for code in codes:
            path = save_snapshot(client.fetch_code(code, day), folder)
            out.print(str(path), markup=False, highlight=False, soft_wrap=True)


def ingest(
    source: Annotated[
        str,
        typer.Argument(
            help="Source à indexer : service-public, legi, aides-territoires… ou « files » "
            "suivi des fichiers ou dossiers d'une commune (avec --tenant)."
        ),
    ],
    fichiers: Annotated[
        list[Path] | None, typer.Argument(help="Avec « files » : fichiers ou dossiers.")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Avec « files » : commune (code INSEE).")
    ] = None,
    par: Annotated[
        str | None, typer.Option("--par", help="Avec « files » : qui charge les documents.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Tout le corpus, pas la sélection mairie.")
    ] = False,
    path: Annotated[
        Path | None,
        typer.Option(
            help="À la place du paquet épinglé : dossier ou zip DILA (service-public), "
            "fichier ou dossier de codes JSON de Légifrance (legi), export CSV "
            "(aides-territoires ; sans --path : l'API)."
        ),
    ] = None,
    if_empty: Annotated[
        bool,
        typer.Option(
            "--if-empty",
            help="Ne rien faire si la source est déjà indexée (une indexation interrompue "
            "est reprise).",
        ),
    ] = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Réindexer la source à neuf (ses passages supprimés puis réécrits) ; un index "
            "endommagé est mis de côté et remplacé par un nouveau.",
        ),
    ] = False,
) -> None:
    """Indexe une source de façon incrémentale (ajouts, mises à jour, suppressions)."""
    from assistant.corpus import set_aside_if_damaged
    from ingestion.service import API_SOURCES, check_source

    if source == "files" or fichiers:
        from cli.files import ingest_files_command

        if source != "files" or not fichiers or not tenant:
            err.print("[red]Erreur :[/red] usage : plume ingest files CHEMIN… --tenant COMMUNE")
            raise typer.Exit(1)
        ingest_files_command(fichiers, tenant, par)
        return
    if rebuild and if_empty:
        err.print("[red]Erreur :[/red] --rebuild et --if-empty s'excluent.")
        raise typer.Exit(1)
    settings = load_settings()
    run(lambda: check_source(source))
    if path is None and source not in API_SOURCES:  # say so before opening the store
        pkg = run(lambda: packages.pinned(settings.corpus_dir, source))
        run(lambda: packages.package_dir(settings.packages_dir, pkg))
    hint = "Pour indexer pendant qu'il tourne : POST /v1/admin/ingest (jeton d'administration)."
    if rebuild:
        _set_aside(settings, source, run(lambda: set_aside_if_damaged(settings)))
    with open_runtime(settings, if_locked=hint) as runtime:
        plan = runtime.corpus.plan(source, path) if if_empty else None
        if plan is not None and plan.skip:
            out.print(f"{source} : déjà indexée, rien à faire.")
            return
        if plan is not None and plan.reason:
            out.print(f"{source} : {plan.reason}, indexation.")
        columns = (TextColumn("{task.description}"), BarColumn(), DoneColumn(), TimeElapsedColumn())
        log = IngestLog(err, source)  # in a log (cron, CI) a bar cannot redraw: a few lines
        with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
            task = bar.add_task(f"Indexation {source}", total=None)

            def on_total(n: int) -> None:
                bar.update(task, total=n)
                log.on_total(n)

            def progress(n: int) -> None:
                bar.advance(task, n)
                log.progress(n)

            summary = run(
                lambda: runtime.corpus.ingest(  # the run is recorded in the database
                    source,
                    everything=all_,
                    path=path,
                    on_total=on_total,
                    progress=progress,
                    on_written=None if err.is_terminal else log.written,
                    rebuild=rebuild,
                )
            )
        if not err.is_terminal:
            log.finish()
    table = Table(title=f"{source} {summary.version}")
    for col in ("documents", "ajoutés", "mis à jour", "supprimés", "inchangés", "erreurs", "durée"):
        table.add_column(col, justify="right")
    table.add_row(
        *map(
            str,
            (summary.documents, summary.added, summary.updated, summary.deleted, summary.skipped),
        ),
        str(len(summary.errors)),
        f"{summary.seconds:.1f} s",
    )
    out.print(fit(table, out))
    if summary.journal_changes:
        out.print(f"Veille : {summary.journal_changes} changement(s) ajouté(s) au journal.")
    for message in summary.errors[:20]:
        err.print(f"[yellow]rejeté :[/yellow] {escape(message)}")
    if summary.errors:
        raise typer.Exit(EXIT_ITEM_ERRORS)


def _set_aside(settings: Settings, source: str, where: Path | None) -> None:
    """Say that a damaged index was set aside, and what is left to index again."""
    if where is None:
        return
    from assistant.corpus import synced_sources

    others = [s for s in synced_sources(settings) if s != source]
    err.print(
        f"[yellow]Index endommagé mis de côté :[/yellow] {escape(str(where))} ; un nouvel "
        f"index est créé pour {source}.",
        soft_wrap=True,
    )
    if others:
        err.print(
            f"Sources à réindexer ensuite (plume ingest <source>) : {', '.join(others)} ; "
            "les documents des communes, s'il y en avait, sont à déposer de nouveau.",
            soft_wrap=True,
        )


def sources(
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Les documents de cette commune.")
    ] = None,
) -> None:
    """Liste les sources indexées : documents, passages, version, dernière synchronisation."""
    if tenant is not None:
        from cli.files import list_tenant_documents

        list_tenant_documents(tenant, as_json)
        return

    settings = load_settings()
    server = server_for(settings)
    if server is not None:  # a running `plume serve` holds the index: through its API
        _print_served_sources(server, as_json)
        return
    with open_runtime(settings) as runtime:
        found = run(lambda: runtime.corpus.sources(vectors=True, codes=True))
    codes = next((r.codes for r in found if r.source == "legi"), [])
    rows: list[dict[str, Any]] = [
        {
            "source": r.source,
            "documents": r.documents,
            "chunks": r.chunks,
            "e5": r.e5,
            "e5_total": r.e5_total,  # funded projects get none (never quoted)
            "versions": r.versions,
            "last_sync": (r.last_sync or {}).get("finished_at"),
            **({"codes": [vars(c) for c in codes]} if r.source == "legi" else {}),
        }
        for r in found
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title="Sources indexées")
    for col in ("source", "documents", "passages", "vecteurs e5", "versions", "dernière synchro"):
        table.add_column(col, overflow="fold" if col == "versions" else "ellipsis")
    for r in rows:
        versions = ", ".join(r["versions"])
        total = int(r["e5_total"])
        share = f"{r['e5']} ({100 * int(r['e5']) / total:.0f} %)" if total else "—"
        table.add_row(
            r["source"],
            str(r["documents"]),
            str(r["chunks"]),
            share,
            versions,
            minute(r["last_sync"]),
        )
    out.print(
        fit(table, out) if rows else "Aucune source indexée : lancez `plume ingest service-public`."
    )
    if codes:
        by_code = Table(title="Codes (source legi)")
        for col in ("code", "identifiant", "articles", "texte"):
            by_code.add_column(col)
        for c in codes:
            by_code.add_row(c.title, c.code_id, str(c.articles), c.origin)
        out.print(fit(by_code, out))


def _print_served_sources(server: RemoteServer, as_json: bool) -> None:
    """What the running server's public API says: the sources, and the e5 coverage overall
    (per source and per code, stop the server and ask again)."""
    listed = run(server.sources)
    e5 = run(server.health).get("e5") or {}
    if as_json:
        sys.stdout.write(json.dumps(listed, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=f"Sources indexées (serveur en marche : {server.url})")
    for col in ("source", "documents", "passages", "versions", "dernière synchro"):
        table.add_column(col, overflow="fold" if col == "versions" else "ellipsis")
    for r in listed:
        synced = (r.get("last_sync") or {}).get("finished_at")
        table.add_row(
            r["source"],
            str(r["documents"]),
            str(r["chunks"]),
            ", ".join(r.get("versions") or {}),
            minute(synced),
        )
    out.print(
        fit(table, out)
        if listed
        else "Aucune source indexée : lancez `plume ingest service-public`."
    )
    if e5.get("total"):
        out.print(f"Vecteurs e5 : {e5['done']} passages sur {e5['total']} ({e5['share']:.0%}).")


def vectors(
    etat: Annotated[
        bool, typer.Option("--etat", help="Seulement la couverture, sans rien calculer.")
    ] = False,
) -> None:
    """Calcule les vecteurs sémantiques (e5) des passages qui n'en ont pas encore.

    `plume serve` le fait en arrière-plan ; cette commande le fait au premier plan, avec
    sa progression, et reprend là où elle s'est arrêtée.
    """
    settings = load_settings()
    hint = (
        "Le serveur calcule déjà les vecteurs en arrière-plan : `plume sources` suit leur avancée."
    )
    with open_runtime(settings, if_locked=hint) as runtime:
        before = run(runtime.corpus.coverage)
        out.print(f"Vecteurs e5 : {before.done} passages sur {before.total} ({before.share:.0%}).")
        if etat or before.done == before.total:
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        logged = [before.done]

        def progress(c: Any) -> None:
            bar.update(task, completed=c.done)
            if not err.is_terminal and c.done - logged[0] >= 1000:  # a log: a line now and then
                logged[0] = c.done
                err.print(f"vecteurs e5 : {c.done} / {c.total}", highlight=False)

        with Progress(*columns, TimeElapsedColumn(), console=err) as bar:
            task = bar.add_task("Vecteurs e5", total=before.total, completed=before.done)
            done = run(lambda: runtime.corpus.fill_vectors(progress))
    out.print(f"{done} passages vectorisés.")


def delete(doc_id: Annotated[str, typer.Argument(help="Identifiant, ex. vdd/F1427.")]) -> None:
    """Retire un document de l'index."""
    hint = f"Pour le retirer pendant qu'il tourne : DELETE /v1/admin/documents/{doc_id}."
    with open_runtime(load_settings(), if_locked=hint) as runtime:
        n = run(lambda: runtime.corpus.delete(doc_id))
    if not n:
        err.print(f"[red]Erreur :[/red] « {escape(doc_id)} » n'est pas dans l'index.")
        raise typer.Exit(1)
    out.print(f"{escape(doc_id)} : {n} passages supprimés.")
