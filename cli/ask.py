"""`plume search` and `plume ask`: the passages, and an answer with its citations. While a
`plume serve` holds the index, both go through its API (cli.remote) and print the same."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from assistant.models import Answer
from cli.common import (
    AsOf,
    TenantOpt,
    in_force,
    load_settings,
    open_runtime,
    out,
    run,
    search_filter,
    server_for,
)
from plume.documents import french_date


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
    settings = load_settings()
    where = search_filter(source, audience, as_of, tenant)
    server = server_for(settings, tenant)
    if server is not None:
        found = run(
            lambda: server.search(
                query, limit, sources=source, audiences=audience, as_of=as_of, commune=commune
            )
        )
        rows, gaps = found["hits"], list(found.get("notices") or [])
    else:
        with open_runtime(settings) as runtime:
            profile = run(lambda: runtime.communes.get(commune)) if commune else None
            passages = run(lambda: runtime.assistant.search(query, where, limit, profile))
            gaps = [g.message for g in runtime.assistant.history_gaps(query, where, passages)]
        rows = [{"rank": p.rank, "score": p.score, **p.hit.payload} for p in passages]
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        return
    _print_hits(rows, gaps)


def _print_hits(rows: list[dict[str, Any]], gaps: list[str]) -> None:
    if not rows:
        out.print("Aucun résultat.")
    for gap in gaps:
        out.print(f"[yellow]{escape(gap)}[/yellow]")
    for r in rows:
        page = f", p. {r['page']}" if r.get("page") else ""
        out.print(f"[bold]{r['rank']}. {r.get('title')}{page}[/bold]  [dim]{r['doc_id']}[/dim]")
        if r.get("regime"):
            out.print(f"   [yellow]Régime particulier : {escape(str(r['regime']))}[/yellow]")
        if r.get("section"):
            out.print(f"   [italic]{r['section']}[/italic]")
        out.print(f"   {str(r.get('text') or '')[:240]}", markup=False, highlight=False)
        if r.get("in_force_from") or r.get("in_force_to"):
            out.print(f"   [dim]{escape(in_force(r))}[/dim]")
        out.print(f"   [blue]{r.get('url')}[/blue]")


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
    settings = load_settings()
    where = search_filter(as_of=as_of, tenant=tenant)
    server = server_for(settings, tenant)
    if server is not None:
        reply = run(lambda: server.ask(question, as_of=as_of, commune=commune))
        answer = Answer.from_dict(reply)
    else:
        with open_runtime(settings) as runtime:
            profile = run(lambda: runtime.communes.get(commune)) if commune else None
            answer = run(lambda: runtime.assistant.ask(question, where, commune=profile))
    if as_json:
        sys.stdout.write(json.dumps(answer.as_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(f"[dim]{escape(answer.notice)}[/dim]\n")
    if answer.warning:
        out.print(f"[yellow]{escape(answer.warning)}[/yellow]\n")
    out.print(answer.text.replace("**", ""), markup=False, highlight=False)  # the widget's bold
    if answer.reliability:
        level = answer.reliability
        colour = {"elevee": "green", "moyenne": "yellow"}.get(str(level["level"]), "cyan")
        out.print(f"\n[{colour}]Fiabilité : {escape(str(level['label']))}[/{colour}]")
        for reason in level.get("reasons") or []:
            out.print(f"[dim]  · {escape(str(reason))}[/dim]")
    if answer.citations:
        out.print()
    for c in answer.citations:
        when = f" — {in_force(c.as_dict())}" if c.in_force_from or c.in_force_to else ""
        when = when or (f" — mise à jour le {french_date(c.modified)}" if c.modified else "")
        page = f", p. {c.page}" if c.page else ""
        regime = f" — régime particulier : {c.regime}" if c.regime else ""
        out.print(
            f"[{c.n}] {c.title}{page}{when}{regime}\n    {c.url}", markup=False, highlight=False
        )
    if answer.see_also:
        out.print("\nÀ vérifier aussi :")
    for c in answer.see_also:
        when = f" — {in_force(c.as_dict())}" if c.in_force_from or c.in_force_to else ""
        when = when or (f" — mise à jour le {french_date(c.modified)}" if c.modified else "")
        out.print(f"- {c.title}{when}\n    {c.url}", markup=False, highlight=False)
    if answer.flags:
        out.print(f"[dim]signalements : {', '.join(answer.flags)}[/dim]")
