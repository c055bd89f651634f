"""`plume`: the command line. Thin commands over the core; errors become French messages.

Exit codes: 0 success, 1 error (message on stderr), 3 ingestion finished but some
documents were rejected (listed in the summary).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from plume.cli_aides import aides
from plume.cli_communes import communes_app
from plume.cli_keys import keys_app
from plume.cli_precedents import precedents
from plume.cli_records import register as register_records
from plume.documents import french_date
from plume.errors import PlumeError
from plume.settings import Settings

app = typer.Typer(
    help="Plume : l'assistant sourcé des secrétaires de mairie.", no_args_is_help=True
)
corpus_app = typer.Typer(help="Corpus de référence (paquets épinglés).", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
app.add_typer(communes_app, name="commune")
app.add_typer(keys_app, name="cle")
app.command()(precedents)
app.command("aides")(aides)
register_records(app)  # db, purge, indicateurs, deploiement, fiche-souverainete, export, import
out = Console()
err = Console(stderr=True)
EXIT_ITEM_ERRORS = 3
T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc") or ()
        variable = f"PLUME_{str(loc[0]).upper()} : " if loc else ""
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        err.print(f"[red]Configuration invalide :[/red] {escape(variable + message)}")
        raise typer.Exit(1) from exc


@contextmanager
def _domain_errors() -> Iterator[None]:
    try:
        yield
    except PlumeError as exc:
        err.print(f"[red]Erreur :[/red] {escape(exc.message)}")
        raise typer.Exit(1) from exc


def _run(fn: Callable[[], T]) -> T:
    with _domain_errors():
        return fn()


@contextmanager
def _runtime(settings: Settings) -> Iterator[Any]:
    from plume.runtime import Runtime

    with _domain_errors():
        runtime = Runtime.build(settings)
    try:
        yield runtime
    finally:
        runtime.close()


@app.command()
def config() -> None:
    """Affiche la configuration effective (secrets masqués)."""
    for key, value in _settings().masked().items():
        out.print(f"[bold]{key}[/bold] = {value}")


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

    settings = _settings()
    if archive is not None:
        if not sources or len(sources) != 1:
            err.print("[red]Erreur :[/red] avec --archive, nommez une seule source.")
            raise typer.Exit(1)
        with _domain_errors():
            pkg = npm.pinned(settings.corpus_dir, sources[0])
            path = npm.fetch_package(pkg, settings.packages_dir, "", archive=archive)
        out.print(f"{sources[0]} : {pkg.package} {pkg.version} installé dans {path.parent}")
        return

    def skipped(name: str, why: str) -> None:
        err.print(
            f"[yellow]{name} : non disponible, ses codes ne seront pas indexés[/yellow] ({why})"
        )

    for name, path in _run(lambda: fetch(settings, sources or None, on_skip=skipped)).items():
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

    settings = _settings()
    if not settings.piste_client_id or settings.piste_client_secret is None:
        err.print(
            "[red]Erreur :[/red] identifiants PISTE absents : définissez PLUME_PISTE_CLIENT_ID "
            "et PLUME_PISTE_CLIENT_SECRET (application créée sur https://piste.gouv.fr, "
            "abonnée à l'API Légifrance)."
        )
        raise typer.Exit(1)
    if day is not None:
        try:
            date.fromisoformat(day)
        except ValueError:
            err.print(f"[red]Erreur :[/red] date invalide « {escape(day)} » : attendu AAAA-MM-JJ.")
            raise typer.Exit(1) from None
    folder = dossier or settings.data_dir / "piste"
    client = PisteClient(
        settings.piste_oauth_url,
        settings.piste_api_url,
        settings.piste_client_id,
        settings.piste_client_secret,
    )
    with client, _domain_errors():
        for code in codes:
            path = save_snapshot(client.fetch_code(code, day), folder)
            out.print(str(path), markup=False, highlight=False, soft_wrap=True)


@app.command()
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
        bool, typer.Option("--if-empty", help="Ne rien faire si la source est déjà indexée.")
    ] = False,
) -> None:
    """Indexe une source de façon incrémentale (ajouts, mises à jour, suppressions)."""
    from ingestion import npm
    from ingestion.service import API_SOURCES, check_source, ingest_source, missing_codes
    from plume.store import SearchFilter

    if source == "files" or fichiers:
        from plume.cli_files import ingest_files_command

        if source != "files" or not fichiers or not tenant:
            err.print("[red]Erreur :[/red] usage : plume ingest files CHEMIN… --tenant COMMUNE")
            raise typer.Exit(1)
        ingest_files_command(fichiers, tenant, par)
        return
    settings = _settings()
    _run(lambda: check_source(source))
    if path is None and source not in API_SOURCES:  # say so before opening the store
        pkg = _run(lambda: npm.pinned(settings.corpus_dir, source))
        _run(lambda: npm.package_dir(settings.packages_dir, pkg))
    with _runtime(settings) as runtime:
        if if_empty and runtime.store.count(SearchFilter(sources=[source])) > 0:
            # codes: a code added to the corpus since (e.g. the LexHub four) is still indexed
            missing = missing_codes(settings, runtime.store.list_sources()) if path is None else []
            if source != "legi" or not missing:
                out.print(f"{source} : déjà indexée, rien à faire.")
                return
            out.print(f"{source} : codes pas encore indexés ({', '.join(missing)}), indexation.")
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        written = _WrittenLog()  # in a log (cron, CI) the bar is silent: say each batch
        with Progress(*columns, console=err, transient=False) as bar:
            task = bar.add_task(f"Indexation {source}", total=None)
            summary = _run(
                lambda: runtime.records.track(  # the run is recorded in the database
                    source,
                    lambda: ingest_source(
                        settings,
                        runtime.store,
                        runtime.embedder,
                        source,
                        everything=all_,
                        path=path,
                        on_total=lambda n: bar.update(task, total=n),
                        progress=lambda n: bar.advance(task, n),
                        on_written=None if err.is_terminal else written.log,
                    ),
                )
            )
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
    out.print(table)
    if summary.journal_changes:
        out.print(f"Veille : {summary.journal_changes} changement(s) ajouté(s) au journal.")
    for message in summary.errors[:20]:
        err.print(f"[yellow]rejeté :[/yellow] {escape(message)}")
    if summary.errors:
        raise typer.Exit(EXIT_ITEM_ERRORS)


AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="Textes en vigueur à cette date (AAAA-MM-JJ) ; aujourd'hui par défaut."
    ),
]


TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", help="Voir aussi les documents de cette commune (code INSEE)."),
]


class _WrittenLog:
    """One line per batch written to the store, for logs where no progress bar shows."""

    def __init__(self) -> None:
        self.total = 0

    def log(self, n: int) -> None:
        self.total += n
        err.print(f"écrit : {n} passages ({self.total} depuis le début)", highlight=False)


def _filters(
    source: list[str] | None = None,
    audience: list[str] | None = None,
    as_of: str | None = None,
    tenant: str | None = None,
) -> Any:
    from assistant.retrieval import build_filter

    day = None
    if as_of:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            err.print(
                f"[red]Erreur :[/red] date invalide « {escape(as_of)} » : attendu AAAA-MM-JJ."
            )
            raise typer.Exit(1) from None
    if tenant:
        from plume.keys import check_tenant

        _run(lambda: check_tenant(tenant))
    tenants = [tenant] if tenant else []
    return _run(
        lambda: build_filter(sources=source, audiences=audience, as_of=day, tenants=tenants)
    )


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="La recherche, en français.")],
    limit: Annotated[int, typer.Option(min=1, max=50)] = 8,
    source: Annotated[list[str] | None, typer.Option(help="Filtrer par source.")] = None,
    audience: Annotated[
        list[str] | None, typer.Option(help="Particuliers, Professionnels, Associations.")
    ] = None,
    as_of: AsOf = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
    tenant: TenantOpt = None,
    commune: Annotated[
        str | None,
        typer.Option(
            "--commune",
            help="Code INSEE : les articles de son régime particulier (Alsace-Moselle, "
            "outre-mer…) ne sont pas relégués après le droit commun.",
        ),
    ] = None,
) -> None:
    """Cherche les passages les plus pertinents."""
    settings = _settings()
    where = _filters(source, audience, as_of, tenant)
    with _runtime(settings) as runtime:
        profile = _run(lambda: runtime.communes.get(commune)) if commune else None
        passages = _run(lambda: runtime.assistant.search(query, where, limit, profile))
        gaps = runtime.assistant.history_gaps(query, where, passages)
    if as_json:
        rows = [{"rank": p.rank, "score": p.score, **p.hit.payload} for p in passages]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    if not passages:
        out.print("Aucun résultat.")
    for gap in gaps:
        out.print(f"[yellow]{escape(gap.message)}[/yellow]")
    for p in passages:
        page = f", p. {p.field('page')}" if p.field("page") else ""
        out.print(f"[bold]{p.rank}. {p.field('title')}{page}[/bold]  [dim]{p.doc_id}[/dim]")
        if p.field("regime"):
            out.print(f"   [yellow]Régime particulier : {escape(str(p.field('regime')))}[/yellow]")
        if p.field("section"):
            out.print(f"   [italic]{p.field('section')}[/italic]")
        out.print(f"   {p.text[:240]}", markup=False, highlight=False)
        if p.field("in_force_from") or p.field("in_force_to"):
            out.print(f"   [dim]{escape(_in_force(p.hit.payload))}[/dim]")
        out.print(f"   [blue]{p.field('url')}[/blue]")


def _in_force(payload: dict[str, Any]) -> str:
    """« en vigueur du … au … (texte à jour au …) » for an article version."""
    start, end = payload.get("in_force_from"), payload.get("in_force_to")
    if start and end:
        when = f"en vigueur du {french_date(start)} au {french_date(end)}"
    elif start:
        when = f"en vigueur depuis le {french_date(start)}"
    else:
        when = f"en vigueur jusqu'au {french_date(end)}"
    upto = payload.get("text_date")
    return f"{when} (texte à jour au {french_date(upto)})" if upto else when


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="La question, en français.")],
    as_of: AsOf = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
    commune: Annotated[
        str | None,
        typer.Option(
            "--commune",
            help="Code INSEE : les questions d'aides en tiennent compte, et les articles de "
            "son régime particulier (Alsace-Moselle…).",
        ),
    ] = None,
    tenant: TenantOpt = None,
) -> None:
    """Pose une question et affiche une réponse citée."""
    settings = _settings()
    where = _filters(as_of=as_of, tenant=tenant)
    with _runtime(settings) as runtime:
        profile = _run(lambda: runtime.communes.get(commune)) if commune else None
        answer = _run(lambda: runtime.assistant.ask(question, where, commune=profile))
    if as_json:
        sys.stdout.write(json.dumps(answer.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(f"[dim]{escape(answer.notice)}[/dim]\n")
    if answer.warning:
        out.print(f"[yellow]{escape(answer.warning)}[/yellow]\n")
    out.print(answer.text, markup=False, highlight=False)
    if answer.reliability:
        level = answer.reliability
        colour = {"elevee": "green", "moyenne": "yellow"}.get(str(level["level"]), "cyan")
        out.print(f"\n[{colour}]Fiabilité : {escape(str(level['label']))}[/{colour}]")
        for reason in level.get("reasons") or []:
            out.print(f"[dim]  · {escape(str(reason))}[/dim]")
    if answer.citations:
        out.print()
    for c in answer.citations:
        when = f" — {_in_force(c.as_dict())}" if c.in_force_from or c.in_force_to else ""
        when = when or (f" — mise à jour le {french_date(c.modified)}" if c.modified else "")
        page = f", p. {c.page}" if c.page else ""
        regime = f" — régime particulier : {c.regime}" if c.regime else ""
        out.print(
            f"[{c.n}] {c.title}{page}{when}{regime}\n    {c.url}", markup=False, highlight=False
        )
    if answer.see_also:
        out.print("\nÀ vérifier aussi :")
    for c in answer.see_also:
        when = f" — {_in_force(c.as_dict())}" if c.in_force_from or c.in_force_to else ""
        when = when or (f" — mise à jour le {french_date(c.modified)}" if c.modified else "")
        out.print(f"- {c.title}{when}\n    {c.url}", markup=False, highlight=False)
    if answer.flags:
        out.print(f"[dim]signalements : {', '.join(answer.flags)}[/dim]")


@app.command()
def sources(
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Les documents de cette commune.")
    ] = None,
) -> None:
    """Liste les sources indexées : documents, passages, version, dernière synchronisation."""
    from ingestion import sync_log
    from ingestion.service import code_inventory

    if tenant is not None:
        from plume.cli_files import list_tenant_documents

        list_tenant_documents(tenant, as_json)
        return

    from ingestion.local_vectors import NOT_EMBEDDED
    from plume.store import SearchFilter

    settings = _settings()
    with _runtime(settings) as runtime:
        stats = _run(runtime.store.list_sources)
        # passages that have their semantic vector (filled after BM25), of those that get one
        with_e5 = {
            s.source: tuple(
                runtime.store.count(
                    SearchFilter(
                        sources=[s.source],
                        has_local=has,
                        every_tenant=True,
                        except_kinds=NOT_EMBEDDED,
                    )
                )
                for has in (True, None)
            )
            for s in stats
        }
    synced = sync_log.read(settings.data_dir)
    codes = code_inventory(settings, stats)
    rows = [
        {
            "source": s.source,
            "documents": s.documents,
            "chunks": s.chunks,
            "e5": with_e5[s.source][0],
            "e5_total": with_e5[s.source][1],  # funded projects get none (never quoted)
            "versions": s.versions,
            "last_sync": synced.get(s.source, {}).get("finished_at"),
            **({"codes": [vars(c) for c in codes]} if s.source == "legi" else {}),
        }
        for s in stats
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title="Sources indexées")
    for col in ("source", "documents", "passages", "vecteurs e5", "versions", "dernière synchro"):
        table.add_column(col)
    for r in rows:
        versions = ", ".join(r["versions"])  # type: ignore[arg-type]
        total = int(r["e5_total"])  # type: ignore[call-overload]
        share = f"{r['e5']} ({100 * int(r['e5']) / total:.0f} %)" if total else "—"  # type: ignore[call-overload]
        table.add_row(
            r["source"],  # type: ignore[arg-type]
            str(r["documents"]),
            str(r["chunks"]),
            share,
            versions,
            str(r["last_sync"] or "—"),
        )
    out.print(table if rows else "Aucune source indexée : lancez `plume ingest service-public`.")
    if codes:
        by_code = Table(title="Codes (source legi)")
        for col in ("code", "identifiant", "articles", "texte"):
            by_code.add_column(col)
        for c in codes:
            by_code.add_row(c.title, c.code_id, str(c.articles), c.origin)
        out.print(by_code)


@app.command()
def vectors(
    etat: Annotated[
        bool, typer.Option("--etat", help="Seulement la couverture, sans rien calculer.")
    ] = False,
) -> None:
    """Calcule les vecteurs sémantiques (e5) des passages qui n'en ont pas encore.

    `plume serve` le fait en arrière-plan ; cette commande le fait au premier plan, avec
    sa progression, et reprend là où elle s'est arrêtée.
    """
    from ingestion.local_vectors import LocalVectorFiller, coverage

    settings = _settings()
    with _runtime(settings) as runtime:
        before = _run(lambda: coverage(runtime.store))
        out.print(f"Vecteurs e5 : {before.done} passages sur {before.total} ({before.share:.0%}).")
        if etat or before.done == before.total:
            return
        filler = LocalVectorFiller(
            runtime.store, threads=settings.local_fill_threads, nice=settings.local_fill_nice
        )
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        logged = [before.done]

        def progress(c: Any) -> None:
            bar.update(task, completed=c.done)
            if not err.is_terminal and c.done - logged[0] >= 1000:  # a log: a line now and then
                logged[0] = c.done
                err.print(f"vecteurs e5 : {c.done} / {c.total}", highlight=False)

        with Progress(*columns, TimeElapsedColumn(), console=err) as bar:
            task = bar.add_task("Vecteurs e5", total=before.total, completed=before.done)
            done = _run(lambda: filler.run(progress=progress))
    out.print(f"{done} passages vectorisés.")


@app.command()
def delete(doc_id: Annotated[str, typer.Argument(help="Identifiant, ex. vdd/F1427.")]) -> None:
    """Retire un document de l'index."""
    from ingestion.service import delete_document

    settings = _settings()
    with _runtime(settings) as runtime:
        n = _run(lambda: delete_document(runtime.store, doc_id))
    if not n:
        err.print(f"[red]Erreur :[/red] « {escape(doc_id)} » n'est pas dans l'index.")
        raise typer.Exit(1)
    out.print(f"{escape(doc_id)} : {n} passages supprimés.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
) -> None:
    """Lance l'API et la page de chat (un seul processus : il possède le stockage embarqué)."""
    import uvicorn

    from api.main import create_app

    settings = _settings()
    with _runtime(settings) as runtime:
        runtime.start_local_fill()  # the e5 vectors follow BM25, in the background
        out.print(f"Plume écoute sur http://{host or settings.host}:{port or settings.port}")
        uvicorn.run(
            create_app(settings, runtime=runtime),
            host=host or settings.host,
            port=port or settings.port,
            workers=1,
            log_level="info",
            access_log=False,  # no personal data in logs: client addresses, query strings
        )


