"""`plume aides`: grants for a project, within a commune's profile and filters.

Registered in `plume.cli`; its error handling is imported when the command runs."""

from __future__ import annotations

import json
import sys
from datetime import date
from typing import Annotated

import typer
from rich.console import Console

out = Console()


def aides(
    projet: Annotated[
        str, typer.Argument(help="Le projet, en quelques mots (vide : toutes).")
    ] = "",
    commune: Annotated[
        str | None, typer.Option("--commune", help="Code INSEE (profil défini par l'admin).")
    ] = None,
    beneficiaire: Annotated[
        list[str] | None, typer.Option("--beneficiaire", help="Type de bénéficiaire (Communes…).")
    ] = None,
    territoire: Annotated[
        list[str] | None, typer.Option("--territoire", help="Territoire (nom) de l'aide.")
    ] = None,
    theme: Annotated[list[str] | None, typer.Option("--theme", help="Thématique.")] = None,
    type_aide: Annotated[
        list[str] | None, typer.Option("--type", help="Type d'aide (Subvention, Prêt…).")
    ] = None,
    ouvert_le: Annotated[
        str | None, typer.Option("--ouvert-le", help="Aides ouvertes ce jour (AAAA-MM-JJ).")
    ] = None,
    cloture_dans: Annotated[
        int | None, typer.Option("--cloture-dans", help="Clôture dans les N jours.")
    ] = None,
    limite: Annotated[int, typer.Option("--limite", help="Nombre d'aides au plus.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Cherche les aides d'un projet : financeur, taux, date limite, lien, éligibilité."""
    from assistant.grants import GrantFilters, find_grants, format_grants
    from plume.cli import _domain_errors, _runtime, _settings  # plume.cli imports this module
    from plume.errors import InvalidGrantRequest

    settings = _settings()
    with _domain_errors():
        try:
            day = date.fromisoformat(ouvert_le) if ouvert_le else None
        except ValueError:
            raise InvalidGrantRequest(f"Date invalide « {ouvert_le} » : AAAA-MM-JJ.") from None
        filters = GrantFilters.build(
            beneficiaries=beneficiaire or [],
            perimeters=territoire or [],
            categories=theme or [],
            aid_types=type_aide or [],
            open_on=day,
            closing_within=cloture_dans,
        )
    with _runtime(settings) as runtime, _domain_errors():
        profile = runtime.communes.get(commune) if commune else None
        results = find_grants(
            runtime.assistant.retriever, projet, filters, profile, limit=max(1, min(limite, 50))
        )
    if as_json:
        sys.stdout.write(json.dumps(results.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(format_grants(results), markup=False, highlight=False)
