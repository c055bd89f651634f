"""The DILA fiche parser and chunker, on real service-public.fr fiches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pytest

from ingestion.chunking import fiche_nodes, index_text
from ingestion.fiches import element_from_xml, load_fiche_tree, parse_fiche
from ingestion.sources.service_public import Selection, items
from plume.documents import point_id
from plume.errors import MalformedDocument
from plume.settings import Settings
from tests.conftest import load_fiche_json


def to_xml(node: dict[str, Any]) -> str:
    """Serialise the npm (xml-js) tree back to DILA XML, as in the official zips."""
    if node.get("type") == "text":
        return escape(node["text"])
    attrs = "".join(f" {k}={quoteattr(v)}" for k, v in (node.get("attributes") or {}).items())
    inner = "".join(to_xml(c) for c in node.get("children") or [])
    return f"<{node['name']}{attrs}>{inner}</{node['name']}>"


@pytest.fixture
def f1427(vdd_root: Path) -> dict[str, Any]:
    return load_fiche_json(vdd_root, "particuliers", "F1427")


def test_real_fiche_metadata(f1427: dict[str, Any]) -> None:
    fiche = parse_fiche(f1427)
    assert fiche.id == "F1427"
    assert fiche.title == "Acte de naissance : demande de copie intégrale ou d'extrait"
    assert fiche.doc_type == "Fiche d'information"
    assert fiche.url == "https://www.service-public.fr/particuliers/vosdroits/F1427"
    assert fiche.audience == ["Particuliers"]
    assert fiche.breadcrumb == ["Papiers - Citoyenneté", "Actes d'état civil"]
    assert fiche.modified == "2019-11-26"
    assert {"N19810", "N359"} <= fiche.ancestors
    assert any(r.title.startswith("Code civil") and "legifrance" in r.url for r in fiche.references)


def test_real_fiche_sections_follow_its_structure(f1427: dict[str, Any]) -> None:
    fiche = parse_fiche(f1427)
    paths = [s.path for s in fiche.sections]
    assert ("Né(e) en France", "Qui peut faire la demande ?", "Copie intégrale") in paths
    assert ("Né(e) à l'étranger", "Faire la demande") in {p[:2] for p in paths}
    who = next(
        s
        for s in fiche.sections
        if s.path == ("Né(e) en France", "Qui peut faire la demande ?", "Copie intégrale")
    )
    assert "- Époux, épouse ou partenaire de Pacs" in who.text  # list items, inline links kept
    assert "À noter :" in who.text
    cost = [s for s in fiche.sections if s.path and s.path[-1] == "Coût"]
    assert cost and "Gratuit" in cost[0].text


def test_xml_and_npm_json_give_the_same_fiche(f1427: dict[str, Any]) -> None:
    xml = to_xml(f1427["children"][0]).replace(
        "<Publication", '<Publication xmlns:dc="http://purl.org/dc/elements/1.1/"', 1
    )
    # the JSON already carries xmlns:dc as an attribute; keep one declaration only
    xml = (
        xml.replace(' xmlns:dc="http://purl.org/dc/elements/1.1/"', "", 1)
        if xml.count("xmlns:dc=") > 1
        else xml
    )
    from_xml = parse_fiche(load_fiche_tree(xml.encode(), "F1427.xml"))
    from_json = parse_fiche(f1427)
    assert from_xml == from_json


def test_chunks_carry_the_full_payload(f1427: dict[str, Any]) -> None:
    nodes = fiche_nodes(parse_fiche(f1427), source="service-public", version="1.199.0")
    assert len(nodes) > 10
    first = nodes[0]
    assert first.node_id == point_id("vdd/F1427", 0)
    meta = first.metadata
    for key in (
        "doc_id",
        "title",
        "breadcrumb",
        "section",
        "url",
        "source",
        "source_version",
        "audience",
        "modified",
        "in_force_from",
        "in_force_to",
        "content_hash",
        "tenant",
        "kind",
    ):
        assert key in meta
    assert (
        meta["doc_id"] == "vdd/F1427"
        and meta["source_version"] == "1.199.0"
        and meta["kind"] == "fiche"
    )
    # a chunk stands alone: its index text repeats the breadcrumb, the title and the section path
    copy = next(
        n
        for n in nodes
        if n.metadata["section"].endswith("Qui peut faire la demande ? > Copie intégrale")
    )
    text = index_text(copy)
    assert (
        "Actes d'état civil" in text and "Acte de naissance" in text and "Copie intégrale" in text
    )


def test_chunking_is_deterministic_and_hashes_track_content(f1427: dict[str, Any]) -> None:
    a = fiche_nodes(parse_fiche(f1427), source="service-public", version="1")
    b = fiche_nodes(
        parse_fiche(json.loads(json.dumps(f1427))), source="service-public", version="1"
    )
    assert [(n.node_id, n.metadata["content_hash"]) for n in a] == [
        (n.node_id, n.metadata["content_hash"]) for n in b
    ]
    c = fiche_nodes(parse_fiche(f1427), source="service-public", version="2")
    assert a[0].metadata["content_hash"] != c[0].metadata["content_hash"]  # the version is shown


def test_long_sections_are_split_with_headings_kept(f1427: dict[str, Any]) -> None:
    nodes = fiche_nodes(parse_fiche(f1427), source="service-public", version="1", max_tokens=60)
    sections = [n.metadata["section"] for n in nodes]
    assert len(nodes) > len(set(sections))  # some sections gave several chunks
    assert all(len(n.text) < 600 for n in nodes)


@pytest.mark.parametrize(
    ("raw", "name", "why"),
    [
        (b"{not json", "F1.json", "JSON illisible"),
        (b"[1, 2]", "F1.json", "pas une fiche"),
        (b'{"children": []}', "F1.json", "Publication"),
        (
            b'{"children": [{"type": "element", "name": "Publication", "attributes": {"ID": "F1"}, "children": []}]}',
            "F1.json",
            "sans titre",
        ),
        (
            b'{"children": [{"type": "element", "name": "Publication", "attributes": {"ID": "../x"}}]}',
            "F1.json",
            "identifiant",
        ),
        (b"<Publication ID='F1'><dc:title", "F1.xml", "XML illisible"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><Publication ID="F1">&b;</Publication>',
            "F1.xml",
            "refusé",
        ),
    ],
)
def test_malformed_fiches_are_refused_clearly(raw: bytes, name: str, why: str) -> None:
    with pytest.raises(MalformedDocument, match=why):
        parse_fiche(load_fiche_tree(raw, name))


def test_xml_namespace_prefix_is_restored() -> None:
    tree = element_from_xml(
        b'<Publication xmlns:dc="http://purl.org/dc/elements/1.1/" ID="F9"><dc:title>T</dc:title></Publication>'
    )
    assert tree["children"][0]["children"][0]["name"] == "dc:title"


def test_default_selection(mini_corpus: Path) -> None:
    selection = Selection.load(Settings().corpus_dir)
    result = {i.doc_id: i for i in items(mini_corpus, version="t", selection=selection)}
    assert result["vdd/F1427"].selected and result["vdd/F1427"].nodes
    assert result["vdd/F1119"].selected  # associations
    assert not result["vdd/F1"].selected  # income tax: not a town-hall question
    everything = Selection.load(Settings().corpus_dir, everything=True)
    assert all(i.selected for i in items(mini_corpus, version="t", selection=everything))


def test_a_fiche_in_several_audiences_is_one_document(mini_corpus: Path) -> None:
    selection = Selection.load(Settings().corpus_dir)
    found = [
        i for i in items(mini_corpus, version="t", selection=selection) if i.doc_id == "vdd/F1633"
    ]
    assert len(found) == 1
    assert set(found[0].nodes[0].metadata["audience"]) == {"Particuliers", "Professionnels"}


def test_xml_folder_and_zip_inputs(f1427: dict[str, Any], tmp_path: Path) -> None:
    import zipfile

    xml = to_xml(f1427["children"][0]).encode()
    (tmp_path / "xml").mkdir()
    (tmp_path / "xml" / "F1427.xml").write_bytes(xml)
    (tmp_path / "xml" / "R1.xml").write_bytes(b"<Ressource/>")  # resources are not fiches
    with zipfile.ZipFile(tmp_path / "vosdroits-latest.zip", "w") as z:
        z.writestr("F1427.xml", xml)
        z.writestr("F2.xml", b"<Publication ID='F2'><oops")
    selection = Selection.load(Settings().corpus_dir)
    folder = list(items(tmp_path / "xml", version="t", selection=selection))
    assert [i.doc_id for i in folder] == ["vdd/F1427"] and folder[0].nodes
    zipped = {
        i.doc_id: i
        for i in items(tmp_path / "vosdroits-latest.zip", version="t", selection=selection)
    }
    assert zipped["vdd/F1427"].nodes
    assert zipped["vdd/F2"].error and "XML illisible" in zipped["vdd/F2"].error
