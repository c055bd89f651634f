"""Follow-ups without a model (assistant.rag.followup) and their evaluation (eval.followups)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.models import Answer, Citation
from assistant.rag.followup import Rewrite, rewrite
from eval.followups import Pair, load_pairs, run, summary
from plume.errors import MalformedDocument


@pytest.mark.parametrize(
    ("previous", "followup", "alone"),
    [
        # the same preposition or article: the phrase takes the old one's place
        (
            "Quelles pièces demander pour un PACS ?",
            "et pour un mariage ?",
            "Quelles pièces demander pour un mariage ?",
        ),
        (
            "Comment obtenir un acte de naissance ?",
            "et un acte de décès ?",
            "Comment obtenir un acte de décès ?",
        ),
        (
            "Comment changer de prénom ?",
            "et de nom de famille ?",
            "Comment changer de nom de famille ?",
        ),
        # the preposition dropped, the article kept: « d'un permis » → « d'une DP »
        (
            "Quel est le délai d'instruction d'un permis de construire ?",
            "et pour une déclaration préalable ?",
            "Quel est le délai d'instruction d'une déclaration préalable ?",
        ),
        (
            "Combien de temps dure une concession ?",
            "même chose pour un columbarium ?",
            "Combien de temps dure un columbarium ?",
        ),
    ],
)
def test_a_new_subject_takes_the_place_of_the_old_one(
    previous: str, followup: str, alone: str
) -> None:
    assert rewrite(previous, followup) == Rewrite(alone)


@pytest.mark.parametrize(
    ("previous", "followup"),
    [
        ("Comment faire une carte d'identité ?", "et le délai ?"),  # an aspect
        ("Comment faire une carte d'identité ?", "dans quel délai ?"),  # no « et »: no ellipsis
        ("Qui délivre le livret de famille ?", "et en cas de perte ?"),  # a condition
        ("Combien dure une concession ?", "et si elle n'est pas renouvelée ?"),
        ("Qui signe le permis de construire ?", "et le délai de recours ?"),
        ("Comment se faire recenser à 16 ans ?", "et on les paie comment ?"),  # no phrase
        # a situation told at length: no frame to fill, the two are searched together
        (
            "Bonjour, une dame au guichet veut faire refaire le livret de famille de ses "
            "parents décédés, elle peut le demander ici ?",
            "et pour un acte de décès ?",
        ),
    ],
)
def test_the_same_subject_keeps_the_previous_question(previous: str, followup: str) -> None:
    assert rewrite(previous, followup) == Rewrite(f"{previous} {followup}")


def test_a_new_subject_without_a_place_leads_the_search_with_the_old_as_context() -> None:
    previous = "Quelles sont les règles de quorum du conseil municipal ?"
    alone = rewrite(previous, "et pour la convocation ?")
    assert alone == Rewrite(
        f"{previous} et pour la convocation ?", search="et pour la convocation ?", context=previous
    )


def test_a_first_question_is_left_as_it_is() -> None:
    assert rewrite("", "Comment déclarer une naissance ?") == Rewrite(
        "Comment déclarer une naissance ?"
    )


# --- the evaluation ------------------------------------------------------------------------


def _answer(*ids: str, cid: str = "c1", question: str = "") -> Answer:
    cites = [Citation(n, d, d, "", "") for n, d in enumerate(ids, start=1)]
    return Answer("…", "extractive", 1.0, cites, conversation_id=cid, question=question)


def test_follows_and_repeats_are_counted_against_the_standalone_question() -> None:
    pairs = [
        Pair("a", "PACS ?", "et pour un mariage ?", "mariage ?", "new_subject"),
        Pair("b", "PACS ?", "et pour un divorce ?", "divorce ?", "new_subject"),
        Pair("c", "CNI ?", "et le délai ?", "délai CNI ?", "same_subject"),
    ]
    answers = {
        "PACS ?": _answer("vdd/pacs"),
        "et pour un mariage ?": _answer("vdd/mariage", "vdd/pacs"),
        "mariage ?": _answer("vdd/mariage"),
        "et pour un divorce ?": _answer("vdd/pacs"),  # the previous answer again
        "divorce ?": _answer("vdd/divorce", "vdd/mariage"),
        "CNI ?": _answer("vdd/cni"),
        "et le délai ?": _answer("vdd/cni"),
        "délai CNI ?": _answer("vdd/delai", "vdd/cni"),
    }
    asked: list[tuple[str, str | None]] = []

    def ask(question: str, cid: str | None) -> Answer:
        asked.append((question, cid))
        return answers[question]

    results = run(pairs, ask)
    assert asked[:3] == [("PACS ?", None), ("et pour un mariage ?", "c1"), ("mariage ?", None)]
    assert [(r.follows, r.repeats) for r in results] == [(True, False), (False, True), (True, True)]
    figures = summary(results)
    assert figures["new_subject"] == {"paires": 2, "suit": 0.5, "répète": 0.5}
    assert figures["all"]["suit"] == pytest.approx(0.667)


def test_the_sets_load_and_a_bad_line_is_named(tmp_path: Path) -> None:
    dev = load_pairs(Path(__file__).parent.parent / "eval" / "datasets" / "followups_dev.jsonl")
    assert len(dev) >= 20 and {p.kind for p in dev} == {"new_subject", "same_subject"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "first": "a"}) + "\n", encoding="utf-8")
    with pytest.raises(MalformedDocument, match="ligne 1"):
        load_pairs(bad)
