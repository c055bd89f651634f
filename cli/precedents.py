"""`plume precedents "toiture école"`: what similar projects were funded, and how much.

Registered in `cli.main` as the `precedents` command. Errors become French messages
through `cli.main`'s handler (imported when the command runs: `cli.main` imports
this module).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from cli.common import load_settings, open_runtime, run, server_for


def precedents(
    query: Annotated[str, typer.Argument(help="Le projet, en quelques mots.")],
    programme: Annotated[
        str | None, typer.Option(help="DETR, DSIL, DPV, DSID ou « Fonds vert ».")
    ] = None,
    departement: Annotated[
        str | None, typer.Option(help="Code du département, ex. 78, 01, 2A.")
    ] = None,
    exemples: Annotated[int, typer.Option(min=0, max=20, help="Nombre d'exemples.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Projets comparables déjà financés (DETR, DSIL, Fonds vert…) : nombre, montants, exemples."""
    from assistant.aides.listing import format_report

    settings = load_settings()
    server = server_for(settings)
    if server is not None:  # a running `plume serve` holds the index: through its API
        params = {"q": query, "programme": programme, "departement": departement}
        body = run(lambda: server.precedents(**params, exemples=exemples))
    else:
        with open_runtime(settings) as runtime:
            report = run(
                lambda: runtime.aides.precedents(query, programme, departement, limit=exemples)
            )
        body = {**report.as_dict(), "text": format_report(report)}
    if as_json:
        sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        return
    sys.stdout.write(str(body["text"]) + "\n")
