"""The evaluation report: Markdown and HTML, with per-kind bars and the history of runs.

Plots are drawn with matplotlib (Agg): SVG inlined in the HTML, PNG files next to the
Markdown. Regressions against the previous comparable run are marked in both.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.dataset import Problem
from eval.history import Delta, RunRecord

TABLES = {
    "Ce que reçoit la secrétaire": (
        "answered_gold",
        "shown_gold",
        "also_gold",
        "answered_wrong",
        "pistes_gold",
        "answered",
        "pistes",
        "refusal_accuracy",
    ),
    "Fiabilité (part juste à chaque niveau, part des réponses à ce niveau)": (
        "right@elevee",
        "level_elevee",
        "right@moyenne",
        "level_moyenne",
        "right@faible",
        "level_faible",
    ),
    "Recherche": ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"),
    "Réponses (ragas)": (
        "context_precision_ids",
        "context_recall_ids",
        "context_precision_text",
        "string_similarity",
        "faithfulness",
        "response_relevancy",
        "context_precision_llm",
        "context_recall_llm",
        "factual_correctness",
    ),
    "Plume": (
        "citation_precision",
        "date_correctness",
        "latency_p50_s",
        "latency_p95_s",
    ),
}
BARS = ("answered_gold", "shown_gold", "recall@5", "refusal_accuracy")
TREND = ("answered_gold", "shown_gold", "recall@10", "refusal_accuracy")


@dataclass
class Report:
    record: RunRecord
    problems: Sequence[Problem] = ()
    deltas: Sequence[Delta] = ()
    history: Sequence[RunRecord] = ()
    skipped_parts: Sequence[str] = ()
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def regressions(self) -> list[Delta]:
        return [d for d in self.deltas if d.regression]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def table_rows(
    summary: dict[str, dict[str, float]], metrics: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """Header and rows (one per group) of the metrics present in the summary."""
    shown = [m for m in metrics if any(m in row for row in summary.values())]
    rows = [
        [group, str(int(row.get("n", 0))), *(_fmt(row.get(m)) for m in shown)]
        for group, row in summary.items()
    ]
    return ["groupe", "n", *shown], rows


def _changes(report: Report) -> list[str]:
    if not report.deltas:
        return ["Pas de run précédent comparable (même jeu, même configuration)."]
    lines = ["| groupe | métrique | avant | après | écart |", "|---|---|---|---|---|"]
    for d in report.deltas:
        if abs(d.change) < 0.0005:
            continue
        mark = " **régression**" if d.regression else ""
        lines.append(
            f"| {d.group} | {d.metric} | {d.before:.3f} | {d.after:.3f} | {d.change:+.3f}{mark} |"
        )
    return lines if len(lines) > 2 else ["Aucun changement depuis le run précédent."]


def markdown(report: Report, images: dict[str, str] | None = None) -> str:
    r = report.record
    lines = [
        f"# Évaluation de Plume — {r.dataset}",
        "",
        f"Run du {r.run_at}, commit `{r.commit or 'inconnu'}`, recherche {r.config['retrieval']}, "
        f"juge : {r.config.get('judge') or 'aucun (métriques sans modèle)'}.",
        f"{r.questions} questions évaluées, {r.skipped} ignorées.",
        "Corpus : " + "; ".join(f"{s} {', '.join(v)}" for s, v in r.corpora.items()) + ".",
    ]
    if report.skipped_parts:
        lines.append("Parties absentes de l'index : " + ", ".join(report.skipped_parts) + ".")
    for title, metrics in TABLES.items():
        header, rows = table_rows(r.summary, metrics)
        lines += ["", f"## {title}", "", "| " + " | ".join(header) + " |"]
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    lines += ["", "## Par rapport au run précédent", "", *_changes(report)]
    if report.problems:
        lines += ["", "## Lignes ignorées", ""] + [f"- {p}" for p in report.problems]
    for name, file in (images or {}).items():
        lines += ["", f"![{name}]({file})"]
    return "\n".join(lines) + "\n"


def _figure(report: Report, kind: str) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6))
    if kind == "bars":
        groups = [g for g in report.record.summary if not g.startswith("tag:")]
        width = 0.8 / len(BARS)
        for i, metric in enumerate(BARS):
            values = [report.record.summary[g].get(metric, 0.0) for g in groups]
            ax.bar([x + i * width for x in range(len(groups))], values, width, label=metric)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))], groups)
        ax.set_ylim(0, 1.05)
        ax.set_title("Par type de question")
    else:
        runs = [h for h in report.history if h.same_setup(report.record)] or [report.record]
        for metric in TREND:
            ax.plot(
                range(len(runs)),
                [h.summary.get("all", {}).get(metric, float("nan")) for h in runs],
                marker="o",
                label=metric,
            )
        ax.set_xticks(range(len(runs)), [h.commit[:7] or str(i) for i, h in enumerate(runs)])
        ax.set_ylim(0, 1.05)
        ax.set_title("Historique des runs (toutes questions)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.find("<svg") :]


def html_page(report: Report, svgs: dict[str, str]) -> str:
    r = report.record
    parts = [
        "<!doctype html><html lang='fr'><head><meta charset='utf-8'>",
        f"<title>Évaluation de Plume — {html.escape(r.dataset)}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em}"
        ".reg{background:#fdd}</style></head><body>",
        f"<h1>Évaluation de Plume — {html.escape(r.dataset)}</h1>",
        f"<p>Run du {r.run_at}, commit <code>{html.escape(r.commit or 'inconnu')}</code>, "
        f"recherche {r.config['retrieval']}, {r.questions} questions, {r.skipped} ignorées.</p>",
    ]
    for title, metrics in TABLES.items():
        header, rows = table_rows(r.summary, metrics)
        parts.append(f"<h2>{title}</h2><table><tr>")
        parts += [f"<th>{html.escape(h)}</th>" for h in header]
        parts.append("</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
    if report.regressions:
        parts.append("<h2>Régressions</h2><table>")
        for d in report.regressions:
            parts.append(
                f"<tr class='reg'><td>{html.escape(d.group)}</td><td>{d.metric}</td>"
                f"<td>{d.before:.3f}</td><td>{d.after:.3f}</td></tr>"
            )
        parts.append("</table>")
    parts += list(svgs.values())
    if report.problems:
        parts.append("<h2>Lignes ignorées</h2><ul>")
        parts += [f"<li>{html.escape(str(p))}</li>" for p in report.problems]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write(report: Report, folder: Path) -> dict[str, Path]:
    """Write report.md (+ PNG plots), report.html (SVG inline) and items.jsonl."""
    import json

    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    images, svgs = {}, {}
    for kind in ("bars", "history"):
        fig = _figure(report, kind)
        fig.savefig(folder / f"{kind}.png", dpi=90)
        images[kind] = f"{kind}.png"
        svgs[kind] = _svg(fig)
        plt.close(fig)
    paths = {"markdown": folder / "report.md", "html": folder / "report.html"}
    paths["markdown"].write_text(markdown(report, images), encoding="utf-8")
    paths["html"].write_text(html_page(report, svgs), encoding="utf-8")
    items = folder / "items.jsonl"
    items.write_text(
        "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in report.items), encoding="utf-8"
    )
    paths["items"] = items
    return paths
