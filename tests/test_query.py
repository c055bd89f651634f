"""A secretary's words → the law: the town-hall lexicon, direct references to articles,
and the fiche ↔ law bridge, on real CGCT articles and real fiches."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, cast

import pytest
from llama_index.core.schema import TextNode

from assistant.models import Citation
from assistant.rag.query import ArticleRef, Lexicon, QueryExpander, Term, find_references
from assistant.rag.retrieval import Retriever, build_filter
from ingestion.chunking import fiche_nodes, index_text
from ingestion.fiches import parse_fiche
from ingestion.legi import load_code_tree, parse_code
from ingestion.sources.legi import article_nodes
from plume import REPO_ROOT
from plume.store import Hit, Search, Store
from plume.text import Bm25Encoder, fold_accents
from tests.conftest import SHARED_DATA, indexed_store, load_fiche_json

CORPUS = REPO_ROOT / "corpus"
CGCT = "LEGITEXT000006070633"
ELECTORAL = "LEGITEXT000006070239"
QUORUM = f"legi/{CGCT}/L2121-17"
ISSUE_QUESTION = "le maire a fait voter les délibs avec 4 conseillers sur 11, c'est valable ?"
IN_2015 = date(2015, 6, 1)  # the shared CGCT is the 2015 text


# --- the lexicon -------------------------------------------------------------------------------


def test_the_lexicon_is_versioned_and_complete() -> None:
    lexicon = Lexicon.load(CORPUS / "lexique.toml")
    assert lexicon.version
    words = {t.words for t in lexicon.terms}
    for abbreviation in ("CM", "délib", "PV", "DGF", "PLU", "CU", "DP", "PC", "quorum"):
        assert abbreviation in words, abbreviation
    assert "secrétaire de séance" in words
    assert all(t.meaning.strip() for t in lexicon.terms)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("le CM a voté la délib hier", ["conseil municipal", "délibération"]),
        ("les délibs du conseil", ["conseil municipal", "délibération"]),
        ("une DELIB, la Délib", ["délibération"]),  # everyday words: any case, any accent
        ("il faut un CU et une DP", ["certificat d'urbanisme", "déclaration préalable de travaux"]),
        ("un mur de 5 cm, un pc portable", []),  # abbreviations: only in capitals
        ("le PV et les PVs", ["procès-verbal"]),
    ],
)
def test_words_and_abbreviations_are_found(question: str, expected: list[str]) -> None:
    lexicon = Lexicon("t", tuple(Term(w, m) for w, m in _SAMPLE.items()))
    assert lexicon.meanings(question) == expected


_SAMPLE = {
    "CM": "conseil municipal",
    "conseil": "conseil municipal",
    "délib": "délibération",
    "délibs": "délibération",
    "PV": "procès-verbal",
    "CU": "certificat d'urbanisme",
    "DP": "déclaration préalable de travaux",
    "PC": "permis de construire",
}


def _questions() -> list[str]:
    """Every question of the evaluation sets, and a few written to test the word limits."""
    out = [
        "CU ou CUs ? les CU-a, un PLUx, délibs, Délib., conseil municipal x conseillers",
        "le CM, les CMs, un cm, l'EPCI, des EPCIs, élections municipales, concessionx",
        "",
    ]
    for path in sorted((REPO_ROOT / "eval" / "datasets").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line) if line.strip() else {}
            out += [str(row[k]) for k in ("question", "first", "followup") if k in row]
    return out


def test_the_one_pass_matcher_finds_what_each_entry_pattern_finds() -> None:
    """The lexicon is read in one pass (Aho-Corasick), with the same result as one regular
    expression per entry (`Term.pattern`: as a word, plural allowed) on every question."""
    lexicon = Lexicon.load(CORPUS / "lexique.toml")
    questions = _questions()
    assert len(questions) > 500
    for question in questions:
        folded = fold_accents(question.replace("’", "'")).lower()
        expected = tuple(t for t in lexicon.terms if t.found_in(question, folded))
        assert lexicon.found(question) == expected, question
    assert sum(bool(lexicon.found(q)) for q in questions) > len(questions) / 4


def test_added_terms_join_the_question_terms() -> None:
    encoder = Bm25Encoder()
    query = QueryExpander.load(CORPUS).expand("le CM a voté")
    assert "conseil municipal" in query.additions
    vec = encoder.encode_weighted(query.weighted_texts())
    weights = dict(zip(vec.indices, vec.values, strict=True))
    for word in ("voté", "municipal", "CM"):
        assert weights[encoder.encode_query(word).indices[0]] > 0, word
    # a term in several texts takes its highest weight; one text alone: the plain query
    mixed = encoder.encode_weighted([("conseil", 1.0), ("conseil municipal", 0.5)])
    assert sorted(mixed.values) == [0.5, 1.0]
    assert encoder.encode_weighted([("le CM a voté", 1.0)]) == encoder.encode_query("le CM a voté")


# --- direct references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("que dit le L2121-17 ?", [ArticleRef("L2121-17")]),
        ("article L. 2121-17 du CGCT", [ArticleRef("L2121-17", CGCT)]),
        ("l'article L52-1 du code électoral", [ArticleRef("L52-1", ELECTORAL)]),
        ("articles R* 41 et L 62 du Code électoral", [ArticleRef("R41", ELECTORAL)]),
        ("art. 1240 du code civil", [ArticleRef("1240", "LEGITEXT000006070721")]),
        (ISSUE_QUESTION, []),
        ("une commune de 3 500 habitants en 2024", []),
    ],
)
def test_article_references_are_detected(question: str, expected: list[ArticleRef]) -> None:
    assert find_references(question)[: len(expected) or None] == expected


def test_an_unqualified_reference_is_sought_in_every_known_code() -> None:
    query = QueryExpander.load(CORPUS).expand("le L2121-17")
    assert (
        QUORUM in query.referenced_ids() and f"legi/{ELECTORAL}/L2121-17" in query.referenced_ids()
    )
    qualified = QueryExpander.load(CORPUS).expand("l'article L2121-17 du CGCT")
    assert qualified.referenced_ids() == [QUORUM]


# --- on real articles and fiches ------------------------------------------------------------------


@pytest.fixture(scope="module", params=["edge", "server"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, vdd_root: Path
) -> Iterator[Store]:
    """The CGCT's council, police and cemetery articles (2015) and two cemetery fiches,
    on both backends (the server through qdrant-client's local mode)."""
    path = SHARED_DATA / "legi" / f"{CGCT}.json"
    if not path.is_file():
        pytest.skip(f"{path} absent: the 2015 CGCT of ../shared/data/legi is needed")
    code = parse_code(load_code_tree(path.read_bytes(), path.name))
    articles = [a for a in code.articles if a.num.startswith(("L21", "L22"))]
    nodes = [n for a in articles for n in article_nodes(a, version="t")]
    for fiche_id in ("F31001", "F12691"):
        fiche = parse_fiche(load_fiche_json(vdd_root, "particuliers", fiche_id))
        nodes += fiche_nodes(fiche, source="service-public", version="t")
    s = indexed_store(request.param, tmp_path_factory.mktemp("query"), nodes)
    yield s
    s.close()


def retriever(store: Store, *, lexicon: bool = True, bridge: bool = True) -> Retriever:
    expander = QueryExpander.load(CORPUS, lexicon=lexicon)
    return Retriever(store, Bm25Encoder(), expander=expander, bridge=bridge)


def ranked(r: Retriever, question: str) -> list[str]:
    passages = r.search(question, build_filter(as_of=IN_2015), 30)
    return list(dict.fromkeys(p.doc_id for p in passages))


def test_the_issue_question_finds_the_quorum_article(store: Store) -> None:
    with_lexicon = ranked(retriever(store), ISSUE_QUESTION)
    without = ranked(retriever(store, lexicon=False), ISSUE_QUESTION)
    assert with_lexicon[0] == QUORUM
    assert without[0] != QUORUM  # the lexicon (délibs, N conseillers sur M) puts it first


def test_a_named_article_comes_first(store: Store) -> None:
    for question in ("que dit l'article L. 2121-17 du CGCT ?", "L2121-17 ?"):
        assert ranked(retriever(store, lexicon=False), question)[0] == QUORUM
    # an article the question names that the index lacks: nothing invented
    assert all("L9999-1" not in d for d in ranked(retriever(store), "article L9999-1 du CGCT"))


def test_a_fiche_brings_the_articles_it_rests_on(store: Store) -> None:
    question = "la commune peut-elle reprendre une concession abandonnée ?"
    passages = retriever(store).search(question, build_filter(as_of=IN_2015), 30)
    first = {p.doc_id: p for p in reversed(passages)}  # each document's first passage
    docs = list(dict.fromkeys(p.doc_id for p in passages))
    links = {d: Citation.from_passage(1, first[d]).links for d in docs}
    fiche = next(d for d in docs[:3] if d.startswith("vdd/"))
    brought = [d for d in docs if fiche in links[d]]
    # the fiche's legal basis (CGCT L2223-13 to L2223-18), linked both ways, placed after
    # the first three results so that these stay the best matches of the question's words
    assert brought and all(d.startswith(f"legi/{CGCT}/L2223-") for d in brought)
    assert set(brought) <= set(links[fiche])
    assert all(docs.index(d) >= 3 for d in brought)
    assert Citation.from_passage(2, first[brought[0]]).as_dict()["links"] == [fiche]


class CountedStore:
    """The store, its queries counted (a real store underneath)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[int] = []  # searches per call to the engine

    def query_batch(self, searches: list[Search]) -> list[list[Hit]]:
        self.calls.append(len(searches))
        return self.store.query_batch(searches)

    def query(self, **kwargs: Any) -> list[Hit]:
        self.calls.append(1)
        return self.store.query(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.mark.parametrize(
    "question",
    ["la commune peut-elle reprendre une concession abandonnée ?", "que dit l'article L2223-17 ?"],
)
def test_a_search_makes_two_calls_to_the_store(store: Store, question: str) -> None:
    """The question's query (with the articles it names) in one call, the law bridge's
    lookups (each first result's linked documents) in another: not one query each."""
    counted = CountedStore(store)
    passages = retriever(cast(Store, counted)).search(question, build_filter(as_of=IN_2015), 30)
    assert passages and len(counted.calls) == 2
    if "article" in question:  # the named article's query goes with the question's
        assert counted.calls[0] == 2 and passages[0].doc_id == f"legi/{CGCT}/L2223-17"
    else:  # the fiche's articles and the fiches citing an article: one batch
        assert counted.calls == [1, 2] and any(p.hit.payload.get("links") for p in passages)


def test_hits_bring_only_the_payload_fields_asked(store: Store) -> None:
    fields = ("doc_id", "text", "title", "kind", "law", "section")
    r = Retriever(
        store,
        Bm25Encoder(),
        expander=QueryExpander.load(CORPUS),
        bridge=True,
        fields=fields,
    )
    question = "la commune peut-elle reprendre une concession abandonnée ?"
    passages = r.search(question, build_filter(as_of=IN_2015), 30)
    assert passages and all(set(p.hit.payload) <= {*fields, "links"} for p in passages)
    assert ranked(r, question) == ranked(retriever(store), question)


def test_without_the_bridge_nothing_is_linked(store: Store) -> None:
    question = "la commune peut-elle reprendre une concession abandonnée ?"
    passages = retriever(store, bridge=False).search(question, build_filter(as_of=IN_2015), 30)
    assert all(Citation.from_passage(1, p).links == [] for p in passages)


# --- fields ----------------------------------------------------------------------------------


def test_the_title_and_nearest_heading_are_indexed_twice() -> None:
    node = TextNode(
        text="Le corps du texte.",
        metadata={"title": "Concession funéraire", "section": "Cimetière > Reprise", "kind": "f"},
    )
    text = index_text(node)
    assert text.count("Concession funéraire") == 2 and text.count("Reprise") == 2
    assert text.count("Cimetière") == 1 and text.count("Le corps du texte.") == 1


def test_a_title_that_bears_the_words_comes_first(store: Store) -> None:
    passages = retriever(store, lexicon=False, bridge=False).search(
        "concession funéraire", build_filter(as_of=IN_2015), 5
    )
    assert "concession funéraire" in str(passages[0].field("title"))
