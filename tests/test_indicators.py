"""Impact indicators computed from the real records of a test session (API with keys,
a fake Mistral for tokens and energy, feedback), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.main import create_app
from assistant.records.indicators import DAYS_PER_MONTH, period
from assistant.runtime import Runtime
from cli.main import app as cli
from ingestion.service import ingest_source
from plume.db.models import AuditEntry
from plume.errors import InvalidRecordsRequest
from plume.keys import KeyStore
from plume.settings import Settings
from tests.conftest import make_mini_corpus, package_root
from tests.databases import KINDS, fresh_database
from tests.fakes.mistral import FakeMistral
from tests.test_generation import last_user_text, sources_of

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
QUESTIONS = [
    "Qui peut demander la copie intégrale d'un acte de naissance ?",
    "Comment s'inscrire sur les listes électorales ?",
    "Quelle est la durée d'une concession funéraire ?",
    "Comment déclarer une association ?",
]
OFF_TOPIC = "Quelle est la vitesse de croisière d'un albatros hurleur ?"


@dataclass
class Session:
    client: TestClient
    runtime: Runtime
    settings: Settings
    modes: dict[str, list[str]] = field(default_factory=dict)  # commune → modes
    energy: float = 0.0


def _first_sentence_cited(body: dict[str, Any]) -> str:
    """A model that answers with its first source's first sentence, cited: an answer the
    citation check keeps (its words are its passage's)."""
    if "Sources :" not in last_user_text(body):
        return "La demande se fait auprès de la mairie. [1]"  # not an answer prompt
    sources = sources_of(body)
    n = min(sources)
    first = re.split(r"(?<=[.!?])\s", sources[n][1].strip(), maxsplit=1)[0]
    return f"{first[:300]} [{n}]"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    with FakeMistral() as server:
        server.chat_reply = _first_sentence_cited
        yield server


@pytest.fixture(scope="module", params=KINDS)
def session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake: FakeMistral
) -> Iterator[Session]:
    root = tmp_path_factory.mktemp("indicators")
    with fresh_database(request.param, root) as url:
        settings = Settings(
            data_dir=root / "data",
            database_url=url,
            admin_token=TOKEN,
            mistral_api_key="k",
            mistral_server_url=fake.url,
            dense_enabled=False,
        )
        runtime = Runtime.build(settings)
        corpus = make_mini_corpus(package_root(), root / "corpus")
        ingest_source(settings, runtime.store, None, "service-public", path=corpus)
        runtime.refresh_stats()
        with TestClient(create_app(settings, runtime=runtime)) as client:
            yield _play(Session(client, runtime, settings))
        runtime.close()


def _play(s: Session) -> Session:
    """Two communes, three agents' keys, an anonymous visitor; questions and feedback."""
    keys = KeyStore(s.settings.data_dir)
    a1, a2 = (keys.create("78003", label=f"agent {n}").key for n in (1, 2))
    b1 = keys.create("25176", label="agent").key
    for commune, body in (
        ("78003", {"name": "Aubergenville", "licences": 5, "users": 4, "trained": 3}),
        ("25176", {"name": "Chalezeule", "licences": 2, "users": 2, "trained": 1}),
    ):
        r = s.client.put(f"/v1/admin/deploiements/{commune}", json=body, headers=ADMIN)
        assert r.status_code == 200, r.text
    plan: list[tuple[str | None, str, str | None]] = [
        (a1, QUESTIONS[0], "up"),
        (a1, QUESTIONS[1], "up"),
        (a1, QUESTIONS[2], "down"),
        (a2, QUESTIONS[3], None),
        (b1, QUESTIONS[0], "up"),
        (b1, OFF_TOPIC, None),
        (None, QUESTIONS[1], "down"),
    ]
    for key, question, rating in plan:
        headers = {"X-Plume-Key": key} if key else {}
        answer = s.client.post("/v1/chat", json={"question": question}, headers=headers).json()
        commune = {a1: "78003", a2: "78003", b1: "25176"}.get(key, "commun")
        s.modes.setdefault(commune, []).append(answer["mode"])
        s.energy += (answer.get("impact") or {}).get("energy_kwh") or 0.0
        if rating:
            ids = {k: answer[k] for k in ("conversation_id", "message_id")}
            r = s.client.post("/v1/feedback", json={**ids, "rating": rating}, headers=headers)
            assert r.status_code == 201
    return s


class _Done:
    def as_dict(self) -> dict[str, object]:
        return {"added": 1}


def _row(report: dict[str, Any], commune: str) -> dict[str, Any]:
    return next(c for c in report["communes"] if c["commune"] == commune)


