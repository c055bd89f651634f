"""The « Territoires d'IA » cofinancing calculator: the rules' examples, each boundary,
properties over any request, the range when conditions are not known, and the CLI, API
and chat (without a model) edges."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.main import create_app
from assistant.aides.cofinancing import CofinancingRequest, cents, compute_cofinancing
from assistant.aides.cofinancing_range import CONDITIONS, Condition, compute_range
from assistant.runtime import Runtime
from plume.errors import InvalidCofinancingRequest
from plume.settings import Settings

PLUME = Path(sys.executable).parent / "plume"
D = Decimal


def compute(**kw: Any) -> Any:
    kw.setdefault("licences_amount", D(500))
    kw.setdefault("deployment_amount", D(2000))
    return compute_cofinancing(CofinancingRequest(**kw))


def test_worked_example_assumes_500_licences_and_a_10_point_bonus() -> None:
    """Rules' example: 500 € licences + 2,000 € deployment → 1,000 € eligible → 500 €.
    500 € is 50 %: we assume a 40 % base (500 licences or more, or mutualised) + 10 points."""
    r = compute(licence_count=500, ia_frugale=True)
    assert (r.eligible_licences, r.eligible_deployment, r.eligible_total) == (500, 500, 1000)
    assert r.ineligible[0].amount == 1500 and "50 %" in r.ineligible[0].reason
    assert (r.base_rate, r.base_reason, r.rate, r.capped) == (40, "500 licences ou plus", 50, False)
    assert (r.grant, r.grant_licences, r.grant_deployment) == (500, 250, 250)
    assert (r.payment_signature, r.payment_invoice) == (250, 250)
    assert r.duration == "1 an d'accès"


def test_worked_example_mutualised_with_fragile_territory_gives_the_same_500() -> None:
    r = compute(other_beneficiaries=3, applicant_share=D("0.25"), outre_mer=True)
    assert (r.base_reason, r.rate, r.grant) == ("mutualisée", 50, 500)
    assert r.bonuses == [("territoires fragiles : outre-mer", 10)]


def test_worked_example_at_the_base_rate_alone_gives_300() -> None:
    r = compute()
    assert (r.base_rate, r.base_reason, r.bonuses, r.rate) == (30, "taux de base", [], 30)
    assert (r.eligible_total, r.grant, r.grant_licences, r.grant_deployment) == (
        1000,
        300,
        150,
        150,
    )


@pytest.mark.parametrize(
    ("kw", "label"),
    [
        ({"outre_mer": True}, "territoires fragiles : outre-mer"),
        ({"action_coeur_de_ville": True}, "territoires fragiles : Action Cœur de Ville"),
        ({"qpv_share": D("0.40")}, "territoires fragiles : au moins 40 % de la population en QPV"),
        ({"ia_frugale": True}, "IA frugale"),
    ],
)
def test_each_bonus_adds_ten_points(kw: dict[str, Any], label: str) -> None:
    r = compute(**kw)
    assert r.bonuses == [(label, 10)] and r.rate == 40 and r.grant == 400


def test_qpv_below_40_percent_and_several_fragile_criteria_count_once() -> None:
    assert compute(qpv_share=D("0.39")).bonuses == []
    both = compute(outre_mer=True, action_coeur_de_ville=True)
    assert both.rate == 40 and len(both.bonuses) == 1


def test_rate_is_capped_at_50() -> None:
    r = compute(licence_count=600, outre_mer=True, ia_frugale=True)
    assert (r.rate, r.capped, r.grant) == (50, True, 500)
    assert "plafonné à 50 % au lieu de 60 %" in r.explain()
    assert not compute(ia_frugale=True, outre_mer=True).capped  # 30 + 10 + 10 = 50 exactly


@pytest.mark.parametrize(
    ("others", "share", "rate"),
    [(3, "0.10", 40), (2, "0.10", 30), (3, "0.09", 30), (10, "1", 40), (3, None, 30)],
)
def test_mutualisation_boundaries(others: int, share: str | None, rate: int) -> None:
    r = compute(other_beneficiaries=others, applicant_share=D(share) if share else None)
    assert r.base_rate == rate
    if others >= 3 and rate == 30:
        assert "au moins 10 %" in r.warnings[0]


def test_499_vs_500_licences() -> None:
    assert compute(licence_count=499).base_rate == 30
    assert compute(licence_count=500).base_rate == 40


def test_purchase_before_approval_is_not_eligible() -> None:
    r = compute(licence_count=500, purchase_date=date(2026, 5, 1), approval_date=date(2026, 5, 15))
    assert r.grant == r.payment_signature == r.payment_invoice == 0 and r.eligible_total == 0
    assert "avant l'accord du 15/05/2026" in r.warnings[0]
    assert sum(c.amount for c in r.ineligible) == 2500
    same_day = compute(purchase_date=date(2026, 5, 15), approval_date=date(2026, 5, 15))
    assert same_day.grant == 300 and not same_day.warnings


def test_payments_add_up_to_the_cent() -> None:
    r = compute(licences_amount=D("333.33"), deployment_amount=D("0.01"))
    assert r.grant == D("100.00")  # 333.34 × 30 % = 100.002
    odd = compute(licences_amount=D("0.03"), deployment_amount=D(0), ia_frugale=True)
    assert odd.grant == D("0.01") and (odd.payment_signature, odd.payment_invoice) == (
        D("0.01"),
        D("0.00"),
    )
    assert odd.payment_signature + odd.payment_invoice == odd.grant


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"licences_amount": D(0)}, "licences sont obligatoires"),
        ({"licences_amount": D(-1)}, "positif ou nul"),
        ({"deployment_amount": D(-1)}, "positif ou nul"),
        ({"deployment_amount": D("1.005")}, "au centime près"),
        ({"applicant_share": D("1.1")}, "entre 0 et 1"),
        ({"qpv_share": D("-0.1")}, "entre 0 et 1"),
        ({"licence_count": -1}, "positifs"),
    ],
)
def test_bad_input_is_a_french_domain_error(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidCofinancingRequest, match=message):
        compute(**kw)


def test_explain_lists_every_step_with_figures() -> None:
    text = compute(licence_count=500, ia_frugale=True).explain()
    for part in (
        "2 000,00 €",
        "500,00 € de licences + 500,00 € de déploiement = 1 000,00 €",
        "Non éligible : 1 500,00 €",
        "Taux de base : 40 % (500 licences ou plus)",
        "« IA frugale » : +10 points",
        "50 % × 1 000,00 € = 500,00 €",
        "250,00 € à la signature, 250,00 € sur facture acquittée",
        "1 an d'accès",
    ):
        assert part in text


# --- when conditions are not known: the range, each condition named ---------------------


def rng(unknown: Any = CONDITIONS, **kw: Any) -> Any:
    kw.setdefault("licences_amount", D(500))
    kw.setdefault("deployment_amount", D(2000))
    return compute_range(CofinancingRequest(**kw), unknown)


def test_unknown_conditions_give_300_to_500_with_each_condition_named() -> None:
    r = rng()
    assert (r.base.grant, r.base.rate, r.grant, r.rate, r.capped) == (300, 30, 500, 50, True)
    assert r.steps == [(40, D("400.00")), (50, D("500.00"))]
    assert [lever.key for lever in r.levers] == [
        "taux_de_base_40",
        "territoires_fragiles",
        "ia_frugale",
    ]
    text = r.explain()
    for part in (
        "va de 300,00 € à 500,00 €",
        "300,00 € au taux de base de 30 % des 1 000,00 € de dépenses éligibles (500,00 € de "
        "licences + 500,00 € de déploiement, plafonné au montant des licences)",
        "Au maximum : 500,00 € (50 %, le plafond), en réunissant deux des trois conditions",
        "400,00 €, soit 40 %, avec une seule",
        "- taux de base de 40 % au lieu de 30 % si la demande est mutualisée (au moins 3 autres "
        "bénéficiaires éligibles, le porteur supportant au moins 10 % des dépenses éligibles) "
        "ou si elle porte sur 500 licences ou plus ;",
        "- +10 points « territoires fragiles » si la commune est en outre-mer, labellisée "
        "Action Cœur de Ville ou compte au moins 40 % de sa population en QPV ;",
        "- +10 points « IA frugale »",
        "plafonné à 50 %",
        "Subvention : 30 % × 1 000,00 € = 300,00 €",  # the detail of the stated case
    ):
        assert part in text, part
    maximum = r.as_dict()["maximum"]
    assert (maximum["grant"], maximum["rate"], maximum["conditions_needed"]) == ("500.00", 50, 2)
    assert r.as_dict()["grant"] == "300.00"  # the existing fields: the stated case


def test_stated_conditions_stay_in_the_base_and_leave_the_others_open() -> None:
    frugal = rng(["mutualisation", "territoires_fragiles"], ia_frugale=True)
    assert (frugal.base.grant, frugal.grant) == (400, 500)
    assert [lever.key for lever in frugal.levers] == ["taux_de_base_40", "territoires_fragiles"]
    assert "500 licences" not in frugal.levers[0].condition  # the count was given
    assert "Avec les conditions indiquées : 400,00 € au taux de 40 % (IA frugale)" in (
        frugal.explain()
    )
    assert "avec l'une des deux conditions suivantes" in frugal.explain()
    many = rng(licence_count=500)
    assert [lever.key for lever in many.levers] == ["territoires_fragiles", "ia_frugale"]
    assert (many.base.rate, many.rate) == (40, 50)


def test_nothing_open_is_the_exact_computation() -> None:
    for r in (
        rng(()),
        rng(licence_count=500, ia_frugale=True),
        rng(outre_mer=True, ia_frugale=True, licence_count=600),
    ):
        assert r.levers == [] and r.explain() == r.base.explain()
        assert r.as_dict()["maximum"] is None
    late = rng(purchase_date=date(2026, 5, 1), approval_date=date(2026, 5, 15))
    assert late.levers == [] and late.grant == 0  # nothing eligible: no condition helps


def test_partners_without_the_applicants_share_name_the_share() -> None:
    r = rng((), other_beneficiaries=3)
    assert (r.base.grant, r.grant) == (300, 400)
    (lever,) = r.levers
    assert "le porteur supporte au moins 10 % des dépenses éligibles" in lever.condition
    assert "mutualisée avec 3 autres bénéficiaires" in lever.condition


def _met(req: CofinancingRequest, unknown: frozenset[Condition]) -> CofinancingRequest:
    """The request with every open condition met, written with the calculator's fields."""
    share = req.applicant_share
    if "mutualisation" in unknown or (req.other_beneficiaries >= 3 and share is None):
        req = replace(
            req,
            other_beneficiaries=max(req.other_beneficiaries, 3),
            applicant_share=max(share or D(0), D("0.10")),
        )
    if "licences" in unknown:
        req = replace(req, licence_count=max(req.licence_count, 500))
    if "territoires_fragiles" in unknown:
        req = replace(req, outre_mer=True)
    if "ia_frugale" in unknown:
        req = replace(req, ia_frugale=True)
    return req


money = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)
requests = st.builds(
    CofinancingRequest,
    licences_amount=money.filter(lambda m: m > 0),
    deployment_amount=money,
    licence_count=st.integers(0, 10_000),
    other_beneficiaries=st.integers(0, 10),
    applicant_share=st.none() | st.decimals(0, 1, places=3),
    outre_mer=st.booleans(),
    action_coeur_de_ville=st.booleans(),
    qpv_share=st.decimals(0, 1, places=3),
    ia_frugale=st.booleans(),
)


@given(requests)
def test_properties(req: CofinancingRequest) -> None:
    r = compute_cofinancing(req)
    assert 30 <= r.rate <= 50
    assert r.eligible_licences <= req.licences_amount
    assert r.eligible_deployment <= req.deployment_amount
    assert r.eligible_licences * 2 >= r.eligible_total
    assert r.grant == cents(r.eligible_total * r.rate / 100)
    assert r.grant <= cents(r.eligible_total / 2)
    assert r.grant_licences + r.grant_deployment == r.grant
    assert r.payment_signature + r.payment_invoice == r.grant
    assert abs(r.payment_signature - r.payment_invoice) <= D("0.01")
    assert r.eligible_total + sum(c.amount for c in r.ineligible) == (
        req.licences_amount + req.deployment_amount
    )


