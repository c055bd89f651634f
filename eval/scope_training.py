"""Training the scope classifier (assistant.rag.scope): `plume eval scope`.

Examples, each a question and its kind (`admin`, `local`, `hors_champ`):

- `corpus/scope_train.jsonl`: questions written for this purpose, in secretaries' words,
  by writers who never saw the evaluation sets (1,900: admin, local, hors_champ);
- the questions of the dev sets (`eval/datasets/dev*.jsonl`), with their `scope`;
- the titles of the service-public.fr fiches that are questions (« Peut-on se pacser avec un
  membre de sa famille ? »), from the fetched package: admin.

The held-out sets are never used. Five-fold cross-validation gives the expected accuracy
and chooses the two thresholds: a question is refused as `hors_champ`, or sent to the
commune's documents as `local`, only when the model is sure enough that each threshold
loses at most half of `MAX_ADMIN_LOST` of the admin questions written as secretaries write
them (the fiches' titles, easy to recognise, do not count).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from assistant.rag.scope import LABELS, TRAIN_FILE, Label, ScopeModel, train
from eval.dataset import load_dataset
from plume.embedding import Embedder

TITLES = "titres de fiches"
MAX_ADMIN_LOST = 0.02  # admin questions a threshold may refuse or misroute (cross-validated)
FOLDS = 5
L2 = 1e-3


@dataclass(frozen=True)
class Example:
    question: str
    label: Label
    origin: str


@dataclass
class TrainingReport:
    counts: dict[str, int]
    origins: dict[str, int]
    thresholds: dict[str, float]
    # cross-validated, with the chosen thresholds: share of each kind decided as each kind
    confusion: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, decided, question)
    # the same, per origin of the examples (the dev sets are what secretaries ask)
    by_origin: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


def training_file(corpus_dir: Path) -> list[Example]:
    out = []
    for line in (corpus_dir / TRAIN_FILE).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append(Example(str(row["question"]), row["label"], "corpus/scope_train.jsonl"))
    return out


def dataset_examples(paths: Sequence[Path]) -> list[Example]:
    return [
        Example(item.question, item.scope, path.name)  # type: ignore[arg-type]
        for path in paths
        for item in load_dataset(path).items
    ]


def fiche_questions(package_root: Path | None) -> list[Example]:
    """Fiche titles that are questions, from the service-public package."""
    if package_root is None:
        return []
    from ingestion.fiches import load_fiche_tree, parse_fiche

    out = []
    for path in sorted((package_root / "data").glob("*/F*.json")):
        try:
            fiche = parse_fiche(load_fiche_tree(path.read_bytes(), path.name))
        except Exception:  # a fiche that does not parse is not an example
            continue
        if fiche.title.strip().endswith("?"):
            out.append(Example(fiche.title.strip(), "admin", TITLES))
    return list({e.question: e for e in out}.values())


def _threshold(scores: np.ndarray, admin: np.ndarray, budget: float) -> float:
    """The lowest threshold that takes at most `budget` of the admin questions."""
    admin_scores = np.sort(scores[admin])[::-1]
    allowed = int(np.floor(budget * len(admin_scores)))
    if allowed >= len(admin_scores):
        return 0.5
    return float(max(0.5, admin_scores[allowed] + 1e-6))


def fit_scope(
    examples: Sequence[Example],
    embedder: Embedder,
    *,
    say: Callable[[str], None] = lambda _: None,
) -> tuple[ScopeModel, TrainingReport]:
    """Cross-validate, choose the thresholds, then train on every example."""
    say(f"Vectorisation de {len(examples)} questions…")
    vectors = np.array([embedder.embed_query(e.question) for e in examples])
    labels = [e.label for e in examples]
    questions = [e.question for e in examples]
    y = np.array([LABELS.index(label) for label in labels])
    rng = np.random.default_rng(0)
    order = rng.permutation(len(examples))
    probabilities = np.zeros((len(examples), len(LABELS)))
    for fold in np.array_split(order, FOLDS):
        rest = np.setdiff1d(order, fold)
        model = train(
            vectors[rest],
            [questions[i] for i in rest],
            [labels[i] for i in rest],
            embedder=embedder.name,
            l2=L2,
        )
        for i in fold:
            probabilities[i] = list(model.probabilities(vectors[i], questions[i]).values())
    # the budget is spent on questions as secretaries write them, not on the fiches' titles
    admin = (y == LABELS.index("admin")) & np.array([e.origin != TITLES for e in examples])
    hors = _threshold(probabilities[:, 2], admin, MAX_ADMIN_LOST / 2)
    local = _threshold(probabilities[:, 1], admin, MAX_ADMIN_LOST / 2)
    say(f"Seuils : hors champ {hors:.3f}, local {local:.3f}")
    final = train(
        vectors, questions, labels, embedder=embedder.name, l2=L2, version=date.today().isoformat()
    )
    final = replace(final, hors_champ_min=round(hors, 4), local_min=round(local, 4))
    report = TrainingReport(
        counts=dict(Counter(labels)),
        origins=dict(Counter(e.origin for e in examples)),
        thresholds={"hors_champ": final.hors_champ_min, "local": final.local_min},
    )
    decided = [
        final.decide({lab: float(p[i]) for i, lab in enumerate(LABELS)}) for p in probabilities
    ]
    for kind in LABELS:
        members = [d for d, label in zip(decided, labels, strict=True) if label == kind]
        report.confusion[kind] = {
            d: round(sum(x == d for x in members) / len(members), 3) if members else 0.0
            for d in LABELS
        }
    for origin in report.origins:
        rows: dict[str, dict[str, float]] = {}
        for kind in LABELS:
            members = [
                d
                for d, e in zip(decided, examples, strict=True)
                if e.origin == origin and e.label == kind
            ]
            if members:
                rows[kind] = {
                    d: round(sum(x == d for x in members) / len(members), 3) for d in LABELS
                }
                rows[kind]["n"] = len(members)
        report.by_origin[origin] = rows
    report.errors = [
        (label, d, e.question)
        for e, label, d in zip(examples, labels, decided, strict=True)
        if label != d
    ]
    return final, report
