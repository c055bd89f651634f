"""The national programmes catalogue (`corpus/programmes.toml`): it parses, every programme
is complete, a malformed one is reported while the others are imported, and ingestion
makes them searchable with their rules in the payload."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingestion import sync_log
from ingestion.pipeline import ingest
from ingestion.service import check_source, ingest_source
from ingestion.sources import programmes
from plume import REPO_ROOT
from plume.documents import content_hash
from plume.errors import MalformedDocument
from plume.settings import Settings
from plume.store import SearchFilter, Store
from plume.store.edge import EdgeStore
from plume.text import Bm25Encoder

CATALOGUE = REPO_ROOT / "corpus" / "programmes.toml"
REQUIRED = {"detr", "dsil", "dsid", "dpv", "fonds-vert", "leader", "territoires-d-ia"}
AUDIENCES = {  # aides-territoires' audience labels (aids/constants.py)
    "Communes",
    "Intercommunalités / Pays",
    "Départements",
    "Régions",
    "Collectivités d'outre-mer à statuts particuliers",
    "Associations",
    "Particuliers",
    "Agriculteurs",
    "Entreprises privées",
    "Entreprises publiques locales (Sem, Spl, SemOp)",
    "Établissements publics (écoles, bibliothèques…) / Services de l'État",
    "Recherche",
}
SCOPE = SearchFilter(sources=["programmes"])


def catalogue() -> tuple[str, list[programmes.Programme]]:
    version, found, rejected = programmes.load(CATALOGUE)
    assert rejected == []
    return version, found


def search(store: Store, text: str, limit: int = 5) -> list[str]:
    hits = store.query(
        sparse=Bm25Encoder().encode_query(text), dense=None, where=SCOPE, limit=limit
    )
    return [h.doc_id for h in hits]


# --- the catalogue ---------------------------------------------------------------------------


def test_the_catalogue_parses_with_the_required_programmes() -> None:
    version, found = catalogue()
    assert version == programmes.catalogue_version(CATALOGUE) == "2026-11-23"
    codes = [p.code for p in found]
    assert set(codes) >= REQUIRED and len(codes) >= 12
    assert len(set(codes)) == len(codes)


def test_every_programme_is_complete_and_uses_the_official_vocabulary() -> None:
    _, found = catalogue()
    for p in found:
        a = p.aide
        assert a.doc_id == f"aide/programme-{p.code}"
        assert a.url.startswith(("https://", "http://")), p.code
        assert a.name and a.description and a.eligibility and a.funders, p.code
        assert p.legal_basis and p.deadline_note, p.code
        assert a.beneficiaries and set(a.beneficiaries) <= AUDIENCES, p.code
        assert a.recurrence in {"Permanente", "Récurrente", "Ponctuelle"}, p.code
        assert a.perimeter.startswith("France"), p.code
        assert a.date_updated == "2026-11-23"


def test_the_detr_rules_are_those_of_the_cgct() -> None:
    detr = {p.code: p for p in catalogue()[1]}["detr"]
    assert (detr.aide.rate_min, detr.aide.rate_max) == (20, 80)  # R2334-27
    assert detr.rules["population_max"] == 2000 and detr.rules["population_max_outre_mer"] == 3500
    assert detr.rules["population_review_max"] == 20000  # L2334-33
    assert detr.rules["population_review_max_outre_mer"] == 35000
    assert "L2334-32" in detr.legal_basis
    assert "Taux de subvention : de 20 % à 80 %." in detr.aide.description


def test_a_rate_is_stated_only_with_its_official_rule() -> None:
    rated = {p.code for p in catalogue()[1] if p.aide.rate_min or p.aide.rate_max}
    assert rated == {"detr", "territoires-d-ia"}


BROKEN = """
version = "2026-11-23"

[[programme]]
code = "sans-url"
name = "Programme sans adresse"

[[programme]]
code = "bon"
name = "Un programme correct"
url = "https://www.collectivites-locales.gouv.fr/"
beneficiaries = ["Communes"]
rate_max = 50

[[programme]]
code = "taux-faux"
name = "Taux impossible"
url = "https://example.gouv.fr/"
rate_min = 120

[[programme]]
code = "regle-inconnue"
name = "Règle mal orthographiée"
url = "https://example.gouv.fr/"
[programme.rules]
population_maxi = 2000

[[programme]]
name = "Sans code"
url = "https://example.gouv.fr/"

