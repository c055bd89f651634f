"""`plume eval`: evaluate retrieval and answers on a dataset, check it, gate a release.

    plume eval --dataset eval/datasets/dev.jsonl   # tables, report, history
    plume eval check --dataset FILE                # every line valid, every gold id indexed
    plume eval gate                                # offline release gate (eval/gate.toml)
    plume eval piaf                                # convert PIAF's questions (external set)
    plume eval suivis --dataset FILE               # follow-ups without a model (eval.followups)
    plume eval attaques                            # poisoned documents: injections followed

Everything runs on the evaluation index (`<data_dir>/eval-index`), built on first use from
the default corpora and the shared test data, then reused.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import domain_errors, err, load_settings, out
from cli.tables import split_columns
from plume import REPO_ROOT

if TYPE_CHECKING:
    from plume.settings import Settings

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
    """No model at all: BM25 retrieval (no e5 vectors, which take an hour and a half to
    compute for the evaluation index), extractive answers, no judge (the CI gate)."""
    return settings.model_copy(
        update={
            "mistral_api_key": None,
            "mistral_server_url": None,
            "dense_enabled": False,
            "local_dense": False,
            "judge_model": None,
        }
    )


@contextmanager
def _eval_runtime(
    settings: Settings, index: Path | None, all_fiches: bool = False
) -> Iterator[tuple[Any, list[str]]]:
    from eval.index import default_parts, ensure_index, eval_settings

    with domain_errors():
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


def metric_tables(summary: dict[str, dict[str, float]], width: int) -> list[Table]:
    """One table per family of metrics: a row per metric, a column per group, the groups
    dealt into several tables when they do not fit in `width` (80 columns: two)."""
    from eval.report import TABLES

    groups = list(summary)
    tables = []
    for title, metrics in TABLES.items():
        shown = [m for m in metrics if any(m in row for row in summary.values())]
        if not shown:
            continue
        rows = [["n", *(str(int(summary[g].get("n", 0))) for g in groups)]]
        for metric in shown:
            values = (summary[g].get(metric) for g in groups)
            rows.append([metric, *("—" if v is None else f"{v:.3f}" for v in values)])
        tables += split_columns(title, "métrique", groups, rows, width)
    return tables


def _print_tables(summary: dict[str, dict[str, float]]) -> None:
    for table in metric_tables(summary, out.width):
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

    settings = load_settings()
    if not juge:
        settings = settings.model_copy(update={"judge_model": None})
    with _eval_runtime(settings, index, toutes_fiches) as (runtime, skipped), domain_errors():
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

    with _eval_runtime(_offline(load_settings()), index) as (runtime, _):
        known = indexed_doc_ids(runtime)
    with domain_errors():
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

    with domain_errors():
        gate = Gate.load(gate_file) if gate_file else Gate.load()
    with _eval_runtime(_offline(load_settings()), index) as (runtime, skipped), domain_errors():
        results, reasons = check_release(runtime, gate, history.load(), skipped)
    for gate_set, result in zip(gate.sets, results, strict=True):
        out.print(f"\n[bold]Jeu « {gate_set.name} »[/bold] ({result.record.questions} questions)")
        _print_problems(result)
        _print_tables(result.record.summary)
    for reason in reasons:
        err.print(f"[red]seuil :[/red] {escape(reason)}", highlight=False)
    if reasons:
        raise typer.Exit(1)
    out.print("Seuils de publication respectés.")


@eval_app.command("suivis")
def eval_followups(
    dataset: DatasetOpt = REPO_ROOT / "eval" / "datasets" / "followups_dev.jsonl",
    index: IndexOpt = None,
    details: Annotated[bool, typer.Option("--details", help="Une ligne par paire.")] = False,
) -> None:
    """Questions de suite sans modèle (« et pour un mariage ? ») : la suite cite-t-elle ce
    que cite la question réécrite en entier, ou répète-t-elle la réponse précédente ?"""
    from assistant.rag.retrieval import build_filter
    from eval.followups import load_pairs, run, summary

    with domain_errors():
        pairs = load_pairs(dataset)
    with _eval_runtime(_offline(load_settings()), index) as (runtime, _), domain_errors():
        where = build_filter()
        results = run(pairs, lambda q, cid: runtime.assistant.ask(q, where, cid))
    if details:
        for r in results:
            mark = "suit" if r.follows else ("répète" if r.repeats else "ailleurs")
            out.print(f"{r.id} {mark:8} {escape(r.followup)} → {escape(r.searched)}")
    table = Table("paires", "n", "suit", "répète", title=f"Suites : {dataset.name}")
    for kind, row in summary(results).items():
        table.add_row(kind, *(f"{row[k]:g}" for k in ("paires", "suit", "répète")))
    out.print(table)


@eval_app.command("attaques")
def eval_attacks(
    dataset: DatasetOpt = REPO_ROOT / "eval" / "datasets" / "attacks.jsonl",
    index: IndexOpt = None,
    rapport: Annotated[
        Path | None, typer.Option(help="Dossier du rapport ; eval/reports/attaques par défaut.")
    ] = None,
) -> None:
    """Documents empoisonnés (eval.attacks) : part des réponses qui suivent une injection,
    par catégorie (cible 0), sans modèle et, s'il est configuré, avec le modèle."""
    from eval import attacks
    from eval.history import git_commit

    with domain_errors():
        cases = attacks.load_attacks(dataset)
    settings = load_settings()
    paths = [("extractif", _offline(settings))]
    if settings.mistral_api_key is not None or settings.mistral_server_url is not None:
        keep = ("mistral_api_key", "mistral_server_url")
        paths.append(
            ("modèle", paths[0][1].model_copy(update={k: getattr(settings, k) for k in keep}))
        )
    results = []
    for name, configured in paths:
        with _eval_runtime(configured, index) as (runtime, _), domain_errors():
            results += attacks.run_on(runtime, cases, name)
    for name, rows in attacks.summary(results).items():
        table = Table("catégorie", "cas", "suivies", "part", title=f"Attaques : {name}")
        for group, row in rows.items():
            table.add_row(group, f"{row['n']:g}", f"{row['suivies']:g}", f"{row['part']:.3f}")
        out.print(table)
    for r in results:
        if r.followed:
            err.print(f"[red]suivie[/red] {r.path} / {r.case.id} : {escape('; '.join(r.reasons))}")
    written = attacks.write_report(results, rapport or REPORTS / "attaques", git_commit())
    out.print(f"Rapport : {written['markdown']}", highlight=False)


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
    target = sortie or load_settings().data_dir / "eval" / "piaf.jsonl"
    n = piaf.write(target)
    out.print(f"{n} questions écrites dans {target}", highlight=False)
    out.print(f"Évaluez-les : plume eval --toutes-fiches --dataset {target}", highlight=False)


