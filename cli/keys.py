"""`plume cle …`: the API keys of the communes (tenant, allowed web origins).

Registered in `cli.main` as the `cle` group; its error handling is imported when a
command runs (`cli.main` imports this module).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import domain_errors, load_settings, out
from cli.tables import fit, minute

if TYPE_CHECKING:
    from plume.keys import KeyStore

keys_app = typer.Typer(
    help="Clés d'API des communes : publique (le widget d'un site : corpus commun) ou privée "
    "(serveur à serveur : aussi les documents de la commune).",
    no_args_is_help=True,
)
AsJson = Annotated[bool, typer.Option("--json", help="Sortie JSON.")]


def _store() -> KeyStore:
    from plume.keys import KeyStore

    return KeyStore(load_settings().data_dir)


@keys_app.command("ajouter")
def add(
    commune: Annotated[
        str, typer.Argument(help="Commune de la clé : code INSEE (ex. 25176) ou identifiant.")
    ],
    origine: Annotated[
        list[str] | None,
        typer.Option(
            "--origine",
            help="Site autorisé à l'utiliser depuis un navigateur (le widget), ex. "
            "https://mairie.fr ; sans --origine : une clé de serveur à serveur, refusée "
            "des pages web.",
        ),
    ] = None,
    libelle: Annotated[str, typer.Option("--libelle", help="À quoi sert la clé.")] = "",
    privee: Annotated[
        bool,
        typer.Option(
            "--privee",
            help="Clé privée, de serveur à serveur : voit aussi les documents de la commune, "
            "refusée des navigateurs. Sans --privee : clé publique (widget), corpus commun.",
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Crée une clé ; elle n'est affichée qu'une fois."""

    from plume.keys import PRIVATE, PUBLIC

    store = _store()
    with domain_errors():
        key = store.create(commune, origine or [], libelle, PRIVATE if privee else PUBLIC)
    if as_json:
        sys.stdout.write(json.dumps({"key": key.key, **key.as_dict()}, ensure_ascii=False) + "\n")
        return
    kind = "privée" if key.private else "publique"
    out.print(f"Clé {kind} créée pour « {escape(key.tenant)} » (id {key.id}) :")
    out.print(key.key, markup=False, highlight=False)
    out.print("[dim]Conservez-la : elle ne sera plus affichée.[/dim]")


@keys_app.command("liste")
def list_keys(as_json: AsJson = False) -> None:
    """Liste les clés (id, commune, origines, libellé), jamais les clés elles-mêmes."""

    store = _store()
    with domain_errors():
        keys = store.list()
    if as_json:
        rows = [k.as_dict() for k in keys]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    if not keys:
        out.print("Aucune clé : créez-en une avec `plume cle ajouter <commune>`.")
        return
    table = Table(title="Clés d'API")
    for col in ("id", "commune", "type", "origines", "libellé", "créée le"):
        table.add_column(col, overflow="fold" if col == "origines" else "ellipsis")
    for k in keys:
        table.add_row(
            k.id, k.tenant, k.kind, ", ".join(k.origins) or "—", k.label, minute(k.created)
        )
    out.print(fit(table, out))


@keys_app.command("supprimer")
def delete(
    cle: Annotated[str, typer.Argument(help="L'id de la clé (12 caractères) ou la clé.")],
) -> None:
    """Révoque une clé."""

    store = _store()
    with domain_errors():
        removed = store.delete(cle)
    out.print(f"Clé {removed.id} ({escape(removed.tenant)}) révoquée.")
