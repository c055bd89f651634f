"""What the four LexHub codes cost `make run`, and search over the whole legal corpus.

    .venv/bin/python -m bench.codes        (after `plume corpus fetch`)

1. `plume ingest legi` into two fresh data dirs (edge, BM25 only): legi-data's four codes
   alone (the LexHub history not fetched there), then with the LexHub four (CGCT, Code
   électoral, Code civil, Code de l'urbanisme, every version since `legi_history_since`).
   The difference is what the issue bounds (60 s).
2. Search latency over the second store (the eight codes): `bench/queries.py`, three rounds,
   today, then as of 2019-06-01 (the past-day path adds the « texte antérieur » check).

Writes bench/results/codes.md and codes.json. The real .plume is never written to.
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.queries import QUERIES
from bench.run import (
    GNU_TIME,
    PLUME,
    RESULTS,
    ROOT,
    SOURCE_PACKAGES,
    _parse_gnu_time,
    bench_env,
    git_revision,
    log,
    machine,
    percentiles,
)

ROUNDS = 3


def _packages(data_dir: Path, with_lexhub: bool) -> None:
    packages = data_dir / "packages"
    packages.mkdir(parents=True)
    for entry in SOURCE_PACKAGES.iterdir():
        if entry.name.startswith("lexhub-") and not with_lexhub:
            continue
        (packages / entry.name).symlink_to(entry.resolve())


def ingest(data_dir: Path, label: str) -> dict[str, Any]:
    import subprocess

    log(f"plume ingest legi ({label}) …")
    time_file = data_dir.parent / f"time-{label}.txt"
    cmd = [str(GNU_TIME), "-v", "-o", str(time_file), str(PLUME), "ingest", "legi"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=bench_env(data_dir), cwd=ROOT, capture_output=True, text=True)
    out: dict[str, Any] = {"wall_s": round(time.perf_counter() - started, 1)}
    out["exit_code"] = proc.returncode
    if time_file.exists():
        out.update(_parse_gnu_time(time_file.read_text()))
    sync = (
        json.loads((data_dir / "sync.json").read_text())
        if (data_dir / "sync.json").exists()
        else {}
    )
    legi = sync.get("legi", {})
    out["passages"] = legi.get("added", 0) + legi.get("skipped", 0) + legi.get("updated", 0)
    out["documents"] = legi.get("documents", 0)
    out["pipeline_s"] = legi.get("seconds")
    return out


def search_latency(data_dir: Path) -> dict[str, Any]:
    from assistant.rag.retrieval import build_filter
    from assistant.runtime import Runtime
    from plume.settings import Settings

    settings = Settings(data_dir=data_dir, dense_enabled=False, local_dense=False)
    runtime = Runtime.build(settings, llm=None)
    try:
        out: dict[str, Any] = {}
        for label, day in (("today", None), ("as_of_2019", date(2019, 6, 1))):
            where = build_filter(as_of=day)
            for q in QUERIES[:30]:
                runtime.assistant.search(q, where, 8)
            samples = []
            for _ in range(ROUNDS):
                for q in QUERIES:
                    started = time.perf_counter()
                    found = runtime.assistant.search(q, where, 8)
                    runtime.assistant.history_gaps(q, where, found)
                    samples.append((time.perf_counter() - started) * 1000)
            out[label] = percentiles(samples)
        return out
    finally:
        runtime.close()


def main() -> None:
    assert SOURCE_PACKAGES.is_dir(), "run `plume corpus fetch` first"
    assert any(SOURCE_PACKAGES.glob("lexhub-*.git")), "the LexHub history is not fetched"
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="plume-bench-codes-") as tmp:
        runs = {}
        for label, with_lexhub in (("legi-data", False), ("legi-data+lexhub", True)):
            data_dir = Path(tmp) / label
            _packages(data_dir, with_lexhub)
            runs[label] = ingest(data_dir, label)
        latency = search_latency(Path(tmp) / "legi-data+lexhub")
    added = runs["legi-data+lexhub"]["wall_s"] - runs["legi-data"]["wall_s"]
    result = {
        "when": started.isoformat(timespec="minutes"),
        "commit": git_revision(),
        "machine": machine(),
        "ingest": runs,
        "lexhub_adds_s": round(added, 1),
        "search_ms": latency,
        "queries": len(QUERIES),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "codes.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    rows = [
        f"| {label} | {r['documents']} | {r['passages']} | {r['wall_s']} s | "
        f"{r.get('pipeline_s')} s | {r.get('peak_rss_mb')} Mo |"
        for label, r in runs.items()
    ]
    lat = [
        f"| {label} | {v['n']} | {v['p50']} | {v['p95']} | {v['p99']} |"
        for label, v in latency.items()
    ]
    target = "**PASS**" if added <= 60 else "**FAIL**"
    p95 = latency["today"]["p95"]
    verdict = "**PASS**" if p95 <= 50 else "**FAIL**"
    text = "\n".join(
        [
            "# Les quatre codes de LexHub : coût d'indexation et recherche",
            "",
            f"Run {started:%Y-%m-%d %H:%M} UTC at commit `{result['commit']}` with "
            "`python -m bench.codes`; edge backend, BM25 only, fresh temporary data dirs; "
            f"{result['machine']['nproc']} CPUs.",
            "",
            "| `plume ingest legi` | documents | passages | wall time | pipeline | peak RSS |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            f"LexHub adds **{added:.1f} s** to `make run` (target ≤ 60 s: {target}).",
            "",
            f"Search over the eight codes (`assistant.search` + the past-day check, "
            f"{len(QUERIES)} queries × {ROUNDS}), milliseconds:",
            "",
            "| day | n | p50 | p95 | p99 |",
            "|---|---|---|---|---|",
            *lat,
            "",
            f"Search p95 today {p95} ms (target ≤ 50 ms: {verdict}).",
            "",
        ]
    )
    (RESULTS / "codes.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
