"""Stateless replicas: two application instances in one process share one records database
(SQLite and PostgreSQL) and nothing else — each has its own data folder and its own copy of
the same index, as replicas each reach the same Qdrant. A follow-up sent to one continues
the conversation begun on the other; a restart keeps it; an idle one expires, decided by
the database's rows. Memory kept in the process would fail every one of them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from assistant.rag.conversations import MAX_TURNS, Conversations
from assistant.runtime import Runtime
from ingestion.service import ingest_source
from plume.db import Database
from plume.db.models import TABLES, ConversationTurn
from plume.settings import Settings
from tests.conftest import make_mini_corpus, package_root
from tests.databases import KINDS, fresh_database

FIRST = "Comment obtenir un acte de naissance ?"
FOLLOW_UP = "et un acte de décès ?"
ALONE = "Comment obtenir un acte de décès ?"  # the follow-up rewritten with FIRST
DEATH = "vdd/F1444"  # « Acte de décès : demande de copie intégrale »
TOKEN = "test-admin-token-0123456789abcdef"
PLUME = Path(sys.executable).parent / "plume"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder holding the index of a few real fiches, copied by each replica."""
    root = tmp_path_factory.mktemp("replicas")
    settings = Settings(data_dir=root / "index")
    runtime = Runtime.build(settings)
    corpus = make_mini_corpus(package_root(), root / "corpus")
    ingest_source(settings, runtime.store, None, "service-public", path=corpus)
    runtime.close()
    (settings.data_dir / "plume.db").unlink()  # the replicas' records are elsewhere
    return settings.data_dir


