"""How far to trust an answer: a level the secretary can read (élevée, moyenne, faible) and
the reasons for it.

The level is read from signals of the search and of the answer itself:

- how clearly the first source leads the search (score margin over the next document);
- how well the quoted sentences fit the question: their score, the share of the question's
  terms they hold (with their headings), whether they give what is asked (who, deadline,
  papers… — assistant.rag.facets);
- whether a fiche and the article of law it rests on are both among the sources (agreement);
- the kind of source (fiche, article, aid, the commune's document) and its date.

A logistic model turns the signals into the probability that the answer cites a right
source; its weights and the two thresholds are fitted on the dev sets by
`plume eval calibrate` and kept in `corpus/models/reliability.json`, so that on questions
nobody tuned on « élevée » is right at least nine times out of ten (the evaluation report
says how often each level is). « faible »: Plume does not answer, it shows the closest
texts to check (`pistes`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from assistant.rag.evidence import UNSEEN_TERM_WEIGHT, Evidence, Sentence, headings
from assistant.rag.facets import LABELS as FACET_LABELS

log = logging.getLogger(__name__)
Level = Literal["elevee", "moyenne", "faible"]
LEVEL_NAMES: dict[Level, str] = {"elevee": "élevée", "moyenne": "moyenne", "faible": "faible"}
MODEL_FILE = Path("models") / "reliability.json"
KINDS = ("fiche", "article", "aide", "document")
FEATURES = (
    "margin",
    "best",
    "words",
    "coverage",
    "facets_met",
    "facets_missed",
    "agreement",
    "concentration",
    "log_terms",
    "first_coverage",
    "unseen",
    *(f"kind_{k}" for k in KINDS),
)
OLD_FICHE_YEARS = 3


@dataclass(frozen=True)
class Signals:
    """What the level is computed from; `values()` is the model's input, in FEATURES order."""

    kind: str
    margin: float  # (first score − first score of another document) / first score
    best: float  # score of the best sentence
    words: float  # share of the question's terms in the best sentence itself
    coverage: float  # share of the question's terms in the quoted sentences and headings
    facets_asked: tuple[str, ...]
    facets_met: tuple[str, ...]
    agreement: bool  # a fiche and an article it rests on, both among the sources
    concentration: float  # share of the first six passages from the first document
    terms: int  # index terms in the question
    first_coverage: float = 0.0  # share of the question's terms in the first passage
    unseen: float = 0.0  # share of the question's terms that no passage of the corpus uses
    date: str | None = None  # the first source's date: in force since, or updated on

    def values(self) -> list[float]:
        asked = len(self.facets_asked)
        met = len(self.facets_met) / asked if asked else 1.0
        return [
            self.margin,
            self.best,
            self.words,
            self.coverage,
            met,
            float(asked - len(self.facets_met)),
            float(self.agreement),
            self.concentration,
            math.log1p(self.terms),
            self.first_coverage,
            self.unseen,
            *(float(self.kind == k) for k in KINDS),
        ]


@dataclass(frozen=True)
class Reliability:
    level: Level
    score: float  # the model's probability that a cited source is right
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LEVEL_NAMES[self.level]

    def as_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "label": self.label,
            "score": round(self.score, 3),
            "reasons": list(self.reasons),
        }


# for answers that are not read from passages: the catalogue's list, a computation
EXACT = Reliability("elevee", 1.0, ["résultat calculé ou lu dans le catalogue, pas rédigé"])


def signals(evidence: Evidence, quoted: Sequence[Sentence]) -> Signals:
    """The signals of an answer quoting `quoted` (for a model's answer: the best sentences
    of the passages it cites)."""
    passages = evidence.passages
    first = passages[0] if passages else None
    top = first.score if first else 0.0
    other = next((p.score for p in passages if first and p.doc_id != first.doc_id), 0.0)
    margin = (top - other) / top if top > 0 else 0.0
    best = evidence.best()
    head = quoted[0] if quoted else best
    kind = str(head.passage.field("kind") or "") if head else ""
    # a quoted fiche whose article is among the first results, or the other way round
    links = {p.doc_id: {str(x) for x in p.field("links") or []} for p in passages}
    kinds = {p.doc_id: str(p.field("kind") or "") for p in passages}
    quoted_docs = list(dict.fromkeys(s.doc_id for s in quoted))
    near = list(dict.fromkeys([*quoted_docs, *evidence.documents()[:3]]))
    agreement = any(
        {kinds.get(a), kinds.get(b)} == {"fiche", "article"} and (b in links[a] or a in links[b])
        for a in quoted_docs
        for b in near
        if a != b
    )
    firsts = passages[:6]
    concentration = (
        sum(p.doc_id == first.doc_id for p in firsts) / len(firsts) if first and firsts else 0.0
    )
    met = evidence.facets_given(list(quoted))
    weights = evidence.weights
    first_coverage = 0.0
    unseen = 0.0
    if weights is not None and first is not None:
        first_coverage = weights.coverage(f"{headings(first)} {first.text}")
        unseen = sum(w == UNSEEN_TERM_WEIGHT for w in weights.of.values()) / max(1, len(weights.of))
    when = None
    if head is not None:
        when = head.passage.field("in_force_from") or head.passage.field("modified")
    return Signals(
        kind=kind,
        margin=max(0.0, margin),
        best=best.score if best else 0.0,
        words=head.words if head else 0.0,
        coverage=evidence.coverage(list(quoted)),
        facets_asked=tuple(sorted(evidence.asked)),
        facets_met=tuple(sorted(met & evidence.asked)),
        agreement=agreement,
        concentration=concentration,
        terms=len(weights.wanted) if weights else 0,
        first_coverage=first_coverage,
        unseen=unseen,
        date=str(when)[:10] if when else None,
    )


