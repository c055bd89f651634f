"""`plume eval`: evaluate retrieval and answers on a dataset, check it, gate a release.

    plume eval --dataset eval/datasets/dev.jsonl   # tables, report, history
    plume eval check --dataset FILE                # every line valid, every gold id indexed
    plume eval gate                                # offline release gate (eval/gate.toml)
    plume eval piaf                                # convert PIAF's questions (external set)

Everything runs on the evaluation index (`<data_dir>/eval-index`), built on first use from
the default corpora and the shared test data, then reused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from plume.cli import _domain_errors, _settings, err, out
from plume.settings import REPO_ROOT, Settings

eval_app = typer.Typer(
    help="Évaluation : recherche et réponses sur un jeu de questions, rapport, seuils de "
    "publication. `plume eval --dataset FICHIER` lance une évaluation.",
    invoke_without_command=True,
)
DEV_SET = REPO_ROOT / "eval" / "datasets" / "dev.jsonl"
REPORTS = REPO_ROOT / "eval" / "reports"

DatasetOpt = Annotated[Path, typer.Option("--dataset", help="Jeu de questions (JSONL).")]
IndexOpt = Annotated[
    Path | None,
    typer.Option("--index", help="Dossier de l'index d'évaluation ; <data_dir>/eval-index."),
]


def _offline(settings: Settings) -> Settings:
    """No model at all: sparse retrieval, extractive answers, no judge (the CI gate)."""
    return settings.model_copy(
        update={
            "mistral_api_key": None,
            "mistral_server_url": None,
            "dense_enabled": False,
            "judge_model": None,
        }
    )


@contextmanager
def _eval_runtime(
    settings: Settings, index: Path | None, all_fiches: bool = False
) -> Iterator[tuple[Any, list[str]]]:
    from eval.index import default_parts, ensure_index, eval_settings

    with _domain_errors():
        runtime, skipped = ensure_index(
            eval_settings(settings, index, all_fiches),
            default_parts(all_fiches=all_fiches),
            say=lambda m: err.print(m, highlight=False),
        )
    for part in skipped:
        err.print(f"[yellow]absent :[/yellow] {escape(part)} (données partagées introuvables)")
    try:
        yield runtime, skipped
    finally:
        runtime.close()


def _print_tables(summary: dict[str, dict[str, float]]) -> None:
    """One table per family of metrics: a row per metric, a column per group (fits 80
    columns better than the report's layout)."""
    from eval.report import TABLES

    groups = list(summary)
    for title, metrics in TABLES.items():
        shown = [m for m in metrics if any(m in row for row in summary.values())]
        if not shown:
            continue
        table = Table("métrique", *groups, title=title)
        table.add_row("n", *(str(int(summary[g].get("n", 0))) for g in groups))
        for metric in shown:
            values = (summary[g].get(metric) for g in groups)
            table.add_row(metric, *("—" if v is None else f"{v:.3f}" for v in values))
        out.print(table)


def _print_problems(report: Any) -> None:
    for problem in report.problems:
        err.print(f"[yellow]ignorée :[/yellow] {escape(str(problem))}", highlight=False)
    if report.problems:
        err.print(
            f"{len(report.problems)} ligne(s) ignorée(s), {report.record.questions} évaluées."
        )


@eval_app.callback()
def eval_run(
    ctx: typer.Context,
    dataset: Annotated[
        Path | None, typer.Option("--dataset", help="Jeu de questions (JSONL).")
    ] = None,
    index: IndexOpt = None,
    rapport: Annotated[
        Path | None, typer.Option(help="Dossier du rapport ; eval/reports/<jeu> par défaut.")
    ] = None,
    juge: Annotated[
        bool, typer.Option(help="Métriques jugées par un modèle, si PLUME_JUDGE_MODEL est défini.")
    ] = True,
    historique: Annotated[bool, typer.Option(help="Ajouter le run à eval/history.jsonl.")] = True,
    toutes_fiches: Annotated[
        bool,
        typer.Option(
            "--toutes-fiches",
            help="Indexer toutes les fiches, pas la sélection mairie (jeux externes : PIAF).",
        ),
    ] = False,
) -> None:
    """Évalue Plume sur un jeu de questions : tableaux, rapport Markdown/HTML, historique."""
    if ctx.invoked_subcommand is not None:
        return
    if dataset is None:
        out.print(ctx.get_help())
        raise typer.Exit(1)
    from eval import history, report
    from eval.answers import build_judge
    from eval.evaluation import evaluate
    from eval.index import indexed_doc_ids

    settings = _settings()
    if not juge:
        settings = settings.model_copy(update={"judge_model": None})
    with _eval_runtime(settings, index, toutes_fiches) as (runtime, skipped), _domain_errors():
        result = evaluate(
            runtime,
            dataset,
            known_ids=indexed_doc_ids(runtime),
            judge=build_judge(settings),
            past=history.load(),
            skipped_parts=skipped,
        )
    _print_problems(result)
    _print_tables(result.record.summary)
    for d in result.regressions:
        out.print(f"[red]régression[/red] {d.group} / {d.metric} : {d.before:.3f} → {d.after:.3f}")
    paths = report.write(result, rapport or REPORTS / result.record.dataset)
    if historique:
        history.append(result.record)
    out.print(f"Rapport : {paths['markdown']} et {paths['html']}", highlight=False)


@eval_app.command("check")
def eval_check(dataset: DatasetOpt = DEV_SET, index: IndexOpt = None) -> None:
    """Vérifie un jeu : JSON valide, champs présents, chaque document attendu indexé."""
    from eval.dataset import load_dataset
    from eval.index import indexed_doc_ids

    with _eval_runtime(_offline(_settings()), index) as (runtime, _):
        known = indexed_doc_ids(runtime)
    with _domain_errors():
        checked = load_dataset(dataset, known.__contains__)
    for problem in checked.problems:
        err.print(f"[red]{escape(str(problem))}[/red]", highlight=False)
    kinds: dict[str, int] = {}
    for item in checked.items:
        kinds[item.kind] = kinds.get(item.kind, 0) + 1
    detail = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
    out.print(
        f"{len(checked.items)} questions valides ({detail}), {len(checked.problems)} en erreur."
    )
    if checked.problems:
        raise typer.Exit(1)


@eval_app.command("gate")
def eval_gate(
    gate_file: Annotated[Path | None, typer.Option("--gate", help="Fichier de seuils.")] = None,
    index: IndexOpt = None,
) -> None:
    """Seuils de publication, hors ligne : échec si une métrique est sous son seuil ou recule.

    Recul : au-delà de la tolérance, par rapport au dernier run enregistré comparable.
    """
    from eval import history
    from eval.gate import Gate, check_release

    with _domain_errors():
        gate = Gate.load(gate_file) if gate_file else Gate.load()
    with _eval_runtime(_offline(_settings()), index) as (runtime, skipped), _domain_errors():
        result, reasons = check_release(runtime, gate, history.load(), skipped)
    _print_problems(result)
    _print_tables(result.record.summary)
    for reason in reasons:
        err.print(f"[red]seuil :[/red] {escape(reason)}", highlight=False)
    if reasons:
        raise typer.Exit(1)
    out.print("Seuils de publication respectés.")


@eval_app.command("piaf")
def eval_piaf(
    sortie: Annotated[
        Path | None, typer.Option(help="Fichier produit ; <data_dir>/eval/piaf.jsonl.")
    ] = None,
) -> None:
    """Convertit les questions service-public de PIAF (données partagées) en jeu d'évaluation."""
    from eval import piaf

    if not piaf.PIAF_QUESTIONS.is_file():
        err.print(f"[red]Erreur :[/red] {piaf.PIAF_QUESTIONS} introuvable (données partagées).")
        raise typer.Exit(1)
    target = sortie or _settings().data_dir / "eval" / "piaf.jsonl"
    n = piaf.write(target)
    out.print(f"{n} questions écrites dans {target}", highlight=False)
    out.print(f"Évaluez-les : plume eval --toutes-fiches --dataset {target}", highlight=False)
