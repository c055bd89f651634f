"""The ranked passages of every question of every eval set, on the BM25 eval index, to a
JSON file: run it before and after a change to the search pipeline; identical files mean
the same results (ids, scores rounded to 1e-6, links). Issue 23.

    python -m bench.search_dump OUT.json      # builds <data_dir>/eval-index on first use
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from assistant.models import Passage
from assistant.rag.retrieval import build_filter
from cli.eval import _offline
from eval.dataset import load_dataset
from eval.index import default_parts, ensure_index, eval_settings
from eval.runner import TOP_K, _where
from plume import REPO_ROOT
from plume.settings import Settings


def row(passages: list[Passage]) -> list[list[Any]]:
    return [
        [p.hit.id, p.doc_id, round(p.score, 6), sorted(p.hit.payload.get("links") or [])]
        for p in passages
    ]


def main() -> None:
    settings = _offline(Settings())
    runtime, skipped = ensure_index(
        eval_settings(settings), default_parts(), say=lambda m: print(m, file=sys.stderr)
    )
    print("skipped", skipped, file=sys.stderr)
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    for f in sorted((REPO_ROOT / "eval" / "datasets").glob("*.jsonl")):
        if f.stem.startswith("followups"):
            where = build_filter()
            for line in f.read_text().splitlines():
                if not line.strip():
                    continue
                r = json.loads(line)
                s = runtime.assistant.retriever.search
                out[f"{f.stem}/{r['id']}/first"] = row(s(r["first"], where, TOP_K * 3))
                out[f"{f.stem}/{r['id']}/standalone"] = row(s(r["standalone"], where, TOP_K * 3))
                out[f"{f.stem}/{r['id']}/followup"] = row(
                    s(r["followup"], where, TOP_K * 3, context=r["first"])
                )
            continue
        for item in load_dataset(f).items:
            ps = runtime.assistant.search(item.question, _where(item), TOP_K * 3)
            out[f"{f.stem}/{item.id}"] = row(ps)
    print("searches", len(out), "in", round(time.perf_counter() - t0, 2), "s", file=sys.stderr)
    Path(sys.argv[1]).write_text(json.dumps(out, indent=0, sort_keys=True, ensure_ascii=False))
    runtime.close()


if __name__ == "__main__":
    main()
