"""`plume veille`: the legal watch's journal, digest and watch profiles."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import (
    domain_errors,
    load_settings,
    open_runtime,
    out,
    run,
    server_for,
)
from cli.tables import fit

if TYPE_CHECKING:
    from assistant.veille.service import VeilleService
    from plume.settings import Settings

SHOWN = 20  # changes listed by `plume veille compare`; the digest shows them all

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
    from assistant.veille.headlines import headline

    with _veille(load_settings(), index=False, model=False) as veille:
        changes, added = run(lambda: veille.compare(old, new, code))
    for change in changes[:SHOWN]:
        out.print(f"- {headline(change)}", markup=False, highlight=False)
    if len(changes) > SHOWN:
        out.print(f"… et {len(changes) - SHOWN} autre(s) : `plume veille digest` les montre tous.")
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
    with _veille(load_settings(), index=False, model=False) as veille:
        titles = veille.code_titles()
        if since is not None:
            day, found = run(lambda: veille.record_since(since))
            for code_id, n in found.items():
                name = f"{titles.get(code_id, code_id)} ({code_id})"
                out.print(f"{name} : {n} nouveau(x) changement(s) depuis le {day.isoformat()}")
            return
        before, after, added = run(lambda: veille.record_upgrade(from_package))
    for code_id, n in added.items():
        name = f"{titles.get(code_id, code_id)} ({code_id})"
        out.print(f"{name} : {n} nouveau(x) changement(s) ({before} → {after})")


@contextmanager
def _veille(
    settings: Settings, *, index: bool, model: bool = True, if_locked: str | None = None
) -> Iterator[VeilleService]:
    """The runtime's watch when the index is needed (a commune's aids, a profile's codes),
    else the journal alone: then it works while a server holds the index."""
    from assistant.veille.service import VeilleService

    if index:
        with open_runtime(settings, if_locked=if_locked) as runtime:
            yield runtime.veille
    else:
        yield VeilleService.journal_only(settings, model=model)


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
    settings = load_settings()
    # a commune's aids are read in the index: while a server holds it, through its API
    server = server_for(settings) if commune else None
    if server is not None:
        params = {"since": since, "code": code, "format": fmt, "profil": profil}
        text = run(lambda: server.veille(**params, commune=commune, echeances=echeances))
    else:
        with _veille(settings, index=bool(commune)) as veille:
            text = run(lambda: veille.digest(since, code, fmt, profil, commune, echeances))
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
    from assistant.veille.profiles import VeilleProfile

    with domain_errors():
        profile = VeilleProfile(
            name=name,
            codes=tuple(code or ()),
            sections=tuple(section or ()),
            keywords=tuple(mot_cle or ()),
            description=description,
        )
    settings = load_settings()
    with _veille(settings, index=False, model=False) as journal:
        index = journal.profile_needs_index(profile)  # codes the change journal does not know
    hint = f"Pour le créer pendant qu'il tourne : PUT /v1/admin/veille/profils/{name}."
    with _veille(settings, index=index, model=False, if_locked=hint) as veille:
        created = run(lambda: veille.put_profile(profile))
    out.print(f"Profil « {escape(name)} » {'créé' if created else 'remplacé'}.")


@profil_app.command("liste")
def profil_liste(
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Liste les profils de veille."""
    with _veille(load_settings(), index=False, model=False) as veille:
        profiles = run(veille.list_profiles)
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
    out.print(fit(table, out))


@profil_app.command("supprimer")
def profil_supprimer(
    name: Annotated[str, typer.Argument(help="Nom du profil.")],
) -> None:
    """Supprime un profil de veille."""
    with _veille(load_settings(), index=False, model=False) as veille:
        run(lambda: veille.delete_profile(name))
    out.print(f"Profil « {escape(name)} » supprimé.")