@pytest.fixture(params=KINDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@contextmanager
def replica(index: Path, folder: Path, url: str) -> Iterator[tuple[TestClient, Runtime]]:
    """An instance built from its settings, on its own copy of the index."""
    if not folder.exists():
        shutil.copytree(index, folder)
    settings = Settings(data_dir=folder, database_url=url, local_fill=False, admin_token=TOKEN)
    runtime = Runtime.build(settings)
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:
            yield client, runtime
    finally:
        runtime.close()


def ask(client: TestClient, question: str, conversation_id: str | None = None) -> dict[str, Any]:
    body = {"question": question, "conversation_id": conversation_id}
    resp = client.post("/v1/chat", json=body)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def cited(answer: dict[str, Any]) -> list[str]:
    return [c["doc_id"] for c in answer["citations"]]


def turns(url: str, cid: str) -> list[ConversationTurn]:
    db = Database(url)
    try:
        with db.session() as s:
            t = ConversationTurn
            return list(s.scalars(select(t).where(t.conversation_id == cid).order_by(t.seq)))
    finally:
        db.close()


def age(db: Database, idle: timedelta) -> None:
    """Every turn `idle` older, as if nobody had written since."""
    with db.session() as s:
        for turn in s.scalars(select(ConversationTurn)):
            turn.at -= idle


def test_a_follow_up_sent_to_the_other_replica_continues_the_conversation(
    index: Path, database: str, tmp_path: Path
) -> None:
    with (
        replica(index, tmp_path / "a", database) as (a, _),
        replica(index, tmp_path / "b", database) as (b, _),
    ):
        first = ask(a, FIRST)
        cid = first["conversation_id"]
        follow = ask(b, FOLLOW_UP, cid)
        assert follow["conversation_id"] == cid
        assert follow["question"] == ALONE  # rewritten with the turn A answered
        assert cited(follow)[0] == DEATH
        # the same follow-up in a conversation of its own is searched as it is
        assert ask(b, FOLLOW_UP)["question"] == FOLLOW_UP
        # and A reads B's turn: the conversation holds both, in order
        third = ask(a, "et un acte de mariage ?", cid)
        assert third["question"] == "Comment obtenir un acte de mariage ?"
    assert [(t.seq, t.question, t.searched) for t in turns(database, cid)] == [
        (1, FIRST, None),
        (2, FOLLOW_UP, ALONE),
        (3, "et un acte de mariage ?", "Comment obtenir un acte de mariage ?"),
    ]


def test_a_restart_keeps_the_conversation(index: Path, database: str, tmp_path: Path) -> None:
    with replica(index, tmp_path / "a", database) as (a, _):
        cid = ask(a, FIRST)["conversation_id"]
    with replica(index, tmp_path / "a", database) as (restarted, _):
        follow = ask(restarted, FOLLOW_UP, cid)
    assert follow["question"] == ALONE and cited(follow)[0] == DEATH


def test_an_idle_conversation_expires(index: Path, database: str, tmp_path: Path) -> None:
    """Idle for longer than PLUME_CONVERSATION_TTL_S (its turns aged in the database): the
    follow-up starts anew, on any replica, and the old turns are deleted."""
    with (
        replica(index, tmp_path / "a", database) as (a, runtime),
        replica(index, tmp_path / "b", database) as (b, _),
    ):
        cid = ask(a, FIRST)["conversation_id"]
        ask(a, "Comment demander une copie intégrale ?")
        idle = timedelta(seconds=runtime.settings.conversation_ttl_s + 60)
        db = runtime.records.db
        age(db, idle)
        follow = ask(b, FOLLOW_UP, cid)
        assert follow["question"] == FOLLOW_UP  # not rewritten with FIRST
        assert [(t.seq, t.question) for t in turns(database, cid)] == [(1, FOLLOW_UP)]
        # the other idle conversation's turns are gone too (swept by a query, by B)
        with db.session() as s:
            left = [t.conversation_id for t in s.scalars(select(ConversationTurn))]
        assert left == [cid]


def test_an_expired_follow_up_is_a_new_conversation_with_its_notice(
    index: Path, database: str, tmp_path: Path
) -> None:
    """The conversation's own expiry, read when it is opened (the replica swept already)."""
    with replica(index, tmp_path / "a", database) as (a, runtime):
        cid = ask(a, FIRST)["conversation_id"]
        stream = {"question": FOLLOW_UP, "conversation_id": cid, "stream": True}
        assert "event: notice" not in a.post("/v1/chat", json=stream).text
        age(runtime.records.db, timedelta(days=1))
        again = a.post("/v1/chat", json=stream).text
    assert "event: notice" in again and f'"question": "{FOLLOW_UP}"' in again


def test_two_replicas_writing_one_conversation_at_once_lose_no_turn(
    database: str,
) -> None:
    """Each replica its own engine; turns written together are numbered one after the other,
    none overwritten, each replica's in its own order; the conversation keeps its last
    MAX_TURNS."""
    dbs = [Database(database), Database(database)]
    dbs[0].upgrade()
    replicas = [Conversations(db) for db in dbs]
    cid, per_replica = "commun_0123456789abcdef0123", 12

    def write(n: int) -> None:
        for i in range(per_replica):
            _, memory, _ = replicas[n].open(cid)
            replicas[n].remember(memory, f"{n}:{i}", "réponse")

    threads = [threading.Thread(target=write, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = turns(database, cid)
    assert [t.seq for t in kept] == list(
        range(2 * per_replica - MAX_TURNS + 1, 2 * per_replica + 1)
    )
    for n in (0, 1):
        mine = [int(t.question.split(":")[1]) for t in kept if t.question.startswith(f"{n}:")]
        assert mine == sorted(mine)
    _, memory, new = replicas[1].open(cid)
    assert not new and len(memory.turns) == MAX_TURNS
    assert Conversations.last_searched(memory) == kept[-1].question
    for db in dbs:
        db.close()


def test_turns_are_redacted_purged_and_left_out_of_exports(
    index: Path, database: str, tmp_path: Path
) -> None:
    with replica(index, tmp_path / "a", database) as (a, runtime):
        question = "acte de naissance pour jean.dupont@exemple.fr, 06 12 34 56 78"
        cid = ask(a, question)["conversation_id"]
        [turn] = turns(database, cid)
        assert "jean.dupont" not in turn.question and "06 12" not in turn.question
        assert "[courriel]" in turn.question
        manifest = runtime.backups.export(tmp_path / "export", "test")
        assert not any("conversation_turns" in name for name in manifest.files)
        assert ConversationTurn not in TABLES  # working memory: left out deliberately
        # the retention purge deletes them with their conversation, whatever the TTL
        later = turn.at + timedelta(days=runtime.settings.retention_days + 1)
        result = runtime.records.purge(runtime.settings.retention_days, now=later)
        assert result.turns == 1 and result.conversations == 1
        assert turns(database, cid) == []


def test_the_ingestion_job_runs_apart_from_the_api(
    index: Path, database: str, tmp_path: Path
) -> None:
    """`plume ingest` in its own process, on the server backend and the replicas' database,
    while a replica answers; its run is then read by the replica. (Qdrant's local mode in a
    folder stands for the server: no Qdrant server runs here.)"""
    fiches = tmp_path / "fiches" / "data" / "particuliers"
    fiches.mkdir(parents=True)
    shutil.copy(package_root() / "data" / "particuliers" / "F1432.json", fiches)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")} | {
        "PLUME_DATA_DIR": str(tmp_path / "job"),
        "PLUME_STORE_BACKEND": "server",
        "PLUME_QDRANT_URL": str(tmp_path / "qdrant"),
        "PLUME_DATABASE_URL": database,
    }
    command = [str(PLUME), "ingest", "service-public", "--path", str(tmp_path / "fiches")]
    with replica(index, tmp_path / "a", database) as (a, _):
        job = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        answered = 0
        while job.poll() is None:  # one a second: within the API's rate limit
            assert ask(a, FIRST)["citations"]
            answered += 1
            time.sleep(1.0)
        output = job.communicate(timeout=300)[0].decode()
        assert job.returncode == 0, output
        runs = a.get("/v1/admin/ingestions", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answered > 0
    [run] = runs.json()
    assert run["source"] == "service-public" and run["status"] == "termine"
    assert run["counts"]["documents"] == 1 and run["counts"]["added"] > 0  # its passages


def test_replicas_starting_together_migrate_one_at_a_time(tmp_path: Path) -> None:
    """Two replicas' first start on an empty PostgreSQL database: both apply the migrations
    at once, one after the other (an advisory lock), and both start."""
    with fresh_database("postgresql", tmp_path) as url:
        dbs = [Database(url) for _ in range(2)]
        failures: list[BaseException] = []

        def start(db: Database) -> None:
            try:
                db.upgrade()
            except Exception as exc:  # reported by the assertion below
                failures.append(exc)

        threads = [threading.Thread(target=start, args=(db,)) for db in dbs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert "conversation_turns" in dbs[0].tables()
        for db in dbs:
            db.close()