DEV_SETS = [REPO_ROOT / "eval" / "datasets" / f for f in ("dev.jsonl", "dev2.jsonl")]


@eval_app.command("scope")
def eval_scope(
    ecrire: Annotated[
        bool, typer.Option("--ecrire", help="Écrire le modèle dans corpus/models/scope.npz.")
    ] = False,
    erreurs: Annotated[int, typer.Option(help="Erreurs de validation croisée à montrer.")] = 0,
) -> None:
    """Entraîne le classifieur de portée (admin, local, hors champ) et mesure sa précision.

    Exemples : corpus/scope_train.jsonl, les jeux de développement, les titres de fiches
    qui sont des questions. Jamais les jeux réservés (heldout*).
    """
    from assistant.rag.scope import MODEL_FILE
    from eval.scope_training import dataset_examples, fiche_questions, fit_scope, training_file
    from plume import packages
    from plume.embedding import LocalEmbedder

    settings = load_settings()
    try:
        package = packages.package_dir(
            settings.packages_dir, packages.pinned(settings.corpus_dir, "service-public")
        )
    except Exception:  # not fetched: train without the fiche titles
        err.print("[yellow]fiches non téléchargées : titres de fiches ignorés[/yellow]")
        package = None
    examples = [
        *training_file(settings.corpus_dir),
        *dataset_examples(DEV_SETS),
        *fiche_questions(package),
    ]
    model, report = fit_scope(examples, LocalEmbedder(), say=lambda m: err.print(m))
    table = Table("question", "→ admin", "→ local", "→ hors_champ", title="Validation croisée")
    for kind, row in report.confusion.items():
        table.add_row(f"{kind} ({report.counts.get(kind, 0)})", *(f"{row[k]:.3f}" for k in row))
    out.print(table)
    out.print(f"Seuils : {report.thresholds} ; exemples : {report.origins}", highlight=False)
    for origin, rows in report.by_origin.items():
        shown = " ; ".join(
            f"{kind} ({int(r['n'])}) → {kind} {r[kind]:.3f}" for kind, r in rows.items()
        )
        out.print(f"  {origin} : {shown}", highlight=False)
    for kind, decided, question in report.errors[:erreurs]:
        out.print(f"  {kind} → {decided} : {escape(question)}", highlight=False)
    if ecrire:
        path = settings.corpus_dir / MODEL_FILE
        model.save(path)
        out.print(f"Modèle écrit : {path}", highlight=False)


@eval_app.command("calibrate")
def eval_calibrate(
    ecrire: Annotated[
        bool,
        typer.Option("--ecrire", help="Écrire le modèle dans corpus/models/reliability.json."),
    ] = False,
    e5: Annotated[
        bool,
        typer.Option(
            help="Observer aussi la recherche avec les vecteurs e5 (index d'évaluation -e5, "
            "vectorisé s'il ne l'est pas encore : une heure et demie la première fois).",
        ),
    ] = True,
) -> None:
    """Calibre le niveau de fiabilité (élevée, moyenne, faible) sur les jeux de développement.

    Les questions sont posées avec BM25 seul (la configuration du seuil de publication) et,
    par défaut, avec BM25 et e5 (celle du service) : le niveau vaut pour les deux.
    """
    import json as _json

    from assistant.rag.reliability import MODEL_FILE
    from eval.calibration import calibrate, observe
    from eval.dataset import load_dataset

    settings = _offline(load_settings())
    items = [item for path in DEV_SETS for item in load_dataset(path).items]
    observations = []
    for local in (False, True) if e5 else (False,):
        configured = settings.model_copy(update={"local_dense": local})
        with _eval_runtime(configured, None) as (runtime, _), domain_errors():
            observations += observe(runtime, items, say=lambda m: err.print(m))
    model, report = calibrate(observations)
    table = Table("niveau", "réponses", "justes", title="Validation croisée (jeux de dév.)")
    for level, row in report.levels.items():
        table.add_row(level, str(int(row["n"])), f"{row['right']:.3f}")
    out.print(table)
    out.print(
        f"{report.n} questions, {report.right:.3f} justes si tout était répondu ; "
        f"seuils : {report.thresholds}",
        highlight=False,
    )
    out.print(f"Poids : {report.weights}", highlight=False)
    if ecrire:
        path = settings.corpus_dir / MODEL_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_json.dumps(model.as_json(), ensure_ascii=False) + "\n", encoding="utf-8")
        out.print(f"Modèle écrit : {path}", highlight=False)
