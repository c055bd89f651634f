"""What every command shares: settings, the runtime, French error messages, consoles, options.

A command loads the settings, opens the runtime (the same one the API builds at start-up),
calls one service and formats its result; a domain error becomes « Erreur : … » on stderr
and exit code 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from plume.documents import french_date
from plume.errors import PlumeError

if TYPE_CHECKING:  # loaded by the commands that use them: `plume --help` stays quick
    from assistant.runtime import Runtime
    from cli.remote import RemoteServer
    from plume.settings import Settings
    from plume.store import SearchFilter

out = Console()
err = Console(stderr=True)
EXIT_ITEM_ERRORS = 3
T = TypeVar("T")

AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", help="Textes en vigueur à cette date (AAAA-MM-JJ) ; aujourd'hui par défaut."
    ),
]
TenantOpt = Annotated[
    str | None,
    typer.Option("--tenant", help="Voir aussi les documents de cette commune (code INSEE)."),
]


def load_settings() -> Settings:
    from pydantic import ValidationError

    from plume.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc") or ()
        variable = f"PLUME_{str(loc[0]).upper()} : " if loc else ""
        message = str(first.get("msg", "")).removeprefix("Value error, ")
        err.print(f"[red]Configuration invalide :[/red] {escape(variable + message)}")
        raise typer.Exit(1) from exc


@contextmanager
def domain_errors() -> Iterator[None]:
    try:
        yield
    except PlumeError as exc:
        err.print(f"[red]Erreur :[/red] {escape(exc.message)}")
        raise typer.Exit(1) from exc


def run(fn: Callable[[], T]) -> T:
    with domain_errors():
        return fn()


@contextmanager
def open_runtime(settings: Settings, *, if_locked: str | None = None) -> Iterator[Runtime]:
    """The runtime the API builds at start-up, closed when the command ends. `if_locked`:
    what to do instead, said when a running server holds the index."""
    from assistant.runtime import Runtime  # the core is imported only by commands that use it
    from plume.errors import StoreLocked

    try:
        runtime = Runtime.build(settings)
    except StoreLocked as exc:
        err.print(f"[red]Erreur :[/red] {escape(exc.message)}")
        if if_locked:
            err.print(escape(if_locked))
        raise typer.Exit(1) from exc
    except PlumeError as exc:
        err.print(f"[red]Erreur :[/red] {escape(exc.message)}")
        raise typer.Exit(1) from exc
    try:
        yield runtime
    finally:
        runtime.close()


def server_for(settings: Settings, tenant: str | None = None) -> RemoteServer | None:
    """For a read command: the `plume serve` running on this data folder, whose API it then
    goes through (cli.remote); None: the command opens the index itself. A commune's own
    documents need the commune's key, which the command line does not hold."""
    from cli.remote import running_server

    server = running_server(settings)
    if server is not None and tenant:
        err.print(
            f"[red]Erreur :[/red] un serveur Plume tourne ({server.url}) et tient l'index : les "
            f"documents de {escape(tenant)} se lisent par son API avec la clé privée de la "
            "commune (en-tête X-Plume-Key, plume cle ajouter … --privee), ou arrêtez le serveur."
        )
        raise typer.Exit(1)
    return server


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"[red]Erreur :[/red] date invalide « {escape(value)} » : attendu AAAA-MM-JJ.")
        raise typer.Exit(1) from None


def search_filter(
    source: list[str] | None = None,
    audience: list[str] | None = None,
    as_of: str | None = None,
    tenant: str | None = None,
) -> SearchFilter:
    from assistant.rag.retrieval import build_filter
    from plume.keys import check_tenant

    day = parse_day(as_of) if as_of else None
    if tenant:
        run(lambda: check_tenant(tenant))
    tenants = [tenant] if tenant else []
    return run(lambda: build_filter(sources=source, audiences=audience, as_of=day, tenants=tenants))


def in_force(payload: dict[str, Any]) -> str:
    """« en vigueur du … au … (texte à jour au …) » for an article version."""
    start, end = payload.get("in_force_from"), payload.get("in_force_to")
    if start and end:
        when = f"en vigueur du {french_date(start)} au {french_date(end)}"
    elif start:
        when = f"en vigueur depuis le {french_date(start)}"
    else:
        when = f"en vigueur jusqu'au {french_date(end)}"
    upto = payload.get("text_date")
    return f"{when} (texte à jour au {french_date(upto)})" if upto else when
