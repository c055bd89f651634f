"""The indicators as one self-contained HTML page with charts (matplotlib, PNG inlined)."""

from __future__ import annotations

import base64
import io
from html import escape

from assistant.records.indicators import CommuneIndicators, Indicators

COLUMNS = (
    ("commune", "Commune"),
    ("name", "Nom"),
    ("licences", "Licences"),
    ("users", "Utilisateurs déclarés"),
    ("trained", "Formés"),
    ("active_users", "Actifs"),
    ("adoption_rate", "Adoption"),
    ("questions", "Questions"),
    ("answered", "Réponses sourcées"),
    ("satisfaction_rate", "Satisfaction"),
    ("hours_per_agent_month", "h gagnées / agent / mois"),
    ("energy_kwh", "Énergie (kWh)"),
    ("gwp_kgco2eq", "CO2 (kg éq.)"),
)


def _png(fig: object) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="" src="data:image/png;base64,{data}">'


def charts(report: Indicators) -> list[tuple[str, str]]:
    """(title, <img>) pairs: questions per month, users per commune, satisfaction."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    out = []
    months = [m["month"] for m in report.monthly]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(months, [m.get("questions", 0) for m in report.monthly], label="Questions")
    ax.bar(months, [m.get("answered", 0) for m in report.monthly], label="Réponses sourcées")
    ax.legend()
    out.append(("Questions par mois", _png(fig)))

    names = [c.commune for c in report.communes]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar([n + " " for n in names], [c.users for c in report.communes], label="Déclarés")
    ax.bar(names, [c.active_users for c in report.communes], label="Actifs")
    ax.legend()
    out.append(("Utilisateurs par commune", _png(fig)))

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.bar(names, [100 * (c.satisfaction_rate or 0) for c in report.communes])
    ax.set_ylim(0, 100)
    ax.set_ylabel("%")
    out.append(("Satisfaction (avis positifs, %)", _png(fig)))
    return out


def cell(row: CommuneIndicators, name: str) -> str:
    value = getattr(row, name)
    if value is None:
        return "—"
    if name.endswith("_rate"):
        return f"{100 * value:.0f} %"
    return escape(str(value))


def render_html(report: Indicators) -> str:
    head = "".join(f"<th>{escape(label)}</th>" for _, label in COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{cell(r, n)}</td>" for n, _ in COLUMNS) + "</tr>"
        for r in [*report.communes, report.total]
    )
    figures = "".join(f"<h2>{escape(t)}</h2>{img}" for t, img in charts(report))
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<title>Indicateurs Plume {report.start} – {report.end}</title>
<style>body{{font-family:Marianne,Arial,sans-serif;margin:2em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em}}</style>
</head><body>
<h1>Indicateurs d'impact — du {report.start} au {report.end}</h1>
<p>Programme Territoires d'IA : usage, satisfaction, gain de temps et frugalité.</p>
<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>
<p><strong>Méthode :</strong> {escape(report.method)}</p>
{figures}
</body></html>
"""
