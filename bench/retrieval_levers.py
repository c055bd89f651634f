"""Retrieval quality per lever, on the evaluation dev set, with no model.

Each question of `eval/datasets/dev.jsonl` is searched the way `plume eval` searches it
(30 passages, their documents' first occurrences, top 10) and scored per kind (recall@5,
recall@10, MRR@10), with the search latency. Levers are switched on one after the other
so that each one's effect shows.

    .venv/bin/python -m bench.retrieval_levers                 # the table of levers
    .venv/bin/python -m bench.retrieval_levers --misses        # ... and the remaining misses
    .venv/bin/python -m bench.retrieval_levers --index DIR --reindex
    .venv/bin/python -m bench.retrieval_levers --chunk-tokens 200 --index DIR   # lever 4
    PLUME_MISTRAL_API_KEY=… .venv/bin/python -m bench.retrieval_levers --dense  # lever 6
    PLUME_MISTRAL_API_KEY=… .venv/bin/python -m bench.retrieval_levers --model  # lever 6, model
    PLUME_MISTRAL_API_KEY=… .venv/bin/python -m bench.retrieval_levers --model --dense

`--model` adds the levers that ask the model (query rewriting, HyDE, reranking; see
`assistant.llm.levers`) on top of the best offline variant, hybrid with `--dense`, and
prints each one's gain over that variant and its token cost per question.

The index is the evaluation index (`eval.index`) in its own folder
(`<data_dir>/eval-index-levers` by default), rebuilt with `--reindex`.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean

from assistant.llm.breaker import CircuitBreaker
from assistant.llm.calls import LeverUsage
from assistant.llm.client import build_llm
from assistant.llm.levers import QueryRewriter, Reranker, RewriteMode
from assistant.llm.prompts import PromptBook
from assistant.rag.query import QueryExpander
from assistant.rag.regimes import Regimes
from assistant.rag.retrieval import Retriever, build_filter
from eval.dataset import EvalItem, load_dataset
from eval.index import STAMPS, default_parts, ensure_index, eval_settings
from eval.metrics import percentile, retrieval_scores
from ingestion import chunking
from plume import REPO_ROOT
from plume.settings import Settings

DEV_SET = REPO_ROOT / "eval" / "datasets" / "dev.jsonl"
KINDS = ("legal", "fiche", "aide", "all")
METRICS = ("recall@5", "recall@10", "mrr@10")


def ranked_docs(retriever: Retriever, item: EvalItem, k: int = 10) -> tuple[list[str], float]:
    where = build_filter(as_of=item.as_of, tenants=[item.tenant] if item.tenant else ())
    started = time.perf_counter()
    passages = retriever.search(item.question, where, k * 3)
    elapsed = time.perf_counter() - started
    return list(dict.fromkeys(p.doc_id for p in passages))[:k], elapsed


def measure(
    retriever: Retriever, items: Sequence[EvalItem]
) -> tuple[dict[str, dict[str, float]], list[tuple[EvalItem, list[str]]], float]:
    """Mean metrics per kind, the misses (gold not in the top 10) and the p95 latency (ms)."""
    rows: dict[str, list[dict[str, float]]] = {}
    misses: list[tuple[EvalItem, list[str]]] = []
    latencies: list[float] = []
    for item in items:
        if not item.gold:
            continue
        ranked, elapsed = ranked_docs(retriever, item)
        latencies.append(elapsed * 1000)
        scores = retrieval_scores(ranked, item.gold)
        for group in (item.kind, "all"):
            rows.setdefault(group, []).append(scores)
        if scores["recall@10"] < 1:
            misses.append((item, ranked))
    table = {g: {m: fmean(s[m] for s in r) for m in METRICS} for g, r in rows.items()}
    for g, r in rows.items():
        table[g]["n"] = len(r)
    return table, misses, percentile(latencies, 95)


def variants(base: Retriever, corpus_dir: Path) -> list[tuple[str, Retriever]]:
    """The retriever with each lever added in turn."""

    def with_levers(
        expander: QueryExpander | None, bridge: bool, regimes: Regimes | None = None
    ) -> Retriever:
        return Retriever(
            base.store,
            base.encoder,
            base.embedder,
            prefetch_limit=base.prefetch_limit,
            max_per_doc=base.max_per_doc,
            expander=expander,
            bridge=bridge,
            regimes=regimes,
        )

    lexicon = QueryExpander.load(corpus_dir, references=False)
    refs = QueryExpander.load(corpus_dir, lexicon=False)
    both = QueryExpander.load(corpus_dir)
    return [
        ("baseline (BM25)", with_levers(None, False)),
        ("+ lexique", with_levers(lexicon, False)),
        ("+ références directes (sans lexique)", with_levers(refs, False)),
        ("+ lexique + références", with_levers(both, False)),
        ("+ pont fiche ↔ loi (sans lexique)", with_levers(refs, True)),
        ("+ lexique + références + pont", with_levers(both, True)),
        ("+ régimes particuliers (tout)", with_levers(both, True, Regimes.load(corpus_dir))),
    ]


def model_variants(reference: Retriever, settings: Settings) -> list[tuple[str, Retriever]]:
    """The best offline variant (`reference`, every offline lever) with each model lever
    added; hybrid when `reference` is."""
    llm = build_llm(settings)
    assert llm is not None
    breaker = CircuitBreaker(failures=10**9)  # never opens here: failures are counted instead
    book = PromptBook.load()
    timeout = settings.retrieval_model_timeout_s

    def best_with(rewrite: RewriteMode | None, rerank: bool) -> Retriever:
        retriever = copy.copy(reference)  # the same store, encoder and offline levers
        if rewrite:
            retriever.rewriter = QueryRewriter(llm, breaker, book, mode=rewrite, timeout_s=timeout)
        if rerank:
            retriever.reranker = Reranker(
                llm, breaker, book, top=settings.rerank_top, timeout_s=timeout
            )
        return retriever

    hybrid = " — hybride" if reference.embedder is not None else ""
    return [
        (f"+ réécriture (modèle){hybrid}", best_with("rewrite", False)),
        (f"+ HyDE (modèle){hybrid}", best_with("hyde", False)),
        (f"+ reranking (modèle){hybrid}", best_with(None, True)),
        (f"+ réécriture + reranking (modèle){hybrid}", best_with("rewrite", True)),
    ]


def model_usage(retriever: Retriever) -> LeverUsage:
    total = LeverUsage()
    for lever in (retriever.rewriter, retriever.reranker):
        if lever is not None:
            for name in vars(total):
                setattr(total, name, getattr(total, name) + getattr(lever.usage, name))
    return total


def print_gains(
    label: str,
    reference: dict[str, dict[str, float]],
    measured: list[tuple[str, dict[str, dict[str, float]], LeverUsage]],
) -> None:
    """Each model variant against the best offline one (all questions), and its cost."""
    print(f"\nGain sur « {label} » (toutes questions) et coût du modèle :\n")
    columns = "Δ R@5 | Δ R@10 | Δ MRR | appels | tokens entrée/q | tokens sortie/q | replis"
    print(f"| variante | {columns} |")
    print("|---|---|---|---|---|---|---|---|")
    for name, table, usage in measured:
        n = max(int(table["all"]["n"]), 1)
        deltas = " | ".join(f"{table['all'][m] - reference['all'][m]:+.3f}" for m in METRICS)
        print(
            f"| {name} | {deltas} | {usage.calls} | {usage.prompt_tokens / n:.0f} "
            f"| {usage.completion_tokens / n:.0f} | {usage.fallbacks} |"
        )


def print_table(label: str, table: dict[str, dict[str, float]], p95: float) -> None:
    cells = []
    for kind in KINDS:
        row = table.get(kind)
        if row:
            cells.append(" ".join(f"{row[m]:.3f}" for m in METRICS))
    print(f"| {label} | " + " | ".join(cells) + f" | {p95:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEV_SET)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--reindex", action="store_true")
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--only", default=None, help="measure only this variant (its label)")
    parser.add_argument("--chunk-tokens", type=int, default=None, help="chunk size (lever 4)")
    parser.add_argument("--field-repeat", type=int, default=None, help="title weight (lever 3)")
    parser.add_argument(
        "--dense", action="store_true", help="hybrid: mistral-embed vectors too (lever 6)"
    )
    parser.add_argument(
        "--model",
        action="store_true",
        help="also the levers that ask the model: rewriting, HyDE, reranking (lever 6)",
    )
    args = parser.parse_args()
    # index-time levers: a fresh --index folder per setting (unchanged chunks are skipped)
    if args.chunk_tokens:
        chunking.MAX_TOKENS = args.chunk_tokens  # fiches and articles
    if args.field_repeat:
        chunking.FIELD_REPEAT = args.field_repeat
    base_settings = Settings()
    has_model = base_settings.mistral_api_key is not None or bool(base_settings.mistral_server_url)
    if args.model and not has_model:
        parser.exit(
            2,
            "--model : aucun modèle configuré. Renseignez PLUME_MISTRAL_API_KEY (API Mistral) "
            "ou PLUME_MISTRAL_SERVER_URL (serveur compatible) pour mesurer la réécriture et "
            "le reranking.\n",
        )
    if args.model and not args.dense:  # the model answers, the index stays sparse-only
        base_settings = base_settings.model_copy(update={"dense_enabled": False})
    elif not args.dense:  # no model at all: the offline path the targets are set on
        base_settings = base_settings.model_copy(
            update={"mistral_api_key": None, "mistral_server_url": None, "dense_enabled": False}
        )
    elif not base_settings.use_dense:
        parser.error("--dense needs PLUME_MISTRAL_API_KEY (or a server) with embeddings")
    name = "eval-index-levers" + ("-hybrid" if args.dense else "")
    folder = args.index or base_settings.data_dir / name
    settings = eval_settings(base_settings, folder)
    if args.reindex:
        (settings.data_dir / STAMPS).unlink(missing_ok=True)
    runtime, skipped = ensure_index(settings, default_parts(), say=print)
    try:
        if skipped:
            print("absent:", ", ".join(skipped))
        items = load_dataset(args.dataset, lambda _: True).items
        header = " | ".join(f"{k}: R@5 R@10 MRR" for k in KINDS)
        print(f"| variant | {header} | p95 ms |")
        print("|---|" + "---|" * len(KINDS) + "---|")
        for label, retriever in variants(runtime.assistant.retriever, settings.corpus_dir):
            if args.only and args.only not in label:
                continue
            table, misses, p95 = measure(retriever, items)
            print_table(label, table, p95)
        if args.model:
            # the reference: the last offline variant, every offline lever on
            best_label, best = variants(runtime.assistant.retriever, settings.corpus_dir)[-1]
            reference, _, _ = measure(best, items)
            measured = []
            for label, retriever in model_variants(best, settings):
                if args.only and args.only not in label:
                    continue
                table, _, p95 = measure(retriever, items)
                print_table(label, table, p95)
                measured.append((label, table, model_usage(retriever)))
            print_gains(best_label, reference, measured)
        if args.misses:
            for item, ranked in misses:
                print(f"\n{item.kind} {item.id}: {item.question}\n  gold {list(item.gold)}")
                print("  got  " + ", ".join(ranked))
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
