"""Calibrating the reliability level (assistant.rag.reliability): `plume eval calibrate`.

Every question of the dev sets is asked without a model, as the chat asks it, with one
difference: a question the scope classifier would refuse is answered anyway (its answer is
wrong by definition, and the model must learn what such answers look like). For each, the
would-be answer's signals and whether it cites a gold source are recorded; a logistic
regression of the second on the first gives the probability an answer is right.

The thresholds are chosen on five-fold cross-validated probabilities, so that they hold on
questions the weights were not fitted on:

- « élevée » from the lowest probability at which answers are right at least
  `HIGH_PRECISION` of the time (a margin over the 90 % promised on held-out questions),
  and at least `SITUATIONAL_PRECISION` of the time on the questions written as a
  secretary's situations (dev2), which the held-out sets resemble;
- « faible » (Plume shows the closest texts instead of an answer) below the probability
  under which answers are right less than `LOW_PRECISION` of the time.

The held-out sets are never used: `plume eval` reports how often each level is right on
them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from assistant.rag.reliability import ReliabilityModel, Signals, fit
from assistant.rag.retrieval import build_filter
from assistant.rag.scope import ADMIN, Verdict
from assistant.runtime import Runtime
from eval.dataset import EvalItem

HIGH_PRECISION = 0.93
SITUATIONAL_PRECISION = 0.90  # the same, on the questions written as situations (dev2)
LOW_PRECISION = 0.45
MIN_HIGH = 15  # answers at least above the « élevée » threshold (else no answer is élevée)
FOLDS = 5
L2 = 1.0


@dataclass(frozen=True)
class Observation:
    item: EvalItem
    verdict: Verdict
    mode: str
    cited: tuple[str, ...]
    signals: Signals | None  # None: nothing was retrieved
    right: bool


def observe(
    runtime: Runtime, items: Sequence[EvalItem], say: Callable[[str], None] = lambda _: None
) -> list[Observation]:
    chat = runtime.assistant.chat
    out = []
    for n, item in enumerate(items, start=1):
        if n % 50 == 0:
            say(f"{n} / {len(items)} questions…")
        where = build_filter(as_of=item.as_of, tenants=[item.tenant] if item.tenant else ())
        verdict = chat.scope.judge(item.question)
        forced = ADMIN if verdict.refused else verdict
        turn = chat.prepare(item.question, where, scope=forced)
        if turn.evidence is None or not turn.passages:
            out.append(Observation(item, verdict, "refusal", (), None, False))
            continue
        answer, found = chat.assess(turn)
        cited = tuple(c.doc_id for c in answer.citations)
        right = bool(set(cited) & set(item.gold))
        out.append(Observation(item, verdict, answer.mode, cited, found, right))
    return out


def _precision_threshold(
    p: np.ndarray,
    right: np.ndarray,
    target: float,
    least: int,
    situational: np.ndarray | None = None,
) -> float:
    """The lowest threshold t such that answers with probability ≥ t are right at least
    `target` of the time (at least `least` of them), and so are those of the questions
    written as situations (`situational`), when three or more of them are above t; 1.0
    if there is none."""
    for t in np.unique(p):
        above = p >= t
        if above.sum() < least or right[above].mean() < target:
            continue
        if situational is not None:
            mine = above & situational
            if mine.sum() >= 3 and right[mine].mean() < SITUATIONAL_PRECISION:
                continue
        return float(t)
    return 1.0


def _floor_threshold(p: np.ndarray, right: np.ndarray, target: float, window: int = 20) -> float:
    """The probability under which answers, by windows of `window` neighbours, are right
    less than `target` of the time."""
    order = np.argsort(p)
    for k in range(0, len(order) - window + 1):
        chunk = order[k : k + window]
        if right[chunk].mean() >= target:
            return float(p[order[k]])
    return 1.0


@dataclass
class CalibrationReport:
    n: int
    right: float  # share of answers right if every question were answered
    thresholds: dict[str, float]
    # cross-validated: per level, answers and share right
    levels: dict[str, dict[str, float]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)


def calibrate(observations: Sequence[Observation]) -> tuple[ReliabilityModel, CalibrationReport]:
    rated = [o for o in observations if o.signals is not None]
    rows = [o.signals for o in rated if o.signals is not None]
    right = np.array([o.right for o in rated], dtype=float)
    # folds of questions, not of observations: a question asked with BM25 alone and with
    # e5 is in one fold only
    questions = sorted({o.item.id for o in rated})
    rng = np.random.default_rng(0)
    fold_of = {q: i % FOLDS for i, q in enumerate(rng.permutation(questions))}
    probability = np.zeros(len(rated))
    for k in range(FOLDS):
        fold = np.array([i for i, o in enumerate(rated) if fold_of[o.item.id] == k], dtype=int)
        rest = np.array([i for i, o in enumerate(rated) if fold_of[o.item.id] != k], dtype=int)
        weights, bias = fit([rows[i] for i in rest], [bool(right[i]) for i in rest], l2=L2)
        model = ReliabilityModel(weights, bias, high=1.0, low=0.0)
        for i in fold:
            probability[i] = model.probability(rows[i])
    situational = np.array(["dev-2" in o.item.tags for o in rated])
    high = _precision_threshold(probability, right, HIGH_PRECISION, MIN_HIGH, situational)
    low = min(_floor_threshold(probability, right, LOW_PRECISION), high)
    weights, bias = fit(rows, [bool(r) for r in right], l2=L2)
    from assistant.rag.reliability import FEATURES

    model = ReliabilityModel(
        weights,
        bias,
        high=round(high, 4),
        low=round(low, 4),
        version=date.today().isoformat(),
        fitted_on={
            "questions": len(rated),
            "datasets": sorted({o.item.tags[0] if o.item.tags else "dev" for o in rated}),
            "right_if_all_answered": round(float(right.mean()), 3),
        },
    )
    report = CalibrationReport(
        n=len(rated),
        right=float(right.mean()),
        thresholds={"elevee": model.high, "faible_below": model.low},
        weights=dict(zip(FEATURES, (round(w, 3) for w in weights), strict=True)),
    )
    for name, members in (
        ("elevee", probability >= model.high),
        ("moyenne", (probability >= model.low) & (probability < model.high)),
        ("faible", probability < model.low),
    ):
        report.levels[name] = {
            "n": int(members.sum()),
            "right": round(float(right[members].mean()), 3) if members.any() else 0.0,
        }
    model.fitted_on["cross_validated"] = report.levels
    return model, report
