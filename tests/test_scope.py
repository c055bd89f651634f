"""The scope of a question (admin, a commune's own facts, out of scope): the classifier's
model file, its decisions, and the real model shipped in corpus/models."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from assistant.rag.scope import (
    ADMIN,
    HASHED_DIM,
    LABELS,
    MODEL_FILE,
    ScopeClassifier,
    ScopeModel,
    train,
    word_features,
)
from plume import REPO_ROOT
from plume.embedding import LocalEmbedder


class KeywordEmbedder:
    """A deterministic embedder: one axis per theme word (a fake of the e5 model)."""

    name = "mots-clés"
    dim = 3
    axes = ("conseil", "commune", "recette")

    def embed_query(self, text: str) -> list[float]:
        v = np.array([float(w in text.lower()) for w in self.axes]) + 0.01
        return list(v / np.linalg.norm(v))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]


QUESTIONS = [
    ("le conseil doit être convoqué combien de jours avant ?", "admin"),
    ("qui préside le conseil municipal ?", "admin"),
    ("quel quorum pour le conseil ?", "admin"),
    ("qu'a voté le conseil de notre commune en mai ?", "local"),
    ("notre commune a décidé quel tarif ?", "local"),
    ("la commune a voté quoi pour la cantine ?", "local"),
    ("une recette de blanquette", "hors_champ"),
    ("recette de tarte aux pommes", "hors_champ"),
    ("donne une recette facile", "hors_champ"),
]


def fitted() -> ScopeModel:
    emb = KeywordEmbedder()
    vectors = np.array([emb.embed_query(q) for q, _ in QUESTIONS])
    return train(
        vectors,
        [q for q, _ in QUESTIONS],
        [label for _, label in QUESTIONS],  # type: ignore[misc]
        embedder=emb.name,
    )


def test_word_features_are_stable_and_normalised() -> None:
    a = word_features("Quelle recette pour le repas ?")
    assert a == word_features("quelle RECETTE pour le repas")  # case, punctuation
    assert all(0 <= i < HASHED_DIM for i in a)
    assert abs(sum(v * v for v in a.values()) - 1.0) < 1e-9


def test_a_trained_model_decides_and_survives_its_file(tmp_path: Path) -> None:
    model = fitted()
    classifier = ScopeClassifier(model, KeywordEmbedder())
    assert classifier.judge("une recette de gâteau").label == "hors_champ"
    assert classifier.judge("le conseil peut-il se réunir le dimanche ?").label == "admin"
    model.save(tmp_path / "scope.npz")
    again = ScopeModel.load(tmp_path / "scope.npz")
    question = "une recette de gâteau"
    vector = KeywordEmbedder().embed_query(question)
    first, second = model.probabilities(vector, question), again.probabilities(vector, question)
    assert list(first) == list(LABELS)
    assert all(abs(first[k] - second[k]) < 1e-3 for k in LABELS)


def test_thresholds_decide_between_the_kinds() -> None:
    zeros = np.zeros
    model = ScopeModel("e", zeros((2, 3 + HASHED_DIM)), zeros(2), zeros((3, 2)), zeros(3), 0.6, 0.7)
    assert model.decide({"admin": 0.3, "local": 0.1, "hors_champ": 0.6}) == "hors_champ"
    assert model.decide({"admin": 0.5, "local": 0.0, "hors_champ": 0.5}) == "admin"
    assert model.decide({"admin": 0.25, "local": 0.7, "hors_champ": 0.05}) == "local"
    assert model.decide({"admin": 0.35, "local": 0.65, "hors_champ": 0.0}) == "admin"


def test_without_a_model_or_an_embedder_every_question_is_admin(tmp_path: Path) -> None:
    assert ScopeClassifier.load(tmp_path, KeywordEmbedder()).judge("une recette") == ADMIN
    fitted().save(tmp_path / MODEL_FILE)
    assert ScopeClassifier.load(tmp_path, None).judge("une recette") == ADMIN
    assert ScopeClassifier.load(tmp_path, KeywordEmbedder()).active
    (tmp_path / MODEL_FILE).write_text("pas un fichier numpy")
    assert ScopeClassifier.load(tmp_path, KeywordEmbedder()).judge("une recette") == ADMIN


def test_a_model_trained_on_another_embedder_is_not_used(tmp_path: Path) -> None:
    replace(fitted(), embedder="autre-modèle").save(tmp_path / MODEL_FILE)
    assert not ScopeClassifier.load(tmp_path, KeywordEmbedder()).active


# --- the model Plume ships ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> ScopeClassifier:
    classifier = ScopeClassifier.load(REPO_ROOT / "corpus", LocalEmbedder())
    assert classifier.active, "corpus/models/scope.json is missing: run `plume eval scope --ecrire`"
    return classifier


@pytest.mark.parametrize(
    "question",
    [
        "donne-moi une recette de blanquette de veau pour le repas des anciens",
        "quel temps fera-t-il samedi pour la brocante ?",
        "écris un petit poème pour le départ en retraite de Josiane",
        "mon ordinateur est très lent, comment le nettoyer ?",
    ],
)
def test_the_shipped_model_refuses_what_plume_does_not_cover(
    shipped: ScopeClassifier, question: str
) -> None:
    assert shipped.judge(question).label == "hors_champ"


@pytest.mark.parametrize(
    "question",
    [
        "le maire veut réunir le conseil jeudi, je dois envoyer les convocations combien de jours avant ?",
        "une dame veut faire construire un abri de jardin de 15 m², elle doit déposer quoi ?",
        "on veut refaire le toit de l'école, il y a des aides ?",
        "un administré a trouvé un chien errant, on en fait quoi ?",
        "qui peut demander la copie intégrale d'un acte de naissance ?",
    ],
)
def test_the_shipped_model_keeps_what_a_town_hall_asks(
    shipped: ScopeClassifier, question: str
) -> None:
    assert shipped.judge(question).label == "admin"


def test_the_shipped_model_sends_a_communes_own_facts_to_its_documents(
    shipped: ScopeClassifier,
) -> None:
    assert (
        shipped.judge("qu'a décidé le conseil municipal de Couthenans le 24 février 2023 ?").label
        == "local"
    )


# --- the rule: what a council decided ----------------------------------------------------------

A_COUNCILS_DECISIONS = [
    "Qu'a décidé le conseil municipal du 19 mai 2021 ?",  # 0.63 local by the model alone
    "qu'a décidé le conseil municipal le 19 mai 2021 ?",
    "décisions du conseil municipal du 31 mars 2021",
    "quelles décisions ont été prises lors de la séance du 24/02/2023 ?",
    "Quelle délibération a été prise sur l'eau potable ?",
    "Le conseil a-t-il voté le budget en 2021 ?",
    "Qu'a décidé le conseil municipal sur le PLU ?",
]
THE_LAW_OF_COUNCILS = [
    "comment convoquer le conseil municipal ?",
    "quorum du conseil municipal",
    "le conseil a voté le budget le 20 avril, est-ce trop tard ?",
    "Une délibération a été prise par erreur, comment la retirer ?",
    "quelle décision doit prendre le conseil pour vendre un chemin rural ?",
    "le conseil municipal doit-il se réunir avant le 15 avril pour voter le budget ?",
]


def test_a_councils_decisions_are_its_records_the_law_of_councils_is_not(
    shipped: ScopeClassifier,
) -> None:
    """What a council decided is asked of the commune's documents, with or without the
    model; the law of councils, asked in the same words, stays with the model."""
    without_model = ScopeClassifier(None, None)
    for question in A_COUNCILS_DECISIONS:
        assert without_model.judge(question).label == "local", question
        assert shipped.judge(question).label == "local", question
    for question in THE_LAW_OF_COUNCILS:
        assert without_model.judge(question) == ADMIN, question
        assert shipped.judge(question).label == "admin", question
