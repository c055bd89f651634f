"""Records commands: database migrations, purge, indicators, declared deployments, the
sovereignty sheet, export and import.

Registered in `cli.main` by `register(app)`; its helpers are imported when a command runs.
Commands that only touch the records open the database alone (they work while
`plume serve` holds the embedded store); export and import need the store too.
"""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from cli.common import domain_errors, load_settings, open_runtime

if TYPE_CHECKING:
    from assistant.records.indicators import Indicators
    from assistant.records.service import Records
    from plume.settings import Settings

out = Console()
db_app = typer.Typer(help="Base des enregistrements (migrations).", no_args_is_help=True)


def _records(settings: Settings) -> Records:
    from assistant.records.service import Records
    from plume.db import Database

    db = Database(settings.records_url)
    db.upgrade()
    return Records(db, redact_texts=settings.redact_personal_data)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Applique les migrations de la base (SQLite par défaut, PostgreSQL si configuré)."""

    settings = load_settings()
    with domain_errors():
        records = _records(settings)
        out.print(f"Base à jour : {records.describe()}.")
        records.close()


def purge(
    jours: Annotated[
        int | None, typer.Option("--jours", help="Conservation en jours (PLUME_RETENTION_DAYS).")
    ] = None,
) -> None:
    """Efface les conversations plus anciennes que la durée de conservation."""

    settings = load_settings()
    with domain_errors():
        records = _records(settings)
        days = jours if jours is not None else settings.retention_days
        result = records.purge(days)
        records.audit(_actor(), "purge", f"{days} jours", **result.as_dict())
        records.close()
    out.print(
        f"Conservation {days} jours : {result.conversations} conversation(s), "
        f"{result.messages} message(s) effacé(s), {result.comments} commentaire(s) vidé(s)."
    )


def indicateurs(
    debut: Annotated[str | None, typer.Option("--from", help="Début AAAA-MM-JJ.")] = None,
    fin: Annotated[str | None, typer.Option("--to", help="Fin AAAA-MM-JJ (incluse).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Sortie CSV (;).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", help="Écrit aussi le rapport HTML (graphiques).")
    ] = None,
) -> None:
    """Indicateurs d'impact Territoires d'IA sur une période (6 derniers mois par défaut)."""
    from assistant.records.report import render_html

    settings = load_settings()
    with domain_errors():
        records = _records(settings)
        try:
            report = records.indicators(debut, fin, settings.minutes_saved_per_answer)
        finally:
            records.close()
    if html is not None:
        html.write_text(render_html(report), encoding="utf-8")
    if as_csv:
        sys.stdout.write(report.to_csv())
        return
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    _print_table(report)


def _print_table(report: Indicators) -> None:
    """A column per commune (and the total), a row per indicator: thirteen indicators side
    by side would not fit a terminal; the communes are dealt into several tables if needed."""
    from html import unescape

    from assistant.records.report import COLUMNS, cell
    from cli.tables import split_columns

    (_, head), *shown = COLUMNS
    communes = [*report.communes, report.total]
    rows = [[label, *(unescape(cell(c, name)) for c in communes)] for name, label in shown]
    title = f"Indicateurs du {report.start} au {report.end}"
    for table in split_columns(title, head, [c.commune for c in communes], rows, out.width):
        out.print(table)
    out.print(report.method, markup=False, highlight=False)


def deploiement(
    commune: Annotated[str, typer.Argument(help="Code INSEE (ou identifiant) de la commune.")],
    licences: Annotated[int, typer.Option("--licences", help="Licences acquises.")],
    utilisateurs: Annotated[int, typer.Option("--utilisateurs", help="Agents utilisateurs.")],
    formes: Annotated[int, typer.Option("--formes", help="Agents formés.")] = 0,
    nom: Annotated[str, typer.Option("--nom", help="Nom de la commune.")] = "",
) -> None:
    """Déclare les licences, utilisateurs et agents formés d'une commune (indicateurs)."""
    from plume.keys import check_tenant

    settings = load_settings()
    with domain_errors():
        check_tenant(commune)
        records = _records(settings)
        records.declare(commune, licences=licences, users=utilisateurs, trained=formes, name=nom)
        records.audit(
            _actor(), "deploiement", commune, licences=licences, users=utilisateurs, trained=formes
        )
        records.close()
    out.print(
        f"{commune} : {licences} licence(s), {utilisateurs} utilisateur(s), {formes} formé(s)."
    )


def fiche_souverainete(
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Fiche « IA souveraine » du programme, remplie depuis la configuration ; refuse de
    certifier un traitement dans l'UE si une adresse est hors de l'UE (code de sortie 1)."""
    from assistant.records.sovereignty import build_sheet

    sheet = build_sheet(load_settings())
    if as_json:
        sys.stdout.write(json.dumps(sheet.as_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(sheet.markdown())  # Markdown to keep or paste, not wrapped
    if not sheet.eu_certified:
        raise typer.Exit(1)


def export(
    dossier: Annotated[Path, typer.Argument(help="Dossier à créer (vide).")],
) -> None:
    """Exporte tout (corpus et versions, profils, conversations, avis, indicateurs) en
    JSONL/CSV avec un manifeste."""
    with open_runtime(load_settings()) as runtime, domain_errors():
        manifest = runtime.backups.export(dossier, _actor())
    out.print(
        f"Export écrit dans {dossier} : {len(manifest.files)} fichiers, "
        f"{manifest.rows('corpus/points.jsonl')} passages, "
        f"{manifest.rows('records/messages.jsonl')} messages."
    )


def import_(
    dossier: Annotated[Path, typer.Argument(help="Dossier d'un export de Plume.")],
) -> None:
    """Restaure un export dans une instance vide (index, enregistrements, fichiers)."""
    with open_runtime(load_settings()) as runtime, domain_errors():
        manifest = runtime.backups.restore(dossier, _actor())
    out.print(
        f"Import terminé : {manifest.rows('corpus/points.jsonl')} passages, "
        f"{manifest.rows('records/messages.jsonl')} messages."
    )


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.command()(purge)
    app.command()(indicateurs)
    app.command()(deploiement)
    app.command("fiche-souverainete")(fiche_souverainete)
    app.command()(export)
    app.command("import")(import_)
