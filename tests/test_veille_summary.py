"""The digest's summary written by the model (fake Mistral through the real SDK)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest

from assistant.llm.client import MistralGenerator
from assistant.llm.mistral import PlumeMistral
from assistant.veille.digest import digest
from ingestion.journal import Change
from tests.fakes.mistral import FakeMistral

SINCE = date(2026, 3, 1)
CHANGES = [
    Change(
        code_id="LEGITEXT000022197698",
        code_title="Code rural et de la pêche maritime",
        num="D511-59",
        kind="modifie",
        old_article_id="LEGIARTI000006585947",
        new_article_id="LEGIARTI000053688001",
        old_text="Les séances des chambres d'agriculture ne sont pas publiques mais les chambres peuvent décider la publication de leurs procès-verbaux.",
        new_text="Les séances des chambres d'agriculture ne sont pas publiques. Le procès-verbal d'une réunion de la session ou du bureau est publié.",
        effective="2026-03-27",
        amended_by=("Décret n°2026-208 du 24 mars 2026 - art. 2",),
        section="Partie réglementaire > Livre V > Section 4 : Fonctionnement.",
    ),
    Change(
        code_id="LEGITEXT000006072050",
        code_title="Code du travail",
        num="R5311-3-12",
        kind="nouveau",
        old_article_id=None,
        new_article_id="LEGIARTI000053681234",
        new_text="Les opérateurs du réseau pour l'emploi transmettent les informations nécessaires à l'audit.",
        effective="2026-03-27",
        section="Partie réglementaire > Cinquième partie > Chapitre Ier bis : Réseau pour l'emploi",
    ),
]


@pytest.fixture
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(dim=64) as server:
        yield server


def model(fake: FakeMistral) -> MistralGenerator:
    return MistralGenerator(
        PlumeMistral(
            api_key="k", endpoint=fake.url, model="mistral-small-latest", retry_s=0, timeout=5
        )
    )


def test_the_model_summary_opens_the_digest_with_checked_citations(fake: FakeMistral) -> None:
    fake.chat_reply = (
        "Le procès-verbal des sessions de la chambre d'agriculture « est publié » [1].\n"
        "Les opérateurs du réseau pour l'emploi transmettent des informations pour l'audit [2].\n"
        "Les mairies doivent tout refaire [7]."
    )
    text = digest(CHANGES, SINCE, "json", llm=model(fake))
    body = json.loads(text)
    summary = body["summary"]
    assert summary["prompt_version"] == "digest.v1"
    assert "[7]" not in summary["text"] and "citation_retiree" in summary["flags"]
    assert "[2]" in summary["text"] and "[1]" in summary["text"]
    # [n] are the digest's own numbers (grouped by code, then section, as listed)
    numbers = {row["num"]: row["n"] for row in body["changes"]}
    assert numbers == {"D511-59": 1, "R5311-3-12": 2}
    prompt = fake.chat_calls[0].body["messages"][-1]["content"]
    prompt = prompt if isinstance(prompt, str) else " ".join(p["text"] for p in prompt)
    assert "[1] " in prompt and "D511-59" in prompt and "Décret n°2026-208" in prompt


def test_markdown_shows_the_summary_then_the_numbered_changes(fake: FakeMistral) -> None:
    fake.chat_reply = "Les procès-verbaux des chambres d'agriculture sont désormais publiés [1]."
    text = digest(CHANGES, SINCE, "md", llm=model(fake))
    assert "synthèse rédigée par le modèle" in text
    assert text.index("publiés [1]") < text.index("- [1] ") < text.index("- [2] ")


def test_without_a_usable_summary_the_digest_stands_alone(fake: FakeMistral) -> None:
    fake.chat_reply = "Rien de particulier à signaler pour les communes rurales cette fois-ci."
    assert "summary" not in json.loads(digest(CHANGES, SINCE, "json", llm=model(fake)))
    fake.fail_next(500, times=10)
    md = digest(CHANGES, SINCE, "md", llm=model(fake))
    assert "synthèse" not in md and "D511-59" in md
    assert "summary" not in json.loads(digest(CHANGES, SINCE, "json", llm=None))
