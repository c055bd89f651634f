"""Commune profiles over the real official geographic code (`plume corpus fetch communes`,
which `make test` runs): the territory reference, the registry, the CLI and the API."""

from __future__ import annotations

import csv
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from assistant.communes import CommuneProfile, CommuneRegistry, parse_share, perimeter_key
from assistant.runtime import Runtime
from cli.main import app
from plume.errors import (
    CorpusNotFetched,
    InvalidCommuneProfile,
    MalformedDocument,
    UnknownCommune,
    UnknownCommuneProfile,
    UnknownDepartement,
)
from plume.settings import Settings
from plume.territory import Territory
from tests.conftest import SHARED_DATA

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
FONDS_VERT = SHARED_DATA / "aides_territoires" / "fonds-vert-2023-export.csv"


def _packages_dir() -> Path:
    settings = Settings()
    try:
        Territory(settings.packages_dir, settings.corpus_dir).folder()
    except CorpusNotFetched:
        pytest.skip(
            "communes package not fetched: run `plume corpus fetch communes` (make test does)"
        )
    return settings.packages_dir


@pytest.fixture(scope="module")
def territory() -> Territory:
    return Territory(_packages_dir(), Settings().corpus_dir)


@pytest.fixture
def registry(tmp_path: Path, territory: Territory) -> CommuneRegistry:
    return CommuneRegistry(tmp_path / "data", territory)


