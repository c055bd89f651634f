"""Special regimes: an ordinary commune gets the common law first; a Moselle commune, or a
question naming Alsace-Moselle, gets its local law. On the real 2015 CGCT."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assistant.communes import CommuneProfile
from assistant.models import Citation
from assistant.rag.regimes import REGIME_WEIGHT, Place, Regimes
from assistant.rag.retrieval import Retriever, build_filter
from cli.main import app
from ingestion.legi import load_code_tree, parse_code
from ingestion.sources.legi import article_nodes
from plume import REPO_ROOT
from plume.store import Hit, Store
from plume.text import Bm25Encoder
from tests.conftest import SHARED_DATA, indexed_store
from tests.test_communes import data_dir_with_packages

CORPUS = REPO_ROOT / "corpus"
CGCT = "LEGITEXT000006070633"
IN_2015 = date(2015, 6, 1)
CONVOCATION = "combien de jours avant la séance faut-il convoquer le conseil municipal ?"
COMMON = f"legi/{CGCT}/L2121-11"  # convocation: three clear days (communes < 3,500)
MOSELLE = f"legi/{CGCT}/L2541-2"  # the same matter in Moselle, Bas-Rhin, Haut-Rhin


def article(section: str) -> Hit:
    return Hit("p", 1.0, {"kind": "article", "section": section})


@pytest.mark.parametrize(
    ("section", "regime"),
    [
        (
            "Partie législative > DEUXIÈME PARTIE : LA COMMUNE > LIVRE V : DISPOSITIONS "
            "PARTICULIÈRES > TITRE IV : COMMUNES DES DÉPARTEMENTS DE LA MOSELLE, DU BAS-RHIN "
            "ET DU HAUT-RHIN",
            "Alsace-Moselle",
        ),
        (
            "LIVRE V : DISPOSITIONS PARTICULIÈRES > TITRE Ier : PARIS, MARSEILLE ET LYON",
            "Paris, Lyon, Marseille",
        ),
        ("SIXIÈME PARTIE : COLLECTIVITÉS D'OUTRE-MER RÉGIES PAR L'ARTICLE 74", "Outre-mer"),
        (
            "Livre II : Election des sénateurs des départements > Titre IV : Election des "
            "sénateurs > Chapitre VII : Opérations de vote",
            "Élection des sénateurs",
        ),
        # the municipal council designates the senatorial delegates: the town hall's business
        (
            "Livre II : Election des sénateurs des départements > Titre III : Désignation "
            "des délégués des conseils municipaux",
            None,
        ),
        # section titles read from LexHub's slugs: no commas, no hyphens
        (
            "Partie législative > Deuxième partie : La commune > Livre V : Dispositions "
            "particulières > Titre IV : Communes des départements de la moselle du bas rhin et "
            "du haut rhin",
            "Alsace-Moselle",
        ),
        (
            "Livre II : Dispositions particulières > Titre Ier : Paris marseille et lyon",
            "Paris, Lyon, Marseille",
        ),
        # a meeting, not La Réunion; Paris's council under the common electoral law
        ("Section 2 : Le conseil régional > Sous-section 2 : Réunion.", None),
        (
            "Titre IV : Dispositions spéciales à l'élection des conseillers municipaux et des "
            "membres du Conseil de Paris",
            None,
        ),
    ],
)
def test_regimes_are_read_from_the_section_path(section: str, regime: str | None) -> None:
    found = Regimes.load(CORPUS).of(article(section))
    assert (found.name if found else None) == regime


def test_a_fiche_has_no_regime() -> None:
    fiche = Hit("p", 1.0, {"kind": "fiche", "section": "Moselle, du Bas-Rhin et du Haut-Rhin"})
    assert Regimes.load(CORPUS).of(fiche) is None


@pytest.mark.parametrize(
    ("question", "place", "expected"),
    [
        ("convocation du conseil", None, set()),
        ("convocation du conseil en Alsace-Moselle", None, {"Alsace-Moselle"}),
        ("convocation du conseil", Place("57", "57463"), {"Alsace-Moselle"}),
        ("convocation du conseil", Place("2A", "2A004"), {"Corse"}),
        ("convocation du conseil", Place("974", "97411"), {"Outre-mer"}),
        ("qui préside le bureau de vote aux sénatoriales ?", None, {"Élection des sénateurs"}),
        # « réunion » alone is a meeting
        ("la réunion du conseil municipal", Place("78", "78013"), set()),
    ],
)
def test_which_regimes_concern_a_question(
    question: str, place: Place | None, expected: set[str]
) -> None:
    assert Regimes.load(CORPUS).applicable(question, place) == expected


def test_every_regime_is_described() -> None:
    regimes = Regimes.load(CORPUS)
    assert regimes.version
    assert {r.name for r in regimes.regimes} >= {"Alsace-Moselle", "Outre-mer", "Corse"}
    assert all(r.sections and r.words for r in regimes.regimes)


# --- on the real CGCT, both backends ------------------------------------------------------------


@pytest.fixture(scope="module", params=["edge", "server"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """The CGCT's council articles, common law (L212x) and Alsace-Moselle (L254x)."""
    path = SHARED_DATA / "legi" / f"{CGCT}.json"
    if not path.is_file():
        pytest.skip(f"{path} absent: the 2015 CGCT of ../shared/data/legi is needed")
    code = parse_code(load_code_tree(path.read_bytes(), path.name))
    articles = [a for a in code.articles if a.num.startswith(("L212", "L254"))]
    nodes = [n for a in articles for n in article_nodes(a, version="t")]
    s = indexed_store(request.param, tmp_path_factory.mktemp("regimes"), nodes)
    yield s
    s.close()


