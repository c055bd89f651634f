"""The Légifrance code parser and the legi source, on real code trees.

`../shared/data/legi` holds the CGCT and the Code électoral as in force in 2015 (with
made-up article ids); the legi-data package that `plume corpus fetch` installs holds four
current codes. Tests needing either skip with the reason when it is absent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ingestion.chunking import index_text
from ingestion.legi import (
    CodeText,
    doc_number,
    iso_date,
    load_code_tree,
    parse_article,
    parse_code,
    parse_code_header,
    walk_articles,
)
from ingestion.service import check_source, ingest_source
from ingestion.sources.legi import article_nodes, code_files, default_codes, items
from plume import packages
from plume.documents import ALWAYS_TO, is_doc_id, point_id
from plume.errors import MalformedDocument, UnknownSource
from plume.settings import Settings
from plume.store import SearchFilter
from plume.store.edge import EdgeStore
from plume.text import Bm25Encoder
from tests.conftest import SHARED_DATA

LEGI_2015 = SHARED_DATA / "legi"
CGCT = "LEGITEXT000006070633"
ELECTORAL = "LEGITEXT000006070239"
CRPA = "LEGITEXT000031366350"
QUORUM = f"legi/{CGCT}/L2121-17"


def shared(code: str) -> Path:
    path = LEGI_2015 / f"{code}.json"
    if not path.is_file():
        pytest.skip(f"{path} absent: the 2015 code trees of ../shared/data/legi are needed")
    return path


def read(path: Path) -> dict[str, Any]:
    return load_code_tree(path.read_bytes(), path.name)


@pytest.fixture(scope="module")
def cgct() -> CodeText:
    return parse_code(read(shared(CGCT)))


@pytest.fixture(scope="module")
def legi_package() -> Path:
    settings = Settings()
    try:
        return packages.package_dir(
            settings.packages_dir, packages.pinned(settings.corpus_dir, "legi")
        )
    except Exception:
        pytest.skip("legi-data package not fetched: run `plume corpus fetch` (make test does)")


def open_edge(settings: Settings) -> EdgeStore:
    store = EdgeStore(settings.store_dir, dense_dim=settings.embedding_dim)
    store.ensure_collection()
    return store


# --- the parser, on the 2015 CGCT ------------------------------------------------------------


def test_the_whole_cgct_is_read(cgct: CodeText) -> None:
    assert (cgct.code.id, cgct.code.title, cgct.code.snapshot) == (
        CGCT,
        "Code général des collectivités territoriales",
        "2015-05-09",
    )
    assert cgct.code.url == f"https://www.legifrance.gouv.fr/codes/texte_lc/{CGCT}"
    assert len(cgct.articles) == 5289 and cgct.rejected == []
    assert Counter(a.state for a in cgct.articles) == {"VIGUEUR": 5289}
    # R4422-2 appears twice in this export: one document, two articles
    assert len({a.doc_id for a in cgct.articles}) == 5288
    assert all(is_doc_id(a.doc_id) for a in cgct.articles)


def test_the_quorum_article_by_hand(cgct: CodeText) -> None:
    (article,) = [a for a in cgct.articles if a.num == "L2121-17"]
    assert article.doc_id == QUORUM
    assert article.text.startswith(
        "Le conseil municipal ne délibère valablement que lorsque la majorité de ses membres "
        "en exercice est présente.\nSi, après une première convocation régulièrement faite"
    )  # one line per alinéa
    assert article.text.endswith("Il délibère alors valablement sans condition de quorum.")
    assert article.breadcrumb == (
        "Partie législative",
        "DEUXIÈME PARTIE : LA COMMUNE",
        "LIVRE Ier : ORGANISATION DE LA COMMUNE",
        "TITRE II : ORGANES DE LA COMMUNE",
        "CHAPITRE Ier : Le conseil municipal",
        "Section 4 : Fonctionnement",
    )
    assert (article.state, article.in_force_from, article.in_force_to) == (
        "VIGUEUR",
        "1996-02-24",
        None,
    )
    assert article.amended_by == () and article.nota == ""


def test_made_up_article_ids_link_to_the_code(cgct: CodeText) -> None:
    article = cgct.articles[0]
    assert article.id.startswith("LEGIARTI9") and not article.linkable
    assert {a.url for a in cgct.articles} == {cgct.code.url}


def test_html_gives_clean_text_and_paragraphs(cgct: CodeText) -> None:
    (paris,) = [a for a in cgct.articles if a.num == "L2511-5"]
    assert "1er arrondissement" in paris.text  # <sup>er</sup> joined, not "1 er"
    assert " | " in paris.text  # table cells stay apart, one row per line


def test_article_numbers_become_document_ids() -> None:
    assert doc_number("L2121-17") == "L2121-17"
    assert doc_number("R*4433-24") == "R4433-24"
    assert doc_number("Annexe tableau n° 1 (suite)") == "Annexe tableau n 1 suite"
    assert doc_number("Annexe à l'article R1422-4") == "Annexe à l article R1422-4"


@pytest.mark.parametrize(
    ("value", "end", "expected"),
    [
        (1451606400000, False, "2016-01-01"),  # legi-data: epoch milliseconds
        ("1996-02-24", False, "1996-02-24"),  # older exports: ISO dates
        ("2016-01-01T00:00:00.000Z", False, "2016-01-01"),
        (-86400000, False, "1969-12-31"),
        (32472144000000, True, None),  # 2999-01-01: no end
        ("2999-01-01", True, None),
        ("2998-12-31T23:00:00.000Z", True, None),  # the same, shifted by a time zone
        (32472144000000, False, "2999-01-01"),  # a start is kept as given
        (None, True, None),
    ],
)
def test_dates_in_both_formats(value: object, end: bool, expected: str | None) -> None:
    assert iso_date(value, end=end) == expected


def test_an_article_with_iso_dates_reads_the_same(cgct: CodeText) -> None:
    tree = read(shared(CGCT))
    path, node = next((p, n) for p, n in walk_articles(tree) if n["data"]["num"] == "L2121-17")
    node["data"] |= {"dateDebut": "1996-02-24", "dateFin": "2999-01-01"}
    again = parse_article(node, parse_code_header(tree), path)
    assert again == next(a for a in cgct.articles if a.num == "L2121-17")


# --- malformed input -------------------------------------------------------------------------

FICHE = {
    "type": "element",
    "children": [{"type": "element", "name": "Publication", "attributes": {"ID": "F1427"}}],
}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (json.dumps(FICHE).encode(), "ce n'est pas l'arbre d'un code Légifrance"),
        (b'{"id": "LEGITEXT000006070633"}', "pas de type, « code » attendu"),
        (b"[1, 2]", "ce n'est pas un code"),
        (b'{"type": "code", "data": {"title": "x"}, "children": []}', "identifiant du code absent"),
        (
            b'{"type": "code", "data": {"id": "JORFTEXT000000000001", "title": "x"}, "children": []}',
            "identifiant de code invalide",
        ),
        (b'{"type": "code", "data": {"id": "LEGITEXT000006070633"}, "children": []}', "sans titre"),
        (
            b'{"type": "code", "data": {"id": "LEGITEXT000006070633", "title": "x"}}',
            "sans sections",
        ),
        ('{"type": "code", "data": {"title": "Code général'.encode(), "JSON illisible"),
        (b"\xff\xfe", "JSON illisible"),
    ],
)
def test_what_is_not_a_code_is_refused_in_french(raw: bytes, why: str) -> None:
    with pytest.raises(MalformedDocument, match=why):
        parse_code(load_code_tree(raw, "code.json"))


def test_a_truncated_real_code_is_refused() -> None:
    raw = shared(ELECTORAL).read_bytes()
    with pytest.raises(MalformedDocument, match=f"JSON illisible dans {ELECTORAL}.json"):
        parse_code(load_code_tree(raw[: len(raw) // 2], f"{ELECTORAL}.json"))


def test_one_bad_article_never_stops_the_others(tmp_path: Path) -> None:
    tree = read(shared(ELECTORAL))
    nodes = [n for _, n in walk_articles(tree)]
    del nodes[0]["data"]["num"]
    nodes[1]["data"] |= {"texte": "", "texteHtml": ""}
    nodes[2]["data"]["dateDebut"] = "hier"
    nodes[3]["data"]["id"] = "../etc/passwd"
    folder = tmp_path / "codes"
    folder.mkdir()
    (folder / f"{ELECTORAL}.json").write_text(json.dumps(tree))
    (folder / "cut.json").write_text('{"type": "code", "data": ')
    (folder / "F1427.json").write_text(json.dumps(FICHE))

    found = list(items(folder, version="t"))
    errors = sorted(i.error for i in found if i.error)
    assert len(errors) == 6
    assert errors[0].startswith("F1427.json : ce n'est pas l'arbre d'un code")
    assert errors[1].startswith(f"{ELECTORAL} article ")
    assert any("sans numéro" in e for e in errors) and any("sans texte" in e for e in errors)
    assert any("date illisible : 'hier'" in e for e in errors)
    assert any("identifiant d'article invalide" in e for e in errors)
    assert errors[-1].startswith("cut.json : JSON illisible")
    assert sum(1 for i in found if i.nodes) == 985 - 4


# --- chunks ------------------------------------------------------------------------------------


def test_chunks_carry_the_article_payload(cgct: CodeText) -> None:
    article = next(a for a in cgct.articles if a.num == "L2121-17")
    (node,) = article_nodes(article, version="local:cgct.json")
    assert node.node_id == point_id(f"{QUORUM}@{article.id}", 0)  # per article version
    meta = node.metadata
    assert meta["doc_id"] == QUORUM and meta["kind"] == "article" and meta["source"] == "legi"
    assert meta["title"] == "Article L2121-17 — Code général des collectivités territoriales"
    assert meta["section"] == " > ".join(article.breadcrumb)
    assert meta["url"] == cgct.code.url and meta["source_version"] == "local:cgct.json"
    assert (meta["in_force_from"], meta["in_force_to"]) == ("1996-02-24", None)
    assert meta["in_force_to_day"] == ALWAYS_TO and isinstance(meta["in_force_from_day"], int)
    assert {k: meta[k] for k in ("article_id", "num", "state", "code_id", "code_title")} == {
        "article_id": article.id,
        "num": "L2121-17",
        "state": "VIGUEUR",
        "code_id": CGCT,
        "code_title": "Code général des collectivités territoriales",
    }
    assert meta["amended_by"] == [] and meta["nota"] == "" and meta["content_hash"]
    assert node.text == article.text
    # a later version of the article (another LEGIARTI id) gets its own points, same document
    (later,) = article_nodes(replace(article, id="LEGIARTI000099999999"), version="t")
    assert later.node_id != node.node_id and later.metadata["doc_id"] == QUORUM


def test_long_articles_are_cut_between_paragraphs(cgct: CodeText) -> None:
    article = next(a for a in cgct.articles if a.num == "L2121-17")
    pieces = article_nodes(article, version="t", max_tokens=80)  # 26 + 76 tokens
    assert [p.text for p in pieces] == article.text.split("\n")  # one alinéa each
    assert {p.metadata["title"] for p in pieces} == {pieces[0].metadata["title"]}
    assert {p.metadata["section"] for p in pieces} == {" > ".join(article.breadcrumb)}
    assert [p.metadata["chunk_index"] for p in pieces] == [0, 1]
    assert len({p.node_id for p in pieces}) == 2
    # the second piece is indexed with the article's opening paragraph: what it continues
    lead = article.text.split("\n")[0]
    assert "lead" not in pieces[0].metadata and pieces[1].metadata["lead"] == lead
    assert lead in index_text(pieces[1]) and pieces[1].text not in lead

    longest = max(cgct.articles, key=lambda a: len(a.text))  # a 40,000-character table
    nodes = article_nodes(longest, version="t")
    assert len(nodes) > 10 and all(len(n.text) < 3000 for n in nodes)
    assert all(n.metadata["num"] == longest.num for n in nodes)


# --- ingestion ---------------------------------------------------------------------------------


def test_ingest_a_code_file_then_rerun_changes_nothing(settings: Settings) -> None:
    path = shared(ELECTORAL)
    store = open_edge(settings)
    first = ingest_source(settings, store, None, "legi", path=path)
    assert first.errors == [] and first.documents == 985
    assert first.added >= 985 and first.updated == first.deleted == first.skipped == 0
    assert first.version == f"local:{ELECTORAL}.json"
    second = ingest_source(settings, store, None, "legi", path=path)
    assert (second.added, second.updated, second.deleted) == (0, 0, 0)
    assert second.skipped == first.added

    keys = ["doc_id", "source_version", "article_id", "num", "state", "amended_by", "nota"]
    keys += ["code_id", "code_title", "in_force_from_day", "in_force_to_day"]
    payloads = [p for _, p in store.scan(SearchFilter(sources=["legi"]), keys)]
    assert len(payloads) == first.added
    for key in keys:
        assert all(key in p for p in payloads), key
    assert {p["code_title"] for p in payloads} == {"Code électoral"}
    assert {p["source_version"] for p in payloads} == {f"local:{ELECTORAL}.json"}
    assert all(p["doc_id"].startswith(f"legi/{ELECTORAL}/") for p in payloads)
    store.close()


@pytest.mark.slow
def test_the_quorum_question_finds_its_article(settings: Settings) -> None:
    store = open_edge(settings)  # the whole CGCT: about 20 s
    summary = ingest_source(settings, store, None, "legi", path=shared(CGCT))
    assert summary.errors == [] and summary.documents == 5288
    hits = store.query(
        sparse=Bm25Encoder().encode_query("quorum conseil municipal"),
        dense=None,
        where=SearchFilter(sources=["legi"]),
        limit=3,
    )
    assert QUORUM in [h.doc_id for h in hits]
    store.close()


def test_legi_is_a_known_source() -> None:
    assert check_source("legi") == "legi"
    with pytest.raises(UnknownSource, match="Sources disponibles : service-public, legi"):
        check_source("jorf")


# --- the legi-data package -----------------------------------------------------------------


def test_the_default_codes_are_in_the_package(legi_package: Path) -> None:
    codes = default_codes(Settings().corpus_dir)
    assert sorted(codes) == sorted(
        [CRPA, "LEGITEXT000006072050", "LEGITEXT000006073189", "LEGITEXT000022197698"]
    )
    assert all(path.is_file() for path in code_files(legi_package, codes))


def test_the_crpa_from_the_package(legi_package: Path) -> None:
    crpa = parse_code(read(legi_package / "data" / f"{CRPA}.json"))
    assert crpa.code.title == "Code des relations entre le public et l'administration"
    assert len(crpa.articles) == 474 and crpa.rejected == []
    first = next(a for a in crpa.articles if a.num == "L100-1")
    assert first.text.startswith(
        "Le présent code régit les relations entre le public et l'administration en "
        "l'absence de dispositions spéciales applicables.\nSauf dispositions contraires"
    )
    assert (first.in_force_from, first.in_force_to) == ("2016-01-01", None)
    assert first.linkable
    assert first.url == "https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000031367304"
    assert first.breadcrumb == ("Dispositions préliminaires",)
    (created,) = first.amended_by  # the CODIFICATION link points the other way
    assert (created.link_type, created.text_cid, created.in_force_from) == (
        "CREE",
        "JORFTEXT000031360943",
        "2016-01-01",
    )
    assert created.text_title.startswith("ORDONNANCE n°2015-1341 du 23 octobre 2015")
    # a repeal announced for later: indexed, with the end date Légifrance gives
    later = [a for a in crpa.articles if a.state == "ABROGE_DIFF"]
    assert later and all(a.in_force_to for a in later)


def test_ingest_the_package_as_configured(legi_package: Path, tmp_path: Path) -> None:
    """`plume ingest legi` without --path: the codes of corpus/legi.toml, from the package."""
    real = Settings()
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copyfile(real.corpus_dir / "sources.toml", corpus / "sources.toml")
    (corpus / "legi.toml").write_text(f'[codes]\n{CRPA} = "CRPA only, to stay fast"\n')
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "packages").symlink_to(real.packages_dir)
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus)
    store = open_edge(settings)
    summary = ingest_source(settings, store, None, "legi")
    assert summary.errors == [] and summary.documents == 474
    assert summary.version == packages.pinned(corpus, "legi").version
    (chunk,) = [
        p for _, p in store.scan(SearchFilter(doc_ids=[f"legi/{CRPA}/L100-1"]), ["url", "state"])
    ]
    assert chunk == {
        "url": "https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI000031367304",
        "state": "VIGUEUR",
    }
    store.close()


def test_plume_ingest_legi_path(tmp_path: Path) -> None:
    path = shared(ELECTORAL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env |= {"PLUME_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    plume = Path(sys.executable).parent / "plume"
    run = subprocess.run(
        [str(plume), "ingest", "legi", "--path", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert f"legi local:{ELECTORAL}.json" in run.stdout and "985" in run.stdout


def test_one_code_at_a_time_leaves_the_others_and_a_bad_file_deletes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    electoral = shared(ELECTORAL)
    store = open_edge(settings)
    ingest_source(settings, store, None, "legi", path=electoral)
    n_electoral = store.count(SearchFilter(sources=["legi"]))

    # another code, alone: the Code électoral stays
    tree = json.loads(electoral.read_bytes())
    tree["data"]["id"] = tree["data"]["cid"] = "LEGITEXT000000000001"
    tree["children"] = tree["children"][:1]
    other = tmp_path / "LEGITEXT000000000001.json"
    other.write_text(json.dumps(tree))
    added = ingest_source(settings, store, None, "legi", path=other)
    assert added.deleted == 0 and added.added > 0
    assert store.count(SearchFilter(sources=["legi"])) == n_electoral + added.added

    # a truncated copy of the Code électoral: an error, and its articles are all kept
    broken = tmp_path / "broken" / f"{ELECTORAL}.json"
    broken.parent.mkdir()
    broken.write_bytes(electoral.read_bytes()[:100_000])
    failed = ingest_source(settings, store, None, "legi", path=broken)
    assert failed.errors and failed.deleted == 0
    assert store.count(SearchFilter(sources=["legi"])) == n_electoral + added.added
    store.close()
