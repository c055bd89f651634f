"""`plume commune …`: the communes' profiles, set by the administrator.

Registered in `cli.main` as the `commune` group. Errors become French messages
through `cli.main`'s handler (imported when a command runs: `cli.main` imports
this module).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import domain_errors, load_settings, out, run
from cli.tables import fit

if TYPE_CHECKING:
    from assistant.communes import CommuneProfile, CommuneRegistry
    from plume.settings import Settings
    from plume.territory import Territory

communes_app = typer.Typer(
    help="Profils des communes (code INSEE, population, intercommunalité, critères des aides).",
    no_args_is_help=True,
)
AsJson = Annotated[bool, typer.Option("--json", help="Sortie JSON.")]
Insee = Annotated[str, typer.Argument(help="Code INSEE de la commune, ex. 78003, 2A004, 97101.")]


def _territory(settings: Settings) -> Territory:
    from plume.territory import Territory

    return Territory(settings.packages_dir, settings.corpus_dir)


def _registry() -> CommuneRegistry:
    from assistant.communes import CommuneRegistry

    settings = load_settings()
    return CommuneRegistry(settings.data_dir, _territory(settings))


def _percent(share: float | None, unknown: str) -> str:
    return unknown if share is None else f"{share * 100:.1f} %".replace(".", ",")


def _number(n: int | None) -> str:
    return "—" if n is None else f"{n:,}".replace(",", " ")


def _yes_no(value: bool | None) -> str:
    return "inconnu" if value is None else "oui" if value else "non"


def _print(profile: CommuneProfile) -> None:

    epci = f"{profile.epci_name} (SIREN {profile.epci_siren})" if profile.epci_name else "aucune"
    rows = [
        ("Commune", f"{profile.name} ({profile.insee})"),
        ("Population", _number(profile.population)),
        ("Département", f"{profile.departement_name} ({profile.departement})"),
        ("Région", f"{profile.region_name} ({profile.region})"),
        ("Intercommunalité", epci),
        ("Outre-mer", _yes_no(profile.outre_mer)),
        ("Action Cœur de Ville", _yes_no(profile.action_coeur_de_ville)),
        ("Part de la population en QPV", _percent(profile.qpv_share, "inconnue")),
        ("Commune rurale", _yes_no(profile.rural)),
    ]
    for label, value in rows:
        out.print(f"[bold]{label}[/bold] : {escape(value)}")


def _dump(value: object) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


@communes_app.command("ajouter")
def ajouter(
    insee: Insee,
    coeur_de_ville: Annotated[
        bool | None,
        typer.Option(
            "--coeur-de-ville/--pas-coeur-de-ville", help="Commune Action Cœur de Ville ou non."
        ),
    ] = None,
    qpv: Annotated[
        str | None,
        typer.Option(help="Part de la population en QPV : 0,45 ou 45 %."),
    ] = None,
    rurale: Annotated[
        bool | None, typer.Option("--rurale/--urbaine", help="Commune rurale ou urbaine.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Crée ou met à jour le profil d'une commune (les critères non donnés sont conservés)."""
    from assistant.communes import parse_share

    with domain_errors():
        share = parse_share(qpv) if qpv is not None else None
        profile, created = _registry().put(
            insee, action_coeur_de_ville=coeur_de_ville, qpv_share=share, rural=rurale
        )
    if as_json:
        _dump(profile.as_dict())
        return
    out.print(f"Profil de {escape(profile.name)} {'créé' if created else 'mis à jour'}.")
    _print(profile)


@communes_app.command("liste")
def liste(as_json: AsJson = False) -> None:
    """Liste les profils de commune."""

    profiles = run(lambda: _registry().list())
    if as_json:
        _dump([p.as_dict() for p in profiles])
        return
    if not profiles:
        out.print("Aucun profil de commune : `plume commune ajouter <code INSEE>`.")
        return
    table = Table("INSEE", "Commune", "Département", "Population", "Cœur de Ville", "QPV", "Rurale")
    table.columns[1].overflow = "fold"  # at 80 columns, « Saint-Germain-en- » then « Laye »
    for p in profiles:
        table.add_row(
            p.insee,
            escape(p.name),
            escape(f"{p.departement_name} ({p.departement})"),
            _number(p.population),
            _yes_no(p.action_coeur_de_ville),
            _percent(p.qpv_share, "—"),
            _yes_no(p.rural),
        )
    out.print(fit(table, out))


@communes_app.command("voir")
def voir(insee: Insee, as_json: AsJson = False) -> None:
    """Affiche le profil d'une commune."""

    profile = run(lambda: _registry().get(insee))
    if as_json:
        _dump(profile.as_dict())
        return
    _print(profile)


@communes_app.command("supprimer")
def supprimer(insee: Insee) -> None:
    """Supprime le profil d'une commune."""

    removed = run(lambda: _registry().delete(insee))
    out.print(f"Profil de {escape(removed.name)} ({removed.insee}) supprimé.")


@communes_app.command("chercher")
def chercher(
    nom: Annotated[str, typer.Argument(help="Nom ou début du nom de la commune.")],
    departement: Annotated[
        str | None, typer.Option(help="Code du département, ex. 78, 2A, 971.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Cherche le code INSEE d'une commune par son nom."""

    settings = load_settings()
    territory = _territory(settings)
    found = run(lambda: territory.find(nom, departement))
    if as_json:
        _dump(
            [
                {
                    "insee": c.insee,
                    "nom": c.name,
                    "departement": c.departement,
                    "population": c.population,
                }
                for c in found
            ]
        )
        return
    if not found:
        where = f" dans le département {escape(departement)}" if departement else ""
        out.print(f"Aucune commune ne s'appelle « {escape(nom)} »{where}.")
        return
    table = Table("INSEE", "Commune", "Département", "Population")
    for c in found:
        dep = run(lambda: territory.departement(c.departement))  # noqa: B023 (called at once)
        table.add_row(
            c.insee, escape(c.name), escape(f"{dep.name} ({dep.code})"), _number(c.population)
        )
    out.print(fit(table, out))
