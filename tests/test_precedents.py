"""Precedents: lists of funded projects (DETR/DSIL, Fonds vert), their ingestion, and
"what similar projects were funded, and how much?" answered with real figures.

The real lists are read in place from ../shared/data; tests needing them skip otherwise.
Expected figures are computed here independently, by plain keyword matching over the
parsed rows, and compared with what the search-based answer reports.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from assistant.aides.listing import euros, format_report, percent
from assistant.aides.precedents import PrecedentReport, check_programme, similar_projects
from assistant.runtime import Runtime
from ingestion.pipeline import ingest
from ingestion.precedents import (
    Precedent,
    commune_code,
    departement_code,
    parse_amount,
    read,
)
from ingestion.service import check_source, ingest_source
from ingestion.sources import precedents as precedents_source
from plume.documents import is_doc_id
from plume.errors import MalformedDocument, SourcePathRequired, UnknownFilterValue
from plume.settings import Settings
from plume.store import SearchFilter, Store
from plume.store.edge import EdgeStore
from plume.text import Bm25Encoder
from tests.conftest import SHARED_DATA

AIDES = SHARED_DATA / "aides_territoires"
YVELINES = AIDES / "detr_dsil_validated_projects_yvelines_78.csv"
FONDS_VERT = AIDES / "fonds-vert-2023-export.csv"
DETR_HEADER = (
    "departement;porteur_id;porteur_name;appelation;beneficiaire;annee;echeancier;projet;"
    "cout_total_ht;subvention_accordee;code_insee_siren\n"
)
FV_HEADER = (
    "nom_region;code_departement;nom_departement;code_commune;nom_commune;axe;"
    "numero_demarche_ds;nom_demarche_ds;numero_dossier_ds;nom_du_projet;"
    "nom_beneficiaire_principal;siren;montant_engage\n"
)
PLUME = Path(sys.executable).parent / "plume"
ALL_PROJECTS = SearchFilter(sources=["precedents"], kinds=["projet"])


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} absent (../shared/data): real lists of funded projects not available")
    return path


def edge(tmp_path: Path, name: str = "edge") -> EdgeStore:
    store = EdgeStore(tmp_path / name, dense_dim=4)
    store.ensure_collection()
    return store


def load(store: Store, path: Path) -> None:
    summary = ingest(
        precedents_source.items(path, version=f"local:{path.name}"),
        store=store,
        source="precedents",
        version=f"local:{path.name}",
        encoder=Bm25Encoder(),
        scoped=True,
    )
    assert summary.errors == []


def matching(rows: list[Precedent], *patterns: str) -> list[Precedent]:
    """The independent reference: rows whose title holds every pattern."""
    return [p for p in rows if all(re.search(x, p.project, re.IGNORECASE) for x in patterns)]


def close(a: Decimal | None, b: Decimal | float | None) -> bool:
    return a is not None and b is not None and abs(float(a) - float(b)) < 1e-6


@pytest.fixture(scope="module")
def yvelines_rows() -> list[Precedent]:
    rows, errors = read(shared(YVELINES))
    assert errors == []
    return rows


@pytest.fixture(scope="module")
def yvelines_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EdgeStore]:
    """The real Yvelines list, indexed once for the read-only tests."""
    store = edge(tmp_path_factory.mktemp("prec"))
    load(store, shared(YVELINES))
    yield store
    store.close()


# --- parsing -------------------------------------------------------------------------------


def test_french_amounts() -> None:
    assert parse_amount("2\u00a0495") == Decimal(2495)
    assert parse_amount("3\u202f504\u202f500") == Decimal(3504500)
    assert parse_amount("21\u00a0667,00 €") == Decimal("21667.00")
    assert parse_amount("1 045 857,62 €") == Decimal("1045857.62")
    assert parse_amount("1.234,50") == Decimal("1234.50")
    assert parse_amount("1.234.567") == Decimal(1234567)
    assert parse_amount("998") == Decimal(998)
    for bad, why in [
        ("-5", "montant négatif"),
        ("douze", "illisible"),
        ("", "valeur manquante"),
        ("12,5,3", "illisible"),
    ]:
        with pytest.raises(MalformedDocument, match=why):
            parse_amount(bad)


def test_codes_get_their_leading_zero_back() -> None:
    assert departement_code("1") == "01"
    assert departement_code("2a") == "2A"
    assert departement_code("971") == "971"
    assert commune_code("1004") == "01004"
    assert commune_code("2A004") == "2A004"
    assert commune_code("78\u00a0361") == "78361"
    assert commune_code("NULL") is None
    with pytest.raises(MalformedDocument, match="département"):
        departement_code("Yvelines")
    with pytest.raises(MalformedDocument, match="commune"):
        commune_code("123")


def test_the_real_yvelines_list(yvelines_rows: list[Precedent]) -> None:
    # SOURCE.txt: 399 projects, DETR 329 / DSIL 40 / DPV 29 / DSID 1, 2019–2021
    assert len(yvelines_rows) == 399
    assert Counter(p.programme for p in yvelines_rows) == {
        "DETR": 329,
        "DSIL": 40,
        "DPV": 29,
        "DSID": 1,
    }
    assert {p.year for p in yvelines_rows} == {2019, 2020, 2021}
    first = yvelines_rows[0]
    assert (first.beneficiary, first.cost, first.subsidy) == (
        "AIGREMONT",
        Decimal(2495),
        Decimal(998),
    )
    assert first.rate == Decimal("0.4") and first.departement == "78"
    assert first.project.startswith("Installation d’un vidéoprojecteur interactif")
    big = next(p for p in yvelines_rows if p.cost == Decimal(3504500))
    assert big.subsidy == Decimal(214500) and big.beneficiary == "Andrésy"
    alluets = {p.commune_insee for p in yvelines_rows if p.beneficiary == "Les Alluets-le-Roi"}
    assert "78010" in alluets  # "78 010" in the list (when given)
    assert sum(p.commune_insee is not None for p in yvelines_rows) == 158
    # the code column holds a SIREN for intercommunal bodies: not a commune
    sivs = next(p for p in yvelines_rows if p.beneficiary == "SIVS Boinville en Mantois")
    assert sivs.commune_insee is None and sivs.commune == ""
    assert all(p.rate is not None and p.rate <= 1 for p in yvelines_rows)


def test_the_real_fonds_vert_list() -> None:
    rows, errors = read(shared(FONDS_VERT))
    assert errors == [] and len(rows) == 10_782  # as SOURCE.txt says
    measures = Counter(p.measure for p in rows)
    assert measures["Rénovation énergétique des bâtiments publics locaux"] == 3360
    assert measures["Rénovation des parcs de luminaires d’éclairage public"] == 2534
    first = rows[0]
    assert (first.departement, first.commune_insee, first.subsidy) == (
        "01",
        "01004",
        Decimal("21667.00"),
    )
    assert first.region == "Auvergne-Rhône-Alpes" and first.year == 2023  # from the file name
    assert all(p.cost is None and p.rate is None for p in rows)  # no cost: no rate
    assert {p.departement for p in rows} >= {"2A", "2B", "971", "988"}
    assert sum(p.commune_insee is None for p in rows) == 827  # "NULL" in the export
    assert any(p.commune_insee == "2A004" for p in rows)
    assert all(p.commune_insee is None or len(p.commune_insee) == 5 for p in rows)


def test_malformed_rows_are_reported_with_their_line_and_the_others_imported(
    tmp_path: Path,
) -> None:
    path = tmp_path / "projets-2022.csv"
    path.write_text(
        DETR_HEADER
        + "78;1;Préfecture;DETR;ANDELU;2019;;Pompe à chaleur de l’école;12\u00a0294;3\u00a0688;\n"
        + '78;1;Préfecture;DETR;BAZAINVILLE;2020;;"Toiture de la mairie\nsur deux lignes";'
        + "10 000;douze;\n"
        + "78;1;Préfecture;DSIL;Andrésy;2021;;Gymnase;1 000;-50;\n"
        + "78;1;Préfecture;DETR;Aigremont;2021;;Préau;1 000;5 000;\n"
        + "78;1;Préfecture;DETR;Aigremont;vingt;;Préau;1 000;500;\n"
        + "78;1;Préfecture;DETR;trop court\n"
        + "\n"
        + "78;1;Préfecture;DPV;Les Mureaux;2021;;Maison de quartier;200 000;80 000;78\u00a0440\n",
        encoding="utf-8",
    )
    rows, errors = read(path)
    assert [p.beneficiary for p in rows] == ["ANDELU", "Les Mureaux"]
    assert rows[1].commune_insee == "78440" and rows[1].rate == Decimal("0.4")
    assert errors == [
        "projets-2022.csv ligne 3 : subvention illisible : « douze »",
        "projets-2022.csv ligne 5 : subvention : montant négatif « -50 »",
        "projets-2022.csv ligne 6 : subvention (5000 €) supérieure au coût HT du projet (1000 €)",
        "projets-2022.csv ligne 7 : année illisible : « vingt »",
        "projets-2022.csv ligne 8 : 5 colonnes au lieu de 11",
    ]


def test_a_fonds_vert_row_and_an_unknown_header(tmp_path: Path) -> None:
    path = tmp_path / "fv.csv"
    path.write_text(
        FV_HEADER
        + "Corse;2A;Corse-du-Sud;2A004;AJACCIO;1;1;Éclairage public;9;LED rue A;AJACCIO;1;"
        + "1\u202f000,50 €\n"
        + "Corse;2A;Corse-du-Sud;NULL;NULL;1;1;Éclairage public;9;LED rue B;SIVU;1;n/a\n",
        encoding="utf-8",
    )
    rows, errors = read(path)
    assert len(rows) == 1 and rows[0].commune_insee == "2A004"
    assert rows[0].subsidy == Decimal("1000.50") and rows[0].year is None  # no year in the name
    assert errors == ["fv.csv ligne 3 : montant engagé illisible : « n/a »"]

    other = tmp_path / "autre.csv"
    other.write_text("nom,montant\nx,1\n", encoding="utf-8")
    with pytest.raises(MalformedDocument, match="appelation, beneficiaire") as caught:
        read(other)
    assert "nom_du_projet" in caught.value.message and "autre.csv" in caught.value.message


# --- ingestion -----------------------------------------------------------------------------


def test_precedents_is_a_known_source() -> None:
    assert check_source("precedents") == "precedents"


def test_ingest_needs_a_path(settings: Settings, tmp_path: Path) -> None:
    store = edge(tmp_path)
    with pytest.raises(SourcePathRequired, match="indiquez la liste des projets avec --path"):
        ingest_source(settings, store, None, "precedents")
    store.close()


def test_ingest_the_real_list_then_reimport(store: Store, tmp_path: Path) -> None:
    path = shared(YVELINES)
    load(store, path)
    assert store.count(ALL_PROJECTS) == 399  # the duplicated row gets its own id
    payloads = dict(store.scan(ALL_PROJECTS, ["doc_id", "programme", "rate", "subsidy", "url"]))
    assert all(is_doc_id(p["doc_id"]) for p in payloads.values())
    assert all(
        p["doc_id"].startswith("projet/detr-dsil-validated-projects-yvelines-78/")
        for p in payloads.values()
    )
    assert {p["url"] for p in payloads.values()} == {""}
    detr = SearchFilter(kinds=["projet"], fields={"programme": ["DSIL"], "departement": ["78"]})
    assert store.count(detr) == 40
    again = ingest(
        precedents_source.items(path, version=f"local:{path.name}"),
        store=store,
        source="precedents",
        version=f"local:{path.name}",
        encoder=Bm25Encoder(),
        scoped=True,
    )
    assert (again.added, again.updated, again.deleted, again.skipped) == (0, 0, 0, 399)


def test_a_reimport_mirrors_its_list_and_leaves_the_other(store: Store, tmp_path: Path) -> None:
    detr = tmp_path / "detr.csv"
    rows = [
        "78;1;P;DSIL;ANDELU;2019;;Pompe à chaleur de l’école;12 294;3 688;\n",
        "78;1;P;DSIL;Andrésy;2020;;Gymnase;100 000;40 000;\n",
    ]
    detr.write_text(DETR_HEADER + "".join(rows), encoding="utf-8")
    fonds_vert = tmp_path / "fonds-vert-2023.csv"
    fonds_vert.write_text(
        FV_HEADER + "Ain;1;Ain;1004;AMBERIEU;1;1;Éclairage public;9;LED;AMBERIEU;1;5 000,00 €\n",
        encoding="utf-8",
    )
    load(store, detr)
    load(store, fonds_vert)
    assert store.count(ALL_PROJECTS) == 3
    detr.write_text(DETR_HEADER + rows[1], encoding="utf-8")  # a project gone from the list
    summary = ingest(
        precedents_source.items(detr, version="local:detr.csv"),
        store=store,
        source="precedents",
        version="local:detr.csv",
        encoder=Bm25Encoder(),
        scoped=True,
    )
    assert (summary.deleted, summary.skipped) == (1, 1)
    titles = {p["title"] for _, p in store.scan(ALL_PROJECTS, ["title"])}
    assert titles == {"Gymnase", "LED"}
    # an unreadable list deletes nothing
    detr.write_text("pas;une;liste\n", encoding="utf-8")
    broken = ingest(
        precedents_source.items(detr, version="x"),
        store=store,
        source="precedents",
        version="x",
        encoder=Bm25Encoder(),
        scoped=True,
    )
    assert len(broken.errors) == 1 and broken.deleted == 0
    assert store.count(ALL_PROJECTS) == 2


# --- similar projects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "patterns"),
    [
        ("vidéoprotection", (r"vidéoprotection",)),
        ("city stade", (r"\bcity\b", r"\bstade\b")),
        ("toiture de l'école", (r"\btoitures?\b", r"\bécoles?\b")),
    ],
)
def test_similar_projects_quote_real_figures(
    yvelines_store: EdgeStore,
    yvelines_rows: list[Precedent],
    query: str,
    patterns: tuple[str, ...],
) -> None:
    expected = matching(yvelines_rows, *patterns)
    report = similar_projects(yvelines_store, Bm25Encoder(), query)
    assert report.count == len(expected) > 0  # unrelated projects do not inflate the count
    assert report.median_subsidy == statistics.median(p.subsidy for p in expected)
    assert close(report.median_rate, statistics.median(p.rate for p in expected if p.rate))
    assert report.rated == len(expected)
    assert report.total_subsidy == sum(p.subsidy for p in expected)
    assert report.by_programme == dict(Counter(p.programme for p in expected).most_common())
    titles = {p.project for p in expected}
    assert report.examples and all(e.project in titles for e in report.examples)
    assert len(report.examples) == min(5, len(expected))
    assert [d.label for d in report.datasets] == [
        "Projets DETR/DSIL/DPV/DSID retenus, préfecture du département 78, 2019–2021"
    ]


def test_the_answer_quotes_the_figures(yvelines_store: EdgeStore) -> None:
    report = similar_projects(yvelines_store, Bm25Encoder(), "vidéoprotection")
    text = format_report(report)
    assert text.startswith(
        "28 projets comparables financés (DETR 28) ; subvention médiane 22\u202f260\u00a0€ ; "
        "taux médian 30\u202f% du coût HT (sur 28 projets au coût connu) ; "
        "total 1\u202f101\u202f069\u00a0€."
    )
    assert "\nExemples :\n- " in text and "vidéoprotection" in text.split("Exemples :")[1]
    assert text.endswith(
        "Sources : Projets DETR/DSIL/DPV/DSID retenus, préfecture du département 78, 2019–2021."
    )
    assert euros(Decimal("18400.4")) == "18\u202f400\u00a0€"
    assert euros(Decimal("999.5")) == "1\u202f000\u00a0€"
    assert percent(Decimal("0.345")) == "35\u202f%"


def test_filters_by_programme_and_departement(yvelines_store: EdgeStore) -> None:
    encoder = Bm25Encoder()
    assert similar_projects(yvelines_store, encoder, "city stade", programme="dsil").count == 1
    none = similar_projects(yvelines_store, encoder, "city stade", programme="DETR")
    assert none.count == 0 and "programme DETR" in none.message
    assert similar_projects(yvelines_store, encoder, "vidéoprotection", departement="78").count
    assert similar_projects(yvelines_store, encoder, "vidéoprotection", departement="1").count == 0
    assert check_programme("fonds-vert") == "Fonds vert"
    with pytest.raises(UnknownFilterValue, match="Programmes possibles"):
        similar_projects(yvelines_store, encoder, "école", programme="FEDER")
    with pytest.raises(UnknownFilterValue, match="Département invalide"):
        similar_projects(yvelines_store, encoder, "école", departement="Yvelines")


def test_a_request_matching_nothing(yvelines_store: EdgeStore, tmp_path: Path) -> None:
    report = similar_projects(yvelines_store, Bm25Encoder(), "téléphérique xyzzy")
    assert (report.count, report.median_subsidy, report.examples) == (0, None, [])
    assert report.message.startswith("Aucun projet financé comparable à « téléphérique xyzzy »")
    assert report.unknown_words == ["téléphérique", "xyzzy"]
    assert format_report(report) == report.message
    empty = edge(tmp_path, "empty")
    nothing = similar_projects(empty, Bm25Encoder(), "école")
    assert nothing.count == 0 and "plume ingest precedents --path" in nothing.message
    empty.close()


def test_both_real_lists_together(yvelines_rows: list[Precedent], tmp_path: Path) -> None:
    store = edge(tmp_path)
    load(store, shared(YVELINES))
    load(store, shared(FONDS_VERT))
    report: PrecedentReport = similar_projects(store, Bm25Encoder(), "vidéoprotection")
    fonds_vert, _ = read(FONDS_VERT)
    in_fv = matching(fonds_vert, "vidéoprotection")
    assert report.count == 28 + len(in_fv)
    assert report.rated == 28  # Fonds vert publishes no cost: no rate
    lighting = similar_projects(store, Bm25Encoder(), "éclairage public", programme="Fonds vert")
    # the measure counts: every project of the public lighting démarche is similar
    assert lighting.count >= 2534
    assert lighting.by_programme.keys() == {"Fonds vert"}
    assert lighting.median_rate is None and "taux non calculable" in format_report(lighting)
    assert [d.label for d in lighting.datasets] == [
        "Projets financés par le Fonds vert (données ouvertes de l'État), 2023"
    ]
    store.close()


# --- edges: API and command line -----------------------------------------------------------


def test_api_precedents(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    runtime = Runtime.build(settings, embedder=None, llm=None)
    ingest_source(settings, runtime.store, None, "precedents", path=shared(YVELINES))
    with TestClient(create_app(settings, runtime=runtime)) as client:
        ok = client.get("/v1/precedents", params={"q": "city stade", "departement": "78"})
        assert ok.status_code == 200
        body = ok.json()
        assert body["count"] == 1 and body["median_subsidy"] == 100000.0
        assert body["examples"][0]["beneficiary"] == "MEULAN-EN-YVELINES"
        assert body["text"].startswith("1 projet comparable financé (DSIL 1)")
        bad = client.get("/v1/precedents", params={"q": "école", "programme": "FEDER"})
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "filtre_invalide"
        assert client.get("/v1/precedents").status_code == 422
        empty = client.get("/v1/precedents", params={"q": "  "})
        assert empty.status_code == 400 and "vide" in empty.json()["error"]["message"]
    runtime.close()


def run_plume(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env |= {"PLUME_DATA_DIR": str(data_dir), "COLUMNS": "400", "DO_NOT_TRACK": "true"}
    return subprocess.run(
        [str(PLUME), *args],
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_cli_precedents(tmp_path: Path) -> None:
    path = shared(YVELINES)
    data = tmp_path / "data"
    missing = run_plume("ingest", "precedents", data_dir=data)
    assert missing.returncode == 1
    assert "indiquez la liste des projets avec --path" in " ".join(missing.stderr.split())
    assert run_plume("ingest", "precedents", "--path", str(path), data_dir=data).returncode == 0
    shown = run_plume("precedents", "vidéoprotection", "--programme", "DETR", data_dir=data)
    assert shown.returncode == 0
    assert shown.stdout.startswith("28 projets comparables financés (DETR 28)")
    as_json = run_plume("precedents", "city stade", "--json", data_dir=data)
    body = json.loads(as_json.stdout)
    assert body["count"] == 1 and body["by_programme"] == {"DSIL": 1}
    bad = run_plume("precedents", "école", "--departement", "Yvelines", data_dir=data)
    assert bad.returncode == 1 and "Département invalide" in bad.stderr


def test_the_projects_are_read_once_until_an_ingestion(store: Store, tmp_path: Path) -> None:
    """A report reuses the projects read for the previous one; after `clear()` (what
    `Runtime.refresh_stats` does once an ingestion ends) it sees the new list."""
    from assistant.aides.precedents import ProjectTable

    detr = tmp_path / "detr.csv"
    gym = "78;1;P;DSIL;Andrésy;2020;;Gymnase communal;100 000;40 000;\n"
    detr.write_text(DETR_HEADER + gym, encoding="utf-8")
    load(store, detr)
    table = ProjectTable(store)
    first = similar_projects(store, Bm25Encoder(), "gymnase", table=table)
    assert first.count == 1 and table.load() is table.load()  # read once, then reused
    detr.write_text(DETR_HEADER + gym + gym.replace("Andrésy", "Ablis"), encoding="utf-8")
    load(store, detr)
    assert similar_projects(store, Bm25Encoder(), "gymnase", table=table).count == 1  # kept
    table.clear()
    assert similar_projects(store, Bm25Encoder(), "gymnase", table=table).count == 2
