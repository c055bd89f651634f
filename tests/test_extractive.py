"""Answers without a model, on hand-made passages: which sentences are quoted, what is cited,
and the closest texts (`pistes`) when there is no answer."""

from __future__ import annotations

from collections import Counter

from assistant.models import Passage
from assistant.rag import extractive, meetings, minutes
from assistant.rag.evidence import Evidence, gather, units
from assistant.rag.facets import asked, given
from assistant.rag.query import Lexicon, Term
from plume.store import Hit
from plume.term_stats import TermStats
from plume.text import FrenchAnalyzer, term_index

analyzer = FrenchAnalyzer()


def passage(
    rank: int, doc_id: str, text: str, title: str = "", section: str = "", **payload: object
) -> Passage:
    body = {
        "doc_id": doc_id,
        "text": text,
        "title": title,
        "section": section,
        "url": f"https://x/{doc_id}",
        **payload,
    }
    return Passage(rank, 10.0 / rank, Hit(f"p{rank}", 10.0 / rank, body))


def stats_for(common: list[str], chunks: int = 1000) -> TermStats:
    """Corpus statistics where `common` words are in every chunk and others in three."""
    df: Counter[int] = Counter()
    for word in common:
        for t in analyzer.terms(word):
            df[term_index(t)] = chunks
    return TermStats(chunks, df)


def evidence(question: str, passages: list[Passage], **kw: object) -> Evidence:
    return gather(question, passages, analyzer=analyzer, **kw)  # type: ignore[arg-type]


def test_a_list_stays_with_the_sentence_that_opens_it() -> None:
    text = "Pièces à fournir :\n- une pièce d'identité\n- un justificatif de domicile\nLa démarche est gratuite."
    assert units(text) == [
        "Pièces à fournir : - une pièce d'identité - un justificatif de domicile",
        "La démarche est gratuite.",
    ]


def test_a_heading_alone_is_not_a_sentence_to_quote() -> None:
    text = "3/ Subventions aux associations :\nL'ASL a fait une demande de subvention de 500 €."
    assert units(text) == ["L'ASL a fait une demande de subvention de 500 €."]


def test_the_facets_a_question_asks_for() -> None:
    assert "qui" in asked("Qui peut demander la copie intégrale d'un acte de naissance ?")
    assert "qui" not in asked("le voisin qui fait du bruit la nuit, que faire ?")
    assert "delai" in asked("je dois envoyer les convocs combien de jours avant ?")
    assert "pieces" in asked("elle doit déposer quoi comme papiers ?")
    assert "cout" in asked("combien ça coûte une carte d'identité ?")
    assert "nombre" not in asked("combien ça coûte une carte d'identité ?")
    assert "droit" in asked("le maire a-t-il le droit de fermer le chemin ?")
    assert asked("acte de naissance") == frozenset()


def test_what_a_sentence_gives() -> None:
    facets = frozenset({"qui", "delai"})
    assert given("La copie peut être demandée par la personne concernée.", facets) == {"qui"}
    assert given("La déclaration est faite dans les 5 jours qui suivent.", facets) == {"delai"}
    assert given("Elle comporte le nom et les prénoms.", facets) == frozenset()
    # the heading a sentence is under says what it gives
    heading = "Né(e) en France > Délai d'obtention > Copie intégrale"
    assert given("Elle est envoyée par courrier.", facets, heading) == {"delai"}


