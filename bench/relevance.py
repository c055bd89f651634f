"""Retrieval quality on an external question set: PIAF's service-public questions.

`../shared/data/qa/spf_questions_gold_fiche.jsonl` (Etalab's PIAF project) maps 535
questions to the fiche that answers them. 501 of them are the fiche's own title, so the
figures are reported on the 34 others too. The whole package is indexed (`--all`): the
questions cover every theme, not only the town-hall selection.

    .venv/bin/python -m bench.relevance        # writes bench/results/relevance.md
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from assistant.rag.retrieval import build_filter
from assistant.runtime import Runtime
from plume import REPO_ROOT
from plume.settings import Settings

QA = REPO_ROOT.parent / "shared" / "data" / "qa" / "spf_questions_gold_fiche.jsonl"
RESULTS = REPO_ROOT / "bench" / "results"


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    found = [r for r in ranks if r is not None]
    return {
        "n": len(ranks),
        "recall@1": sum(r <= 1 for r in found) / n,
        "recall@5": sum(r <= 5 for r in found) / n,
        "recall@10": sum(r <= 10 for r in found) / n,
        "mrr@10": sum(1 / r for r in found if r <= 10) / n,
        "ndcg@10": sum(1 / math.log2(r + 1) for r in found if r <= 10) / n,
    }


def main() -> None:
    if not QA.exists():
        sys.exit(f"skipped: {QA} is absent (it comes with ../shared/data)")
    rows = [json.loads(line) for line in QA.read_text().splitlines() if line.strip()]
    data_dir = Path(tempfile.mkdtemp(prefix="plume-relevance-"))
    try:
        (data_dir / "packages").symlink_to(Settings().packages_dir.resolve())
        started = time.perf_counter()
        env = {"PLUME_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin"}
        plume = str(Path(sys.executable).parent / "plume")
        subprocess.run([plume, "ingest", "service-public", "--all"], env=env, check=False)
        ingest_seconds = time.perf_counter() - started
        runtime = Runtime.build(Settings(data_dir=data_dir))
        [stats] = runtime.store.list_sources()
        indexed = {p["doc_id"] for _, p in runtime.store.scan(build_filter(), ["doc_id"])}
        ranks: dict[str, list[int | None]] = {"all": [], "not the title": []}
        missing = 0
        for row in rows:
            gold = {f"vdd/{g}" for g in row["gold_fiche_ids"]}
            if not gold & indexed:
                missing += 1
                continue
            passages = runtime.assistant.search(row["question"], build_filter(), 10)
            docs = list(dict.fromkeys(p.doc_id for p in passages))
            rank = next((i + 1 for i, d in enumerate(docs) if d in gold), None)
            ranks["all"].append(rank)
            if not row.get("question_equals_fiche_title"):
                ranks["not the title"].append(rank)
        runtime.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    lines = [
        "# Retrieval on PIAF's service-public questions",
        "",
        f"Whole package indexed (`--all`): {stats.documents:,} fiches, {stats.chunks:,} passages, "
        f"in {ingest_seconds:.0f} s. BM25 only (no model). {missing} questions whose gold fiche "
        "is not in the pinned package (fiches withdrawn since) are left out.",
        "",
        "| questions | n | recall@1 | recall@5 | recall@10 | MRR@10 | nDCG@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, values in ranks.items():
        m = metrics(values)
        lines.append(
            f"| {name} | {m['n']} | {m['recall@1']:.3f} | {m['recall@5']:.3f} | "
            f"{m['recall@10']:.3f} | {m['mrr@10']:.3f} | {m['ndcg@10']:.3f} |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "relevance.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
