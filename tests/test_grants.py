"""Grants for a commune: search within filters, eligibility, deadlines in the watch digest,
grant and cofinancing questions in the chat (extractive, and with the calculator offered
to the model as a tool), the API and the CLI.

One index per module: the real aides-territoires export (../shared/data) and the team's
national programmes (corpus/programmes.toml); commune profiles from the real official
geographic code (the fetched @etalab/decoupage-administratif package).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from assistant.aides.catalogue import AideFilters, closing_soon, find_aides
from assistant.aides.listing import deadlines, format_aides
from assistant.aides.territories import funder_territories, funder_territory
from assistant.aides.tools import conditions_in, request_from_question
from assistant.communes import CommuneProfile
from assistant.llm.client import build_llm
from assistant.rag.intents import detect
from assistant.rag.retrieval import build_filter
from assistant.runtime import Runtime
from assistant.veille.digest import digest
from cli.main import app
from ingestion.aides_territoires.records import from_csv
from ingestion.service import ingest_source
from plume.errors import InvalidAideRequest
from plume.settings import Settings
from plume.territory import Territory
from tests.conftest import SHARED_DATA
from tests.fakes.mistral import FakeMistral, ToolCallSpec

CSV = SHARED_DATA / "aides_territoires" / "aides-territoires_periurbain.csv"
YVELINES = SHARED_DATA / "aides_territoires" / "detr_dsil_validated_projects_yvelines_78.csv"
TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
ROOF = "Quelles aides pour refaire le toit de l'école ?"
ROOFING = "Quelles aides pour refaire la toiture de l'école ?"
WORKED_EXAMPLE = (
    "Territoires d'IA : quel cofinancement pour 500 € de licences et 2 000 € de déploiement, "
    "avec 600 licences et une solution d'IA frugale ?"
)
AT_MOST = (
    "Combien la Banque des Territoires peut-elle cofinancer au maximum pour 500 € de licences "
    "et 2 000 € de déploiement ?"
)


def _packages() -> Path:
    settings = Settings()
    try:
        Territory(settings.packages_dir, settings.corpus_dir).folder()
    except Exception:
        pytest.skip("communes package not fetched: run `plume corpus fetch` (make test does)")
    if not CSV.exists():
        pytest.skip(f"{CSV} absent (../shared/data): real aides-territoires data not available")
    return settings.packages_dir


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        yield server


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    packages = _packages()
    data = tmp_path_factory.mktemp("grants") / "data"
    data.mkdir()
    (data / "packages").symlink_to(packages, target_is_directory=True)
    return Settings(data_dir=data, admin_token=TOKEN)


@pytest.fixture(scope="module")
def rt(settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.build(settings)
    ingest_source(settings, runtime.store, None, "aides-territoires", path=CSV)
    ingest_source(settings, runtime.store, None, "programmes")
    ingest_source(settings, runtime.store, None, "precedents", path=YVELINES)
    runtime.refresh_stats()
    runtime.communes.put("78003", rural=True)  # Ablis, 3,913 inhabitants
    runtime.communes.put("78013")  # Andelu, 550 inhabitants
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def client(settings: Settings, rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(settings, runtime=rt)) as c:
        yield c


def andelu(rt: Runtime) -> CommuneProfile:
    return rt.communes.get("78013")


# --- filters -----------------------------------------------------------------------------------


def test_filters_take_labels_or_codes_and_refuse_bad_input() -> None:
    f = AideFilters.build(beneficiaries=["communes"], aid_types=["grant", "Prêt"])
    assert f.beneficiaries == ("Communes",) and f.aid_types == ("Subvention", "Prêt")
    today = date(2026, 11, 23)
    assert AideFilters.build(closing_within=30, today=today).ends_by() == date(2026, 12, 24)
    with pytest.raises(InvalidAideRequest, match="entre 0 et 366 jours"):
        AideFilters.build(closing_within=-1)
    with pytest.raises(InvalidAideRequest, match="déjà passée"):
        AideFilters.build(closing_by=date(2020, 1, 1), today=today)
    with pytest.raises(InvalidAideRequest, match="Type d'aide inconnu : « Donation »"):
        AideFilters.build(aid_types=["Donation"])


def test_questions_are_routed_by_their_words() -> None:
    assert detect(ROOF) == "aides"
    assert detect("La DETR peut-elle financer la rénovation de la mairie ?") == "aides"
    assert detect(WORKED_EXAMPLE) == "cofinancement"
    assert detect(AT_MOST) == "cofinancement"
    # the funder, what its window pays for and an amount, without the word « cofinancement »
    assert detect("La BDT finance combien max pour 500 € de licences IA ?") == "cofinancement"
    assert detect("Territoire d'IA, 500 € de licences : combien ?") == "cofinancement"
    assert detect("Quelles aides de la Banque des Territoires pour l'école ?") == "aides"
    assert detect("Qui a droit à l'aide juridictionnelle ?") == "question"
    # the commune's size is not help for its inhabitants
    assert detect("aire de jeux, quelles aides pour une commune de 300 habitants ?") == "aides"
    assert detect("quelles aides pour les habitants qui ne paient plus leur loyer ?") == "question"
    assert detect("Comment déclarer une naissance ?") == "question"


# --- search and eligibility ----------------------------------------------------------------------


def test_a_small_commune_gets_the_detr_first_with_funder_rate_and_link(rt: Runtime) -> None:
    results = find_aides(
        rt.assistant.retriever, "refaire le toit de l'école", AideFilters.build(), andelu(rt)
    )
    first = results.aides[0]
    assert first.doc_id == "aide/programme-detr" and first.verdict.status == "eligible"
    assert first.rate == "20 à 80 %" and first.funders and first.url.startswith("https://")
    text = format_aides(results)
    assert "pour Andelu" in text and "taux : 20 à 80 %" in text and "Lien : https://" in text
    # the other aids are for communes, and their eligibility is not guessed
    assert all("Communes" in g.beneficiaries for g in results.aides)
    assert all(g.verdict.status in ("eligible", "a_verifier") for g in results.aides)


def test_a_school_roof_lists_what_can_apply_the_same_on_every_edge(
    rt: Runtime, client: TestClient
) -> None:
    """Issue 20: no other département's agency as « à vérifier », no aid matching the
    project only in passing, the DSIL there, every exclusion counted and named, and the
    chat, /v1/aides and the service giving one list."""
    results = rt.aides.find(ROOFING, commune=andelu(rt))
    ids = [g.doc_id for g in results.aides]
    assert {"aide/programme-detr", "aide/programme-dsil"} <= set(ids)
    funders = " ".join(f for g in results.aides for f in g.funders)
    for elsewhere in ("ID77", "Calvados", "Drôme", "Occitanie", "Hauts-de-France"):
        assert elsewhere not in funders
    # not padded with aids sharing a word or two with the project; ranked
    assert len(ids) <= 6
    scores = [g.score for g in results.aides if not g.doc_id.startswith("aide/programme-")]
    assert scores == sorted(scores, reverse=True)
    # every aid left out is named with its reason, and counted right
    text = format_aides(results)
    assert f"{len(results.excluded)} aides écartées, que Andelu ne peut pas demander" in text
    assert all(f"- {name} — {why}" in text for name, why in results.excluded)
    assert any("Calvados" in why for _, why in results.excluded)
    # the same list everywhere
    chat = rt.assistant.ask(ROOFING, build_filter(), commune=andelu(rt))
    assert [c.doc_id for c in chat.citations] == ids
    api = client.get("/v1/aides", params={"q": ROOFING, "commune": "78013"}).json()
    assert [a["doc_id"] for a in api["aides"]] == ids
    words = client.get("/v1/aides", params={"q": "toiture de l'école", "commune": "78013"})
    assert [a["doc_id"] for a in words.json()["aides"]] == ids


@pytest.mark.parametrize(
    ("funder", "territory"),
    [
        ("Syndicat Départemental d'Energies du Calvados (SDEC ENERGIE)", "calvados"),
        ("ID77", "seine et marne"),
        ("La Drôme Laboratoire", "drome"),
        ("Conseil départemental du Morbihan", "morbihan"),
        ("Établissement Public Foncier des Hauts-de-France (EPF)", "hauts de france"),
        ("Région Normandie", "normandie"),
        ("ALTE 69 - Agence Locale de la Transition Énergétique du Rhône", "rhone"),
        # national bodies, or a territory spanning several: none
        ("Chambres de commerce et d'industrie (CCI)", None),
        ("Direction Générale des Finances Publiques (DGFiP)", None),
        ("Banque des Territoires", None),
        ("Agence de l'eau Seine-Normandie", None),
        ("Parc naturel régional du Vexin français", None),
    ],
)
def test_a_funders_name_gives_its_territory(funder: str, territory: str | None) -> None:
    assert funder_territory(funder) == territory


def test_a_larger_commune_is_told_what_to_check(rt: Runtime) -> None:
    ablis = rt.communes.get("78003")
    results = find_aides(
        rt.assistant.retriever, "refaire le toit de l'école", AideFilters.build(), ablis
    )
    detr = next(g for g in results.aides if g.doc_id == "aide/programme-detr")
    assert detr.verdict.status == "a_verifier"
    assert "potentiel financier" in " ".join(detr.verdict.reasons)


def test_filters_by_aid_type_and_opening_day(rt: Runtime) -> None:
    aides, _ = from_csv(CSV)
    loans = {  # Plume serves communes: an aid for companies only is not one of theirs
        a.doc_id
        for a in aides
        if "Prêt" in a.aid_types and a.is_open(date.today()) and "Communes" in a.beneficiaries
    }
    found = find_aides(rt.assistant.retriever, "", AideFilters.build(aid_types=["Prêt"]), limit=50)
    assert {g.doc_id for g in found.aides} == loans and loans
    # an aid closed on 31/12/2022 is shown on that day, not the day after
    closed = next(a for a in aides if a.submission_deadline == "2022-12-31")
    on = {
        g.doc_id
        for g in find_aides(
            rt.assistant.retriever, "", AideFilters.build(open_on=date(2022, 12, 31)), limit=300
        ).aides
    }
    after = {
        g.doc_id
        for g in find_aides(
            rt.assistant.retriever, "", AideFilters.build(open_on=date(2023, 1, 1)), limit=300
        ).aides
    }
    assert closed.doc_id in on and closed.doc_id not in after


def elsewhere(places: list[str | None]) -> bool:
    return bool(places) and all(p not in (None, "yvelines", "ile de france") for p in places)


def test_deadlines_within_n_days_match_the_export(rt: Runtime) -> None:
    on = date(2022, 11, 20)
    aides, _ = from_csv(CSV)
    expected = sorted(
        (a.submission_deadline, a.doc_id)
        for a in aides
        if a.submission_deadline
        and on.isoformat() <= a.submission_deadline <= (on + timedelta(days=30)).isoformat()
        and "Communes" in a.beneficiaries
        # an aid whose funders are all another territory's is not Andelu's (« … SDE22 »)
        and not elsewhere(funder_territories(a.funders))
    )
    results = closing_soon(rt.assistant.retriever, andelu(rt), 30, on=on)
    assert [(g.deadline, g.doc_id) for g in results.aides] == expected and expected


def test_the_watch_digest_ends_on_the_aids_closing_soon(rt: Runtime) -> None:
    soon = deadlines(rt.assistant.retriever, andelu(rt), 30, on=date(2022, 11, 20))
    md = digest([], date(2022, 11, 1), "md", deadlines=soon)
    assert "## Aides qui ferment dans les 30 prochains jours (Andelu)" in md
    assert soon.results.aides[0].name in md and "date limite : " in md
    body = json.loads(digest([], date(2022, 11, 1), "json", deadlines=soon))
    assert body["deadlines"]["within_days"] == 30 and body["deadlines"]["aides"]
    html = digest([], date(2022, 11, 1), "html", deadlines=soon)
    assert "<h2>Aides qui ferment dans les 30 prochains jours (Andelu)</h2>" in html


# --- in the chat ----------------------------------------------------------------------------------


def test_a_grant_question_in_the_chat_lists_the_aids_for_the_commune(rt: Runtime) -> None:
    answer = rt.assistant.ask(ROOF, build_filter(), commune=andelu(rt))
    assert answer.mode == "grants"
    assert answer.citations[0].doc_id == "aide/programme-detr"
    assert "[1]" in answer.text and "date limite" in answer.text and "Éligibilité" in answer.text
    without = rt.assistant.ask(ROOF, build_filter())
    assert "Choisissez votre commune" in without.text
    # what similar communes obtained: the school roofs of the Yvelines list
    assert "Projets comparables déjà financés : 1 projet comparable financé (DETR 1)" in answer.text
    assert "toits isolants sur le bâtiment de l’école" in answer.text


def test_what_similar_projects_obtained_is_answered_with_real_figures(rt: Runtime) -> None:
    answer = rt.assistant.ask(
        "Quels projets de vidéoprotection ont déjà été financés, et combien ?", build_filter()
    )
    assert answer.mode == "precedents"
    assert "28 projets comparables financés (DETR 28)" in answer.text
    assert "préfecture" in answer.text  # the list it comes from
    # funded projects are figures, not sources a plain question quotes
    hits = rt.assistant.search("vidéoprotection", build_filter())
    assert all(p.field("kind") != "projet" for p in hits)


def test_the_worked_example_is_computed_in_extractive_mode(rt: Runtime) -> None:
    answer = rt.assistant.ask(WORKED_EXAMPLE, build_filter())
    assert answer.mode == "computation" and answer.tool is not None
    assert answer.tool["called_by"] == "question"
    result = answer.tool["result"]
    assert (result["eligible_total"], result["rate"], result["grant"]) == ("1000.00", 50, "500.00")
    assert "500,00 €" in answer.text
    assert [c.doc_id for c in answer.citations] == ["aide/programme-territoires-d-ia"]


def test_the_model_calls_the_calculator_as_a_tool(
    settings: Settings, rt: Runtime, fake: FakeMistral
) -> None:
    llm_settings = Settings(
        data_dir=settings.data_dir, mistral_api_key="k", mistral_server_url=fake.url
    )
    chat = rt.assistant.chat
    previous, chat.llm = chat.llm, build_llm(llm_settings)
    try:
        fake.tool_calls = [
            ToolCallSpec(
                "calculer_cofinancement",
                {
                    "licences_amount": 500,
                    "deployment_amount": 2000,
                    "licence_count": 600,
                    "ia_frugale": True,
                },
            )
        ]
        answer = rt.assistant.ask(
            "Territoires d'IA : combien pour notre projet de licences ?", build_filter()
        )
        assert answer.mode == "computation" and answer.tool is not None
        assert answer.tool["called_by"] == "modele" and answer.tool["result"]["grant"] == "500.00"
        (call,) = fake.chat_calls
        tools = call.body["tools"]
        assert [t["function"]["name"] for t in tools] == ["calculer_cofinancement"]
        assert "licences_amount" in tools[0]["function"]["parameters"]["required"]
        # the model's arguments are checked like any input
        fake.tool_calls = [ToolCallSpec("calculer_cofinancement", {"licences_amount": -5})]
        refused = rt.assistant.ask("Territoires d'IA : et avec -5 € de licences ?", build_filter())
        assert refused.flags == ["calcul_impossible"] and "positif" in refused.text
    finally:
        fake.reset()
        chat.llm = previous


def test_the_question_parser_reads_amounts_partners_and_flags() -> None:
    req = request_from_question(
        "Cofinancement Territoires d'IA : licences 12 000 €, formation 3 000 euros, "
        "avec trois autres communes ; nous portons 25 %"
    )
    assert req is not None
    assert (req.licences_amount, req.deployment_amount) == (12000, 3000)
    assert req.other_beneficiaries == 3 and req.applicant_share == 0.25
    assert request_from_question("Territoires d'IA : comment ça marche ?") is None


@pytest.mark.parametrize(
    ("question", "unknown"),
    [
        (AT_MOST, {"mutualisation", "licences", "territoires_fragiles", "ia_frugale"}),
        ("Territoires d'IA : jusqu'à combien pour 1 200 € de licences ?", "all"),
        ("Quel plafond de cofinancement pour 3 000 € de licences ?", "all"),
        ("Cofinancement pour 500 € de licences et 2 000 € de formation ?", "all"),  # none said
        (
            "Cofinancement au mieux, 500 € de licences, IA frugale ?",
            {"mutualisation", "licences", "territoires_fragiles"},
        ),
        ("Cofinancement, 500 € de licences, IA frugale ?", set()),  # a condition: exact
        ("Cofinancement, 500 € de licences, mutualisé, IA frugale ?", {"mutualisation"}),
        ("Cofinancement, 500 € de licences, avec 3 autres communes ?", set()),
        ("Cofinancement, 500 € de licences, nous ne sommes pas en QPV", set()),
    ],
)
def test_the_question_says_which_conditions_are_open(question: str, unknown: Any) -> None:
    expected = {"mutualisation", "licences", "territoires_fragiles", "ia_frugale"}
    assert conditions_in(question).unknown == (expected if unknown == "all" else unknown)


def test_the_question_parser_reads_negations_and_partners_with_avec() -> None:
    req = request_from_question(
        "Cofinancement : 500 € de licences, mutualisé avec 3 communes, pas d'IA frugale, "
        "nous ne sommes pas en outre-mer"
    )
    assert req is not None and req.other_beneficiaries == 3
    assert not req.ia_frugale and not req.outre_mer
    alone = request_from_question("Cofinancement : 500 € de licences, notre commune seule")
    assert alone is not None and alone.other_beneficiaries == 0
    among = request_from_question("Cofinancement : 500 € de licences, achat entre 4 communes")
    assert among is not None and among.other_beneficiaries == 3


def test_a_maximum_question_gets_the_range_with_and_without_a_model(
    settings: Settings, rt: Runtime, fake: FakeMistral
) -> None:
    extractive = rt.assistant.ask(AT_MOST, build_filter())
    assert extractive.mode == "computation" and extractive.tool is not None
    result = extractive.tool["result"]
    assert (result["grant"], result["maximum"]["grant"]) == ("300.00", "500.00")
    assert "va de 300,00 € à 500,00 €" in extractive.text
    assert [c.doc_id for c in extractive.citations] == ["aide/programme-territoires-d-ia"]
    llm_settings = Settings(
        data_dir=settings.data_dir, mistral_api_key="k", mistral_server_url=fake.url
    )
    chat = rt.assistant.chat
    previous, chat.llm = chat.llm, build_llm(llm_settings)
    try:  # the model fills every argument, « no » included: the words still ask for the most
        fake.tool_calls = [
            ToolCallSpec(
                "calculer_cofinancement",
                {"licences_amount": 500, "deployment_amount": 2000, "ia_frugale": False},
            )
        ]
        answer = rt.assistant.ask(AT_MOST, build_filter())
        assert answer.tool is not None and answer.tool["called_by"] == "modele"
        assert answer.tool["result"]["maximum"]["grant"] == "500.00"
        assert "« IA frugale »" in answer.text
        fake.tool_calls = [
            ToolCallSpec(
                "calculer_cofinancement",
                {"licences_amount": 500, "deployment_amount": 2000, "ia_frugale": True},
            )
        ]
        exact = rt.assistant.ask(
            "Territoires d'IA : combien pour 500 € de licences et 2 000 € de déploiement en IA "
            "frugale ?",
            build_filter(),
        )
        assert exact.tool is not None and exact.tool["result"]["grant"] == "400.00"
        assert exact.tool["result"]["maximum"] is None
    finally:
        fake.reset()
        chat.llm = previous


# --- API and CLI ----------------------------------------------------------------------------------


def test_api_aides_get_and_post(client: TestClient) -> None:
    got = client.get("/v1/aides", params={"q": "refaire le toit de l'école", "commune": "78013"})
    assert got.status_code == 200
    body = got.json()
    assert body["commune"] == "78013" and body["aides"][0]["doc_id"] == "aide/programme-detr"
    assert body["aides"][0]["verdict"]["status"] == "eligible" and "Andelu" in body["text"]
    posted = client.post("/v1/aides", json={"q": "éclairage public", "aid_types": ["Subvention"]})
    assert posted.status_code == 200
    assert all("Subvention" in a["aid_types"] for a in posted.json()["aides"])


def test_api_aides_bad_input_is_a_clear_4xx(client: TestClient) -> None:
    bad = client.get("/v1/aides", params={"closing_within": -3})
    assert bad.status_code == 400 and "jours" in bad.json()["error"]["message"]
    unknown = client.get("/v1/aides", params={"commune": "99999"})
    assert unknown.status_code == 404 and "99999" in unknown.json()["error"]["message"]
    typo = client.post("/v1/aides", json={"aid_types": ["Donation"]})
    assert typo.status_code == 400 and "Donation" in typo.json()["error"]["message"]
    past = client.post("/v1/aides", json={"closing_by": "2020-01-01"})
    assert past.status_code == 400 and "déjà passée" in past.json()["error"]["message"]


def test_api_chat_uses_the_commune_and_the_deadlines_route(client: TestClient) -> None:
    resp = client.post("/v1/chat", json={"question": ROOF, "commune": "78013"})
    assert resp.status_code == 200 and resp.json()["mode"] == "grants"
    assert "Andelu" in resp.json()["answer"]
    soon = client.get("/v1/aides/echeances", params={"commune": "78013", "within": 30})
    assert soon.status_code == 200 and soon.json()["within_days"] == 30
    veille = client.get(
        "/v1/veille", params={"since": "2026-01-01", "commune": "78013", "format": "md"}
    )
    assert (
        veille.status_code == 200 and "Aides qui ferment dans les 30 prochains jours" in veille.text
    )


def test_cli_end_to_end(tmp_path: Path) -> None:
    """The administrator's and the secretary's commands, on an index of their own."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "packages").symlink_to(_packages(), target_is_directory=True)
    env = {"PLUME_DATA_DIR": str(data)}

    def plume(*args: str) -> Any:
        return CliRunner().invoke(app, list(args), env=env)

    assert plume("ingest", "aides-territoires", "--path", str(CSV)).exit_code == 0
    assert plume("ingest", "programmes").exit_code == 0
    assert plume("commune", "ajouter", "78013").exit_code == 0
    shown = plume("aides", "refaire le toit de l'école", "--commune", "78013", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["aides"][0]["doc_id"] == "aide/programme-detr"
    text = plume("aides", "refaire le toit de l'école", "--commune", "78013")
    assert "Dotation d'équipement des territoires ruraux" in text.output
    bad = plume("aides", "--cloture-dans", "-1")
    assert bad.exit_code != 0 and "jours" in bad.output
    veille = plume("veille", "digest", "--since", "2026-01-01", "--commune", "78013")
    assert veille.exit_code == 0 and "Aides qui ferment" in veille.output
    asked = plume("ask", WORKED_EXAMPLE, "--json")
    assert asked.exit_code == 0 and json.loads(asked.output)["tool"]["result"]["grant"] == "500.00"