[[programme]]
code = "bon"
name = "Le même code deux fois"
url = "https://example.gouv.fr/"
"""


def test_a_malformed_programme_is_reported_and_the_others_imported(tmp_path: Path) -> None:
    path = tmp_path / "programmes.toml"
    path.write_text(BROKEN, encoding="utf-8")
    got = list(programmes.items(path, version="2026-11-23"))
    ok = [i for i in got if i.error is None]
    assert [i.doc_id for i in ok] == ["aide/programme-bon"] and ok[0].nodes
    errors = {i.doc_id: i.error for i in got if i.error is not None}
    assert "« url » manquant" in errors["aide/programme-sans-url"]
    assert "programme « taux-faux »" in errors["aide/programme-taux-faux"]
    assert "120" in errors["aide/programme-taux-faux"]
    assert "règle inconnue « population_maxi »" in errors["aide/programme-regle-inconnue"]
    assert "programme n° 5" in errors["aide/programme-erreur-5"]
    assert "« bon » en double" in errors["aide/programme-erreur-6"]
    assert all(i.scope == "aide/programme-" for i in got)


def test_an_unreadable_catalogue_is_one_unscoped_error(tmp_path: Path) -> None:
    path = tmp_path / "programmes.toml"
    path.write_text('[[programme]]\ncode = "detr"\n', encoding="utf-8")
    (item,) = programmes.items(path, version="x")
    assert item.scope is None and "« version » manquante" in (item.error or "")
    path.write_text("version = \n", encoding="utf-8")
    (item,) = programmes.items(path, version="x")
    assert item.scope is None and "TOML illisible" in (item.error or "")


def test_the_payload_carries_the_rules_and_its_hash_covers_them() -> None:
    version, found = catalogue()
    detr = next(p for p in found if p.code == "detr")
    nodes = programmes.programme_nodes(detr, version=version)
    for node in nodes:
        meta = node.metadata
        assert meta["programme"] == "detr" and meta["source"] == "programmes"
        assert meta["rules"]["population_max"] == 2000
        assert meta["legal_basis"].startswith("CGCT") and meta["deadline_note"]
        assert meta["rate_min"] == 20 and meta["modified"] == "2026-11-23"
        assert meta["content_hash"] == content_hash(node.text, meta)
    stricter = programmes.Programme(
        detr.code, detr.aide, detr.legal_basis, detr.deadline_note, {"population_max": 1000}
    )
    changed = programmes.programme_nodes(stricter, version=version)
    assert changed[0].metadata["content_hash"] != nodes[0].metadata["content_hash"]


# --- ingestion ---------------------------------------------------------------------------------


def test_programmes_is_a_known_source() -> None:
    assert check_source("programmes") == "programmes"


def test_ingest_into_the_store_then_search(store: Store) -> None:
    version, found = catalogue()
    items = programmes.items(CATALOGUE, version=version)
    first = ingest(
        items, store=store, source="programmes", version=version, encoder=Bm25Encoder(), scoped=True
    )
    assert first.errors == [] and first.documents == len(found) and first.added > 0
    assert search(store, "toiture école rurale DETR")[0] == "aide/programme-detr"
    assert "aide/programme-dpv" in search(store, "quartiers prioritaires politique de la ville")
    assert "aide/programme-fonds-barnier" in search(store, "risques naturels inondation")
    payloads = [p for _, p in store.scan(SCOPE, ["doc_id", "programme", "rules"])]
    detr = next(p for p in payloads if p["doc_id"] == "aide/programme-detr")
    assert detr["programme"] == "detr" and detr["rules"]["population_review_max"] == 20000
    again = ingest(
        programmes.items(CATALOGUE, version=version),
        store=store,
        source="programmes",
        version=version,
        encoder=Bm25Encoder(),
        scoped=True,
    )
    assert (again.added, again.updated, again.deleted) == (0, 0, 0)


def test_a_changed_rule_is_updated_and_a_removed_programme_deleted(
    store: Store, tmp_path: Path
) -> None:
    version = programmes.catalogue_version(CATALOGUE)
    ingest(
        programmes.items(CATALOGUE, version=version),
        store=store,
        source="programmes",
        version=version,
        encoder=Bm25Encoder(),
        scoped=True,
    )
    text = CATALOGUE.read_text(encoding="utf-8")
    edited = text.replace("population_max = 2000", "population_max = 2500", 1)
    cut = edited.index('[[programme]]\ncode = "monuments-historiques"')
    path = tmp_path / "programmes.toml"
    path.write_text(edited[:cut], encoding="utf-8")
    second = ingest(
        programmes.items(path, version=version),
        store=store,
        source="programmes",
        version=version,
        encoder=Bm25Encoder(),
        scoped=True,
    )
    detr_chunks = store.count(SearchFilter(doc_ids=["aide/programme-detr"]))
    assert second.updated == detr_chunks and second.added == 0
    assert store.count(SearchFilter(doc_ids=["aide/programme-monuments-historiques"])) == 0
    assert second.deleted > 0


def test_plume_ingest_programmes_needs_no_path(settings: Settings) -> None:
    store = EdgeStore(settings.store_dir, dense_dim=4)
    store.ensure_collection()
    try:
        summary = ingest_source(settings, store, None, "programmes")
        assert summary.version == "2026-11-23" and summary.errors == []
        assert search(store, "toiture école rurale DETR")[0] == "aide/programme-detr"
        assert sync_log.read(settings.data_dir)["programmes"]["documents"] == summary.documents
    finally:
        store.close()


def test_a_missing_catalogue_is_a_clear_error(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus")
    store = EdgeStore(settings.store_dir, dense_dim=4)
    store.ensure_collection()
    try:
        with pytest.raises(MalformedDocument, match="catalogue des programmes introuvable"):
            ingest_source(settings, store, None, "programmes")
    finally:
        store.close()


def test_the_general_investment_grants_are_listed_whatever_the_projects_words(
    store: Store,
) -> None:
    from assistant.aides.catalogue import AideFilters, find_aides
    from assistant.rag.retrieval import Retriever

    version, _ = catalogue()
    items = programmes.items(CATALOGUE, version=version)
    ingest(items, store=store, source="programmes", version=version, encoder=Bm25Encoder())
    retriever = Retriever(store, Bm25Encoder())
    project = "le SDIS impose une citerne de 120 m3 dans un hameau"
    assert "aide/programme-detr" not in search(store, project, limit=3)  # not by its words
    found = [g.doc_id for g in find_aides(retriever, project, AideFilters.build()).aides]
    assert {"aide/programme-detr", "aide/programme-dsil"} <= set(found)
    salaries = "le salaire d'un animateur pour le centre de loisirs"
    found = [g.doc_id for g in find_aides(retriever, salaries, AideFilters.build()).aides]
    assert "aide/programme-detr" not in found  # an operating expense
