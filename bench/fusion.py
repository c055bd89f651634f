"""How BM25 and the e5 vectors are fused: the RRF constant and the e5 list's weight.

Every answerable question of the dev sets (dev.jsonl, tuned on by the lexicon, and
dev2.jsonl, a secretary's situations) is searched on the e5 evaluation index
(`eval-index-e5`, built by `plume eval` with the e5 vectors) with BM25 alone, then with
each (k, weight) of the grid; recall@5, recall@10 and MRR@10 per kind, and the search
latency. The held-out sets are never used to choose.

    .venv/bin/python -m bench.fusion

Results: bench/results/fusion.md.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from statistics import fmean
from typing import Any

from assistant.models import Passage
from assistant.rag.retrieval import build_filter
from assistant.runtime import Runtime
from bench.run import percentiles
from eval.dataset import EvalItem, load_dataset
from eval.index import eval_settings
from eval.metrics import retrieval_scores
from plume import REPO_ROOT
from plume.settings import Settings
from plume.store import SearchFilter

SETS = ("dev", "dev2")
GRID_K = (60, 20, 10, 5)
GRID_WEIGHT = (0.5, 1.0, 1.5, 2.0)
RERANK_K = 10  # RRF constant of the reranking (search order, e5 cosine)
RESULTS = REPO_ROOT / "bench" / "results"


def reranked(runtime: Runtime, question: str, passages: list[Passage]) -> list[Passage]:
    """The first 30 passages re-ordered by RRF of the search's order and the cosine of the
    question's e5 vector with each passage's stored one (the reranking of issue 17)."""
    retriever = runtime.assistant.retriever
    assert retriever.local is not None
    query = retriever.local.embed_query(question)
    docs = list(dict.fromkeys(p.doc_id for p in passages))
    vectors = {
        point.id: point.local
        for point in runtime.store.points(SearchFilter(doc_ids=docs, every_tenant=True))
    }

    def cosine(p: Passage) -> float:
        v = vectors.get(p.hit.id)
        return sum(a * b for a, b in zip(query, v, strict=True)) if v else -1.0

    by_sim = {id(p): r for r, p in enumerate(sorted(passages, key=cosine, reverse=True), 1)}
    fused = sorted(
        passages,
        key=lambda p: -(1 / (RERANK_K + p.rank) + 1 / (RERANK_K + by_sim[id(p)])),
    )
    return [Passage(n, p.score, p.hit) for n, p in enumerate(fused, start=1)]


def measure(runtime: Runtime, items: list[EvalItem], rerank: bool = False) -> dict[str, Any]:
    retriever = runtime.assistant.retriever
    scores: dict[str, list[dict[str, float]]] = defaultdict(list)
    elapsed: list[float] = []
    for item in items:
        where = build_filter(as_of=item.as_of, tenants=[item.tenant] if item.tenant else ())
        started = time.perf_counter()
        passages = retriever.search(item.question, where, 30)
        if rerank:
            passages = reranked(runtime, item.question, passages)
        elapsed.append((time.perf_counter() - started) * 1000)
        ranked = list(dict.fromkeys(p.doc_id for p in passages))[:10]
        s = retrieval_scores(ranked, item.gold, 10)
        for group in (item.kind, f"{item.tags[0] if item.tags else 'dev'}", "all"):
            scores[group].append(s)
    return {
        "groups": {
            g: {m: round(fmean(x[m] for x in rows), 3) for m in ("recall@5", "recall@10", "mrr@10")}
            | {"n": len(rows)}
            for g, rows in scores.items()
        },
        "search_ms": percentiles(elapsed),
    }


def main() -> None:
    settings = eval_settings(
        Settings(mistral_api_key=None, dense_enabled=False, local_dense=True, local_fill=False)
    )
    runtime = Runtime.build(settings)
    try:
        if not runtime.assistant.retriever.has_local_vectors():
            raise SystemExit("eval-index-e5 has no e5 vector: run `plume eval` with e5 first")
        folder = REPO_ROOT / "eval" / "datasets"
        items = [i for s in SETS for i in load_dataset(folder / f"{s}.jsonl").items if i.gold]
        retriever = runtime.assistant.retriever
        local = retriever.local
        rows = []
        retriever.local = None
        rows.append(("BM25 seul", "—", "—", measure(runtime, items)))
        retriever.local = local
        for k, weight in itertools.product(GRID_K, GRID_WEIGHT):
            retriever.rrf_k, retriever.local_weight = k, weight
            rows.append(("BM25 + e5", str(k), str(weight), measure(runtime, items)))
            print(k, weight, rows[-1][3]["groups"]["all"], flush=True)
        for k in (60, 10):  # then the first 30 reranked by their stored e5 vectors
            retriever.rrf_k, retriever.local_weight = k, 1.0
            rows.append(("+ rerank e5 (30)", str(k), "1.0", measure(runtime, items, True)))
            print("rerank", k, rows[-1][3]["groups"]["all"], flush=True)
    finally:
        runtime.close()
    groups = ("dev", "dev-2", "legal", "fiche", "aide", "document", "all")
    lines = [
        "# Fusion of BM25 and e5: the RRF constant k and the e5 list's weight",
        "",
        "Answerable questions of dev.jsonl (`dev`) and dev2.jsonl (`dev-2`), searched on the "
        "e5 evaluation index (`python -m bench.fusion`). Recall@10 / MRR@10 per group; search "
        "p95 includes the question's e5 vector.",
        "",
        "| variant | k | weight | " + " | ".join(groups) + " | search p95 |",
        "|---|---|---|" + "---|" * len(groups) + "---|",
    ]
    for name, k_shown, weight_shown, result in rows:
        cells = []
        for g in groups:
            r = result["groups"].get(g)
            cells.append(f"{r['recall@10']:.3f} / {r['mrr@10']:.3f}" if r else "—")
        lines.append(
            f"| {name} | {k_shown} | {weight_shown} | "
            + " | ".join(cells)
            + f" | {result['search_ms']['p95']} ms |"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fusion.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
