"""`plume`: the command line. Thin commands over the core; errors become French messages.

Exit codes: 0 success, 1 error (message on stderr), 3 ingestion finished but some
documents were rejected (listed in the summary).
"""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from cli.agents import agents_app
from cli.aides import aides, cofinancement
from cli.ask import ask, search
from cli.common import load_settings, open_runtime, out
from cli.communes import communes_app
from cli.corpus import corpus_app, delete, ingest, sources, vectors
from cli.eval import eval_app
from cli.keys import keys_app
from cli.precedents import precedents
from cli.records import register as register_records
from cli.remote import announced
from cli.store import store_app
from cli.veille import veille_app

app = typer.Typer(
    help="Plume : l'assistant sourcé des secrétaires de mairie.", no_args_is_help=True
)
app.add_typer(corpus_app, name="corpus")
app.add_typer(communes_app, name="commune")
app.add_typer(keys_app, name="cle")
app.add_typer(agents_app, name="agent")
app.add_typer(store_app, name="store")
app.command()(precedents)
app.command("aides")(aides)
register_records(app)  # db, purge, indicateurs, deploiement, fiche-souverainete, export, import


@app.command()
def config() -> None:
    """Affiche la configuration effective (secrets masqués)."""
    for key, value in load_settings().masked().items():
        out.print(f"[bold]{key}[/bold] = {value}")


app.command()(ingest)
app.command()(search)
app.command()(ask)
app.command()(sources)
app.command()(vectors)
app.command()(delete)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute.")] = None,
    port: Annotated[int | None, typer.Option(help="Port.")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processus HTTP (défaut : PLUME_WORKERS).", min=1, max=32)
    ] = None,
) -> None:
    """Lance l'API et la page de chat (ce processus possède le stockage embarqué).

    Avec --workers N (PLUME_WORKERS), N processus HTTP le partagent.

    Pendant qu'il tourne, search, ask, sources, precedents et aides passent par son API.
    """
    import uvicorn

    from api.main import create_app
    from api.ratelimit import server_options

    settings = load_settings()
    host, port = host or settings.host, port or settings.port
    # uvicorn shuts down gracefully on SIGTERM (docker stop, systemd), then raises it again:
    # by default that would end the process before the runtime is closed (the store
    # flushed, the e5 worker stopped, the server's address withdrawn)
    signal.signal(signal.SIGTERM, _stop)
    with open_runtime(settings) as runtime, announced(settings, host, port):
        runtime.start_background()  # e5 vectors after BM25; llama-index imported
        out.print(f"Plume écoute sur http://{host}:{port}")
        if (workers := workers or settings.workers) > 1:
            from cli.serving import serve_workers

            serve_workers(settings, runtime, host, port, workers)
            return
        uvicorn.run(
            create_app(settings, runtime=runtime),
            host=host,
            port=port,
            workers=1,
            log_level="info",
            access_log=False,  # no personal data in logs: client addresses, query strings
            **server_options(settings),  # X-Forwarded-For only from PLUME_TRUSTED_PROXIES
        )


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


app.add_typer(veille_app, name="veille")
app.command()(cofinancement)
app.add_typer(eval_app, name="eval")
