"""Fiche → law links: `Reference` elements parsed into article ranges, stored with the
fiche's chunks, resolved against the indexed articles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingestion.chunking import fiche_nodes
from ingestion.fiches import Reference, load_fiche_tree, parse_fiche
from ingestion.references import (
    LawLink,
    article_ids,
    code_id,
    fiche_links,
    law_ids,
    links_of,
    normalize_number,
)
from tests.conftest import load_fiche_json

CGCT = "LEGITEXT000006070633"
ELECTORAL = "LEGITEXT000006070239"
CRPA = "LEGITEXT000031366350"


def numbers(ids: list[str]) -> list[str]:
    return [i.rsplit("/", 1)[1] for i in ids]


@pytest.mark.parametrize(
    ("title", "url", "expected"),
    [
        (
            "Code général des collectivités territoriales : articles L2223-13 à L2223-18",
            "",
            [f"{CGCT}/L2223-13..L2223-18"],
        ),
        # the URL's code id wins; spaces inside numbers, a range over two prefixes
        (
            "Code des relations entre le public et l'administration : articles L 112-14 à R112-20",
            "https://www.legifrance.gouv.fr/affichCode.do?idSectionTA=X&cidTexte=" + CRPA,
            [f"{CRPA}/L112-14..R112-20"],
        ),
        (
            "Code civil : articles 1217 et 1218",
            "",
            ["LEGITEXT000006070721/1217", "LEGITEXT000006070721/1218"],
        ),
        ("Code électoral : article R* 41", "", [f"{ELECTORAL}/R41"]),
        ("Code électoral : article L. 52-1", "", [f"{ELECTORAL}/L52-1"]),
        (
            "Code général des impôts : article 199 sexdecies",
            "",
            ["LEGITEXT000006069577/199 sexdecies"],
        ),
        # not a code, a code without articles, an unknown code: no link
        ("Décret n°2005-1726 du 30 décembre 2005 : article 5", "", []),
        ("Code général des impôts, annexe 3 : article 2", "", []),
        ("Code électoral", "", []),
    ],
)
def test_references_become_article_links(title: str, url: str, expected: list[str]) -> None:
    assert [link.spec for link in links_of(Reference(title, url))] == expected


def test_code_names_and_numbers_are_normalized() -> None:
    assert code_id("Code Général des Collectivités Territoriales") == CGCT
    assert code_id("code électoral") == code_id("Code electoral") == ELECTORAL
    assert code_id("Code de la mer imaginaire") is None
    assert normalize_number("L. 2121-17") == "L2121-17"
    assert normalize_number("R* 41") == "R41"


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        ("L2121-17", None, ["L2121-17"]),
        (
            "L2223-13",
            "L2223-14",
            ["L2223-13", "L2223-13-1", "L2223-13-2", "L2223-13-3", "L2223-14"],
        ),
        # bounds of different depths: enumerated on the first part that differs
        ("L14", "L15-1", ["L14", "L14-1", "L14-2", "L14-3", "L15", "L15-1"]),
        ("1217", "1218", ["1217", "1217-1", "1217-2", "1217-3", "1218"]),
        # not enumerable: two prefixes, too wide, a suffix
        ("L112-14", "R112-20", ["L112-14", "R112-20"]),
        ("L1", "L99", ["L1", "L99"]),
        ("L1 A", "L3", ["L1 A", "L3"]),
    ],
)
def test_ranges_are_enumerated(first: str, last: str | None, expected: list[str]) -> None:
    assert numbers(article_ids(LawLink("X", first, last))) == expected


def test_a_spec_reads_back() -> None:
    link = LawLink(CGCT, "L2223-13", "L2223-18")
    assert LawLink.from_spec(link.spec) == link
    assert LawLink.from_spec(f"{CGCT}/L2121-17") == LawLink(CGCT, "L2121-17")


def test_a_real_fiche_links_to_the_cemetery_articles(vdd_root: Path) -> None:
    fiche = parse_fiche(load_fiche_json(vdd_root, "particuliers", "F31001"))
    links = fiche_links(fiche.references)
    assert LawLink(CGCT, "L2223-13", "L2223-18") in links
    ids = law_ids(links)
    assert f"legi/{CGCT}/L2223-17" in ids and f"legi/{CGCT}/L2223-3" in ids
    # stored with every chunk of the fiche, for the search to follow
    nodes = fiche_nodes(fiche, source="service-public", version="t")
    assert nodes and all(n.metadata["law"] == ids for n in nodes)


def test_a_fiche_without_legal_basis_has_no_links(vdd_root: Path) -> None:
    fiche = parse_fiche(load_fiche_json(vdd_root, "particuliers", "F31001"))
    fiche.references.clear()
    assert all(n.metadata["law"] == [] for n in fiche_nodes(fiche, source="s", version="t"))


def test_most_code_references_of_the_package_are_parsed(vdd_root: Path) -> None:
    """Over real fiches (one in four): a reference to a known code naming articles links."""
    code_refs = parsed = 0
    for path in sorted((vdd_root / "data" / "particuliers").glob("F*.json"))[::4]:
        fiche = parse_fiche(load_fiche_tree(path.read_bytes(), path.name))
        for ref in fiche.references:
            name, _, articles = ref.title.partition(":")
            if code_id(name) and re.search(r"\barticles? ", articles):
                code_refs += 1
                parsed += bool(links_of(ref))
    assert code_refs > 250
    assert parsed / code_refs > 0.97
