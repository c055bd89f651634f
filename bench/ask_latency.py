"""Latency of a whole answer without a model (`ask`: scope, search, evidence, reliability).

Every question of the evaluation sets (dev, dev2, heldout, heldout2, heldout3) is asked
`--rounds` times on the evaluation index, after a warm-up; the report gives p50, p95 and
max of `ask` and of `search`, per mode, with BM25 alone and, when its index has its
vectors, with e5 (`eval-index-e5`, built by `plume eval` with PLUME_LOCAL_DENSE=true).

    .venv/bin/python -m bench.ask_latency            # both, when the e5 index exists
    .venv/bin/python -m bench.ask_latency --bm25     # BM25 alone

Results: bench/results/ask_latency.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from assistant.rag.retrieval import build_filter
from assistant.runtime import Runtime
from bench.run import machine, percentiles
from eval.dataset import load_dataset
from eval.index import eval_settings
from plume import REPO_ROOT
from plume.settings import Settings

SETS = ("dev", "dev2", "heldout", "heldout2", "heldout3")
RESULTS = REPO_ROOT / "bench" / "results"
TARGET_ASK_P95_MS = 100.0
TARGET_SEARCH_P95_MS = 50.0


def measure(local: bool, rounds: int) -> dict[str, Any] | None:
    settings = eval_settings(
        Settings(mistral_api_key=None, dense_enabled=False, local_dense=local, local_fill=False)
    )
    if not (settings.data_dir / "store").exists():
        return None
    runtime = Runtime.build(settings)
    try:
        if local and not runtime.assistant.retriever.has_local_vectors():
            return None
        folder = REPO_ROOT / "eval" / "datasets"
        items = [i for name in SETS for i in load_dataset(folder / f"{name}.jsonl").items]
        assistant = runtime.assistant
        for item in items[:20]:  # warm-up: model pages, caches
            assistant.ask(item.question, build_filter(as_of=item.as_of))
        ask_ms: list[float] = []
        search_ms: list[float] = []
        by_mode: dict[str, list[float]] = defaultdict(list)
        local_model = assistant.retriever.local
        forget = getattr(local_model, "forget", lambda: None)  # each timing embeds afresh
        for _ in range(rounds):
            for item in items:
                where = build_filter(as_of=item.as_of, tenants=[item.tenant] if item.tenant else ())
                forget()
                started = time.perf_counter()
                assistant.search(item.question, where, 10)
                search_ms.append((time.perf_counter() - started) * 1000)
                forget()
                started = time.perf_counter()
                answer = assistant.ask(item.question, where)
                elapsed = (time.perf_counter() - started) * 1000
                ask_ms.append(elapsed)
                by_mode[answer.mode].append(elapsed)
        return {
            "retrieval": "BM25 + e5" if local else "BM25",
            "questions": len(items),
            "rounds": rounds,
            "ask_ms": percentiles(ask_ms),
            "search_ms": percentiles(search_ms),
            "ask_ms_by_mode": {m: percentiles(v) for m, v in sorted(by_mode.items())},
        }
    finally:
        runtime.close()


def render(report: dict[str, Any]) -> str:
    lines = [
        "# Latency of an answer without a model",
        "",
        f"{report['date']}, commit {report['commit']}, {report['machine'].get('cpu', '')}.",
        "Every question of the five evaluation sets, asked on the evaluation index "
        "(`python -m bench.ask_latency`).",
        "",
        "| retrieval | questions × rounds | ask p50 | ask p95 | ask max | search p50 "
        "| search p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in report["runs"]:
        a, s = run["ask_ms"], run["search_ms"]
        lines.append(
            f"| {run['retrieval']} | {run['questions']} × {run['rounds']} | {a['p50']} ms | "
            f"{a['p95']} ms | {a['max']} ms | {s['p50']} ms | {s['p95']} ms |"
        )
    lines += ["", "Per answer mode (ask p50 / p95):", ""]
    for run in report["runs"]:
        modes = "; ".join(
            f"{m} {p['p50']} / {p['p95']} ms (n={p['n']})" for m, p in run["ask_ms_by_mode"].items()
        )
        lines.append(f"- {run['retrieval']}: {modes}")
    lines += [
        "",
        f"Targets: ask p95 ≤ {TARGET_ASK_P95_MS:.0f} ms, search p95 ≤ "
        f"{TARGET_SEARCH_P95_MS:.0f} ms (the e5 question vector included).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    from bench.run import git_revision

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bm25", action="store_true", help="BM25 alone")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs = [measure(False, args.rounds)]
    if not args.bm25:
        runs.append(measure(True, args.rounds))
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_revision(),
        "machine": machine(),
        "runs": [r for r in runs if r is not None],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ask_latency.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "ask_latency.md").write_text(render(report))
    print(render(report))


if __name__ == "__main__":
    main()
