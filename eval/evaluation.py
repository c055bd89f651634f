"""One evaluation run: dataset → results → record → report (what `plume eval` does)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from assistant.runtime import Runtime
from eval import history
from eval.answers import Judge
from eval.dataset import load_dataset
from eval.report import Report
from eval.runner import run_dataset, summarize


def evaluate(
    runtime: Runtime,
    dataset_path: Path,
    *,
    known_ids: set[str],
    judge: Judge | None = None,
    past: Sequence[history.RunRecord] = (),
    tolerance: float = 0.02,
    skipped_parts: Sequence[str] = (),
) -> Report:
    """Run the dataset on this runtime's assistant; compare with the previous comparable
    run of `past`. Nothing is written: see `eval.report.write` and `eval.history.append`."""
    dataset = load_dataset(dataset_path, known_ids.__contains__)
    results = run_dataset(runtime.assistant, runtime.store, dataset.items, judge=judge)
    corpora = {s.source: sorted(s.versions) for s in runtime.store.list_sources()}
    record = history.RunRecord(
        dataset=dataset.name,
        dataset_sha=history.file_sha(dataset_path),
        commit=history.git_commit(),
        corpora=corpora,
        config={
            "retrieval": "+".join(
                name
                for name, on in (
                    ("sparse", True),
                    ("e5", runtime.assistant.retriever.local is not None),
                    ("mistral-embed", runtime.embedder is not None),
                )
                if on
            ),
            "judge": judge.model if judge else None,
            "answers": "generative" if runtime.assistant.chat.llm is not None else "extractive",
        },
        questions=len(dataset.items),
        skipped=len(dataset.problems),
        summary=summarize(results),
    )
    before = history.previous(record, list(past))
    return Report(
        record=record,
        problems=dataset.problems,
        deltas=history.compare(record, before, tolerance) if before else [],
        history=[*past, record],
        skipped_parts=skipped_parts,
        items=[r.as_dict() for r in results],
    )
