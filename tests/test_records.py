"""Records: answers, feedback and purge, through the real API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from assistant.records.service import Asker, Records
from assistant.runtime import Runtime
from ingestion.service import ingest_source
from plume.db import Database
from plume.db.models import AnswerUsage, AuditEntry, Conversation, Feedback, Message, utcnow
from plume.errors import UnknownMessage
from plume.keys import KeyStore
from plume.settings import Settings
from tests.conftest import make_mini_corpus, package_root
from tests.databases import KINDS, fresh_database

QUESTION = "copie intégrale acte de naissance (md@ex.fr, 06 12 34 56 78)"
ANSWERED = "Qui peut demander la copie intégrale d'un acte de naissance ?"


@pytest.fixture(scope="module", params=KINDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Runtime]]:
    root = tmp_path_factory.mktemp("records")
    with fresh_database(request.param, root) as url:
        settings = Settings(data_dir=root / "data", database_url=url)
        runtime = Runtime.build(settings)
        ingest_source(
            settings,
            runtime.store,
            None,
            "service-public",
            path=make_mini_corpus(package_root(), root / "corpus"),
        )
        with TestClient(create_app(settings, runtime=runtime)) as client:
            yield client, runtime
        runtime.close()


def _messages(runtime: Runtime) -> dict[str, Message]:
    with runtime.records.db.session() as s:
        return {m.id: m for m in s.scalars(select(Message))}


def test_an_answer_is_recorded_redacted_with_its_usage(
    served: tuple[TestClient, Runtime],
) -> None:
    client, runtime = served
    body = client.post("/v1/chat", json={"question": QUESTION}).json()
    message = _messages(runtime)[body["message_id"]]
    assert message.conversation_id == body["conversation_id"]
    assert "md@ex.fr" not in message.question and "06 12" not in message.question
    assert "[courriel]" in message.question and "[telephone]" in message.question
    assert message.mode == body["mode"]  # recorded, whatever the answer
    body = client.post("/v1/chat", json={"question": ANSWERED}).json()
    message = _messages(runtime)[body["message_id"]]
    assert message.mode == "extractive" and message.question == ANSWERED
    assert message.sources == [c["doc_id"] for c in body["citations"]] != []
    with runtime.records.db.session() as s:
        usage = s.get(AnswerUsage, body["message_id"])
        assert usage is not None and usage.tenant == "commun" and usage.latency_s > 0


def test_feedback_contract(served: tuple[TestClient, Runtime]) -> None:
    client, runtime = served
    answer = client.post("/v1/chat", json={"question": "acte de naissance"}).json()
    ids = {"conversation_id": answer["conversation_id"], "message_id": answer["message_id"]}
    r = client.post("/v1/feedback", json={**ids, "rating": "up", "comment": None})
    assert r.status_code == 201 and r.json() == {"status": "ok"}
    r = client.post(
        "/v1/feedback",
        json={**ids, "rating": "down", "comment": "Incomplet, écrivez-moi : a.b@c.fr"},
    )
    assert r.status_code == 201
    with runtime.records.db.session() as s:
        fb = s.get(Feedback, answer["message_id"])
        assert fb is not None and fb.rating == "down"  # the last rating counts
        assert fb.comment == "Incomplet, écrivez-moi : [courriel]"

    unknown = client.post("/v1/feedback", json={**ids, "message_id": "inconnu123", "rating": "up"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "message_inconnu"
    other_conversation = client.post(
        "/v1/feedback", json={**ids, "conversation_id": "autre-conversation", "rating": "up"}
    )
    assert other_conversation.status_code == 404
    for bad in (
        {**ids, "rating": "bof"},
        {**ids, "rating": "up", "comment": "x" * 2001},
        {"message_id": answer["message_id"], "rating": "up"},
        {**ids, "rating": "up", "extra": 1},
    ):
        r = client.post("/v1/feedback", json=bad)
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "requete_invalide"


def test_a_streamed_answer_is_recorded_before_done(served: tuple[TestClient, Runtime]) -> None:
    client, runtime = served
    with client.stream(
        "POST", "/v1/chat", json={"question": "concession funéraire", "stream": True}
    ) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
    meta = next(json.loads(line[5:]) for line in lines if "message_id" in line)
    assert meta["message_id"] in _messages(runtime)
    r = client.post(
        "/v1/feedback",
        json={
            "conversation_id": meta["conversation_id"],
            "message_id": meta["message_id"],
            "rating": "up",
        },
    )
    assert r.status_code == 201


def test_a_key_holder_is_recorded_under_its_commune(served: tuple[TestClient, Runtime]) -> None:
    client, runtime = served
    key = KeyStore(runtime.settings.data_dir).create("78003", label="Mairie d'Aubergenville")
    body = client.post(
        "/v1/chat",
        json={"question": "inscription sur les listes électorales"},
        headers={"X-Plume-Key": key.key},
    ).json()
    with runtime.records.db.session() as s:
        conversation = s.get(Conversation, body["conversation_id"])
        assert conversation is not None
        assert (conversation.tenant, conversation.key_id) == ("78003", key.id)
        assert key.key not in json.dumps([conversation.key_id])  # never the secret


@pytest.mark.parametrize("kind", KINDS)
def test_purge_keeps_ratings_and_usage(kind: str, tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as url:
        db = Database(url)
        db.upgrade()
        db.upgrade()  # idempotent
        assert {
            "conversations",
            "messages",
            "feedback",
            "answer_usage",
            "audit_log",
            "ingestion_runs",
            "deployments",
            "alembic_version",
        } <= set(db.tables())
        records = Records(db)
        now = utcnow()
        for n, age in enumerate((40, 31, 2)):
            records.record_answer(
                "question",
                {
                    "conversation_id": f"c{n}",
                    "message_id": f"m{n}",
                    "answer": "réponse",
                    "mode": "extractive",
                    "confidence": 1.0,
                },
                Asker(),
                latency_s=0.1,
                at=now - timedelta(days=age),
            )
            records.add_feedback(f"c{n}", f"m{n}", "up", "merci", at=now - timedelta(days=age))
        result = records.purge(30, now=now)
        assert result.as_dict() == {"conversations": 2, "messages": 2, "comments": 2, "turns": 0}
        with db.session() as s:
            assert [m.id for m in s.scalars(select(Message))] == ["m2"]
            assert len(s.scalars(select(AnswerUsage)).all()) == 3
            comments = {f.message_id: f.comment for f in s.scalars(select(Feedback))}
            assert comments == {"m0": None, "m1": None, "m2": "merci"}
        with pytest.raises(UnknownMessage):
            records.add_feedback("c0", "m0", "down")  # purged: no new feedback on it
        db.close()


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("écrire à jean.dupont@mairie-flaux.fr svp", "écrire à [courriel] svp"),
        ("IBAN FR76 3000 6000 0112 3456 7890 189.", "IBAN [iban]."),
        ("iban FR7630006000011234567890189", "iban [iban]"),
        ("NIR 1 85 05 78 006 048 22", "NIR [nir]"),
        ("n° 2850578006048, né en Corse : 1 85 05 2A 006 048", "n° [nir], né en Corse : [nir]"),
        ("tél. 06 12 34 56 78 ou 01.23.45.67.89", "tél. [telephone] ou [telephone]"),
        (
            "+33 6 12 34 56 78 / +33612345678 / 0033 1 23 45 67 89",
            "[telephone] / [telephone] / [telephone]",
        ),
        # what must stay: articles, INSEE and postal codes, dates, amounts, fiche ids
        (
            "article L2223-14 du CGCT, commune 78003, le 2019-11-26, 1 000 000 €, F1427",
            "article L2223-14 du CGCT, commune 78003, le 2019-11-26, 1 000 000 €, F1427",
        ),
        (
            "délai de 2 mois, 12 345 habitants, code 2A004",
            "délai de 2 mois, 12 345 habitants, code 2A004",
        ),
    ],
)
def test_redaction(text: str, redacted: str) -> None:
    from assistant.records.redaction import redact

    assert redact(text) == redacted


def test_redaction_can_be_turned_off(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.db'}")
    db.upgrade()
    Records(db, redact_texts=False).record_answer(
        "mon mail : a@b.fr",
        {"conversation_id": "c", "message_id": "m", "mode": "refusal"},
        Asker(),
        latency_s=0.0,
    )
    with db.session() as s:
        message = s.get(Message, "m")
        assert message is not None and message.question == "mon mail : a@b.fr"
    db.close()


@pytest.mark.parametrize("kind", KINDS)
def test_ingestion_runs_and_daily_usage(kind: str, tmp_path: Path) -> None:
    from plume.db.models import IngestionRun
    from plume.errors import SourceUnreachable

    @dataclass
    class Summary:
        errors: list[str]

        def as_dict(self) -> dict[str, object]:
            return {"added": 3, "errors": self.errors}

    with fresh_database(kind, tmp_path) as url:
        db = Database(url)
        db.upgrade()
        records = Records(db)
        assert records.track("service-public", lambda: Summary([])).errors == []
        records.track("legi", lambda: Summary(["LEGIARTI1 : illisible"]))

        def unreachable() -> Summary:
            raise SourceUnreachable("Registre npm injoignable.")

        with pytest.raises(SourceUnreachable):
            records.track("aides-territoires", unreachable)
        with db.session() as s:
            runs = {r.source: r for r in s.scalars(select(IngestionRun))}
        assert {k: r.status for k, r in runs.items()} == {
            "service-public": "termine",
            "legi": "erreurs",
            "aides-territoires": "echec",
        }
        assert runs["service-public"].counts == {"added": 3, "errors": []}
        assert runs["aides-territoires"].error == "Registre npm injoignable."
        assert all(r.duration_s is not None and r.finished_at for r in runs.values())

        for n, (tokens, energy) in enumerate([(0, None), (120, 1e-4), (80, None)]):
            records.record_answer(
                "q",
                {
                    "conversation_id": f"c{n}",
                    "message_id": f"m{n}",
                    "mode": "generative",
                    "usage": {"prompt_tokens": 10 * bool(tokens), "completion_tokens": tokens},
                    "impact": {"energy_kwh": energy, "gwp_kgco2eq": energy},
                },
                Asker(),
                latency_s=1.0,
            )
        (today,) = records.daily_usage()
        assert (today.answers, today.completion_tokens, today.unknown_impact_answers) == (2, 200, 1)
        assert today.energy_kwh == pytest.approx(1e-4)
        db.close()


def test_cli_db_upgrade_and_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cli.main import app as cli

    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0 and "Base à jour" in result.output
    db = Database(f"sqlite:///{tmp_path / 'plume.db'}")
    records = Records(db)
    records.record_answer(
        "q",
        {"conversation_id": "c", "message_id": "m", "mode": "refusal"},
        Asker(),
        latency_s=0.0,
        at=utcnow() - timedelta(days=10),
    )
    result = CliRunner().invoke(cli, ["purge", "--jours", "7"])
    assert result.exit_code == 0 and "1 conversation(s), 1 message(s)" in result.output
    result = CliRunner().invoke(cli, ["purge", "--jours", "0"])
    assert result.exit_code == 1 and "au moins un jour" in result.output
    with db.session() as s:
        assert [a.action for a in s.scalars(select(AuditEntry))] == ["purge"]
    db.close()


@pytest.mark.parametrize(
    "url", ["pas-une-url", "oracle://x@y/z", "postgresql://plume@127.0.0.1:1/plume"]
)
def test_a_bad_database_is_a_clear_error(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from cli.main import app as cli

    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLUME_DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 1
    assert "PLUME_DATABASE_URL invalide" in result.output or "injoignable" in result.output
    assert "Traceback" not in result.output


def test_the_answer_comes_even_when_recording_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import text

    settings = Settings(data_dir=tmp_path / "data")
    runtime = Runtime.build(settings)
    with runtime.records.db.engine.begin() as c:
        c.execute(text("DROP TABLE answer_usage"))
    with TestClient(create_app(settings, runtime=runtime)) as client:
        r = client.post("/v1/chat", json={"question": "acte de naissance de marie@ex.fr"})
        assert r.status_code == 200 and r.json()["mode"] == "refusal"  # empty index
    assert "answer not recorded" in caplog.text and "marie@ex.fr" not in caplog.text
    runtime.close()


@pytest.mark.parametrize("kind", KINDS)
def test_migrations_match_the_models(kind: str, tmp_path: Path) -> None:
    """A model changed without its migration fails here (`alembic revision --autogenerate`)."""
    from alembic import command
    from alembic.config import Config

    from plume.db import MIGRATIONS

    with fresh_database(kind, tmp_path) as url:
        db = Database(url)
        db.upgrade()
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.check(config)  # raises when the models need a new migration
        db.close()
