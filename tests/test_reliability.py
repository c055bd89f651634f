"""The reliability level: its signals, its reasons, its calibrated model."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

from assistant.rag import extractive
from assistant.rag.evidence import gather
from assistant.rag.reliability import (
    DEFAULT,
    FEATURES,
    MODEL_FILE,
    ReliabilityModel,
    Signals,
    fit,
    reasons,
    signals,
)
from eval.calibration import HIGH_PRECISION, Observation, calibrate
from eval.dataset import EvalItem
from plume.text import FrenchAnalyzer
from tests.test_extractive import passage

analyzer = FrenchAnalyzer()


def sig(**kw: object) -> Signals:
    base: dict[str, object] = {
        "kind": "fiche",
        "margin": 0.2,
        "best": 2.0,
        "words": 0.6,
        "coverage": 0.6,
        "facets_asked": ("delai",),
        "facets_met": ("delai",),
        "agreement": False,
        "concentration": 0.3,
        "terms": 6,
        "first_coverage": 0.6,
        "unseen": 0.0,
        "date": "2025-03-01",
    }
    return Signals(**{**base, **kw})  # type: ignore[arg-type]


def test_signals_see_a_fiche_and_the_article_it_rests_on() -> None:
    fiche = passage(
        1,
        "vdd/F1",
        "La convocation est envoyée trois jours francs avant la séance.",
        "Conseil municipal",
        kind="fiche",
        links=["legi/X/L2121-11"],
        modified="2025-01-10",
    )
    article = passage(
        2,
        "legi/X/L2121-11",
        "Dans les communes de moins de 3 500 habitants, la convocation est adressée trois "
        "jours francs au moins avant celui de la réunion.",
        "Article L2121-11",
        kind="article",
        links=["vdd/F1"],
    )
    question = "la convocation du conseil, combien de jours avant la séance ?"
    evidence = gather(question, [fiche, article], analyzer=analyzer)
    found = signals(evidence, extractive.select(evidence))
    assert found.agreement and found.kind == "fiche" and found.date == "2025-01-10"
    assert found.facets_asked == ("delai",) and found.facets_met == ("delai",)
    assert 0 < found.coverage <= 1 and len(found.values()) == len(FEATURES)


def test_reasons_say_why_in_the_secretarys_words() -> None:
    said = reasons(
        sig(coverage=0.9, margin=0.4, agreement=True, facets_asked=("delai", "pieces")),
        today=date(2026, 1, 1),
    )
    assert "les sources citées reprennent l'essentiel des termes de la question" in said
    assert "un passage cité indique le délai ou la date" in said
    assert "aucun passage cité n'indique clairement les pièces à fournir" in said
    assert "la première source arrive nettement en tête de la recherche" in said
    assert "la fiche et l'article de loi qu'elle cite concordent" in said
    assert "source : fiche service-public.fr mise à jour le 01/03/2025" in said
    old = reasons(sig(date="2019-05-02"), today=date(2026, 1, 1))
    assert "source : fiche service-public.fr mise à jour le 02/05/2019 (ancienne)" in old
    article = reasons(sig(kind="article", date="2016-01-01", unseen=0.5), today=date(2026, 1, 1))
    assert "source : article de loi, version en vigueur depuis le 01/01/2016" in article
    assert any("n'apparaissent dans aucune source" in r for r in article)


def test_levels_follow_the_thresholds_and_survive_the_model_file(tmp_path: Path) -> None:
    model = ReliabilityModel(tuple([0.0] * len(FEATURES)), 0.0, high=0.8, low=0.3)
    assert [model.level(p) for p in (0.9, 0.8, 0.5, 0.29)] == [
        "elevee",
        "elevee",
        "moyenne",
        "faible",
    ]
    (tmp_path / MODEL_FILE).parent.mkdir(parents=True)
    (tmp_path / MODEL_FILE).write_text(json.dumps(model.as_json()))
    again = ReliabilityModel.load(tmp_path)
    assert (again.high, again.low, again.weights) == (0.8, 0.3, model.weights)
    judged = again.judge(sig())
    assert judged.level == "moyenne" and judged.score == 0.5 and judged.reasons


def test_a_missing_or_stale_model_file_falls_back_to_the_default(tmp_path: Path) -> None:
    assert ReliabilityModel.load(tmp_path) is DEFAULT
    raw = DEFAULT.as_json()
    raw["features"] = ["autre"]
    (tmp_path / MODEL_FILE).parent.mkdir(parents=True)
    (tmp_path / MODEL_FILE).write_text(json.dumps(raw))
    assert ReliabilityModel.load(tmp_path) is DEFAULT


def _observations(n: int = 400) -> list[Observation]:
    """Answers right mostly when the quoted sentences cover the question."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        coverage = rng.random()
        right = rng.random() < coverage**2
        item = EvalItem(f"q{i}", "question", ("vdd/F1",), "", "fiche")
        found = sig(coverage=coverage, words=coverage, first_coverage=coverage)
        out.append(Observation(item, None, "extractive", (), found, right))  # type: ignore[arg-type]
    return out


def test_fitting_learns_which_signal_matters() -> None:
    rows = _observations()
    weights, _ = fit([o.signals for o in rows], [o.right for o in rows])  # type: ignore[misc]
    assert weights[FEATURES.index("coverage")] > 0


def test_calibration_keeps_elevee_right_nine_times_in_ten() -> None:
    model, report = calibrate(_observations())
    assert model.high > model.low
    assert report.levels["elevee"]["n"] >= 15
    assert report.levels["elevee"]["right"] >= HIGH_PRECISION
    assert report.levels["faible"]["right"] < report.levels["moyenne"]["right"]
