"""How the extractive answer is composed, measured on the dev sets (no model).

Each answerable question of the dev sets is searched once the way the chat searches it;
then the evidence's weights (assistant.rag.evidence) and the answer's limits
(assistant.rag.extractive) are varied, and each variant is scored on what the secretary would
read, if Plume answered every question:

- `hit`: a gold source is among the cited documents;
- `top1`: the first cited document is gold;
- `docs`: documents cited per answer;
- `ref`: share of the reference answer's terms found in the quoted sentences (do the quoted
  sentences say what the reference says?).

    .venv/bin/python -m bench.answers                  # dev.jsonl and dev2.jsonl
    .venv/bin/python -m bench.answers --grid           # the grid of weights and limits

Tuning uses the dev sets only; the held-out sets are measured by `plume eval`.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from assistant.models import Passage
from assistant.rag import evidence as ev
from assistant.rag import extractive
from assistant.rag.intents import detect
from assistant.rag.retrieval import build_filter
from assistant.runtime import Runtime
from eval.dataset import EvalItem, load_dataset
from eval.index import default_parts, ensure_index, eval_settings
from plume import REPO_ROOT
from plume.settings import Settings

DEV_SETS = [REPO_ROOT / "eval" / "datasets" / f for f in ("dev.jsonl", "dev2.jsonl")]


@dataclass
class Case:
    item: EvalItem
    passages: list[Passage]
    equivalents: dict[str, frozenset[str]]


def cases(runtime: Runtime, items: Sequence[EvalItem], depth: int) -> list[Case]:
    """The answerable, non-grant questions, searched once as the chat does."""
    chat = runtime.assistant.chat
    lexicon = chat.retriever.expander.lexicon if chat.retriever.expander else None
    analyzer = chat.retriever.encoder.analyzer
    out = []
    for item in items:
        if not item.gold or detect(item.question) != "question":
            continue
        where = build_filter(as_of=item.as_of, tenants=[item.tenant] if item.tenant else ())
        passages = chat.retriever.search(item.question, where, depth)
        equivalents = lexicon.equivalents(item.question, analyzer) if lexicon else {}
        out.append(Case(item, passages, equivalents))
    return out


@contextmanager
def patched(module: Any, **values: Any) -> Iterator[None]:
    old = {k: getattr(module, k) for k in values}
    for k, v in values.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


def score(runtime: Runtime, all_cases: Sequence[Case]) -> dict[str, float]:
    chat = runtime.assistant.chat
    analyzer = chat.retriever.encoder.analyzer
    hit, top1, docs, ref = [], [], [], []
    for case in all_cases:
        evidence = ev.gather(
            case.item.question,
            case.passages,
            analyzer=analyzer,
            stats=chat.stats,
            equivalents=case.equivalents,
        )
        chosen = extractive.select(evidence)
        cited = list(dict.fromkeys(s.doc_id for s in chosen))
        gold = set(case.item.gold)
        hit.append(float(bool(set(cited) & gold)))
        top1.append(float(bool(cited) and cited[0] in gold))
        docs.append(float(len(cited)))
        wanted = set(analyzer.terms(case.item.reference))
        said = set(analyzer.terms(" ".join(s.text for s in chosen)))
        ref.append(len(wanted & said) / len(wanted) if wanted else 0.0)
    return {"hit": fmean(hit), "top1": fmean(top1), "docs": fmean(docs), "ref": fmean(ref)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", action="store_true", help="vary weights and limits")
    parser.add_argument("--depth", type=int, default=10, help="passages searched")
    parser.add_argument("--e5", action="store_true", help="search with the e5 vectors too")
    args = parser.parse_args(argv)
    settings = Settings(
        mistral_api_key=None,
        mistral_server_url=None,
        dense_enabled=False,
        local_dense=args.e5,
        local_fill=False,
    )
    runtime, _ = ensure_index(eval_settings(settings), default_parts())
    try:
        items = [i for path in DEV_SETS for i in load_dataset(path).items]
        all_cases = cases(runtime, items, args.depth)
        print(f"{len(all_cases)} questions answerables (hors aides), jeux de développement")
        base = score(runtime, all_cases)
        print("actuel", " ".join(f"{k} {v:.3f}" for k, v in base.items()))
        if not args.grid:
            return
        grid = itertools.product(
            (0.2, 0.35),  # CONTEXT_WEIGHT
            (0.0, 0.1, 0.25),  # FACET_WEIGHT
            (1.2, 2.0, 3.5),  # RANK_WEIGHT
        )
        rows = []
        for context, facet, rank in grid:
            with patched(ev, CONTEXT_WEIGHT=context, FACET_WEIGHT=facet, RANK_WEIGHT=rank):
                for relative, max_docs in itertools.product((0.75, 0.85), (2, 3)):
                    with patched(extractive, RELATIVE_SCORE=relative, MAX_DOCUMENTS=max_docs):
                        s = score(runtime, all_cases)
                    rows.append(((context, facet, rank, relative, max_docs), s))
        rows.sort(key=lambda r: -(r[1]["top1"] + r[1]["ref"]))
        print("context facet rank relative max_docs | hit top1 docs ref")
        for params, s in rows[:25]:
            print(
                " ".join(str(p) for p in params),
                "|",
                " ".join(f"{s[k]:.3f}" for k in ("hit", "top1", "docs", "ref")),
            )
    finally:
        runtime.close()


if __name__ == "__main__":
    main()
