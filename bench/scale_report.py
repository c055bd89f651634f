"""bench/results/scale.md from scale.json: the curve, the targets, and a sizing table.

    python -m bench.scale_report

The sizing rests on the measured curve: bytes of disk and of resident memory per passage
at the largest size measured for each variant, applied to the passages a territory holds.
Assumptions (stated in the page): a commune's documents ≈ 1,400 passages (bench/results/
documents.md: 176 real municipal files gave 1,386 passages); the shared corpus ≈ 91,000
passages (the default corpus: 90,950 passages, README); a région ≈ 2,700
communes (35,000 / 13); a node with 32 GB of RAM, two thirds of it for Qdrant; the server
holds a point in about the memory the embedded engine does (same engine, same segments).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "results"
PER_COMMUNE = 1_400
SHARED = 91_000
NODE_RAM_GB = 32
USABLE = 2 / 3
TERRITORIES = (("un département", 500, 1), ("une région", 2_700, 2), ("le pays", 35_000, 2))
TARGETS = {"bm25": 2.0, "e5": 4.0}  # kB of disk per passage (issue 23)


def largest(runs: list[dict[str, Any]], variant: str) -> dict[str, Any] | None:
    mine = [r for r in runs if r["variant"] == variant]
    return max(mine, key=lambda r: r["passages"]) if mine else None


def sizing(run: dict[str, Any]) -> list[str]:
    n = run["passages"]
    disk, ram = run["disk_mb"] * 1e6 / n, run["rss_mb"] * 1e6 / n
    per_node = int(NODE_RAM_GB * 1e9 * USABLE / ram)
    rows = []
    for name, communes, replication in TERRITORIES:
        total = SHARED + communes * PER_COMMUNE
        nodes = max(1, math.ceil(total / per_node))
        shards = max(1, nodes * 2)  # room to move shards when a node is added
        rows.append(
            f"| {name} ({communes:,} communes) | {total / 1e6:.1f} M | "
            f"{total * disk / 1e9:.0f} Go | {total * ram / 1e9:.0f} Go | {per_node / 1e6:.1f} M | "
            f"{nodes} × {replication} | {shards} |"
        )
    return rows


def report(data: dict[str, Any]) -> str:
    runs = sorted(data.get("runs", []), key=lambda r: (r["variant"], r["passages"]))
    m = data.get("machine", {})
    lines = [
        "# Le stockage embarqué de 70 000 à 1 million de passages",
        "",
        f"{m.get('date', '?')} — {m.get('cpus', '?')} CPU (machine partagée : temps bruités, "
        f"comparer les rapports d'une même série), Python {m.get('python', '?')}, commit "
        f"{m.get('commit', '?')}. `python -m bench.scale` puis `python -m bench.scale_report`.",
        "",
        "Passages : texte réel des codes et fiches (.plume/packages), "
        f"{data.get('pool', '?')} passages réels, au-delà variés (15 % des termes BM25 d'un "
        "autre) ; charge utile d'ingestion ; 10 % des passages à 500 communes. Les variantes "
        "`e5` portent un vecteur e5 (aléatoire, normé) sur chaque passage ; `avant` : le "
        "stockage d'avant l'issue 23 (un vecteur dense de 1024 vide sur chaque point). "
        "Recherche : celle du retriever (BM25, ou BM25 + e5 fusionnés par RRF), filtre d'une "
        "commune, 200 questions après 200 de mise en route.",
        "",
        "| passages | variante | disque | Ko/passage | ouverture | RSS | dont fichiers | "
        "BM25 p50 / p95 | BM25+e5 p50 / p95 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        hybrid = (
            f"{r['bm25+e5_p50_ms']} / {r['bm25+e5_p95_ms']} ms" if "bm25+e5_p50_ms" in r else "—"
        )
        lines.append(
            f"| {r['passages']:,} | {r['variant']} | {r['disk_mb']:.0f} Mo | "
            f"{r['disk_per_passage_kb']} | {r['open_s']} s | {r['rss_mb']:.0f} Mo | "
            f"{r['rss_file_mb']:.0f} Mo | {r['bm25_p50_ms']} / {r['bm25_p95_ms']} ms | {hybrid} |"
        )
    recall = data.get("e5_recall_at_10")
    if recall:
        lines += [
            "",
            f"Rappel@10 de la liste e5 (vrais vecteurs e5, {recall['passages']} passages, "
            f"{recall['queries']} questions, contre le classement cosinus exact) : "
            + ", ".join(f"{k} {v}" for k, v in recall.items() if k not in ("passages", "queries")),
        ]
    lines += ["", "## Objectifs (issue 23)", ""]
    for variant, target in TARGETS.items():
        r = largest(runs, variant)
        if r:
            ok = "atteint" if r["disk_per_passage_kb"] <= target else "manqué"
            lines.append(
                f"- disque par passage, {variant} : {r['disk_per_passage_kb']} Ko à "
                f"{r['passages']:,} passages (objectif ≤ {target} Ko : {ok})"
            )
    for variant in ("bm25", "e5"):
        r = largest(runs, variant)
        if r and r["passages"] >= 1_000_000:
            ok = "atteint" if r["rss_mb"] <= 3000 else "manqué"
            lines.append(f"- RSS à 1 M, {variant} : {r['rss_mb']:.0f} Mo (objectif ≤ 3 Go : {ok})")
    lines += [
        "",
        "## Dimensionnement (sur la courbe mesurée)",
        "",
        f"Hypothèses : {PER_COMMUNE:,} passages par commune (documents.md : 176 fichiers "
        f"municipaux réels → 1 386 passages), corpus commun {SHARED:,} passages, une région "
        f"≈ 2 700 communes, un nœud de {NODE_RAM_GB} Go dont deux tiers pour Qdrant, un point "
        "sur le serveur ≈ la mémoire du moteur embarqué (même moteur). Réplication 2 au-delà "
        "du département (une panne de nœud ne coupe rien) ; deux shards par nœud pour en "
        "ajouter sans tout redécouper. Mesures aléatoires à confirmer sur un vrai cluster.",
    ]
    for variant, label in (("bm25", "BM25 seul"), ("e5", "BM25 + e5")):
        r = largest(runs, variant)
        if not r:
            continue
        lines += [
            "",
            f"### {label} (mesuré à {r['passages']:,} passages)",
            "",
            "| territoire | passages | disque | RAM | passages par nœud | nœuds × réplicas "
            "| shards |",
            "|---|---|---|---|---|---|---|",
            *sizing(r),
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    data = json.loads((OUT / "scale.json").read_text())
    (OUT / "scale.md").write_text(report(data))
    print((OUT / "scale.md").read_text())


if __name__ == "__main__":
    main()