@given(requests, st.sets(st.sampled_from(CONDITIONS)))
def test_the_maximum_is_the_calculators_figure_with_the_open_conditions_met(
    req: CofinancingRequest, unknown: set[Condition]
) -> None:
    r = compute_range(req, unknown)
    best = compute_cofinancing(_met(req, frozenset(unknown)))
    assert (r.rate, r.grant) == (best.rate, best.grant)
    assert r.base.grant <= r.grant and r.base.rate <= r.rate <= 50
    assert bool(r.levers) == (r.rate > r.base.rate)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLUME), "cofinancement", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
        env={"PYTHONIOENCODING": "utf-8", "COLUMNS": "400", "PATH": ""},
    )


def test_cli() -> None:
    text = run_cli(
        "--licences", "500", "--deploiement", "2000", "--licences-nombre", "500", "--ia-frugale"
    )
    assert text.returncode == 0 and "= 500,00 €" in text.stdout
    as_json = run_cli(
        "--licences",
        "500",
        "--deploiement",
        "2 000",
        "--autres-beneficiaires",
        "3",
        "--part-porteur",
        "0,2",
        "--coeur-de-ville",
        "--part-qpv",
        "0.4",
        "--json",
    )
    body = json.loads(as_json.stdout)
    assert (body["base_reason"], body["rate"], body["grant"]) == ("mutualisée", 50, "500.00")
    bad = run_cli("--licences", "0", "--deploiement", "2000")
    assert bad.returncode == 1 and "licences sont obligatoires" in bad.stderr
    date_bad = run_cli("--licences", "10", "--date-achat", "hier")
    assert date_bad.returncode == 1 and "AAAA-MM-JJ" in date_bad.stderr