veille_app = typer.Typer(
    help="Veille juridique : journal des modifications des codes et synthèse. "
    "`plume veille --since AAAA-MM-JJ` affiche la synthèse (comme `plume veille digest`).",
    invoke_without_command=True,
)
app.add_typer(veille_app, name="veille")


# the options of the digest, shared by `plume veille --since` and `plume veille digest`
CodesOpt = Annotated[list[str] | None, typer.Option(help="Limiter à ces codes (LEGITEXT…).")]
FormatOpt = Annotated[str, typer.Option("--format", help="md, html ou json.")]
ProfilOpt = Annotated[str | None, typer.Option("--profil", help="Limiter à un profil de veille.")]
CommuneOpt = Annotated[
    str | None, typer.Option("--commune", help="Code INSEE : ajoute les aides qui ferment bientôt.")
]
EcheancesOpt = Annotated[
    int, typer.Option("--echeances", help="Aides qui ferment dans les N jours (avec --commune).")
]


@veille_app.callback()
def veille_default(
    ctx: typer.Context,
    since: Annotated[
        str | None, typer.Option(help="Synthèse des changements depuis (AAAA-MM-JJ).")
    ] = None,
    code: CodesOpt = None,
    fmt: FormatOpt = "md",
    profil: ProfilOpt = None,
    commune: CommuneOpt = None,
    echeances: EcheancesOpt = 30,
) -> None:
    """Veille juridique : sans sous-commande, la synthèse depuis --since."""
    if ctx.invoked_subcommand is not None:
        return
    if since is None:
        out.print(ctx.get_help())
        raise typer.Exit(1)
    veille_digest(since, code, fmt, profil, commune, echeances)


