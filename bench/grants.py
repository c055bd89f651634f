"""Grants: ingestion of the catalogue and the funded-project lists, then the latency of a
grant search for a commune and of a precedents report.

    .venv/bin/python -m bench.aides        # writes bench/results/grants.md

Reads the real files of ../shared/data/aides_territoires in place, into a temporary data
folder whose `packages` link to the fetched packages (the commune profiles need the
official geographic code). Sparse retrieval only (no model).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from assistant.aides.catalogue import AideFilters, find_aides
from assistant.aides.precedents import ProjectTable, similar_projects
from assistant.runtime import Runtime
from ingestion.service import ingest_source
from plume import REPO_ROOT
from plume.settings import Settings

AIDES = REPO_ROOT.parent / "shared" / "data" / "aides_territoires"
RESULTS = REPO_ROOT / "bench" / "results"
PROJECTS = [
    "refaire le toit de l'école",
    "rénovation énergétique de la mairie",
    "éclairage public LED",
    "vidéoprotection",
    "city stade",
    "accessibilité des bâtiments communaux",
    "voirie communale",
    "cantine scolaire",
    "église classée monument historique",
    "outil d'intelligence artificielle pour le secrétariat",
    "friche industrielle",
    "piste cyclable",
    "bornes de recharge électrique",
    "assainissement eaux usées",
    "chauffage de la salle des fêtes",
    "cimetière extension",
    "aire de jeux",
    "bibliothèque médiathèque",
    "plantation de haies biodiversité",
    "prévention inondation",
]
ROUNDS = 5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def main() -> None:
    if not AIDES.is_dir():
        sys.exit(f"{AIDES} absent: the real aides-territoires files are needed")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        (data / "packages").symlink_to(REPO_ROOT / ".plume" / "packages")
        settings = Settings(data_dir=data)
        runtime = Runtime.build(settings)
        rows = []
        for source, path in (
            ("programmes", None),
            ("aides-territoires", AIDES / "aides-territoires_periurbain.csv"),
            ("precedents", AIDES / "detr_dsil_validated_projects_yvelines_78.csv"),
            ("precedents", AIDES / "fonds-vert-2023-export.csv"),
        ):
            started = time.perf_counter()
            summary = ingest_source(settings, runtime.store, None, source, path=path)
            took = time.perf_counter() - started
            name = path.name if path else "corpus/programmes.toml"
            rows.append((source, name, summary.documents, took))
        runtime.refresh_stats()
        ablis, _ = runtime.communes.put("78003")
        retriever = runtime.assistant.retriever
        filters = AideFilters.build()
        for project in PROJECTS[:3]:  # warm-up
            find_aides(retriever, project, filters, ablis)
        grants_ms: list[float] = []
        precedents_ms: list[float] = []
        table = ProjectTable(runtime.store)  # as the chat keeps it: projects read once
        cold_s = timed(table.load)
        counts: list[tuple[str, int, int]] = []
        for _ in range(ROUNDS):
            for project in PROJECTS:
                grants_ms.append(
                    1000 * timed(lambda p=project: find_aides(retriever, p, filters, ablis))
                )
        for project in PROJECTS:
            report = None

            def run(p: str = project) -> None:
                nonlocal report
                report = similar_projects(runtime.store, runtime.encoder, p, table=table)

            precedents_ms.append(1000 * timed(run))
            found = find_aides(retriever, project, filters, ablis)
            counts.append((project, len(found.aides), report.count if report else 0))
        runtime.close()
    lines = [
        "# Grants benchmark",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M')} — sparse retrieval, embedded store, "
        "commune Ablis (78003).",
        "",
        "| source | file | documents | ingestion |",
        "|---|---|---:|---:|",
        *[f"| {s} | {n} | {d} | {t:.1f} s |" for s, n, d, t in rows],
        "",
        f"AideMatch search ({len(grants_ms)} searches): p50 {statistics.median(grants_ms):.1f} ms, "
        f"p95 {percentile(grants_ms, 0.95):.1f} ms.",
        f"Precedents report ({len(precedents_ms)} reports over both lists, projects read "
        f"once in {cold_s:.2f} s): p50 {statistics.median(precedents_ms):.0f} ms, "
        f"p95 {percentile(precedents_ms, 0.95):.0f} ms.",
        "",
        "| project | aids listed | similar funded projects |",
        "|---|---:|---:|",
        *[f"| {p} | {g} | {c} |" for p, g, c in counts],
        "",
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "grants.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
