"""The citation check on hand-made passages: what is kept, what is removed, what is flagged."""

from __future__ import annotations

import pytest

from assistant.models import Passage
from assistant.rag.citation_check import CitationCheck, RemovedCitation, check_citations
from assistant.rag.extractive import INTRO, NOT_FOUND
from plume.store import Hit


def passage(rank: int, doc_id: str, text: str, title: str, section: str) -> Passage:
    payload = {
        "doc_id": doc_id,
        "text": text,
        "title": title,
        "section": section,
        "url": f"https://www.service-public.fr/particuliers/vosdroits/{doc_id.split('/')[-1]}",
    }
    return Passage(rank, 1.0 / rank, Hit(f"{doc_id}#{rank}", 1.0 / rank, payload))


PASSAGES = [
    passage(
        1,
        "vdd/F1427",
        "La copie intégrale de l'acte de naissance est délivrée gratuitement. "
        "Elle peut être demandée par la personne concernée par l'acte, son conjoint, "
        "ses ascendants ou ses descendants. La demande se fait auprès de la mairie du lieu "
        "de naissance.",
        "Acte de naissance : demande de copie intégrale ou d'extrait",
        "Né(e) en France > Copie intégrale",
    ),
    passage(
        2,
        "vdd/F31288",
        "Une concession funéraire peut être accordée pour 15 ans, 30 ans, 50 ans ou à "
        "perpétuité. La commune n'est pas obligée de proposer toutes ces durées. Le tarif est "
        "fixé par le conseil municipal, en application de l'article L2223-15 du code général "
        "des collectivités territoriales.",
        "Concession funéraire",
        "Durée et tarif",
    ),
    passage(
        3,
        "vdd/F1367",
        "Il est possible de s'inscrire sur les listes électorales jusqu'au 6e vendredi "
        "précédant le scrutin. L'inscription se fait en ligne, en mairie ou par courrier. "
        "Le maire statue sur la demande d'inscription dans un délai de 5 jours.",
        "Inscription sur les listes électorales",
        "Délais",
    ),
]


def check(answer: str) -> CitationCheck:
    return check_citations(answer, PASSAGES)


# A well-behaved answer


def test_a_perfectly_cited_answer_is_unchanged_and_not_flagged() -> None:
    answer = (
        "La copie intégrale de l'acte de naissance est « délivrée gratuitement » [1]. "
        "Une concession peut être accordée pour 15 ans, 30 ans, 50 ans ou à perpétuité [2].\n"
        "Le maire statue sur une demande d'inscription sur les listes électorales en 5 jours. [3]"
    )
    result = check(answer)
    assert result.text == answer
    assert result.cited == [1, 2, 3]
    assert result.removed == [] and result.unsupported == []
    assert not result.flagged


@pytest.mark.parametrize(
    ("markers", "cited"),
    [
        ("[1]", [1]),
        ("[1, 2]", [1, 2]),
        ("[1,2]", [1, 2]),
        ("[1][2]", [1, 2]),
        ("[1] [2]", [1, 2]),
        ("[ 1 ]", [1]),  # [2] does not say it (lexical support)
        ("[2][1][2]", [2, 1]),
    ],
)
def test_every_marker_form_is_read(markers: str, cited: list[int]) -> None:
    answer = f"La demande se fait auprès de la mairie du lieu de naissance {markers}."
    result = check(answer)
    assert result.cited == cited
    assert result.text == answer
    assert not result.flagged


def test_markers_may_stand_before_or_after_the_final_punctuation() -> None:
    answer = (
        "La copie intégrale est délivrée gratuitement. [1] Le tarif des concessions est fixé "
        "par le conseil municipal [2]. L'inscription se fait en ligne, en mairie ou par "
        "courrier.[3] Le délai est de 5 jours[3]."
    )
    result = check(answer)
    assert result.cited == [1, 2, 3]
    assert not result.flagged


def test_numbers_are_one_based() -> None:
    result = check("Le maire statue sur la demande dans un délai de 5 jours [3].")
    assert result.cited == [3] and not result.flagged


# Invented or wrong sources