def test_the_sentence_that_gives_who_is_quoted_first() -> None:
    """« Qui peut demander… » is answered by who may ask, not by what the copy contains
    (F1427's own passages and headings)."""
    what = passage(
        1,
        "vdd/F1427",
        "La copie intégrale reproduit intégralement les informations figurant dans l'acte "
        "de naissance inscrit sur le registre d'état civil.",
        "Acte de naissance : demande de copie intégrale ou d'extrait",
        "Né(e) en France > De quoi s'agit-il ? > Copie intégrale",
    )
    who = passage(
        2,
        "vdd/F1427",
        "Les personnes suivantes peuvent obtenir une copie intégrale d'un acte de naissance :\n"
        "- Personne concernée par l'acte (à condition d'être majeure)\n"
        "- Ascendant de la personne concernée (parent, grand-parent...)",
        "Acte de naissance : demande de copie intégrale ou d'extrait",
        "Né(e) en France > Qui peut faire la demande ? > Copie intégrale",
    )
    question = "Qui peut demander la copie intégrale d'un acte de naissance ?"
    reply = extractive.answer(evidence(question, [what, who]))
    first = reply.text.splitlines()[1]
    assert first.startswith("- Les personnes suivantes peuvent obtenir une copie intégrale")
    assert reply.mode == "extractive" and [c.doc_id for c in reply.citations] == ["vdd/F1427"]


def test_the_first_source_deadline_beats_a_lower_ranked_neighbour() -> None:
    """The search ranks the « 6e vendredi » passage first: its deadline is quoted, not the
    consular lists' rule a lower result shares words with."""
    first = passage(
        1,
        "vdd/F1367",
        "Pour voter lors d'une année d'élection, il faut s'inscrire au plus tard le 6e "
        "vendredi précédant le 1er tour de scrutin.",
        "Inscription sur les listes électorales",
    )
    second = passage(
        2,
        "vdd/F1372",
        "L'inscription sur les listes électorales consulaires se fait auprès du consulat "
        "jusqu'au 6e vendredi précédant le scrutin, pour les Français établis hors de France.",
        "Listes électorales consulaires",
    )
    question = "jusqu'à quand on peut s'inscrire sur les listes électorales ?"
    reply = extractive.answer(evidence(question, [first, second]))
    assert reply.text.splitlines()[1].startswith("- Pour voter lors d'une année d'élection")
    assert reply.citations[0].doc_id == "vdd/F1367"


def test_an_answer_cites_two_documents_at_most() -> None:
    found = [
        passage(n, f"vdd/F{n}", f"La concession funéraire numéro {n} est accordée par le maire.")
        for n in range(1, 5)
    ]
    reply = extractive.answer(evidence("qui accorde une concession funéraire ?", found))
    assert 1 <= len(reply.citations) <= extractive.MAX_DOCUMENTS == 2


def test_identical_sentences_from_two_fiches_are_quoted_once() -> None:
    same = "La concession funéraire est accordée par le maire."
    found = [
        passage(1, "vdd/F1", same, "Concession"),
        passage(2, "vdd/F2", same.replace(".", " ."), "Concession au cimetière"),
    ]
    reply = extractive.answer(evidence("qui accorde une concession funéraire ?", found))
    assert reply.text.count("accordée par le maire") == 1
    assert len(reply.citations) == 1


def test_a_sentence_mostly_repeated_by_another_is_quoted_once() -> None:
    found = [
        passage(
            1,
            "vdd/F31001",
            "Une concession funéraire est un emplacement dans un cimetière (caveau, tombe) ou "
            "dans un columbarium (urne funéraire).\nUne concession funéraire est un emplacement "
            "dans un cimetière (caveau, tombe) dont vous achetez l'usage.",
            "Concession funéraire",
        )
    ]
    scored = evidence("c'est quoi une concession funéraire au cimetière ?", found)
    assert len(scored.sentences) == 1


def test_rare_words_weigh_more_than_common_ones() -> None:
    stats = stats_for(["demande", "mairie"])
    found = [
        passage(1, "vdd/F9", "La demande se fait en mairie."),
        passage(1, "vdd/F8", "Le livret de famille est remis aux époux."),
    ]
    scored = evidence("demande de livret de famille en mairie", found, stats=stats)
    best = scored.best()
    assert best is not None and best.doc_id == "vdd/F8"


