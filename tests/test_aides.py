"""aides-territoires: the CSV export, the API records, the API client, the ingestion."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ingestion import sync_log
from ingestion.aides_territoires.client import AidesTerritoiresClient
from ingestion.aides_territoires.records import from_api, from_csv, iso_date, slug_of
from ingestion.service import check_source, ingest_source
from ingestion.sources import aides as aides_source
from plume.errors import SourceUnauthorized
from plume.settings import Settings
from plume.store import SearchFilter
from plume.store.edge import EdgeStore
from plume.text import Bm25Encoder
from tests.conftest import SHARED_DATA
from tests.fakes.aides_territoires import TOKEN, FakeAidesTerritoires, api_record

AIDES = SHARED_DATA / "aides_territoires"
CSV = AIDES / "aides-territoires_periurbain.csv"
MANCHE = AIDES / "api_samples" / "departement_manche_data.json"
HEADER = (
    "Nom,Lien,Financeurs,Bénéficiaire,Types d'aides,AAP/AMI,Récurrence,Descriptif,Date Clôture\n"
)


def shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} absent (../shared/data): real aides-territoires data not available")
    return path


def manche_records() -> list[dict[str, Any]]:
    return list(json.loads(shared(MANCHE).read_text())["aides"])


def open_edge(settings: Settings) -> EdgeStore:
    store = EdgeStore(settings.store_dir, dense_dim=4)
    store.ensure_collection()
    return store


# --- parsers -------------------------------------------------------------------------------


def test_small_parsers() -> None:
    assert slug_of("https://aides-territoires.beta.gouv.fr/aides/3d9e-abc/") == "3d9e-abc"
    assert slug_of("/aides/3d9e-abc") == "3d9e-abc"
    assert iso_date("31/03/2026") == "2026-03-31"
    assert iso_date("2023-08-26T02:30:11.000Z") == "2023-08-26"
    assert iso_date("") is None and iso_date(None) is None


def test_the_real_export() -> None:
    aides, errors = from_csv(shared(CSV))
    assert errors == []
    assert len(aides) == 274 == len({a.slug for a in aides})
    assert sum(1 for a in aides if a.submission_deadline) == 22
    assert sum(a.is_call_for_project for a in aides) == 24
    assert sum("Communes" in a.beneficiaries for a in aides) == 260
    recurrences = {r: sum(a.recurrence == r for a in aides) for r in {a.recurrence for a in aides}}
    assert recurrences == {"Permanente": 254, "Ponctuelle": 13, "Récurrente": 7}

    relance = next(
        a for a in aides if a.slug == "2b07-financer-des-equipements-publics-pour-une-rel"
    )
    assert relance.doc_id == "aide/2b07-financer-des-equipements-publics-pour-une-rel"
    assert relance.name == "Financer des équipements publics pour une relance locale rapide"
    assert relance.url == (
        "https://aides-territoires.beta.gouv.fr/aides/"
        "2b07-financer-des-equipements-publics-pour-une-rel/"
    )
    assert relance.funders == [
        "Ministère de la Cohésion des Territoires et des Relations avec les Collectivités "
        "Territoriales (MCTRCT)"
    ]
    assert relance.beneficiaries == [
        "Communes",
        "Intercommunalités / Pays",
        "Collectivités d'outre-mer à statuts particuliers",
    ]
    assert relance.aid_types == ["Subvention", "Ingénierie financière"]
    assert relance.recurrence == "Ponctuelle"
    assert relance.submission_deadline == "2026-03-31"
    assert relance.description.startswith("Vos enjeux :\nVous souhaitez engager rapidement")
    assert relance.is_open(date(2026, 3, 31)) and not relance.is_open(date(2026, 4, 1))


def test_a_malformed_row_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        HEADER
        + "Aide A,https://aides-territoires.beta.gouv.fr/aides/a1-aide-a/,EPF,Communes,Subvention,"
        + ',Permanente,"Premier paragraphe.\nSuite sur deux lignes.",\n'
        + "Aide B,https://aides-territoires.beta.gouv.fr/aides/b2-aide-b/,ADEME,Communes,Prêt,"
        + "Oui,Ponctuelle,Texte,32/13/2023\n"
        + "Aide C,pas-de-lien/,x\n"
        + "Aide D,https://aides-territoires.beta.gouv.fr/aides/d4-aide-d/,Région;Département,"
        + "Communes;Associations,Subvention,,Récurrente,Texte D,15/12/2022\n",
        encoding="utf-8",
    )
    aides, errors = from_csv(path)
    assert [a.slug for a in aides] == ["a1-aide-a", "d4-aide-d"]
    assert aides[1].funders == ["Région", "Département"]
    assert aides[1].submission_deadline == "2022-12-15"
    assert errors == [
        "export.csv ligne 4 : date illisible : « 32/13/2023 »",
        "export.csv ligne 5 : 3 colonnes au lieu de 9",
    ]


def test_api_records_of_a_real_feed() -> None:
    records = manche_records()
    aides = [from_api(r) for r in records]
    assert len(aides) == 10 and len({a.slug for a in aides}) == 10
    first = aides[0]
    assert first.name == (
        "Appel à projets pour une mise en place d’un centre parental d’une capacité de 20 places"
    )
    assert first.slug.startswith("36021-appel-a-projets")
    assert first.beneficiaries == ["Associations"]
    assert first.date_updated == "2023-08-26"
    assert first.submission_deadline is None
    # as the aides-territoires API shows it: slug, relative page url, financers as objects
    shown = from_api(api_record(records[6]))
    assert shown.url == f"https://aides-territoires.beta.gouv.fr/aides/{shown.slug}/"
    assert shown.funders == ["Conseil départemental de la Manche"]
    assert shown.aid_types == [
        "Contrat de territoire 2017-2021",
        "Contrat de territoire Manche 2022-2028",
    ]
    assert shown.perimeter == "Manche"


def test_api_record_with_every_field() -> None:
    aide = from_api(
        {
            "slug": "ab12-renover-les-ecoles",
            "url": "https://aides-territoires.beta.gouv.fr/aides/ab12-renover-les-ecoles/",
            "name": "Rénover les écoles",
            "description": "<p>Premier.</p><p>Second&nbsp;paragraphe.</p>",
            "eligibility": "<ul><li>Communes de moins de 3 500 habitants</li></ul>",
            "financers": ["État"],
            "targeted_audiences": [{"name": "Communes"}],
            "aid_types": [{"id": 1, "name": "Subvention"}],
            "categories": ["Énergie | Rénovation"],
            "perimeter": {"name": "France"},
            "is_call_for_project": True,
            "recurrence": "Ponctuelle",
            "start_date": "2024-01-01",
            "predeposit_date": None,
            "submission_deadline": "2024-06-30",
            "subvention_rate_lower_bound": 20,
            "subvention_rate_upper_bound": "80",
            "application_url": "https://example.org/depot",
            "origin_url": "https://example.org/aide",
            "date_updated": "2024-01-02T10:00:00+01:00",
        }
    )
    assert aide.description == "Premier.\nSecond paragraphe."
    assert aide.eligibility == "Communes de moins de 3 500 habitants"
    assert (aide.rate_min, aide.rate_max) == (20, 80)
    assert aide.beneficiaries == ["Communes"] and aide.aid_types == ["Subvention"]
    assert aide.perimeter == "France" and aide.is_call_for_project
    assert (aide.start_date, aide.submission_deadline) == ("2024-01-01", "2024-06-30")
    nodes = aides_source.aide_nodes(aide, version="api")
    payload = nodes[0].metadata
    assert payload["kind"] == "aide" and payload["source"] == "aides-territoires"
    assert payload["in_force_to"] == "2024-07-01" and payload["section"] == "État"
    assert (payload["rate_min"], payload["rate_max"], payload["deadline"]) == (20, 80, "2024-06-30")
    assert payload["application_url"] == "https://example.org/depot"


def test_a_long_description_is_cut_between_paragraphs() -> None:
    aides, _ = from_csv(shared(CSV))
    longest = max(aides, key=lambda a: len(a.description))
    nodes = aides_source.aide_nodes(longest, version="v")
    assert len(nodes) > 1
    assert {n.metadata["title"] for n in nodes} == {longest.name}
    assert [n.metadata["chunk_index"] for n in nodes] == list(range(len(nodes)))


# --- the API client --------------------------------------------------------------------------


def fake_client(fake: FakeAidesTerritoires, token: str = TOKEN) -> AidesTerritoiresClient:
    return AidesTerritoiresClient(fake.url, token, backoff_s=0.0, attempts=3)


def test_the_client_exchanges_the_token_and_follows_pages() -> None:
    records = [api_record(r) for r in manche_records()]
    with FakeAidesTerritoires(records, page_size=3) as fake, fake_client(fake) as client:
        result = client.fetch_aids()
        assert result.complete and result.error is None
        assert result.count == 10 and result.pages == 4
        assert [r["id"] for r in result.records] == [r["id"] for r in records]
        (connexion,) = fake.calls(fake.CONNEXION)
        assert connexion.x_auth_token == TOKEN
        pages = fake.calls(fake.AIDS)
        assert [p.page for p in pages] == [1, 2, 3, 4]
        assert all((p.authorization or "").startswith("Bearer ") for p in pages)
        assert TOKEN not in repr(client)


def test_a_bad_token_is_refused_in_french() -> None:
    with FakeAidesTerritoires([], page_size=3) as fake, fake_client(fake, "mauvais") as client:
        with pytest.raises(SourceUnauthorized, match="PLUME_AIDES_TERRITOIRES_TOKEN"):
            client.fetch_aids()
        assert fake.calls(fake.AIDS) == []


def test_a_failing_page_is_retried_then_an_expired_bearer_renewed() -> None:
    records = [api_record(r) for r in manche_records()]
    with FakeAidesTerritoires(records, page_size=4) as fake, fake_client(fake) as client:
        fake.fail_page(2, times=2)
        result = client.fetch_aids()
        assert result.complete and len(result.records) == 10
        assert [p.page for p in fake.calls(fake.AIDS)] == [1, 2, 2, 2, 3]
        fake.expire_tokens()
        again = client.fetch_aids()
        assert again.complete and len(again.records) == 10
        assert len(fake.calls(fake.CONNEXION)) == 2


def test_a_page_that_keeps_failing_gives_a_partial_result() -> None:
    records = [api_record(r) for r in manche_records()]
    with FakeAidesTerritoires(records, page_size=4) as fake, fake_client(fake) as client:
        fake.fail_page(3, times=10)
        result = client.fetch_aids()
        assert not result.complete
        assert len(result.records) == 8 and result.pages == 2
        assert result.error is not None
        assert result.error.startswith("Synchronisation partielle d'aides-territoires : 8 aide(s)")
        assert "page 3" in result.error and "500" in result.error
        assert [p.page for p in fake.calls(fake.AIDS)] == [1, 2, 3, 3, 3]


# --- ingestion ---------------------------------------------------------------------------------


def test_aides_territoires_is_a_known_source() -> None:
    assert check_source("aides-territoires") == "aides-territoires"


def test_ingest_the_export_then_search(settings: Settings) -> None:
    csv = shared(CSV)
    store = open_edge(settings)
    first = ingest_source(settings, store, None, "aides-territoires", path=csv)
    assert first.errors == [] and first.documents == 274
    assert first.added >= 274 and first.deleted == 0
    scope = SearchFilter(sources=["aides-territoires"])
    hits = store.query(
        sparse=Bm25Encoder().encode_query("rénovation énergétique des bâtiments publics école"),
        dense=None,
        where=scope,
        limit=5,
    )
    assert hits and all(h.doc_id.startswith("aide/") for h in hits)
    payloads = [p for _, p in store.scan(scope, ["doc_id", "kind", "title", "funders"])]
    assert {p["kind"] for p in payloads} == {"aide"}
    assert any("rénovation énergétique" in str(h.payload.get("title", "")).lower() for h in hits)
    # a closed aid is not shown as open: its deadline passed
    relance = ["aide/2b07-financer-des-equipements-publics-pour-une-rel"]
    on = SearchFilter(sources=["aides-territoires"], doc_ids=relance, as_of=date(2026, 3, 31))
    after = SearchFilter(sources=["aides-territoires"], doc_ids=relance, as_of=date(2026, 4, 1))
    assert store.count(on) >= 1 and store.count(after) == 0
    # idempotent
    second = ingest_source(settings, store, None, "aides-territoires", path=csv)
    assert (second.added, second.updated, second.deleted) == (0, 0, 0)
    assert second.skipped == first.added
    assert sync_log.read(settings.data_dir)["aides-territoires"]["documents"] == 274
    store.close()


def test_ingest_from_the_api_and_a_partial_sync_deletes_nothing(tmp_path: Path) -> None:
    records = [api_record(r) for r in manche_records()]
    with FakeAidesTerritoires(records, page_size=4) as fake:
        settings = Settings(
            data_dir=tmp_path / "data",
            aides_territoires_url=fake.url,
            aides_territoires_token=TOKEN,
        )
        store = open_edge(settings)
        full = ingest_source(settings, store, None, "aides-territoires")
        assert full.errors == [] and full.documents == 10 and full.version == "api"
        saved = json.loads((settings.data_dir / "aides-territoires" / "aids.json").read_text())
        assert saved["complete"] and len(saved["results"]) == 10
        scope = SearchFilter(sources=["aides-territoires"])
        n_points = store.count(scope)

        fake.fail_page(2, times=10)  # the sync stops at page 2: 6 aids not seen are kept
        partial = ingest_source(settings, store, None, "aides-territoires")
        assert partial.documents == 4 and partial.deleted == 0
        assert len(partial.errors) == 1 and "Synchronisation partielle" in partial.errors[0]
        assert store.count(scope) == n_points
        store.close()


def test_no_token_and_no_previous_sync_is_a_clear_error(settings: Settings) -> None:
    store = open_edge(settings)
    with pytest.raises(SourceUnauthorized, match="PLUME_AIDES_TERRITOIRES_TOKEN"):
        ingest_source(settings, store, None, "aides-territoires")
    store.close()
