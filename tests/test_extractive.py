"""The extractive answerer on hand-made passages: what is quoted, what is cited, when it refuses."""

from __future__ import annotations

from collections import Counter

from assistant.extractive import NOT_FOUND, answer, confidence, units
from assistant.models import Passage
from assistant.query import Lexicon, Term
from plume.store import Hit
from plume.term_stats import TermStats
from plume.text import FrenchAnalyzer, term_index

analyzer = FrenchAnalyzer()


def passage(rank: int, doc_id: str, text: str, title: str = "", section: str = "") -> Passage:
    payload = {
        "doc_id": doc_id,
        "text": text,
        "title": title,
        "section": section,
        "url": f"https://x/{doc_id}",
    }
    return Passage(rank, 1.0 / rank, Hit(f"p{rank}", 1.0 / rank, payload))


def stats_for(common: list[str], chunks: int = 1000) -> TermStats:
    """Corpus statistics where `common` words are in every chunk and the rest in one."""
    df: Counter[int] = Counter()
    for word in common:
        for t in analyzer.terms(word):
            df[term_index(t)] = chunks
    for word in ("naissance", "filiation", "concession", "cimetière", "copie", "intégrale", "acte"):
        for t in analyzer.terms(word):
            df.setdefault(term_index(t), 3)
    return TermStats(chunks, df)


def test_a_list_stays_with_the_sentence_that_opens_it() -> None:
    text = "Pièces à fournir :\n- une pièce d'identité\n- un justificatif de domicile\nLa démarche est gratuite."
    assert units(text) == [
        "Pièces à fournir : - une pièce d'identité - un justificatif de domicile",
        "La démarche est gratuite.",
    ]


def test_answer_quotes_and_cites_the_relevant_sentences() -> None:
    passages = [
        passage(
            1,
            "vdd/F1427",
            "La copie intégrale d'un acte de naissance est délivrée par la mairie du lieu de naissance. Le service est gratuit.",
            "Acte de naissance",
        ),
        passage(2, "vdd/F1", "Les horaires de la mairie sont affichés."),
    ]
    result = answer(
        "où demander la copie intégrale d'un acte de naissance ?",
        passages,
        analyzer=analyzer,
        min_confidence=0.5,
        stats=stats_for(["mairie"]),
    )
    assert result.mode == "extractive"
    assert [c.doc_id for c in result.citations] == [
        "vdd/F1427"
    ]  # the unrelated passage is not cited
    assert "délivrée par la mairie du lieu de naissance. [1]" in result.text
    assert result.citations[0].url == "https://x/vdd/F1427"


def test_identical_sentences_from_two_fiches_are_quoted_once() -> None:
    same = "La concession funéraire est accordée par le maire."
    passages = [
        passage(1, "vdd/F1", same, "Concession"),
        passage(2, "vdd/F2", same, "Concession au cimetière"),
    ]
    result = answer(
        "qui accorde une concession funéraire ?", passages, analyzer=analyzer, min_confidence=0.3
    )
    assert result.text.count(same) == 1
    assert len(result.citations) == 1


def test_rare_words_decide_the_confidence() -> None:
    stats = stats_for(["demande", "mairie"])
    passages = [passage(1, "vdd/F9", "La demande se fait en mairie.")]
    # the passage holds the common words but not the rare one: low confidence, refusal
    low = confidence(analyzer, "demande de filiation en mairie", passages, stats)
    assert low < 0.5
    result = answer(
        "demande de filiation en mairie",
        passages,
        analyzer=analyzer,
        min_confidence=0.5,
        stats=stats,
    )
    assert (result.mode, result.text, result.citations) == ("refusal", NOT_FOUND, [])


def test_no_passage_no_answer() -> None:
    result = answer("acte de naissance", [], analyzer=analyzer, min_confidence=0.5)
    assert result.mode == "refusal" and result.confidence == 0.0


def test_the_lexicons_legal_terms_answer_the_secretarys_words() -> None:
    """« délib » and « CM » are answered by a passage on the délibération of the conseil
    municipal: the confidence counts the lexicon's meanings, as retrieval does."""
    analyzer = FrenchAnalyzer()
    question = "la délib du CM est-elle exécutoire"
    lexicon = Lexicon("t", (Term("délib", "délibération"), Term("CM", "conseil municipal")))
    text = "Les délibérations du conseil municipal sont exécutoires dès leur transmission."
    found = [passage(1, "legi/X/L2131-1", text)]
    without = confidence(analyzer, question, found)
    equivalents = lexicon.equivalents(question, analyzer)
    assert equivalents == {
        "delib": frozenset({"deliber"}),
        "cm": frozenset({"conseil", "municipal"}),
    }
    assert confidence(analyzer, question, found, equivalents=equivalents) == 1.0 > without
    reply = answer(question, found, analyzer=analyzer, min_confidence=0.8, equivalents=equivalents)
    assert reply.mode == "extractive" and "[1]" in reply.text
    assert answer(question, found, analyzer=analyzer, min_confidence=0.8).mode == "refusal"