def test_the_lexicons_legal_terms_answer_the_secretarys_words() -> None:
    """« délib » and « CM » are answered by a passage on the délibération of the conseil
    municipal: sentences are scored with the lexicon's meanings, as retrieval is."""
    question = "la délib du CM est-elle exécutoire"
    lexicon = Lexicon("t", (Term("délib", "délibération"), Term("CM", "conseil municipal")))
    text = "Les délibérations du conseil municipal sont exécutoires dès leur transmission."
    found = [passage(1, "legi/X/L2131-1", text)]
    equivalents = lexicon.equivalents(question, analyzer)
    assert equivalents == {
        "delib": frozenset({"deliber"}),
        "cm": frozenset({"conseil", "municipal"}),
    }
    without = evidence(question, found).best()
    with_lexicon = evidence(question, found, equivalents=equivalents).best()
    assert without is not None and with_lexicon is not None
    assert with_lexicon.words == 1.0 > without.words


def test_pistes_show_each_closest_text_with_its_key_sentence_date_and_link() -> None:
    found = [
        passage(
            1,
            "legi/LEGITEXT000006070633/L2121-11",
            "Dans les communes de moins de 3 500 habitants, la convocation est adressée trois "
            "jours francs au moins avant celui de la réunion.",
            "Article L2121-11",
            in_force_from="2004-08-14",
            kind="article",
        ),
        passage(
            2,
            "vdd/F1",
            "Le conseil municipal se réunit au moins une fois par trimestre.",
            "Conseil municipal",
            modified="2024-01-02",
            kind="fiche",
        ),
    ]
    reply = extractive.pistes(evidence("convoquer le conseil, quel délai ?", found))
    lines = reply.text.splitlines()
    assert reply.mode == "pistes" and lines[0] == extractive.PISTES_INTRO
    assert lines[1].startswith("- Article L2121-11 (en vigueur depuis le 2004-08-14) : « Dans")
    assert lines[1].endswith("» [1]")
    assert lines[2].startswith("- Conseil municipal (mise à jour le 2024-01-02) : « Le conseil")
    assert [c.url for c in reply.citations] == [
        "https://x/legi/LEGITEXT000006070633/L2121-11",
        "https://x/vdd/F1",
    ]


def test_no_passage_no_answer() -> None:
    assert extractive.answer(evidence("acte de naissance", [])).mode == "refusal"
    assert extractive.pistes(evidence("acte de naissance", [])).mode == "refusal"


# --- a commune's own documents (assistant.rag.minutes) -----------------------------------------

# laid out as the real minutes of Flaux read once parsed (../shared/data, 19 Mai 2021.pdf)
MINUTES = """REPUBLIQUE FRANCAISE
DEPARTEMENT du GARD
Compte rendu
conseil municipal du
19 mai 2021
Séance du 19 mai 2021
Présents : Denis JUVIN - Catherine MARTEL - Patricia MICHOT - Muriel NIGGEL
Rapport sur le Prix et la Qualité du Service public (RPQS) Eau Potable — Exercice 2020
Monsieur le Maire présente le Rapport sur le Prix et la Qualité du Service en eau potable
Personne ne prenant la parole, il est passé au vote
Vote : à l'unanimité
Monsieur le Maire informe les membres du Conseil municipal que le SICTOMU a mis en place \
une colonne textile au tri sélectif.
2° - autorise Monsieur Le Maire à solliciter auprès de l'Etat et de l'Agence de l'eau
les subventions nécessaires à son financement.
1/3"""
FLAUX_MINUTES = {
    "title": "20210519 - compte rendu 19 Mai 2021",
    "kind": "document",
    "tenant": "30110",
    "uploaded_at": "2026-12-07T09:30:00+00:00",
}


