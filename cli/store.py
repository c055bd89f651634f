"""`plume store etat | init | migrate`: the store's layout (vectors, quantization, cluster).

Registered in `cli.main` as the `store` group. Each command calls `assistant.stores`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cli.common import domain_errors, err, load_settings, out

if TYPE_CHECKING:
    from assistant.stores import StoreService, StoreState

store_app = typer.Typer(
    help="Le stockage : vecteurs configurés, quantification, shards et réplicas (Qdrant).",
    no_args_is_help=True,
)
AsJson = Annotated[bool, typer.Option("--json", help="Sortie JSON.")]
_LOCKED = "Arrêtez `plume serve` le temps de la commande : le stockage embarqué n'a qu'un maître."


@contextmanager
def _service() -> Iterator[StoreService]:
    from assistant.stores import StoreService
    from plume.errors import StoreLocked

    with domain_errors():
        try:
            service = StoreService.open(load_settings())
        except StoreLocked:
            err.print(escape(_LOCKED))
            raise
        try:
            yield service
        finally:
            service.close()


def _vectors(layout: dict[str, Any]) -> str:
    sizes = [f"{name} ({size})" for name, size in layout["vectors"].items()]
    quantized = ", int8" if layout["quantization"] else ""
    return f"{', '.join(sizes)} — {layout['datatype']}{quantized}"


def _show(state: StoreState, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(state.as_dict(), ensure_ascii=False))
        return
    layout, cluster = state.layout, state.layout["cluster"]
    out.print(f"Stockage {state.backend} : {escape(state.location)}")
    out.print(f"Passages : {state.points} (dont {state.with_local} avec un vecteur e5)")
    out.print(f"Vecteurs : {escape(_vectors(layout))}")
    if state.backend == "server":
        keys = cluster["shard_keys"]
        out.print(
            f"Cluster : {cluster['shards']} shard(s), réplication {cluster['replication']}, "
            f"cohérence d'écriture {cluster['write_consistency']}, "
            + (f"{len(keys)} commune(s) sur des clés de shard" if keys else "sans clé de shard")
        )
    if not state.changes:
        out.print("Conforme à la configuration.")
        return
    how = "copie complète" if state.rebuild else "sur place"
    out.print(f"À migrer ({how}) : `plume store migrate`")
    for change in state.changes:
        out.print(f"  - {escape(change)}")


def _run(action: Callable[[StoreService], StoreState], as_json: bool) -> None:
    with _service() as service, domain_errors():
        _show(action(service), as_json)


@store_app.command("etat")
def state(as_json: AsJson = False) -> None:
    """Ce que le stockage contient et ce que la configuration y changerait."""
    _run(lambda s: s.state(), as_json)


@store_app.command("init")
def init(as_json: AsJson = False) -> None:
    """Crée la collection avec les vecteurs et la disposition configurés (sans effet si elle
    existe : `plume store migrate` la change)."""
    _run(lambda s: s.init(), as_json)


@store_app.command("migrate")
def migrate(as_json: AsJson = False) -> None:
    """Met le stockage en conformité avec la configuration : ajoute ou retire un vecteur,
    change la quantification (copie complète, l'ancien gardé jusqu'au bout), la réplication
    ou les clés de shard d'un cluster."""
    _run(lambda s: s.migrate(), as_json)