def test_cli_without_the_conditions_gives_the_maximum_and_with_them_the_figure() -> None:
    open_ = run_cli("--licences", "500", "--deploiement", "2000")
    assert open_.returncode == 0 and "va de 300,00 € à 500,00 €" in open_.stdout
    assert "« IA frugale »" in open_.stdout and "« territoires fragiles »" in open_.stdout
    stated = run_cli(
        *("--licences", "500", "--deploiement", "2000", "--licences-nombre", "10"),
        *("--autres-beneficiaires", "0", "--hors-outre-mer", "--hors-coeur-de-ville"),
        *("--part-qpv", "0", "--sans-ia-frugale", "--json"),
    )
    body = json.loads(stated.stdout)
    assert (body["grant"], body["maximum"]) == ("300.00", None)
    assert "Au maximum" not in body["explanation"]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data")
    runtime = Runtime.build(settings, llm=None)
    try:
        with TestClient(create_app(settings, runtime=runtime)) as c:
            yield c
    finally:
        runtime.close()


def test_api(client: TestClient) -> None:
    body = {
        "licences_amount": 500,
        "deployment_amount": 2000,
        "licence_count": 500,
        "ia_frugale": True,
        "purchase_date": "2026-06-01",
        "approval_date": "2026-05-20",
    }
    answer = client.post("/v1/cofinancement", json=body)
    assert answer.status_code == 200
    data = answer.json()
    assert (data["eligible_total"], data["rate"], data["grant"]) == ("1000.00", 50, "500.00")
    assert [p["amount"] for p in data["payments"]] == ["250.00", "250.00"]
    assert "Subvention : 50 %" in data["explanation"]
    assert data["maximum"] is None  # 50 %: nothing left to add


