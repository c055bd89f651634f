"""What e5 should read of a passage: its title, nearest headings and beginning, or more.

The 2015 CGCT and Code électoral articles of the evaluation index (the codes most of the
dev questions' situations fall under) are embedded twice — `short`: title, the two nearest
headings and the text, cut at 400 characters (ingestion.local_vectors.local_text); `long`:
the same cut at 1,000 characters — and the dev sets' questions on them are searched with
e5 alone and fused with BM25 (RRF, k = 60 and 10). The embedding time of each recipe is
measured too: e5 reads about a thousand tokens a second on 2 cores.

    .venv/bin/python -m bench.e5_text          # about 30 minutes on 2 cores

Results: bench/results/e5_text.md.
"""

from __future__ import annotations

import time
from statistics import fmean

import numpy as np

from assistant.rag.retrieval import build_filter
from assistant.runtime import Runtime
from eval.dataset import load_dataset
from eval.index import eval_settings
from ingestion.local_vectors import local_text
from plume import REPO_ROOT
from plume.embedding import LocalEmbedder
from plume.settings import Settings
from plume.store import SearchFilter

CODES = ("LEGITEXT000006070633", "LEGITEXT000006070239")
RECIPES = {"short": 400, "long": 1000}
RESULTS = REPO_ROOT / "bench" / "results"


def _rrf(lists: list[list[str]], k: int) -> list[str]:
    fused: dict[str, float] = {}
    for ranked in lists:
        for r, d in enumerate(ranked):
            fused[d] = fused.get(d, 0.0) + 1.0 / (k + r + 1)
    return sorted(fused, key=lambda d: -fused[d])


def main() -> None:
    settings = eval_settings(Settings(mistral_api_key=None, dense_enabled=False, local_dense=False))
    runtime = Runtime.build(settings)
    model = LocalEmbedder()
    try:
        first: dict[str, dict[str, object]] = {}
        where = SearchFilter(sources=["legi"], as_of=None)
        for _, p in runtime.store.scan(where, ["doc_id", "title", "section", "text", "chunk"]):
            doc = str(p["doc_id"])
            if doc.split("/")[1] in CODES and (p.get("chunk") or 0) == 0:
                first.setdefault(doc, p)
        ids = sorted(first)
        vectors, seconds = {}, {}
        for name, chars in RECIPES.items():
            started = time.perf_counter()
            texts = [local_text(first[d], chars) for d in ids]
            vectors[name] = np.array(model.embed_documents(texts))
            seconds[name] = time.perf_counter() - started
        folder = REPO_ROOT / "eval" / "datasets"
        rows = []
        for dataset in ("dev", "dev2"):
            items = [
                i
                for i in load_dataset(folder / f"{dataset}.jsonl").items
                if i.kind == "legal" and any(g.split("/")[1] in CODES for g in i.gold)
            ]
            found: dict[str, list[bool]] = {}
            for item in items:
                passages = runtime.assistant.search(
                    item.question, build_filter(as_of=item.as_of), 100
                )
                bm25 = list(dict.fromkeys(p.doc_id for p in passages))
                query = np.array(model.embed_query(item.question))
                gold = set(item.gold)
                found.setdefault("BM25", []).append(bool(gold & set(bm25[:10])))
                for name, matrix in vectors.items():
                    dense = [ids[i] for i in np.argsort(-(matrix @ query))[:100]]
                    found.setdefault(f"{name}: e5", []).append(bool(gold & set(dense[:10])))
                    for k in (60, 10):
                        fused = _rrf([bm25, dense], k)[:10]
                        found.setdefault(f"{name}: RRF k={k}", []).append(bool(gold & set(fused)))
            rows.append((dataset, len(items), {k: fmean(v) for k, v in found.items()}))
    finally:
        runtime.close()
    variants = list(rows[0][2])
    lines = [
        "# What e5 reads of a passage",
        "",
        f"{len(ids)} articles of the 2015 CGCT and Code électoral (first passage each), "
        "embedded with each recipe; recall@10 of the dev sets' questions on these codes "
        "(`python -m bench.e5_text`).",
        "",
        "| recipe | embedding time | per passage |",
        "|---|---|---|",
        *(
            f"| {n} ({RECIPES[n]} characters) | {seconds[n]:.0f} s | "
            f"{1000 * seconds[n] / len(ids):.0f} ms |"
            for n in RECIPES
        ),
        "",
        "| variant | " + " | ".join(f"{d} ({n})" for d, n, _ in rows) + " |",
        "|---|" + "---|" * len(rows),
        *(f"| {v} | " + " | ".join(f"{r[v]:.3f}" for _, _, r in rows) + " |" for v in variants),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "e5_text.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
