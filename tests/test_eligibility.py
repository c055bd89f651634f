"""Eligibility of an aid for a commune: the programmes' structured rules (DETR thresholds,
overseas, DPV and QPV…) and aides-territoires aids (beneficiaries, perimeter, deadline),
from the payloads ingestion really writes. Undecidable means « à vérifier », never a guess."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from assistant.aides.eligibility import ASK_FUNDER, Verdict, assess
from assistant.communes import CommuneProfile
from ingestion.aides_territoires.records import from_api, from_csv
from ingestion.sources import aides as aides_source
from ingestion.sources import programmes
from plume import REPO_ROOT
from tests.conftest import SHARED_DATA

CATALOGUE = REPO_ROOT / "corpus" / "programmes.toml"
AIDES = SHARED_DATA / "aides_territoires"
TODAY = date(2026, 11, 23)

# Made-up communes with real codes' shapes; only the fields the rules read matter.
RURAL = CommuneProfile(
    insee="26001",
    name="Commune rurale",
    population=500,
    departement="26",
    departement_name="Drôme",
    region="84",
    region_name="Auvergne-Rhône-Alpes",
    epci_siren="200000000",
    epci_name="CC du Val de Drôme",
    rural=True,
    qpv_share=0.0,
)
OVERSEAS = CommuneProfile(
    insee="97101",
    name="Commune de Guadeloupe",
    population=3000,
    departement="971",
    departement_name="Guadeloupe",
    region="01",
    region_name="Guadeloupe",
    outre_mer=True,
)


def programme(code: str) -> dict[str, Any]:
    version, found, _ = programmes.load(CATALOGUE)
    p = next(p for p in found if p.code == code)
    return dict(programmes.programme_nodes(p, version=version)[0].metadata)


def shared(name: str) -> Any:
    path = AIDES / name
    if not path.exists():
        pytest.skip(f"{path} absent (../shared/data): real aides-territoires data not available")
    return path


def drome_aid() -> dict[str, Any]:
    records = json.loads(shared("api_samples/departement_drome_data.json").read_text())
    aide = from_api(records["results"][0])
    return dict(aides_source.aide_nodes(aide, version="test")[0].metadata)


def text(v: Verdict) -> str:
    return " ".join(v.reasons)


# --- programmes: DETR ---------------------------------------------------------------------------


def test_detr_a_small_metropolitan_commune_is_eligible() -> None:
    v = assess(programme("detr"), RURAL, TODAY)
    assert v.status == "eligible" and v.label == "Éligible"
    assert "Commune de 500 habitants : sous le seuil de 2 000" in text(v)
    assert "population DGF" in text(v)  # the threshold's basis is said, not hidden


def test_detr_between_2000_and_20000_depends_on_the_potentiel_financier() -> None:
    v = assess(programme("detr"), replace(RURAL, population=3913), TODAY)
    assert v.status == "a_verifier"
    assert "Commune de 3 913 habitants : au-delà de 2 000" in text(v)
    assert "potentiel financier" in text(v) and "préfecture" in text(v)


def test_detr_above_20000_is_not_eligible() -> None:
    v = assess(programme("detr"), replace(RURAL, population=25000), TODAY)
    assert v.status == "non_eligible"
    assert "au-delà du seuil de 20 000" in text(v)


def test_detr_just_under_the_threshold_is_to_be_checked_dgf_population() -> None:
    v = assess(programme("detr"), replace(RURAL, population=1950), TODAY)
    assert v.status == "a_verifier" and "proche du seuil de 2 000" in text(v)


def test_detr_overseas_thresholds() -> None:
    detr = programme("detr")
    assert assess(detr, OVERSEAS, TODAY).status == "eligible"  # 3 000 ≤ 3 500
    v = assess(detr, replace(OVERSEAS, population=25000), TODAY)
    assert v.status == "a_verifier" and "au-delà de 3 500" in text(v)  # ≤ 35 000
    assert assess(detr, replace(OVERSEAS, population=40000), TODAY).status == "non_eligible"
    # the metropolitan thresholds would have said otherwise
    assert assess(detr, replace(RURAL, population=3000), TODAY).status == "a_verifier"


def test_an_overseas_collectivity_outside_the_drom_is_to_be_checked() -> None:
    polynesie = replace(
        OVERSEAS,
        insee="98735",
        departement="987",
        departement_name="Polynésie française",
        region="06",
        region_name="Polynésie française",
    )
    v = assess(programme("dsil"), polynesie, TODAY)
    assert v.status == "a_verifier" and "statut particulier" in text(v)


# --- programmes: others -------------------------------------------------------------------------


def test_dsil_every_commune_is_eligible() -> None:
    assert assess(programme("dsil"), replace(RURAL, population=80000), TODAY).status == "eligible"


def test_dsid_is_for_departements_only() -> None:
    v = assess(programme("dsid"), RURAL, TODAY)
    assert v.status == "non_eligible" and "Aide réservée à : Départements" in text(v)


def test_dpv_without_qpv_is_not_eligible_unknown_share_is_to_be_checked() -> None:
    dpv = programme("dpv")
    town = replace(RURAL, population=30000, rural=False)
    without = assess(dpv, replace(town, qpv_share=0.0), TODAY)
    assert without.status == "non_eligible"
    assert "quartier prioritaire" in text(without) and "non remplie" in text(without)
    unknown = assess(dpv, replace(town, qpv_share=None), TODAY)
    assert unknown.status == "a_verifier" and ASK_FUNDER in text(unknown)
    # even with a QPV, DSU eligibility and the national ranking are not in the data
    with_qpv = assess(dpv, replace(town, qpv_share=0.3), TODAY)
    assert with_qpv.status == "a_verifier" and "DSU" in text(with_qpv)


def test_a_rural_only_programme_needs_to_know_the_commune_is_rural() -> None:
    amenites = programme("amenites-rurales")
    assert assess(amenites, replace(RURAL, rural=False), TODAY).status == "non_eligible"
    unknown = assess(amenites, replace(RURAL, rural=None), TODAY)
    assert unknown.status == "a_verifier" and "à renseigner" in text(unknown)
    # rural, yet the protected area is not in the profile: still to be checked
    assert assess(amenites, RURAL, TODAY).status == "a_verifier"


def test_petites_villes_de_demain_excludes_action_coeur_de_ville() -> None:
    pvd = programme("petites-villes-de-demain")
    acv = assess(pvd, replace(RURAL, population=15000, action_coeur_de_ville=True), TODAY)
    assert acv.status == "non_eligible" and "Action cœur de ville" in text(acv)
    assert assess(pvd, replace(RURAL, population=15000), TODAY).status == "a_verifier"
    assert assess(pvd, replace(RURAL, population=25000), TODAY).status == "non_eligible"


def test_every_programme_gives_a_verdict_with_reasons() -> None:
    version, found, _ = programmes.load(CATALOGUE)
    for p in found:
        payload = programmes.programme_nodes(p, version=version)[0].metadata
        for profile in (RURAL, OVERSEAS, None):
            v = assess(payload, profile, TODAY)
            assert v.status in ("eligible", "non_eligible", "a_verifier") and v.reasons, p.code
            if v.status == "a_verifier":
                assert any("à vérifier" in r or "choisissez" in r for r in v.reasons), p.code


# --- aides-territoires aids ---------------------------------------------------------------------


def test_an_aid_whose_perimeter_contains_the_commune() -> None:
    v = assess(drome_aid(), RURAL, TODAY)
    assert v.status == "eligible"
    assert "Territoire « Drôme » : Commune rurale en fait partie." in v.reasons


def test_an_aid_of_another_departement_is_not_eligible() -> None:
    manche = replace(
        RURAL,
        insee="50129",
        departement="50",
        departement_name="Manche",
        region="28",
        region_name="Normandie",
        epci_name=None,
    )
    v = assess(drome_aid(), manche, TODAY)
    assert v.status == "non_eligible" and "« Drôme », hors de Commune rurale" in text(v)


def test_an_unknown_perimeter_is_to_be_checked() -> None:
    payload = {**drome_aid(), "perimeter": "Bassin versant de la Drôme"}
    v = assess(payload, RURAL, TODAY)
    assert v.status == "a_verifier" and ASK_FUNDER in text(v)
    # no perimeter: a national funder says nothing of the territory …
    no_perimeter = {**payload, "perimeter": "", "funders": ["ADEME"]}
    assert assess(no_perimeter, RURAL, TODAY).status == "a_verifier"
    # … the Drôme's chamber of agriculture does (assistant.aides.territories)
    chamber = {**payload, "perimeter": "", "funders": ["Chambre d’agriculture de la Drôme"]}
    assert assess(chamber, RURAL, TODAY).status == "eligible"
    manche = replace(RURAL, departement="50", departement_name="Manche", region_name="Normandie")
    assert assess(chamber, manche, TODAY).status == "non_eligible"
    # the commune's intercommunality, region, France métropolitaine: all contain it
    for name in ("CC du Val de Drôme", "auvergne-rhone-alpes", "France métropolitaine"):
        assert assess({**payload, "perimeter": name}, RURAL, TODAY).status == "eligible"
    assert assess({**payload, "perimeter": "Outre-mer"}, RURAL, TODAY).status == "non_eligible"


def test_an_aid_not_for_communes_is_not_eligible() -> None:
    payload = {**drome_aid(), "beneficiaries": ["Associations", "Entreprises privées"]}
    v = assess(payload, RURAL, TODAY)
    assert v.status == "non_eligible" and "les communes n'en bénéficient pas" in text(v)
    assert assess({**payload, "beneficiaries": []}, RURAL, TODAY).status == "a_verifier"


def test_a_closed_aid_of_the_real_export() -> None:
    aides, _ = from_csv(shared("aides-territoires_periurbain.csv"))
    closed = next(a for a in aides if a.submission_deadline and a.submission_deadline < "2026")
    payload = aides_source.aide_nodes(closed, version="test")[0].metadata
    v = assess(payload, RURAL, TODAY)
    day = date.fromisoformat(closed.submission_deadline or "").strftime("%d/%m/%Y")
    assert v.status == "non_eligible" and f"Aide clôturée le {day}." in v.reasons
    still_open = assess(payload, RURAL, date.fromisoformat(closed.submission_deadline or ""))
    assert f"Date limite de dépôt : {day}." in still_open.reasons  # open on its closing day


def test_a_predeposit_date_is_a_caveat() -> None:
    payload = {**drome_aid(), "predeposit_date": "2026-12-15"}
    v = assess(payload, RURAL, TODAY)
    assert v.status == "eligible" and any("pré-dépôt" in r and "15/12/2026" in r for r in v.reasons)
    late = assess(payload, RURAL, date(2027, 1, 10))
    assert late.status == "a_verifier" and "date passée" in text(late)


def test_no_profile_is_to_be_checked_with_a_choose_a_commune_reason() -> None:
    v = assess(programme("detr"), None, TODAY)
    assert v.status == "a_verifier" and "choisissez une commune" in text(v)
    assert assess(drome_aid(), None, TODAY).status == "a_verifier"
    # what needs no profile is still decided
    assert assess(programme("dsid"), None, TODAY).status == "non_eligible"


def test_the_verdict_as_a_dict() -> None:
    d = assess(programme("detr"), RURAL, TODAY).as_dict()
    assert d["status"] == "eligible" and d["label"] == "Éligible" and d["reasons"]


def test_a_minimum_on_the_dgf_population_is_not_decided_from_the_insee_one() -> None:
    v = assess(programme("dpv"), replace(RURAL, population=3000, qpv_share=0.3), TODAY)
    assert v.status == "a_verifier" and "sous le seuil de 5 000, mais" in text(v)


def test_an_aid_without_perimeter_is_placed_by_its_territorial_funder() -> None:
    aid = {"beneficiaries": ["Communes"], "perimeter": "", "funders": []}
    morbihan = {**aid, "funders": ["Conseil départemental du Morbihan"]}
    assert assess(morbihan, RURAL, TODAY).status == "non_eligible"
    own = {**aid, "funders": [f"Conseil départemental de la {RURAL.departement_name}"]}
    assert assess(own, RURAL, TODAY).status == "eligible"
    # a national funder among them: the territory is not decided, nothing is guessed
    mixed = {**aid, "funders": ["Conseil départemental du Morbihan", "Banque des Territoires"]}
    assert assess(mixed, RURAL, TODAY).status == "a_verifier"
    assert assess(aid, RURAL, TODAY).status == "a_verifier"
