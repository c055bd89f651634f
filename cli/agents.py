"""`plume agent …`: the agents who sign in (OpenID Connect) and the commune of each.

Registered in `cli.main` as the `agent` group. Like `plume cle`, it keeps its file
(`agents.json`) directly, so it works while a server runs.
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
    from plume.agents import AgentStore

agents_app = typer.Typer(
    help="Agents qui se connectent (OpenID Connect, ProConnect) : chacun voit les documents "
    "de sa commune.",
    no_args_is_help=True,
)
AsJson = Annotated[bool, typer.Option("--json", help="Sortie JSON.")]


def _store() -> AgentStore:
    from plume.agents import AgentStore

    return AgentStore(load_settings().data_dir)


@agents_app.command("ajouter")
def add(
    email: Annotated[str, typer.Argument(help="Adresse électronique de l'agent.")],
    commune: Annotated[
        str, typer.Argument(help="Sa commune : code INSEE (ex. 25176) ou identifiant.")
    ],
    libelle: Annotated[str, typer.Option("--libelle", help="Nom, fonction.")] = "",
    as_json: AsJson = False,
) -> None:
    """Enregistre un agent pour une commune (de nouveau : l'y déplace)."""

    with domain_errors():
        agent = _store().add(email, commune, libelle)
    if as_json:
        sys.stdout.write(json.dumps(agent.as_dict(), ensure_ascii=False) + "\n")
        return
    out.print(f"Agent {escape(agent.email)} enregistré pour « {escape(agent.tenant)} ».")


@agents_app.command("liste")
def list_agents(as_json: AsJson = False) -> None:
    """Liste les agents et leur commune."""

    with domain_errors():
        agents = _store().list()
    if as_json:
        rows = [a.as_dict() for a in agents]
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    if not agents:
        out.print("Aucun agent : enregistrez-en un avec `plume agent ajouter <email> <commune>`.")
        return
    table = Table(title="Agents")
    for col in ("adresse", "commune", "libellé", "enregistré le"):
        table.add_column(col)
    for a in agents:
        table.add_row(a.email, a.tenant, a.label, minute(a.created))
    out.print(fit(table, out))


@agents_app.command("supprimer")
def delete(email: Annotated[str, typer.Argument(help="Adresse électronique de l'agent.")]) -> None:
    """Retire un agent : ses sessions prennent fin à sa requête suivante."""

    with domain_errors():
        removed = _store().delete(email)
    out.print(f"Agent {escape(removed.email)} ({escape(removed.tenant)}) retiré.")