def test_indicators_from_the_session(session: Session) -> None:
    today = date.today().isoformat()
    r = session.client.get(f"/v1/admin/indicators?from={today}&to={today}", headers=ADMIN)
    assert r.status_code == 200, r.text
    report = r.json()
    months = 1 / DAYS_PER_MONTH

    aubergenville = _row(report, "78003")
    answered = sum(m != "refusal" for m in session.modes["78003"])
    assert aubergenville | {"hours_per_agent_month": None, "energy_kwh": 0, "gwp_kgco2eq": 0} == {
        "commune": "78003",
        "name": "Aubergenville",
        "licences": 5,
        "users": 4,
        "trained": 3,
        "active_users": 2,
        "questions": 4,
        "answered": answered,
        "adoption_rate": 0.5,
        "ratings_up": 2,
        "ratings_down": 1,
        "satisfaction_rate": 0.667,
        "hours_saved": round(answered * 6 / 60, 2),
        "hours_per_agent_month": None,
        "energy_kwh": 0,
        "gwp_kgco2eq": 0,
    }
    assert aubergenville["hours_per_agent_month"] == pytest.approx(
        answered * 6 / 60 / 2 / months, rel=0.01
    )
    chalezeule = _row(report, "25176")
    assert (chalezeule["active_users"], chalezeule["questions"]) == (1, 2)
    assert chalezeule["answered"] == 1 and "refusal" in session.modes["25176"]
    assert chalezeule["satisfaction_rate"] == 1.0 and chalezeule["adoption_rate"] == 0.5
    anonymous = _row(report, "commun")
    assert (anonymous["questions"], anonymous["active_users"], anonymous["ratings_down"]) == (
        1,
        0,
        1,
    )
    assert anonymous["hours_per_agent_month"] is None and anonymous["adoption_rate"] is None

    total = report["total"]
    assert (total["questions"], total["active_users"], total["licences"]) == (7, 3, 7)
    assert total["satisfaction_rate"] == 0.6  # 3 up, 2 down
    assert "generative" in session.modes["78003"]
    assert (
        total["energy_kwh"] == pytest.approx(session.energy, rel=0.01) and total["energy_kwh"] > 0
    )
    assert total["gwp_kgco2eq"] > 0
    assert "6 minutes" in report["productivity_method"]
    assert report["monthly"] == [
        {"month": today[:7], "questions": 7, "answered": total["answered"]}
    ]

    yesterday = (date.today() - timedelta(days=1)).isoformat()
    empty = session.client.get(
        f"/v1/admin/indicators?from={yesterday}&to={yesterday}", headers=ADMIN
    ).json()
    assert empty["total"]["questions"] == 0 and empty["total"]["licences"] == 7


def test_csv_html_and_cli_agree(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    today = date.today().isoformat()
    url = f"/v1/admin/indicators?from={today}&to={today}"
    api_csv = session.client.get(url + "&format=csv", headers=ADMIN)
    assert api_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(api_csv.text), delimiter=";"))
    assert [r["commune"] for r in rows] == ["25176", "78003", "commun", "total"]
    assert rows[-1]["questions"] == "7"

    html = session.client.get(url + "&format=html", headers=ADMIN).text
    assert html.count('<img alt="" src="data:image/png;base64,') == 3
    assert "Aubergenville" in html and "Méthode" in html

    monkeypatch.setenv("PLUME_DATA_DIR", str(session.settings.data_dir))
    monkeypatch.setenv("PLUME_DATABASE_URL", session.settings.records_url)
    result = CliRunner().invoke(cli, ["indicateurs", "--from", today, "--to", today, "--csv"])
    assert result.exit_code == 0, result.output
    assert result.output == api_csv.text


def test_admin_actions_are_audited(session: Session) -> None:
    with session.runtime.records.db.session() as s:
        entries = s.scalars(select(AuditEntry)).all()
    puts = [e for e in entries if e.action == "PUT"]
    assert [e.target for e in puts] == [
        "/v1/admin/deploiements/78003",
        "/v1/admin/deploiements/25176",
    ]
    assert all(e.actor == "api:testclient" for e in puts)
    assert not [e for e in entries if e.action == "GET"]  # reading is not an action
    listed = session.client.get("/v1/admin/audit?limit=2", headers=ADMIN).json()
    assert [e["target"] for e in listed] == [
        "/v1/admin/deploiements/25176",
        "/v1/admin/deploiements/78003",
    ]
    session.runtime.records.track("service-public", lambda: _Done())
    (run,) = session.client.get("/v1/admin/ingestions", headers=ADMIN).json()
    assert (run["source"], run["status"], run["counts"]) == (
        "service-public",
        "termine",
        {"added": 1},
    )


def test_bad_periods_and_tokens(session: Session) -> None:
    r = session.client.get("/v1/admin/indicators?from=2026-05-01&to=2026-01-01", headers=ADMIN)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "La date de début est après la date de fin."
    assert (
        session.client.get("/v1/admin/indicators?from=2026-13-01", headers=ADMIN).status_code == 422
    )
    assert session.client.get("/v1/admin/indicators").status_code == 401
    r = session.client.put(
        "/v1/admin/deploiements/78003",
        json={"licences": 1, "users": 1, "trained": 2},
        headers=ADMIN,
    )
    assert r.status_code == 400  # more trained than users
    with pytest.raises(InvalidRecordsRequest):
        period("2026-02-30", None)


def test_default_period_is_the_last_six_months(tmp_path: Path) -> None:
    first, last = period(None, "2026-06-30")
    assert last == date(2026, 6, 30) and (last - first).days == 182


def test_cli_declares_deployments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    args = ["deploiement", "2A004", "--licences", "3", "--utilisateurs", "2", "--formes", "2"]
    assert runner.invoke(cli, [*args, "--nom", "Ajaccio"]).exit_code == 0
    bad = runner.invoke(cli, ["deploiement", "Paris!", "--licences", "1", "--utilisateurs", "1"])
    assert bad.exit_code == 1 and "Commune invalide" in bad.output
    too_many = runner.invoke(
        cli, ["deploiement", "2A004", "--licences", "1", "--utilisateurs", "1", "--formes", "4"]
    )
    assert too_many.exit_code == 1 and "formés" in too_many.output
    report = json.loads(runner.invoke(cli, ["indicateurs", "--json"]).output)
    (row,) = report["communes"]
    assert (row["commune"], row["name"], row["licences"], row["trained"]) == (
        "2A004",
        "Ajaccio",
        3,
        2,
    )
    html = tmp_path / "rapport.html"
    assert runner.invoke(cli, ["indicateurs", "--html", str(html)]).exit_code == 0
    assert "Ajaccio" in html.read_text()
