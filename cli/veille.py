"""`plume veille`: the legal watch's journal, digest and watch profiles."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import (
    domain_errors,
    load_settings,
    open_runtime,
    out,
    run,
)
from plume import packages

veille_app = typer.Typer(
    help="Veille juridique : journal des modifications des codes et synthèse. "
    "`plume veille --since AAAA-MM-JJ` affiche la synthèse (comme `plume veille digest`).",
    invoke_without_command=True,
)


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

    settings = load_settings()
    with domain_errors():
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

    from ingestion.journal import journal_packages, journal_since

    settings = load_settings()
    if since is not None:
        from assistant.veille.digest import parse_since

        day = run(lambda: parse_since(since))
        with domain_errors():
            current = packages.pinned(settings.corpus_dir, "legi")
            root = packages.package_dir(settings.packages_dir, current)
        with open(settings.corpus_dir / "legi.toml", "rb") as fh:
            wanted = list(tomllib.load(fh)["codes"])
        found = run(lambda: journal_since(settings.data_dir, (root, current.version), wanted, day))
        for code_id, n in found.items():
            out.print(f"{code_id} : {n} nouveau(x) changement(s) depuis le {day.isoformat()}")
        return
    with domain_errors():
        before = packages.pinned(settings.corpus_dir, from_package)
        after = packages.pinned(settings.corpus_dir, "legi")
        roots = [packages.package_dir(settings.packages_dir, p) for p in (before, after)]
    with open(settings.corpus_dir / "legi.toml", "rb") as fh:
        codes = list(tomllib.load(fh)["codes"])
    added = run(
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
    from assistant.veille.digest import watch_digest

    settings = load_settings()
    closing = None
    if commune:
        with open_runtime(settings) as runtime:
            closing = run(
                lambda: deadlines(
                    runtime.assistant.retriever, runtime.communes.get(commune), echeances
                )
            )
    text = run(
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
    from assistant.veille.profiles import ProfileStore, WatchProfile, refuse_unindexed
    from ingestion.service import indexed_codes

    settings = load_settings()
    with domain_errors():
        profile = WatchProfile(
            name=name,
            codes=tuple(code or ()),
            sections=tuple(section or ()),
            keywords=tuple(mot_cle or ()),
            description=description,
        )
    if profile.codes:
        with open_runtime(settings) as runtime:
            stats = runtime.store.list_sources()
        with domain_errors():
            refuse_unindexed(profile, indexed_codes(settings, stats), settings.data_dir)
    with domain_errors():
        created = ProfileStore(settings.data_dir).put(profile)
    out.print(f"Profil « {escape(name)} » {'créé' if created else 'remplacé'}.")


@profil_app.command("liste")
def profil_liste(
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Liste les profils de veille."""
    from assistant.veille.profiles import ProfileStore

    settings = load_settings()
    profiles = run(lambda: ProfileStore(settings.data_dir).list())
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
    from assistant.veille.profiles import ProfileStore

    settings = load_settings()
    run(lambda: ProfileStore(settings.data_dir).delete(name))
    out.print(f"Profil « {escape(name)} » supprimé.")