def _iso(day: str | None) -> date | None:
    try:
        return date.fromisoformat(day[:10]) if day else None
    except ValueError:
        return None


def reasons(s: Signals, today: date | None = None) -> list[str]:
    """Why the level is what it is, in the secretary's words."""
    out: list[str] = []
    if s.coverage >= 0.8:
        out.append("les sources citées reprennent l'essentiel des termes de la question")
    elif s.coverage < 0.45:
        out.append("une bonne part de la question ne figure pas dans les sources citées")
    for f in s.facets_asked:
        label = FACET_LABELS.get(f, f)  # type: ignore[call-overload]
        if f in s.facets_met:
            out.append(f"un passage cité indique {label}")
        else:
            out.append(f"aucun passage cité n'indique clairement {label}")
    if s.unseen >= 0.25:
        out.append("des mots de la question n'apparaissent dans aucune source de Plume")
    if s.margin >= 0.3:
        out.append("la première source arrive nettement en tête de la recherche")
    elif s.margin < 0.05:
        out.append("d'autres textes arrivent presque à égalité dans la recherche")
    if s.agreement:
        out.append("la fiche et l'article de loi qu'elle cite concordent")
    day, today = _iso(s.date), today or date.today()
    if s.kind == "fiche":
        old = day is not None and (today - day).days > 365 * OLD_FICHE_YEARS
        when = f" mise à jour le {day.strftime('%d/%m/%Y')}" if day else ""
        out.append(f"source : fiche service-public.fr{when}" + (" (ancienne)" if old else ""))
    elif s.kind == "article":
        when = f", version en vigueur depuis le {day.strftime('%d/%m/%Y')}" if day else ""
        out.append(f"source : article de loi{when}")
    elif s.kind == "document":
        out.append("source : document de votre commune, pas un texte officiel")
    elif s.kind == "aide":
        out.append("source : catalogue d'aides (conditions à vérifier auprès du financeur)")
    return out


@dataclass(frozen=True)
class ReliabilityModel:
    """Logistic weights over FEATURES, and the probability thresholds of the levels."""

    weights: tuple[float, ...]
    bias: float
    high: float  # at or above: élevée
    low: float  # below: faible (pistes)
    version: str = ""
    fitted_on: dict[str, object] = field(default_factory=dict)

    def probability(self, s: Signals) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, s.values(), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def level(self, p: float) -> Level:
        return "elevee" if p >= self.high else "moyenne" if p >= self.low else "faible"

    def judge(self, s: Signals, today: date | None = None) -> Reliability:
        p = self.probability(s)
        return Reliability(self.level(p), p, reasons(s, today))

    def as_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "features": list(FEATURES),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "thresholds": {"elevee": self.high, "faible_below": self.low},
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> ReliabilityModel:
        if list(raw["features"]) != list(FEATURES):  # type: ignore[call-overload]
            raise ValueError("the model's features are not this version's")
        thresholds = dict(raw["thresholds"])  # type: ignore[call-overload]
        return cls(
            weights=tuple(float(w) for w in raw["weights"]),  # type: ignore[attr-defined]
            bias=float(raw["bias"]),  # type: ignore[arg-type]
            high=float(thresholds["elevee"]),
            low=float(thresholds["faible_below"]),
            version=str(raw.get("version", "")),
            fitted_on=dict(raw.get("fitted_on") or {}),  # type: ignore[call-overload]
        )

    @classmethod
    def load(cls, corpus_dir: Path) -> ReliabilityModel:
        path = corpus_dir / MODEL_FILE
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("reliability model unreadable (%s): default weights", exc)
            return DEFAULT


# Before any calibration: coverage and facets count most (used only without the model file)
DEFAULT = ReliabilityModel(
    weights=(1.0, 1.0, 1.0, 3.0, 1.0, -0.5, 0.5, 0.0, -0.3, 0.5, -1.0, 0.0, 0.0, 0.0, 0.0),
    bias=-3.0,
    high=0.8,
    low=0.35,
    version="défaut",
)


def fit(
    rows: Sequence[Signals],
    right: Sequence[bool],
    *,
    l2: float = 1.0,
) -> tuple[tuple[float, ...], float]:
    """Logistic regression (L2, L-BFGS) of `right` on the signals: (weights, bias)."""
    import numpy as np
    from scipy.optimize import minimize

    x = np.array([r.values() for r in rows], dtype=np.float64)
    y = np.array(right, dtype=np.float64)
    n, d = x.shape

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        z = x @ w + b
        p = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        eps = 1e-12
        nll = -np.sum(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) / n
        g = (p - y) / n
        return nll + 0.5 * l2 * float(w @ w) / n, np.concatenate([x.T @ g + l2 * w / n, [g.sum()]])

    result = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B")
    return tuple(float(v) for v in result.x[:d]), float(result.x[d])