@veille_app.command("compare")
def veille_compare(
    old: Annotated[Path, typer.Argument(help="Code JSON (ou dossier de paquet) avant.")],
    new: Annotated[Path, typer.Argument(help="Code JSON (ou dossier de paquet) après.")],
    code: Annotated[
        str | None, typer.Option(help="Le code à comparer quand OLD et NEW sont des dossiers.")
    ] = None,
) -> None:
    """Compare deux versions d'un code et ajoute les changements au journal."""
    from ingestion.journal import ChangeJournal, code_path, compare_files

    settings = _settings()
    with _domain_errors():
        changes = compare_files(
            code_path(old, code), code_path(new, code), old.name or str(old), new.name or str(new)
        )
        added = ChangeJournal(settings.data_dir).append(changes)
    out.print(f"{len(changes)} changement(s) relevé(s), {added} nouveau(x) dans le journal.")


@veille_app.command("journal")
def veille_journal(
    from_package: Annotated[
        str, typer.Option("--from-package", help="Source de l'instantané précédent.")
    ] = "legi-previous",
    since: Annotated[
        str | None,
        typer.Option(help="Au lieu de comparer : les versions en vigueur depuis (AAAA-MM-JJ)."),
    ] = None,
) -> None:
    """Enregistre les changements : instantané précédent → actuel, ou versions depuis une date."""
    import tomllib

    from ingestion import npm
    from ingestion.journal import journal_packages, journal_since

    settings = _settings()
    if since is not None:
        from assistant.veille import parse_since

        day = _run(lambda: parse_since(since))
        with _domain_errors():
            current = npm.pinned(settings.corpus_dir, "legi")
            root = npm.package_dir(settings.packages_dir, current)
        with open(settings.corpus_dir / "legi.toml", "rb") as fh:
            wanted = list(tomllib.load(fh)["codes"])
        found = _run(lambda: journal_since(settings.data_dir, (root, current.version), wanted, day))
        for code_id, n in found.items():
            out.print(f"{code_id} : {n} nouveau(x) changement(s) depuis le {day.isoformat()}")
        return
    with _domain_errors():
        before = npm.pinned(settings.corpus_dir, from_package)
        after = npm.pinned(settings.corpus_dir, "legi")
        roots = [npm.package_dir(settings.packages_dir, p) for p in (before, after)]
    with open(settings.corpus_dir / "legi.toml", "rb") as fh:
        codes = list(tomllib.load(fh)["codes"])
    added = _run(
        lambda: journal_packages(
            settings.data_dir, (roots[0], before.version), (roots[1], after.version), codes
        )
    )
    for code_id, n in added.items():
        out.print(f"{code_id} : {n} nouveau(x) changement(s) ({before.version} → {after.version})")


