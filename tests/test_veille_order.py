"""The digest opens on what concerns a town hall (assistant/veille/town_hall.py), then the
rest: numbers, headings, JSON rows and the model's summary input all in that order."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import date

import pytest

from assistant.llm.client import MistralGenerator
from assistant.llm.mistral import PlumeMistral
from assistant.veille.digest import digest, ordered
from assistant.veille.town_hall import matter
from ingestion.journal import Change
from tests.fakes.mistral import FakeMistral

SINCE = date(2026, 1, 1)
TRAVAIL, SECU = "LEGITEXT000006072050", "LEGITEXT000006073189"
CGCT, CIVIL = "LEGITEXT000006070633", "LEGITEXT000006070721"
_IDS = itertools.count(1)


def change(code_id: str, code_title: str, num: str, section: str, text: str) -> Change:
    return Change(
        code_id=code_id,
        code_title=code_title,
        num=num,
        kind="modifie",
        old_article_id=None,
        new_article_id=f"LEGIARTI{next(_IDS):012d}",
        new_text=text,
        effective="2026-03-27",
        section=section,
    )


# in the journal's order: what the newcomer's digest opened on comes first
PRUDHOMMES = change(
    TRAVAIL,
    "Code du travail",
    "Annexe à l'article R1422-4",
    "Partie réglementaire > Première partie : Les relations individuelles de travail > "
    "Livre IV : La résolution des litiges - Le conseil de prud'hommes > Annexe",
    "SIÈGE ET RESSORT DES CONSEILS DE PRUD'HOMMES.",
)
COMMON = change(
    SECU,
    "Code de la sécurité sociale",
    "L114-1",
    "Partie législative > Livre I : Généralités > Section 4 : Dispositions communes.",
    "Les caisses transmettent les informations.",
)
CONTRACT = change(
    CIVIL,
    "Code civil",
    "1112",
    "Livre III > Titre III : Des sources d'obligations > Chapitre II : La formation du contrat",
    "L'initiative, le déroulement et la rupture des négociations précontractuelles sont libres.",
)
QUORUM = change(
    CGCT,
    "Code général des collectivités territoriales",
    "L2121-17",
    "Partie législative > Deuxième partie : La commune > Livre Ier > Titre II : Organes de la "
    "commune > Chapitre Ier : Le conseil municipal > Section 4 : Fonctionnement",
    "Le conseil municipal ne délibère valablement que lorsque la majorité de ses membres en "
    "exercice est présente.",
)
BIRTH = change(
    CIVIL,
    "Code civil",
    "55",
    "Livre Ier : Des personnes > Titre II : Des actes de l'état civil > Chapitre II : Des actes "
    "de naissance",
    "Les déclarations de naissance sont faites dans les cinq jours de l'accouchement.",
)
JOURNAL = [PRUDHOMMES, COMMON, CONTRACT, QUORUM, BIRTH]


def test_what_concerns_a_town_hall() -> None:
    assert [matter(c) for c in JOURNAL] == [None, None, None, "communes", "état civil"]
    sunday = change(
        TRAVAIL,
        "Code du travail",
        "L3132-26",
        "Paragraphe 3 : Dérogations au repos dominical > Dérogations accordées par le maire",
        "Dans les établissements de commerce de détail, le repos dominical peut être supprimé.",
    )
    primary = change(SECU, "Code de la sécurité sociale", "L1", "Soins de santé primaires", "")
    assert (matter(sunday), matter(primary)) == ("communes", None)


def test_the_cgct_opens_the_digest_before_the_prudhommes_annex() -> None:
    assert ordered(JOURNAL) == [QUORUM, BIRTH, PRUDHOMMES, COMMON, CONTRACT]
    md = digest(JOURNAL, SINCE, "md")
    assert md.index("## Pour la mairie") < md.index("## Autres changements")
    assert md.index("### Code général des collectivités territoriales") < md.index("prud'hommes")
    assert "- [1] Article modifié L2121-17" in md and "- [2] Article modifié 55" in md
    assert "- [3] Article modifié Annexe à l'article R1422-4" in md
    # the Code civil in both parts: its état civil, then its contracts
    assert md.count(f"### Code civil ({CIVIL})") == 2
    rows = json.loads(digest(JOURNAL, SINCE, "json"))["changes"]
    assert [(r["n"], r["num"], r["town_hall"]) for r in rows] == [
        (1, "L2121-17", "communes"),
        (2, "55", "état civil"),
        (3, "Annexe à l'article R1422-4", None),
        (4, "L114-1", None),
        (5, "1112", None),
    ]
    page = digest(JOURNAL, SINCE, "html")
    assert page.index("<h2>Pour la mairie</h2>") < page.index("L2121-17") < page.index("R1422-4")


def test_codes_named_by_their_title_come_first_in_the_order_of_the_matters() -> None:
    placement = change(
        TRAVAIL,
        "Code du travail",
        "L5322-1",
        "Partie législative > Cinquième partie : L'emploi > Titre II : Placement > Chapitre II : "
        "Rôle des collectivités territoriales.",
        "Les collectivités territoriales peuvent réaliser des opérations de placement.",
    )
    fraud = change(
        "LEGITEXT000031366350",
        "Code des relations entre le public et l'administration",
        "L115-1",
        "Livre Ier > Titre Ier : Les demandes du public et leur traitement",
        "Sous réserve des dispositions prévoyant des sanctions spécifiques…",
    )
    # the journal's order: the legi-data codes, then the CGCT (read from LexHub)
    assert ordered([PRUDHOMMES, placement, fraud, BIRTH, QUORUM]) == [
        QUORUM,  # the CGCT: communes, by its title
        fraud,  # the CRPA: relations avec le public, by its title
        placement,  # communes, by a section of the Code du travail
        BIRTH,  # état civil, by a section of the Code civil
        PRUDHOMMES,
    ]


def test_nothing_for_the_town_hall_leaves_one_part() -> None:
    md = digest([PRUDHOMMES, COMMON], SINCE, "md")
    assert "## Autres changements" in md and "Pour la mairie" not in md


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(dim=64) as server:
        yield server


def test_the_model_reads_the_changes_in_the_same_order(fake: FakeMistral) -> None:
    fake.chat_reply = "Le quorum : « la majorité de ses membres en exercice est présente » [1]."
    llm = MistralGenerator(
        PlumeMistral(
            api_key="k", endpoint=fake.url, model="mistral-small-latest", retry_s=0, timeout=5
        )
    )
    body = json.loads(digest(JOURNAL, SINCE, "json", llm=llm))
    assert "[1]" in body["summary"]["text"]
    prompt = fake.chat_calls[0].body["messages"][-1]["content"]
    prompt = prompt if isinstance(prompt, str) else " ".join(p["text"] for p in prompt)
    assert prompt.index("[1] Article modifié L2121-17") < prompt.index("[2] Article modifié 55")
    assert prompt.index("[2] Article modifié 55") < prompt.index("[3] Article modifié Annexe")