def ranked(store: Store, question: str, place: Place | None, *, regimes: bool = True) -> list[str]:
    # plain BM25 (no lexicon): the test does not move with the lexicon's entries
    r = Retriever(store, Bm25Encoder(), regimes=Regimes.load(CORPUS) if regimes else None)
    passages = r.search(question, build_filter(as_of=IN_2015), 10, place=place)
    return list(dict.fromkeys(p.doc_id for p in passages))


def test_an_ordinary_commune_gets_the_common_law_first(store: Store) -> None:
    without = ranked(store, CONVOCATION, None, regimes=False)
    assert without.index(MOSELLE) < without.index(COMMON)  # the near-copy wins on words
    for place in (None, Place("78", "78013")):
        found = ranked(store, CONVOCATION, place)
        assert found.index(COMMON) < found.index(MOSELLE)
        assert MOSELLE in found  # weighed down, not removed


def test_a_moselle_commune_gets_its_local_law(store: Store) -> None:
    assert ranked(store, CONVOCATION, Place("57", "57463")) == ranked(
        store, CONVOCATION, None, regimes=False
    )
    named = ranked(store, CONVOCATION + " (Alsace-Moselle)", None)
    assert named.index(MOSELLE) < named.index(COMMON)


def test_the_citation_names_the_regime(store: Store) -> None:
    r = Retriever(store, Bm25Encoder(), regimes=Regimes.load(CORPUS))
    passages = r.search(CONVOCATION, build_filter(as_of=IN_2015), 10)
    by_doc = {p.doc_id: Citation.from_passage(1, p) for p in passages}
    assert by_doc[MOSELLE].regime == "Alsace-Moselle"
    assert by_doc[COMMON].regime is None


def test_the_place_is_the_users_commune() -> None:
    metz = CommuneProfile(
        insee="57463",
        name="Metz",
        population=120_000,
        departement="57",
        departement_name="Moselle",
        region="44",
        region_name="Grand Est",
    )
    assert Place.of(metz) == Place("57", "57463")
    assert Place.of(None) is None
    assert Regimes.load(CORPUS).applicable("convocation du conseil", Place.of(metz)) == {
        "Alsace-Moselle"
    }


# --- the command line -----------------------------------------------------------------------------


def _council_articles(path: Path, out: Path) -> Path:
    """The CGCT tree cut down to its council articles, common law and Alsace-Moselle."""

    def keep(node: dict[str, Any]) -> dict[str, Any] | None:
        if node.get("type") == "article":
            num = str((node.get("data") or {}).get("num") or "")
            return node if num.startswith(("L2121", "L2541")) else None
        children = [k for k in (keep(c) for c in node.get("children") or []) if k is not None]
        return {**node, "children": children} if children else None

    tree = keep(json.loads(path.read_bytes()))
    out.write_text(json.dumps(tree), encoding="utf-8")
    return out


def test_search_from_the_command_line_with_a_commune(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = SHARED_DATA / "legi" / f"{CGCT}.json"
    if not path.is_file():
        pytest.skip(f"{path} absent: the 2015 CGCT of ../shared/data/legi is needed")
    monkeypatch.setenv("PLUME_DATA_DIR", str(data_dir_with_packages(tmp_path)))
    monkeypatch.setenv("COLUMNS", "200")
    cli = CliRunner()
    code = _council_articles(path, tmp_path / f"{CGCT}.json")
    ingested = cli.invoke(app, ["ingest", "legi", "--path", str(code)])
    assert ingested.exit_code == 0, ingested.stderr
    assert cli.invoke(app, ["commune", "ajouter", "57463"]).exit_code == 0  # Metz

    def search(*extra: str) -> list[dict[str, Any]]:
        found = cli.invoke(app, ["search", CONVOCATION, "--as-of", "2015-06-01", "--json", *extra])
        assert found.exit_code == 0, found.stderr
        rows: list[dict[str, Any]] = json.loads(found.stdout)
        return rows

    def moselle(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return next(r for r in rows if r["doc_id"] == MOSELLE)

    ordinary, metz = moselle(search()), moselle(search("--commune", "57463"))
    assert ordinary["regime"] == metz["regime"] == "Alsace-Moselle"
    # weighed down for an ordinary commune, at its full score for Metz
    assert ordinary["score"] == pytest.approx(metz["score"] * REGIME_WEIGHT)
    shown = cli.invoke(app, ["search", CONVOCATION, "--as-of", "2015-06-01"])
    assert "Régime particulier : Alsace-Moselle" in shown.stdout