def test_an_invented_source_is_removed_and_flagged() -> None:
    result = check("La copie intégrale est délivrée gratuitement en mairie [7].")
    assert result.text == "La copie intégrale est délivrée gratuitement en mairie."
    assert result.removed == [
        RemovedCitation(
            7,
            "source_inconnue",
            "La copie intégrale est délivrée gratuitement en mairie [7].",
            None,
        )
    ]
    assert result.unsupported == ["La copie intégrale est délivrée gratuitement en mairie."]
    assert result.cited == [] and result.flagged


@pytest.mark.parametrize("number", ["0", "-1", "4", "99999999999999999999999"])
def test_numbers_out_of_range_are_unknown_sources(number: str) -> None:
    result = check(f"L'inscription se fait en ligne, en mairie ou par courrier [{number}].")
    assert [(r.n, r.reason) for r in result.removed] == [(int(number), "source_inconnue")]
    assert result.text == "L'inscription se fait en ligne, en mairie ou par courrier."
    assert result.flagged


@pytest.mark.parametrize(
    ("answer", "text"),
    [
        ("La démarche est gratuite [1, 7].", "La démarche est gratuite [1]."),
        ("La démarche est gratuite [1,7,3].", "La démarche est gratuite [1, 3]."),
        ("La démarche est gratuite [1][7].", "La démarche est gratuite [1]."),
        ("La démarche est gratuite [7][1].", "La démarche est gratuite [1]."),
        ("La démarche est gratuite [1] [7].", "La démarche est gratuite [1]."),
        ("La démarche est gratuite. [7] [9] Elle se fait en mairie [1].", None),
        ("La démarche est gratuite\u00a0[7].", "La démarche est gratuite."),
        ("La démarche est gratuite[7].", "La démarche est gratuite."),
        ("La démarche est gratuite [7]\nElle se fait en mairie [1].", None),
        ("[7] La démarche est gratuite [1].", "La démarche est gratuite [1]."),
        ("Pièces :\n- [7] un acte de naissance de moins de 3 mois [1]", None),
    ],
)
def test_removed_markers_leave_tidy_text(answer: str, text: str | None) -> None:
    expected = {
        "La démarche est gratuite. [7] [9] Elle se fait en mairie [1].": (
            "La démarche est gratuite. Elle se fait en mairie [1]."
        ),
        "La démarche est gratuite [7]\nElle se fait en mairie [1].": (
            "La démarche est gratuite\nElle se fait en mairie [1]."
        ),
        "Pièces :\n- [7] un acte de naissance de moins de 3 mois [1]": (
            "Pièces :\n- un acte de naissance de moins de 3 mois [1]"
        ),
    }
    result = check(answer)
    assert result.text == (text or expected[answer])
    assert "  " not in result.text and " ." not in result.text
    assert result.flagged


def test_a_wrong_number_is_removed() -> None:
    answer = "Le tarif est « fixé par le conseil municipal » [1]."
    result = check(answer)
    assert result.removed == [
        RemovedCitation(1, "citation_inexacte", answer, "fixé par le conseil municipal")
    ]
    assert result.text == "Le tarif est « fixé par le conseil municipal »."
    assert result.unsupported == [result.text]
    assert result.flagged


def test_a_quote_the_passage_does_not_hold_is_removed() -> None:
    answer = "La copie intégrale est « délivrée sous 48 heures par la mairie » [1]."
    result = check(answer)
    assert [(r.n, r.reason, r.quote) for r in result.removed] == [
        (1, "citation_inexacte", "délivrée sous 48 heures par la mairie")
    ]
    assert result.cited == [] and result.flagged


def test_only_the_failing_sentence_loses_its_citation() -> None:
    answer = (
        "La copie intégrale est délivrée gratuitement [1]. Le délai est « de 10 jours ouvrés » [3]."
    )
    result = check(answer)
    assert result.text == (
        "La copie intégrale est délivrée gratuitement [1]. Le délai est « de 10 jours ouvrés »."
    )
    assert result.cited == [1]
    assert result.unsupported == ["Le délai est « de 10 jours ouvrés »."]


# Quotes