EXAMPLE = {"licences_amount": 500, "deployment_amount": 2000}
ALL_STATED = {
    "licence_count": 10,
    "other_beneficiaries": 0,
    "outre_mer": False,
    "action_coeur_de_ville": False,
    "qpv_share": 0,
    "ia_frugale": False,
}


def test_api_gives_the_maximum_and_its_conditions_when_they_are_not_given(
    client: TestClient,
) -> None:
    data = client.post("/v1/cofinancement", json=EXAMPLE).json()
    assert (data["eligible_total"], data["rate"], data["grant"]) == ("1000.00", 30, "300.00")
    maximum = data["maximum"]
    assert (maximum["rate"], maximum["grant"], maximum["conditions_needed"]) == (50, "500.00", 2)
    assert [c["key"] for c in maximum["conditions"]] == [
        "taux_de_base_40",
        "territoires_fragiles",
        "ia_frugale",
    ]
    assert maximum["steps"] == [{"rate": 40, "grant": "400.00"}, {"rate": 50, "grant": "500.00"}]
    assert "va de 300,00 € à 500,00 €" in data["explanation"]
    # conditions given, even as « no »: the exact figure, as before
    exact = client.post("/v1/cofinancement", json=EXAMPLE | ALL_STATED).json()
    assert (exact["grant"], exact["maximum"]) == ("300.00", None)
    frugal = client.post("/v1/cofinancement", json=EXAMPLE | ALL_STATED | {"ia_frugale": True})
    assert (frugal.json()["grant"], frugal.json()["maximum"]) == ("400.00", None)
    # one condition left out: only it is named
    territory = ("outre_mer", "action_coeur_de_ville", "qpv_share")
    no_territory = {k: v for k, v in ALL_STATED.items() if k not in territory}
    some = client.post("/v1/cofinancement", json=EXAMPLE | no_territory).json()
    assert [c["key"] for c in some["maximum"]["conditions"]] == ["territoires_fragiles"]
    assert some["maximum"]["grant"] == "400.00"


def test_the_chat_without_a_model_answers_a_maximum_with_the_range(client: TestClient) -> None:
    """The newcomer's question: 300 € was given as the answer, the base rate assumed."""
    question = (
        "Combien la Banque des Territoires peut-elle cofinancer au maximum pour 500 € de "
        "licences et 2 000 € de déploiement ?"
    )
    data = client.post("/v1/chat", json={"question": question}).json()
    assert data["mode"] == "computation" and data["tool"]["called_by"] == "question"
    result = data["tool"]["result"]
    assert (result["grant"], result["maximum"]["grant"]) == ("300.00", "500.00")
    answer = data["answer"]
    for part in (
        "va de 300,00 € à 500,00 €",
        "au taux de base de 30 %",
        "la demande est mutualisée",
        "500 licences ou plus",
        "« territoires fragiles »",
        "« IA frugale »",
    ):
        assert part in answer, part
    # the conditions stated: the exact figure
    stated = client.post(
        "/v1/chat",
        json={
            "question": "Territoires d'IA : 500 € de licences et 2 000 € de déploiement, "
            "mutualisé avec 3 communes, nous portons 25 %. Combien ?"
        },
    ).json()
    assert (stated["tool"]["result"]["grant"], stated["tool"]["result"]["maximum"]) == (
        "400.00",
        None,
    )
    assert "Au maximum" not in stated["answer"] and "400,00 €" in stated["answer"]


def test_api_errors_in_french(client: TestClient) -> None:
    domain = client.post("/v1/cofinancement", json={"licences_amount": 0, "deployment_amount": 5})
    assert domain.status_code == 400
    assert domain.json()["error"]["code"] == "cofinancement_invalide"
    assert "licences sont obligatoires" in domain.json()["error"]["message"]
    share = client.post("/v1/cofinancement", json={"licences_amount": 5, "qpv_share": 2})
    assert share.status_code == 400 and "entre 0 et 1" in share.json()["error"]["message"]
    typed = client.post("/v1/cofinancement", json={"licences_amount": "beaucoup"})
    assert typed.status_code == 422 and typed.json()["error"]["code"] == "requete_invalide"