def test_minutes_headings_are_never_quoted_and_an_outcome_keeps_its_item() -> None:
    assert minutes.units(MINUTES) == [
        minutes.Unit(
            "Rapport sur le Prix et la Qualité du Service public (RPQS) Eau Potable — Exercice "
            "2020 — Vote : à l'unanimité",
            True,
        ),
        minutes.Unit(
            "Monsieur le Maire présente le Rapport sur le Prix et la Qualité du Service en eau "
            "potable",
            False,
        ),
        minutes.Unit(
            "Monsieur le Maire informe les membres du Conseil municipal que le SICTOMU a mis en "
            "place une colonne textile au tri sélectif.",
            False,
        ),
        minutes.Unit(
            "2° - autorise Monsieur Le Maire à solliciter auprès de l'Etat et de l'Agence de "
            "l'eau les subventions nécessaires à son financement.",
            True,
        ),
    ]
    assert meetings.describe(FLAUX_MINUTES["title"], FLAUX_MINUTES["uploaded_at"]) == (
        "compte rendu du conseil municipal du 19 mai 2021, chargé le 7 décembre 2026"
    )
    assert meetings.meeting_date("CR reunion 20210129") == (29, 1, 2021)
    assert meetings.meeting_date("2014-05-22-0000072116") == (22, 5, 2014)
    assert meetings.meeting_date("compte rendu du 24 sept 21") == (24, 9, 2021)
    # a figure is a line to quote, not a title (« Coop scolaire 400€ »)
    assert minutes.units("Subventions 2022\nCoop scolaire 400€") == [
        minutes.Unit("Coop scolaire 400€", False)
    ]


def test_what_a_question_asks_of_a_communes_minutes() -> None:
    assert meetings.meeting_days("Qu'a décidé le conseil de Couthenans le 24 février 2023 ?") == [
        (24, 2, 2023)
    ]
    assert meetings.meeting_days("décisions de la séance du 24/02/2023") == [(24, 2, 2023)]
    assert meetings.meeting_days("le déficit de l'assainissement au 1er janvier 2021 ?") == []
    assert meetings.asks_decision("quels prix le conseil a-t-il fixés pour les maisons fleuries ?")
    assert not meetings.asks_decision("si on vote le pacte fiscal, combien touche la commune ?")
    assert not meetings.asks_decision("la délibération est-elle exécutoire ?")


def test_a_communes_minutes_answer_with_their_decisions_under_what_they_are() -> None:
    other_day = (
        "Approbation du compte rendu du Conseil Municipal du 19 mai 2021\n"
        "Le compte rendu du Conseil Municipal du 19 mai 2021 est validé à l'unanimité."
    )
    found = [
        passage(1, "doc/30110/a", MINUTES, **FLAUX_MINUTES),  # type: ignore[arg-type]
        passage(2, "doc/30110/b", other_day, **{**FLAUX_MINUTES, "title": "PV du 16 juin 2021"}),  # type: ignore[arg-type]
    ]
    reply = extractive.answer(evidence("Qu'a décidé le conseil municipal du 19 mai 2021 ?", found))
    lines = reply.text.splitlines()
    assert lines[0] == (
        "D'après les documents de votre commune (compte rendu du conseil municipal du 19 mai "
        "2021, chargé le 7 décembre 2026) :"
    )
    assert "sources officielles" not in reply.text
    quoted = [line.removeprefix("- ").rsplit(" [", 1)[0] for line in lines[1:]]
    assert quoted and all(minutes.decision(q) for q in quoted), quoted
    assert (
        "Rapport sur le Prix et la Qualité du Service public (RPQS) Eau Potable — Exercice 2020 "
        "— Vote : à l'unanimité"
    ) in quoted
    assert [c.doc_id for c in reply.citations] == ["doc/30110/a"]  # not the next meeting's


def test_official_texts_keep_their_introduction() -> None:
    found = [
        passage(1, "vdd/F1", "Le conseil municipal se réunit au moins une fois par trimestre.")
    ]
    reply = extractive.answer(evidence("le conseil municipal se réunit quand ?", found))
    assert reply.text.splitlines()[0] == extractive.INTRO
