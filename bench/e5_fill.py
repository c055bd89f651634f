"""How long the background e5 fill of the default corpus takes, on this machine.

Counts the passages of the default index (`.plume/`, built by `make run`) that get an e5
vector — by kind, in the filler's order, funded projects excluded — then embeds a sample
of each kind exactly as the filler does (`local_text`, batches of 32, a worker with
`PLUME_LOCAL_FILL_THREADS` threads) and extrapolates: when a commune's documents, the
fiches, the grants and the articles have all their vectors. The server must be stopped
(the embedded store has one owner).

    .venv/bin/python -m bench.e5_fill [--sample 320]

Results: bench/results/e5_fill.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, date, datetime
from typing import Any

from assistant.runtime import Runtime
from bench.run import machine
from ingestion.local_vectors import BATCH, NOT_EMBEDDED, ORDER, local_text
from plume import REPO_ROOT
from plume.embedding import LocalEmbedder
from plume.settings import Settings
from plume.store import SearchFilter

RESULTS = REPO_ROOT / "bench" / "results"
TARGET_MINUTES = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", type=int, default=320, help="passages embedded per kind")
    args = parser.parse_args()
    settings = Settings(local_fill=False)
    os.environ.setdefault("OMP_NUM_THREADS", str(settings.local_fill_threads))
    runtime = Runtime.build(settings)
    try:
        model = LocalEmbedder()
        model.embed_documents(["passage de mise en route"])  # load and warm the engine
        rows: list[dict[str, Any]] = []
        elapsed_min = 0.0
        for kinds, today in ORDER[:-1]:
            where = SearchFilter(
                kinds=kinds,
                every_tenant=True,
                except_kinds=NOT_EMBEDDED,
                as_of=date.today() if today else None,
            )
            total = runtime.store.count(where)
            if not total:
                continue
            sample = []
            for _, payload in runtime.store.scan(where, ["title", "section", "text"]):
                sample.append(local_text(payload))
                if len(sample) == args.sample:
                    break
            started = time.perf_counter()
            for i in range(0, len(sample), BATCH):
                model.embed_documents(sample[i : i + BATCH])
            rate = len(sample) / (time.perf_counter() - started)
            minutes = total / rate / 60
            elapsed_min += minutes
            rows.append(
                {
                    "kind": kinds[0] if kinds else "other",
                    "passages": total,
                    "per_second": round(rate, 1),
                    "minutes": round(minutes, 1),
                    "done_after_min": round(elapsed_min, 1),
                }
            )
            print(rows[-1], flush=True)
    finally:
        runtime.close()
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "threads": settings.local_fill_threads,
        "sample_per_kind": args.sample,
        "kinds": rows,
        "total_minutes": round(elapsed_min, 1),
        "target_minutes": TARGET_MINUTES,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "e5_fill.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    lines = [
        "# Background e5 fill of the default corpus",
        "",
        f"{report['when']}, {report['machine'].get('cpu', '')}, "
        f"{settings.local_fill_threads} threads; rate measured on {args.sample} passages of "
        "each kind, embedded as the filler does (title, headings, first 400 characters).",
        "",
        "| kind (filler's order) | passages | passages/s | minutes | all done after (min) |",
        "|---|---|---|---|---|",
        *(
            f"| {r['kind']} | {r['passages']:,} | {r['per_second']} | {r['minutes']} | "
            f"{r['done_after_min']} |"
            for r in rows
        ),
        "",
        f"Whole default corpus: {report['total_minutes']} minutes "
        f"(target {TARGET_MINUTES:.0f}). Funded projects get no vector.",
    ]
    (RESULTS / "e5_fill.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