def data_dir_with_packages(tmp_path: Path) -> Path:
    """A fresh data folder that sees the fetched packages (linked, not copied)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "packages").symlink_to(_packages_dir(), target_is_directory=True)
    return data


# --- the territory reference --------------------------------------------------------------


def test_ablis_from_the_official_geographic_code(territory: Territory) -> None:
    ablis = territory.commune("78003")

    assert (ablis.name, ablis.departement, ablis.region) == ("Ablis", "78", "11")
    assert ablis.population == 3913 and not ablis.outre_mer
    assert territory.departement("78").name == "Yvelines"
    assert territory.region("11").name == "Île-de-France"
    epci = territory.epci_of("78003")
    assert epci is not None and (epci.siren, epci.name) == (
        "200073344",
        "CA Rambouillet Territoires",
    )


def test_overseas_and_corsica(territory: Territory) -> None:
    abymes = territory.commune("97101")
    assert (abymes.name, abymes.departement, abymes.outre_mer) == ("Les Abymes", "971", True)
    assert territory.departement("971").name == "Guadeloupe"

    ajaccio = territory.commune("2A004")
    assert (ajaccio.name, ajaccio.departement, ajaccio.outre_mer) == ("Ajaccio", "2A", False)
    assert territory.region(ajaccio.region).name == "Corse"
    assert territory.epci_of("97701") is None  # Saint-Barthélemy belongs to no EPCI


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("99999", "Code INSEE inconnu « 99999 »"),
        ("7800", "Code INSEE invalide « 7800 » : il a 5 caractères"),
        ("1004", "Vouliez-vous dire « 01004 » (Ambérieu-en-Bugey) ?"),
        ("2a004", "écrivez « 2A004 »"),
        ("20004", "ancien code INSEE : la commune est aujourd'hui Ajaccio (2A004)"),
        ("75101", "arrondissement municipal de Paris (75056), pas une commune actuelle"),
        ("", "Code INSEE manquant"),
    ],
)
def test_unknown_insee_code_says_why_in_french(territory: Territory, code: str, says: str) -> None:
    with pytest.raises(UnknownCommune) as caught:
        territory.commune(code)

    assert says in caught.value.message
    assert caught.value.code == "commune_inconnue"


@pytest.mark.parametrize(
    ("code", "says"),
    [("999", "Département inconnu « 999 »"), ("1", "« 01 » (Ain)"), ("20", "2A et 2B")],
)
def test_unknown_departement(territory: Territory, code: str, says: str) -> None:
    with pytest.raises(UnknownDepartement) as caught:
        territory.departement(code)

    assert says in caught.value.message


def test_find_by_name(territory: Territory) -> None:
    found = territory.find("saint maurice de beynost")
    assert [(c.insee, c.name) for c in found] == [("01376", "Saint-Maurice-de-Beynost")]
    ablis = territory.find("ABLIS")
    assert ablis[0].insee == "78003"  # the exact name before « Chablis »
    colombes = [c.name for c in territory.find("Sainte-Colombe")]
    assert colombes[:12] == ["Sainte-Colombe"] * 12  # twelve communes of that name, first
    assert all(name.startswith("Sainte-Colombe-") for name in colombes[12:])
    assert [c.insee for c in territory.find("sainte colombe", departement="77")] == ["77404"]
    assert len(territory.find("saint")) == 20
    assert territory.find("  ") == []
    with pytest.raises(UnknownDepartement):
        territory.find("ablis", departement="100")


def test_absent_package_says_how_to_fetch_it(tmp_path: Path) -> None:
    bare = Territory(tmp_path / "packages", Settings().corpus_dir)

    with pytest.raises(CorpusNotFetched) as caught:
        bare.commune("78003")

    assert "plume corpus fetch communes" in caught.value.message


@pytest.mark.skipif(not FONDS_VERT.is_file(), reason="../shared/data (Fonds vert 2023) absent")
def test_every_commune_funded_by_the_fonds_vert_is_found_or_explained(
    territory: Territory,
) -> None:
    """The INSEE codes of 10,782 real projects of 2023 (leading zeros lost in the export):
    each is a current commune, or the error names the commune to use instead."""
    with FONDS_VERT.open(encoding="utf-8") as fh:
        rows = csv.DictReader(fh, delimiter=";")
        codes = {r["code_commune"].zfill(5) for r in rows if r["code_commune"] != "NULL"}
    unexplained, moved = [], 0
    for code in sorted(codes):
        try:
            territory.commune(code)
        except UnknownCommune as exc:
            moved += 1
            if not re.search(r"\((\d{5}|2[AB]\d{3})\)", exc.message):
                unexplained.append(exc.message)

    assert len(codes) > 6000 and 0 < moved < len(codes) * 0.02
    assert unexplained == []


def test_the_geographic_code_is_fetched_but_never_indexed() -> None:
    from ingestion.service import check_source
    from plume import packages
    from plume.errors import UnknownSource

    pkg = packages.pinned(Settings().corpus_dir, "communes")
    assert (pkg.package, pkg.version) == ("@etalab/decoupage-administratif", "6.0.0")
    assert pkg.integrity.startswith("sha512-")
    with pytest.raises(UnknownSource):
        check_source("communes")


# --- profiles and the registry --------------------------------------------------------------


def test_put_builds_the_profile_from_the_geographic_code(registry: CommuneRegistry) -> None:
    profile, created = registry.put("78003", qpv_share=0.12, rural=True)

    assert created
    assert profile == CommuneProfile(
        insee="78003",
        name="Ablis",
        population=3913,
        departement="78",
        departement_name="Yvelines",
        region="11",
        region_name="Île-de-France",
        epci_siren="200073344",
        epci_name="CA Rambouillet Territoires",
        outre_mer=False,
        action_coeur_de_ville=False,
        qpv_share=0.12,
        rural=True,
    )
    overseas, _ = registry.put("97101")
    assert overseas.outre_mer and overseas.region_name == "Guadeloupe"
    corsica, _ = registry.put(" 2A004 ")
    assert (corsica.insee, corsica.departement_name) == ("2A004", "Corse-du-Sud")


def test_flags_are_kept_on_update(registry: CommuneRegistry) -> None:
    registry.put("78003", action_coeur_de_ville=True, qpv_share=0.3, rural=False)

    updated, created = registry.put("78003", rural=True)

    assert not created
    assert (updated.action_coeur_de_ville, updated.qpv_share, updated.rural) == (True, 0.3, True)
    assert registry.get("78003") == updated


def test_profiles_persist_across_registries(tmp_path: Path, territory: Territory) -> None:
    first = CommuneRegistry(tmp_path, territory)
    first.put("78003", qpv_share=0.45)
    first.put("97101", action_coeur_de_ville=True)

    again = CommuneRegistry(tmp_path, territory)

    assert [p.insee for p in again.list()] == ["78003", "97101"]
    assert again.get("78003").qpv_share == 0.45 and again.get("97101").action_coeur_de_ville
    stored = json.loads((tmp_path / "communes" / "profils.json").read_text(encoding="utf-8"))
    assert stored["communes"]["97101"]["name"] == "Les Abymes"
    assert again.delete("97101").name == "Les Abymes"
    assert [p.insee for p in CommuneRegistry(tmp_path, territory).list()] == ["78003"]
    assert not list((tmp_path / "communes").glob(".*.tmp"))  # written atomically, no leftovers


def test_concurrent_puts_lose_nothing(registry: CommuneRegistry) -> None:
    codes = ["78003", "97101", "2A004", "01004", "75056", "13055"]
    threads = [threading.Thread(target=registry.put, args=(c,)) for c in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(p.insee for p in registry.list()) == sorted(codes)


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_qpv_share_outside_zero_one_is_refused(registry: CommuneRegistry, share: float) -> None:
    with pytest.raises(InvalidCommuneProfile) as caught:
        registry.put("78003", qpv_share=share)

    assert "entre 0 et 1" in caught.value.message
    assert registry.list() == []


@pytest.mark.parametrize(
    ("typed", "share"), [("0.45", 0.45), ("0,45", 0.45), ("45 %", 0.45), ("45%", 0.45), ("1", 1.0)]
)
def test_parse_share(typed: str, share: float) -> None:
    assert parse_share(typed) == pytest.approx(share)


@pytest.mark.parametrize("typed", ["45", "-1", "abc", "", "150 %", "nan"])
def test_parse_share_refuses(typed: str) -> None:
    with pytest.raises(InvalidCommuneProfile):
        parse_share(typed)


def test_bad_codes_in_the_registry(registry: CommuneRegistry) -> None:
    with pytest.raises(InvalidCommuneProfile, match="Vouliez-vous dire « 01004 »"):
        registry.put("1004")
    with pytest.raises(UnknownCommune, match="99999"):
        registry.put("99999")
    with pytest.raises(InvalidCommuneProfile):
        registry.get("78")
    with pytest.raises(UnknownCommuneProfile, match="plume commune ajouter 78003"):
        registry.get("78003")
    with pytest.raises(UnknownCommuneProfile):
        registry.delete("78003")


def test_a_damaged_file_is_reported(registry: CommuneRegistry) -> None:
    registry.path.parent.mkdir(parents=True)
    registry.path.write_text('{"communes": {"78003": {"name": 3}}}', encoding="utf-8")

    with pytest.raises(MalformedDocument):
        registry.list()


def test_perimeters(registry: CommuneRegistry) -> None:
    ablis, _ = registry.put("78003")
    assert ablis.perimeters() == [
        "Ablis",
        "CA Rambouillet Territoires",
        "Yvelines",
        "Île-de-France",
        "France",
        "France métropolitaine",
        "Europe",
    ]
    assert perimeter_key("ile de france") in ablis.perimeter_keys()
    abymes, _ = registry.put("97101")
    assert abymes.perimeters()[-3:] == ["France", "Outre-mer", "Europe"]
    # Saint-Barthélemy: commune, collectivity and « region » share one name; not in the EU
    st_barth, _ = registry.put("97701")
    assert st_barth.perimeters() == ["Saint-Barthélemy", "France", "Outre-mer"]


def test_perimeter_key_is_the_one_aids_are_indexed_with() -> None:
    assert perimeter_key("  Île-de-France ") == perimeter_key("ILE DE FRANCE")
    assert perimeter_key("France  MÉTROPOLITAINE") == "france metropolitaine"
    assert perimeter_key("Corse-du-Sud") != perimeter_key("Corse")


def test_as_dict_round_trip(registry: CommuneRegistry) -> None:
    profile, _ = registry.put("2A004", qpv_share=0.2, rural=False)

    assert CommuneProfile.from_dict(json.loads(json.dumps(profile.as_dict()))) == profile


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("PLUME_DATA_DIR", str(data_dir_with_packages(tmp_path)))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_cli_add_show_list_delete(cli: CliRunner) -> None:
    added = cli.invoke(app, ["commune", "ajouter", "78003", "--qpv", "45 %", "--rurale"])
    assert added.exit_code == 0, added.stderr
    assert "Profil de Ablis créé." in added.stdout
    assert "Yvelines (78)" in added.stdout and "45,0 %" in added.stdout

    again = cli.invoke(app, ["commune", "ajouter", "78003", "--coeur-de-ville", "--json"])
    shown = json.loads(again.stdout)
    assert (shown["action_coeur_de_ville"], shown["qpv_share"], shown["rural"]) == (
        True,
        0.45,
        True,
    )

    voir = cli.invoke(app, ["commune", "voir", "78003", "--json"])
    assert json.loads(voir.stdout) == shown
    cleared = cli.invoke(app, ["commune", "ajouter", "78003", "--pas-coeur-de-ville", "--qpv", "0"])
    assert "Action Cœur de Ville : non" in cleared.stdout and "QPV : 0,0 %" in cleared.stdout
    shown = json.loads(cli.invoke(app, ["commune", "voir", "78003", "--json"]).stdout)
    assert (shown["action_coeur_de_ville"], shown["qpv_share"], shown["rural"]) == (
        False,
        0.0,
        True,
    )
    listed = cli.invoke(app, ["commune", "liste", "--json"])
    assert [p["insee"] for p in json.loads(listed.stdout)] == ["78003"]
    table = cli.invoke(app, ["commune", "liste"])
    assert "Ablis" in table.stdout and "CA Rambouillet" not in table.stdout

    gone = cli.invoke(app, ["commune", "supprimer", "78003"])
    assert gone.exit_code == 0 and "Profil de Ablis (78003) supprimé." in gone.stdout
    assert "Aucun profil de commune" in cli.invoke(app, ["commune", "liste"]).stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["ajouter", "1004"], "Vouliez-vous dire « 01004 » (Ambérieu-en-Bugey) ?"),
        (["ajouter", "99999"], "Code INSEE inconnu « 99999 »"),
        (["ajouter", "78003", "--qpv", "45"], "ou un pourcentage (45 %)"),
        (["voir", "78003"], "Aucun profil pour la commune « 78003 »"),
        (["supprimer", "78003"], "Aucun profil pour la commune « 78003 »"),
        (["chercher", "ablis", "--departement", "100"], "Département inconnu « 100 »"),
    ],
)
def test_cli_bad_input_is_a_french_error(cli: CliRunner, args: list[str], says: str) -> None:
    result = cli.invoke(app, ["commune", *args])

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert says in " ".join(result.stderr.split())


def test_cli_search(cli: CliRunner) -> None:
    found = cli.invoke(app, ["commune", "chercher", "ablis", "--departement", "78"])
    assert found.exit_code == 0 and "78003" in found.stdout and "Chablis" not in found.stdout
    rows = json.loads(cli.invoke(app, ["commune", "chercher", "Sainte-Colombe", "--json"]).stdout)
    assert {
        "insee": "77404",
        "nom": "Sainte-Colombe",
        "departement": "77",
        "population": 1781,
    } in rows
    none = cli.invoke(app, ["commune", "chercher", "Zzyzx"])
    assert none.exit_code == 0 and "Aucune commune ne s'appelle « Zzyzx »" in none.stdout


def test_cli_without_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["commune", "ajouter", "78003"])

    assert result.exit_code == 1
    assert "plume corpus fetch communes" in " ".join(result.stderr.split())


# --- the API --------------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=data_dir_with_packages(tmp_path), admin_token=TOKEN)
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime)) as c:
        yield c
    runtime.close()


def test_api_admin_sets_and_the_public_reads(client: TestClient) -> None:
    created = client.put("/v1/admin/communes/78003", json={"qpv_share": 0.45}, headers=ADMIN)
    assert created.status_code == 201
    assert created.json()["name"] == "Ablis" and created.json()["epci_siren"] == "200073344"

    updated = client.put(
        "/v1/admin/communes/78003", json={"action_coeur_de_ville": True}, headers=ADMIN
    )
    assert updated.status_code == 200
    assert (updated.json()["qpv_share"], updated.json()["action_coeur_de_ville"]) == (0.45, True)
    assert client.put("/v1/admin/communes/97101", headers=ADMIN).status_code == 201

    public = client.get("/v1/communes/78003")
    assert public.status_code == 200 and public.json() == updated.json()
    listed = client.get("/v1/admin/communes", headers=ADMIN).json()
    assert [p["insee"] for p in listed] == ["78003", "97101"]

    deleted = client.delete("/v1/admin/communes/97101", headers=ADMIN)
    assert deleted.json() == {"insee": "97101", "deleted": True}
    assert client.get("/v1/communes/97101").status_code == 404


def test_api_admin_routes_need_the_token(client: TestClient) -> None:
    assert client.put("/v1/admin/communes/78003", json={}).status_code == 401
    assert client.get("/v1/admin/communes").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.delete("/v1/admin/communes/78003", headers=wrong).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("put", "/v1/admin/communes/99999", {}, 404, "commune_inconnue"),
        ("put", "/v1/admin/communes/1004", {}, 400, "profil_commune_invalide"),
        ("put", "/v1/admin/communes/78003", {"qpv_share": 45}, 400, "profil_commune_invalide"),
        ("put", "/v1/admin/communes/78003", {"qpv": 0.4}, 422, "requete_invalide"),
        ("get", "/v1/communes/78003", None, 404, "profil_commune_inconnu"),
        ("get", "/v1/communes/abc", None, 400, "profil_commune_invalide"),
        ("delete", "/v1/admin/communes/78003", None, 404, "profil_commune_inconnu"),
        # a search for a commune: its profile must exist, its code be a code
        (
            "post",
            "/v1/search",
            {"query": "cimetière", "commune": "78003"},
            404,
            "profil_commune_inconnu",
        ),
        ("post", "/v1/search", {"query": "cimetière", "commune": "Metz"}, 422, "requete_invalide"),
    ],
)
def test_api_bad_input_is_a_clear_4xx(
    client: TestClient,
    method: str,
    path: str,
    body: dict[str, object] | None,
    status: int,
    code: str,
) -> None:
    resp = client.request(method, path, json=body, headers=ADMIN)

    assert resp.status_code == status
    error = resp.json()["error"]
    assert error["code"] == code and error["message"]


def test_openapi_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/communes/{insee}", "/v1/admin/communes", "/v1/admin/communes/{insee}"} <= set(
        paths
    )