@veille_app.command("digest")
def veille_digest(
    since: Annotated[str, typer.Option(help="Changements en vigueur depuis (AAAA-MM-JJ).")],
    code: CodesOpt = None,
    fmt: FormatOpt = "md",
    profil: ProfilOpt = None,
    commune: CommuneOpt = None,
    echeances: EcheancesOpt = 30,
) -> None:
    """Affiche la synthèse de veille depuis une date, à partir du journal ; avec --commune,
    suivie des aides qui ferment dans les --echeances jours."""
    from assistant.grants import deadlines
    from assistant.llm import build_llm
    from assistant.veille import watch_digest

    settings = _settings()
    closing = None
    if commune:
        with _runtime(settings) as runtime:
            closing = _run(
                lambda: deadlines(
                    runtime.assistant.retriever, runtime.communes.get(commune), echeances
                )
            )
    text = _run(
        lambda: watch_digest(
            settings.data_dir,
            settings.corpus_dir,
            since,
            code,
            fmt,
            profil,
            build_llm(settings),
            closing,
        )
    )
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


profil_app = typer.Typer(
    help="Profils de veille : les codes, sections et mots-clés suivis.", no_args_is_help=True
)
veille_app.add_typer(profil_app, name="profil")


@profil_app.command("ajouter")
def profil_ajouter(
    name: Annotated[str, typer.Argument(help="Nom du profil (minuscules, chiffres, tirets).")],
    code: Annotated[list[str] | None, typer.Option(help="Code suivi (LEGITEXT…).")] = None,
    section: Annotated[
        list[str] | None, typer.Option(help="Section suivie (extrait du chemin).")
    ] = None,
    mot_cle: Annotated[
        list[str] | None, typer.Option("--mot-cle", help="Mot ou expression suivi.")
    ] = None,
    description: Annotated[str, typer.Option(help="À quoi sert ce profil.")] = "",
) -> None:
    """Crée ou remplace un profil de veille."""
    from assistant.watch_profiles import ProfileStore, WatchProfile, refuse_unindexed
    from ingestion.service import indexed_codes

    settings = _settings()
    with _domain_errors():
        profile = WatchProfile(
            name=name,
            codes=tuple(code or ()),
            sections=tuple(section or ()),
            keywords=tuple(mot_cle or ()),
            description=description,
        )
    if profile.codes:
        with _runtime(settings) as runtime:
            stats = runtime.store.list_sources()
        with _domain_errors():
            refuse_unindexed(profile, indexed_codes(settings, stats), settings.data_dir)
    with _domain_errors():
        created = ProfileStore(settings.data_dir).put(profile)
    out.print(f"Profil « {escape(name)} » {'créé' if created else 'remplacé'}.")


