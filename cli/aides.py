"""`plume aides`: grants for a project, within a commune's profile and filters.

Registered in `cli.main`; its error handling is imported when the command runs."""

from __future__ import annotations

import json
import sys
from datetime import date
from decimal import Decimal
from typing import Annotated

import typer
from rich.console import Console

from cli.common import domain_errors, load_settings, open_runtime, run, server_for

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
    from assistant.aides.catalogue import AideFilters
    from assistant.aides.listing import format_aides
    from plume.errors import InvalidAideRequest

    settings = load_settings()
    with domain_errors():
        try:
            day = date.fromisoformat(ouvert_le) if ouvert_le else None
        except ValueError:
            raise InvalidAideRequest(f"Date invalide « {ouvert_le} » : AAAA-MM-JJ.") from None
        filters = AideFilters.build(
            beneficiaries=beneficiaire or [],
            perimeters=territoire or [],
            categories=theme or [],
            aid_types=type_aide or [],
            open_on=day,
            closing_within=cloture_dans,
        )
    limit = max(1, min(limite, 50))
    server = server_for(settings)
    if server is not None:  # a running `plume serve` holds the index: through its API
        request = {
            "q": projet,
            "commune": commune,
            "beneficiaries": beneficiaire,
            "perimeters": territoire,
            "categories": theme,
            "aid_types": type_aide,
            "open_on": ouvert_le,
            "closing_within": cloture_dans,
            "limit": limit,
        }
        body = run(lambda: server.aides(**request))
        text = str(body.pop("text"))
    else:
        with open_runtime(settings) as runtime, domain_errors():
            profile = runtime.communes.get(commune) if commune else None
            results = runtime.aides.find(projet, filters, profile, limit=limit)
        body, text = results.as_dict(), format_aides(results)
    if as_json:
        sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        return
    out.print(text.replace("**", ""), markup=False, highlight=False)  # the widget's bold


def cofinancement(
    licences: Annotated[str, typer.Option(help="Montant des licences, en euros.")],
    deploiement: Annotated[
        str, typer.Option(help="Déploiement, intégration et formation, en euros.")
    ] = "0",
    licences_nombre: Annotated[int | None, typer.Option(help="Nombre de licences.")] = None,
    autres_beneficiaires: Annotated[
        int | None, typer.Option(help="Bénéficiaires éligibles autres que le porteur.")
    ] = None,
    part_porteur: Annotated[
        str | None, typer.Option(help="Part (0–1) des dépenses portée par le porteur.")
    ] = None,
    outre_mer: Annotated[
        bool | None,
        typer.Option("--outre-mer/--hors-outre-mer", help="Territoire d'outre-mer, ou non."),
    ] = None,
    coeur_de_ville: Annotated[
        bool | None,
        typer.Option(
            "--coeur-de-ville/--hors-coeur-de-ville", help="Commune Action Cœur de Ville, ou non."
        ),
    ] = None,
    part_qpv: Annotated[
        str | None, typer.Option(help="Part (0–1) de la population en QPV.")
    ] = None,
    ia_frugale: Annotated[
        bool | None,
        typer.Option("--ia-frugale/--sans-ia-frugale", help="Projet d'IA frugale, ou non."),
    ] = None,
    date_achat: Annotated[str | None, typer.Option(help="Date d'achat, AAAA-MM-JJ.")] = None,
    date_accord: Annotated[str | None, typer.Option(help="Date de l'accord, AAAA-MM-JJ.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Calcule un cofinancement « Territoires d'IA » (Banque des Territoires), étape par étape.

    Sans les conditions (partenaires, licences, territoire, IA frugale) : aussi le maximum."""
    from assistant.aides.cofinancing import CofinancingRequest, parse_date, parse_decimal
    from assistant.aides.cofinancing_range import compute_range, unknown_conditions

    given = {
        "licence_count": licences_nombre,
        "other_beneficiaries": autres_beneficiaires,
        "applicant_share": part_porteur,
        "outre_mer": outre_mer,
        "action_coeur_de_ville": coeur_de_ville,
        "qpv_share": part_qpv,
        "ia_frugale": ia_frugale,
    }
    with domain_errors():
        request = CofinancingRequest(
            licences_amount=parse_decimal(licences, "Licences"),
            deployment_amount=parse_decimal(deploiement, "Déploiement"),
            licence_count=licences_nombre or 0,
            other_beneficiaries=autres_beneficiaires or 0,
            applicant_share=parse_decimal(part_porteur, "Part du porteur")
            if part_porteur
            else None,
            outre_mer=bool(outre_mer),
            action_coeur_de_ville=bool(coeur_de_ville),
            qpv_share=parse_decimal(part_qpv, "Part en QPV") if part_qpv else Decimal(0),
            ia_frugale=bool(ia_frugale),
            purchase_date=parse_date(date_achat, "Date d'achat"),
            approval_date=parse_date(date_accord, "Date de l'accord"),
        )
        result = compute_range(
            request, unknown_conditions([k for k, v in given.items() if v is not None])
        )
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    sys.stdout.write(result.explain() + "\n")