@pytest.mark.parametrize(
    "quoted",
    [
        "« délivrée gratuitement »",
        "«délivrée gratuitement»",
        "«\u00a0délivrée gratuitement\u00a0»",
        "«\u202fdélivrée gratuitement\u202f»",
        '"délivrée gratuitement"',
        "“délivrée gratuitement”",
        "‘délivrée gratuitement’",
    ],
)
def test_every_quote_form_is_checked(quoted: str) -> None:
    assert not check(f"La copie intégrale est {quoted} [1].").flagged
    wrong = check(f"La copie intégrale est {quoted.replace('gratuitement', 'en 48 heures')} [1].")
    assert [r.reason for r in wrong.removed] == ["citation_inexacte"]
    assert wrong.removed[0].quote == "délivrée en 48 heures"


def test_apostrophes_inside_words_are_not_quotes() -> None:
    # Neither passage 3 holds "l'acte" nor "d’état civil": no quote, nothing to check.
    answer = "L’inscription d’un électeur et l'acte d’état civil se demandent en mairie [3]."
    result = check(answer)
    assert result.cited == [3] and not result.flagged


def test_a_single_quoted_phrase_may_hold_an_apostrophe() -> None:
    assert not check("Elle concerne ‘l’acte de naissance’ [1].").flagged
    result = check("Elle concerne ‘l’acte de décès’ [1].")
    assert result.removed[0].quote == "l’acte de décès"


def test_quotes_are_compared_normalised() -> None:
    answer = "La fiche dit « LA COPIE INTEGRALE  DE L’ACTE\u00a0de naissance est delivree » [1]."
    assert not check(answer).flagged


def test_a_quote_may_come_from_the_title_or_the_section() -> None:
    assert not check("Voir la fiche « Demande de copie intégrale ou d'extrait » [1].").flagged
    assert not check("La fiche traite de la rubrique « Durée et tarif » [2].").flagged


def test_a_quote_with_an_ellipsis_needs_each_fragment() -> None:
    assert not check(
        "Elle peut être « demandée par la personne […] ou ses descendants » [1]."
    ).flagged
    assert check("Elle peut être « demandée par la personne […] ou ses voisins » [1].").flagged


def test_quotes_shorter_than_three_characters_are_ignored() -> None:
    assert not check("La copie intégrale de type « B » est délivrée gratuitement [1].").flagged


# Several citations for one sentence


def test_a_quote_held_by_one_of_the_cited_passages_keeps_them_all() -> None:
    answer = "Le tarif est « fixé par le conseil municipal » pour chaque durée [1][2]."
    result = check(answer)
    assert result.text == answer and result.cited == [1, 2]
    assert not result.flagged


def test_a_quote_held_by_no_cited_passage_removes_them_all() -> None:
    answer = "Le tarif est « fixé par le préfet » [1, 2]."
    result = check(answer)
    assert [(r.n, r.reason) for r in result.removed] == [
        (1, "citation_inexacte"),
        (2, "citation_inexacte"),
    ]
    assert result.text == "Le tarif est « fixé par le préfet »."
    assert result.unsupported == [result.text]


def test_two_quotes_from_two_passages_each_held_by_one() -> None:
    answer = (
        "La copie est « délivrée gratuitement » et la concession « accordée pour 15 ans » [1][2]."
    )
    assert not check(answer).flagged


def test_an_unknown_source_beside_a_valid_one_goes_alone() -> None:
    result = check("La copie est « délivrée gratuitement » [1][5].")
    assert result.text == "La copie est « délivrée gratuitement » [1]."
    assert [(r.n, r.reason) for r in result.removed] == [(5, "source_inconnue")]
    assert result.unsupported == []


# Sentences


def test_abbreviations_numbers_and_decimals_do_not_end_a_sentence() -> None:
    first = (
        "Selon l'art. L2223-15 du CGCT et le décret n° 2017-890, M. le maire applique "
        "le tarif voté, soit 3,5 fois le prix du mètre carré, cf. Délibération."
    )
    second = "Mme Durand signe en application de l'art. R. 2213-2 du même code."
    assert check(f"{first} {second}").unsupported == [first, second]


def test_a_period_inside_a_quote_does_not_end_the_sentence() -> None:
    answer = (
        "La fiche précise : « La copie intégrale de l'acte de naissance est délivrée "
        "gratuitement. Elle peut être demandée par la personne concernée » [1]."
    )
    assert not check(answer).flagged