@profil_app.command("liste")
def profil_liste(
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Liste les profils de veille."""
    from assistant.watch_profiles import ProfileStore

    settings = _settings()
    profiles = _run(lambda: ProfileStore(settings.data_dir).list())
    if as_json:
        rows = [p.as_dict() for p in profiles]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    if not profiles:
        out.print("Aucun profil de veille.")
        return
    table = Table("Profil", "Codes", "Sections", "Mots-clés", "Description")
    for p in profiles:
        table.add_row(
            *(escape(v) for v in (p.name, ", ".join(p.codes), " ; ".join(p.sections))),
            escape(", ".join(p.keywords)),
            escape(p.description),
        )
    out.print(table)


@profil_app.command("supprimer")
def profil_supprimer(
    name: Annotated[str, typer.Argument(help="Nom du profil.")],
) -> None:
    """Supprime un profil de veille."""
    from assistant.watch_profiles import ProfileStore

    settings = _settings()
    _run(lambda: ProfileStore(settings.data_dir).delete(name))
    out.print(f"Profil « {escape(name)} » supprimé.")


@app.command()
def cofinancement(
    licences: Annotated[str, typer.Option(help="Montant des licences, en euros.")],
    deploiement: Annotated[
        str, typer.Option(help="Déploiement, intégration et formation, en euros.")
    ] = "0",
    licences_nombre: Annotated[int, typer.Option(help="Nombre de licences.")] = 0,
    autres_beneficiaires: Annotated[
        int, typer.Option(help="Bénéficiaires éligibles autres que le porteur.")
    ] = 0,
    part_porteur: Annotated[
        str | None, typer.Option(help="Part (0–1) des dépenses portée par le porteur.")
    ] = None,
    outre_mer: Annotated[bool, typer.Option("--outre-mer", help="Territoire d'outre-mer.")] = False,
    coeur_de_ville: Annotated[
        bool, typer.Option("--coeur-de-ville", help="Commune Action Cœur de Ville.")
    ] = False,
    part_qpv: Annotated[str, typer.Option(help="Part (0–1) de la population en QPV.")] = "0",
    ia_frugale: Annotated[bool, typer.Option("--ia-frugale", help="Projet d'IA frugale.")] = False,
    date_achat: Annotated[str | None, typer.Option(help="Date d'achat, AAAA-MM-JJ.")] = None,
    date_accord: Annotated[str | None, typer.Option(help="Date de l'accord, AAAA-MM-JJ.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Calcule un cofinancement « Territoires d'IA » (Banque des Territoires), étape par étape."""
    from assistant.cofinancing import (
        CofinancingRequest,
        compute_cofinancing,
        parse_date,
        parse_decimal,
    )

    with _domain_errors():
        share = parse_decimal(part_porteur, "Part du porteur") if part_porteur else None
        request = CofinancingRequest(
            licences_amount=parse_decimal(licences, "Licences"),
            deployment_amount=parse_decimal(deploiement, "Déploiement"),
            licence_count=licences_nombre,
            other_beneficiaries=autres_beneficiaires,
            applicant_share=share,
            outre_mer=outre_mer,
            action_coeur_de_ville=coeur_de_ville,
            qpv_share=parse_decimal(part_qpv, "Part en QPV"),
            ia_frugale=ia_frugale,
            purchase_date=parse_date(date_achat, "Date d'achat"),
            approval_date=parse_date(date_accord, "Date de l'accord"),
        )
        result = compute_cofinancing(request)
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    sys.stdout.write(result.explain() + "\n")


from plume.cli_eval import eval_app  # noqa: E402  (it uses the helpers above)

app.add_typer(eval_app, name="eval")
