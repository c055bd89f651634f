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


def extrapolated(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """BM25 + e5 at the largest BM25 size, when e5 was measured only smaller: BM25 there
    plus what e5 added, per passage, at the largest size both were measured (an upper
    bound: at small sizes the write-ahead log, mapped in memory, holds every vector too)."""
    bm25, e5 = largest(runs, "bm25"), largest(runs, "e5")
    if not bm25 or not e5 or e5["passages"] >= bm25["passages"]:
        return None
    n = e5["passages"]
    pair = next((r for r in runs if r["variant"] == "bm25" and r["passages"] == n), None)
    if pair is None:
        return None
    big = bm25["passages"]
    disk = bm25["disk_mb"] + (e5["disk_mb"] - pair["disk_mb"]) * big / n
    rss = bm25["rss_mb"] + (e5["rss_mb"] - pair["rss_mb"]) * big / n
    return {
        "passages": big,
        "disk_mb": disk,
        "rss_mb": rss,
        "disk_per_passage_kb": round(disk * 1e3 / big, 2),
        "how": f"extrapolé de BM25 à {big:,} et de l'écart e5 − BM25 mesuré à {n:,}",
    }


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
    estimate = extrapolated(runs)
    if estimate:
        lines.append(
            f"- BM25 + e5 à {estimate['passages']:,}, extrapolé (non mesuré) : "
            f"{estimate['disk_per_passage_kb']} Ko par passage, RSS ≤ "
            f"{estimate['rss_mb']:.0f} Mo (borne haute)"
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
    measured = [
        (v, lab, largest(runs, v)) for v, lab in (("bm25", "BM25 seul"), ("e5", "BM25 + e5"))
    ]
    estimate = extrapolated(runs)
    if estimate:
        measured.append(("e5", "BM25 + e5, extrapolé", estimate))
    for _, label, r in measured:
        if not r:
            continue
        lines += [
            "",
            f"### {label} ({r.get('how', 'mesuré')} à {r['passages']:,} passages)",
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
    print(f"written: {OUT / 'scale.md'}")


if __name__ == "__main__":
    main()