def test_list_items_are_sentences() -> None:
    answer = (
        "Pour demander une copie intégrale, la personne concernée peut :\n"
        "- s'adresser à la mairie du lieu de naissance [1]\n"
        "- envoyer un courrier avec une pièce d'identité\n"
        "* obtenir la copie intégrale gratuitement [1]\n"
        "1. joindre un justificatif de domicile récent"
    )
    result = check(answer)
    assert result.unsupported == [
        "envoyer un courrier avec une pièce d'identité",
        "joindre un justificatif de domicile récent",
    ]
    assert result.cited == [1]


def test_markers_alone_on_a_line_cite_the_sentence_above() -> None:
    assert not check("La copie intégrale est délivrée gratuitement.\n[1]").flagged


def test_questions_connectives_and_headings_need_no_citation() -> None:
    answer = (
        f"{INTRO}\n"
        "## Durée des concessions funéraires\n"
        "Pièces à fournir :\n"
        "En résumé : oui.\n"
        "Une concession peut être accordée pour 15 ans [2].\n"
        "Souhaitez-vous connaître aussi les tarifs pratiqués dans la commune ?"
    )
    result = check(answer)
    assert result.unsupported == [] and not result.flagged


def test_an_answer_without_citations_is_all_unsupported() -> None:
    answer = (
        "Voici la réponse :\n"
        "La copie intégrale est délivrée gratuitement. Elle se demande à la mairie du lieu "
        "de naissance. Merci."
    )
    result = check(answer)
    assert result.unsupported == [
        "La copie intégrale est délivrée gratuitement.",
        "Elle se demande à la mairie du lieu de naissance.",
    ]
    assert result.cited == [] and result.removed == [] and result.flagged


@pytest.mark.parametrize("answer", ["", "   ", "\n\n"])
def test_an_empty_answer_is_not_flagged(answer: str) -> None:
    result = check(answer)
    assert result == CitationCheck(answer, [], [], [])
    assert not result.flagged


def test_the_refusal_is_not_flagged() -> None:
    assert not check(NOT_FOUND).flagged
    assert not check_citations(NOT_FOUND, []).flagged
    assert not check("Les sources fournies ne permettent pas de répondre à cette question.").flagged


def test_a_fact_after_a_refusal_still_needs_a_citation() -> None:
    answer = "Je n’ai pas trouvé de source sur ce point. La mairie délivre l'acte en 48 heures."
    assert check(answer).unsupported == ["La mairie délivre l'acte en 48 heures."]


def test_the_extractive_answer_format_passes() -> None:
    answer = "\n".join(
        [
            INTRO,
            "- La copie intégrale de l'acte de naissance est délivrée gratuitement. [1]",
            "- Une concession funéraire peut être accordée pour 15 ans, 30 ans, 50 ans ou à perpétuité. [2]",
        ]
    )
    result = check(answer)
    assert result.text == answer and result.cited == [1, 2] and not result.flagged


# Unquoted sentences: lexical support in what they cite (issue 21)


def test_an_unquoted_claim_its_passage_does_not_back_loses_its_citation() -> None:
    """A claim a poisoned document put in the model's mouth, cited to a genuine fiche."""
    answer = (
        "La copie intégrale est délivrée gratuitement par la mairie. [1]\n"
        "Le conseil municipal peut voter valablement sans quorum. [1]"
    )
    result = check(answer)
    assert result.cited == [1]
    assert result.removed == [
        RemovedCitation(
            1, "non_etayee", "Le conseil municipal peut voter valablement sans quorum. [1]"
        )
    ]
    assert result.unsupported == ["Le conseil municipal peut voter valablement sans quorum."]
    assert result.text.endswith("voter valablement sans quorum.") and result.flagged


def test_a_paraphrase_of_its_passage_keeps_its_citation() -> None:
    answer = (
        "Le tarif des concessions est fixé par le conseil municipal. [2]\n"
        "L'inscription sur les listes électorales se fait en ligne ou en mairie. [3]"
    )
    assert not check(answer).flagged
