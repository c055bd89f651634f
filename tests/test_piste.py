"""The live Légifrance source through PISTE, against a fake gateway on loopback.

The fake serves a small code cut from a real legi-data snapshot (Code électoral, 2015):
two sections, ten articles. What `fetch_code` assembles must parse like the snapshot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ingestion import legi, piste
from ingestion.piste import PisteClient, save_snapshot
from plume import REPO_ROOT
from plume.errors import SourceUnauthorized, SourceUnreachable, UnknownSource
from plume.settings import Settings
from plume.store import SearchFilter
from plume.store.edge import EdgeStore
from tests.fakes.piste import CLIENT_ID, CLIENT_SECRET, FakePiste, small_code

CODE_ID = "LEGITEXT000006070239"
SOURCE = REPO_ROOT.parent / "shared" / "data" / "legi" / f"{CODE_ID}.json"
PLUME = Path(sys.executable).parent / "plume"


@pytest.fixture(scope="module")
def code_tree() -> legi.Node:
    if not SOURCE.exists():
        pytest.skip(f"real Légifrance snapshot absent: {SOURCE} (../shared/data/legi)")
    tree = small_code(legi.load_code_tree(SOURCE.read_bytes(), SOURCE.name))
    assert len(list(legi.walk_articles(tree))) == 10
    return tree


@pytest.fixture
def fake(code_tree: legi.Node) -> Iterator[FakePiste]:
    with FakePiste(code_tree) as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client_for(fake: FakePiste, secret: str = CLIENT_SECRET, **kw: object) -> PisteClient:
    options: dict[str, object] = {"backoff_s": 0.0, "attempts": 3} | kw
    return PisteClient(fake.url, fake.url, CLIENT_ID, secret, **options)  # type: ignore[arg-type]


def article_ids(fake: FakePiste) -> list[str]:
    return list(fake.articles)


# --- OAuth ---------------------------------------------------------------------------------


def test_token_is_fetched_once_and_reused(fake: FakePiste) -> None:
    with client_for(fake) as client:
        for article_id in article_ids(fake)[:3]:
            client.article(article_id)
        client.table_of_contents(CODE_ID, "2015-03-22")
    assert len(fake.calls(fake.TOKEN)) == 1
    token = fake.calls(fake.TOKEN)[0].body
    assert token == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": "openid",
    }
    auths = {r.authorization for r in fake.calls(fake.ARTICLE)}
    assert len(auths) == 1 and next(iter(auths), "").startswith("Bearer ")


def test_token_is_refreshed_shortly_before_it_expires(fake: FakePiste) -> None:
    fake.token_ttl_s = 600
    clock = Clock()
    first = article_ids(fake)[0]
    with client_for(fake, clock=clock, expiry_margin_s=60) as client:
        client.article(first)
        clock.now += 500  # still 100 s to go, more than the margin
        client.article(first)
        assert len(fake.calls(fake.TOKEN)) == 1
        clock.now += 50  # within the last minute: a new token before calling
        client.article(first)
    assert len(fake.calls(fake.TOKEN)) == 2
    assert all(r.path != fake.ARTICLE or r.authorization for r in fake.requests)
    assert len(fake.calls(fake.ARTICLE)) == 3  # no call was refused


def test_a_401_gets_a_new_token_once(fake: FakePiste) -> None:
    first = article_ids(fake)[0]
    with client_for(fake) as client:
        client.article(first)
        fake.expire_tokens()  # revoked early, the client still believes in it
        assert client.article(first)["id"] == first
        assert len(fake.calls(fake.TOKEN)) == 2
        fake.fail_next(401, times=2, path=fake.ARTICLE)  # refused even with a fresh token
        with pytest.raises(SourceUnauthorized, match="API Légifrance"):
            client.article(first)
    assert len(fake.calls(fake.TOKEN)) == 3


def test_bad_credentials_give_a_french_error_without_the_secret(fake: FakePiste) -> None:
    wrong = "not-the-secret-987654321"
    with client_for(fake, secret=wrong) as client, pytest.raises(SourceUnauthorized) as caught:
        client.table_of_contents(CODE_ID)
    message = caught.value.message
    assert "identifiants" in message and "PLUME_PISTE_CLIENT_SECRET" in message
    assert wrong not in message and wrong not in repr(client)
    assert not fake.calls(fake.TOC)


# --- retries -------------------------------------------------------------------------------


def test_429_then_success_is_retried_with_backoff(fake: FakePiste) -> None:
    waits: list[float] = []
    fake.fail_next(429, times=2, path=fake.TOC)
    with client_for(fake, backoff_s=0.25, attempts=4, sleep=waits.append) as client:
        toc = client.table_of_contents(CODE_ID, "2015-03-22")
    assert toc["title"] == "Code électoral"
    assert len(fake.calls(fake.TOC)) == 3
    assert waits == [0.25, 0.5]


def test_a_token_endpoint_hiccup_is_retried(fake: FakePiste) -> None:
    fake.fail_next(503, times=1, path=fake.TOKEN)
    with client_for(fake) as client:
        client.article(article_ids(fake)[0])
    assert len(fake.calls(fake.TOKEN)) == 2


def test_500_forever_is_a_clear_error(fake: FakePiste) -> None:
    fake.fail_next(500, times=100, path=fake.ARTICLE)
    with client_for(fake, attempts=3) as client, pytest.raises(SourceUnreachable) as caught:
        client.article(article_ids(fake)[0])
    assert "500" in caught.value.message and "3 tentative(s)" in caught.value.message
    assert len(fake.calls(fake.ARTICLE)) == 3


def test_unreachable_gateway_is_a_clear_error() -> None:
    with (
        PisteClient(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
            CLIENT_ID,
            CLIENT_SECRET,
            attempts=2,
            backoff_s=0.0,
        ) as client,
        pytest.raises(SourceUnreachable, match="PISTE injoignable") as caught,
    ):
        client.table_of_contents(CODE_ID)
    assert CLIENT_SECRET not in caught.value.message


def test_unknown_or_invalid_code(fake: FakePiste) -> None:
    with client_for(fake) as client:
        with pytest.raises(UnknownSource, match="LEGITEXT000000000001"):
            client.table_of_contents("LEGITEXT000000000001")
        with pytest.raises(UnknownSource, match="invalide"):
            client.table_of_contents("code-electoral")
        with pytest.raises(UnknownSource, match="LEGIARTI000000000001"):
            client.article("LEGIARTI000000000001")


# --- the tree --------------------------------------------------------------------------------


def _facts(parsed: legi.CodeText) -> list[tuple[str, str, str, str | None, str | None, str]]:
    return [
        (a.id, a.num, a.text, a.in_force_from, a.in_force_to, " > ".join(a.breadcrumb))
        for a in parsed.articles
    ]


def test_fetch_code_parses_like_the_snapshot(fake: FakePiste, code_tree: legi.Node) -> None:
    with client_for(fake) as client:
        tree = client.fetch_code(CODE_ID, "2015-03-22")
    assert fake.calls(fake.TOC)[0].body == {
        "textId": CODE_ID,
        "date": "2015-03-22",
        "nature": "CODE",
    }
    parsed, expected = legi.parse_code(tree), legi.parse_code(code_tree)
    assert parsed.rejected == []
    assert parsed.code == expected.code
    assert len(parsed.articles) == 10
    assert _facts(parsed) == _facts(expected)
    assert [a.amended_by for a in parsed.articles] == [a.amended_by for a in expected.articles]
    assert len(fake.calls(fake.ARTICLE)) == 10


def test_limit_articles_keeps_the_first_ones(fake: FakePiste, code_tree: legi.Node) -> None:
    with client_for(fake) as client:
        tree = client.fetch_code(CODE_ID, limit_articles=3)
    parsed = legi.parse_code(tree)
    assert _facts(parsed) == _facts(legi.parse_code(code_tree))[:3]
    assert len(fake.calls(fake.ARTICLE)) == 3


def test_mapping_accepts_either_field_name() -> None:
    data = piste.legi_data("code", {"textId": CODE_ID, "titre": "Code", "dateDebut": 0})
    assert data == {
        "id": CODE_ID,
        "cid": CODE_ID,
        "title": "Code",
        "dateDebutVersion": 0,
        "dateModif": 0,
    }
    article = piste.legi_data(
        "article", {"id": "LEGIARTI000000000002", "texte": "x"}, {"num": "L1"}
    )
    assert article["num"] == "L1" and article["texte"] == "x"


def test_snapshot_is_written_atomically_and_ingested(
    fake: FakePiste, settings: Settings, tmp_path: Path
) -> None:
    from ingestion.service import ingest_source

    with client_for(fake) as client:
        path = save_snapshot(client.fetch_code(CODE_ID, "2015-03-22"), tmp_path / "piste")
    assert path == tmp_path / "piste" / f"{CODE_ID}.json"
    assert sorted(os.listdir(path.parent)) == [path.name]  # no temporary file left
    assert json.loads(path.read_text())["data"]["id"] == CODE_ID
    store = EdgeStore(tmp_path / "edge", dense_dim=settings.embedding_dim)
    store.ensure_collection()
    try:
        summary = ingest_source(settings, store, None, "legi", path=path)
        assert summary.errors == [] and summary.documents == 10 and summary.added == 10
        assert store.count(SearchFilter(sources=["legi"])) >= 10
    finally:
        store.close()


# --- the command line --------------------------------------------------------------------------


def _plume(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    base |= {"PLUME_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "400", "DO_NOT_TRACK": "true"}
    return subprocess.run(
        [str(PLUME), *args],
        cwd=tmp_path,  # away from the repository's .env
        env=base | env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_cli_downloads_the_code_into_data_dir(fake: FakePiste, tmp_path: Path) -> None:
    run = _plume(
        tmp_path,
        "corpus",
        "piste",
        CODE_ID,
        "--date",
        "2015-03-22",
        PLUME_PISTE_OAUTH_URL=fake.url,
        PLUME_PISTE_API_URL=fake.url,
        PLUME_PISTE_CLIENT_ID=CLIENT_ID,
        PLUME_PISTE_CLIENT_SECRET=CLIENT_SECRET,
    )
    assert run.returncode == 0, run.stderr
    path = tmp_path / "data" / "piste" / f"{CODE_ID}.json"
    assert run.stdout.strip() == str(path)
    assert len(legi.parse_code(json.loads(path.read_text())).articles) == 10
    assert CLIENT_SECRET not in run.stdout + run.stderr


def test_cli_bad_secret_and_missing_credentials(fake: FakePiste, tmp_path: Path) -> None:
    bad = _plume(
        tmp_path,
        "corpus",
        "piste",
        CODE_ID,
        "--dossier",
        str(tmp_path / "out"),
        PLUME_PISTE_OAUTH_URL=fake.url,
        PLUME_PISTE_API_URL=fake.url,
        PLUME_PISTE_CLIENT_ID=CLIENT_ID,
        PLUME_PISTE_CLIENT_SECRET="wrong-secret-42",
    )
    assert bad.returncode == 1 and "identifiants" in bad.stderr
    assert "wrong-secret-42" not in bad.stdout + bad.stderr
    assert not (tmp_path / "out" / f"{CODE_ID}.json").exists()
    missing = _plume(tmp_path, "corpus", "piste", CODE_ID)
    said = " ".join(missing.stderr.split())
    assert missing.returncode == 1
    assert "PLUME_PISTE_CLIENT_ID" in said and "PLUME_PISTE_CLIENT_SECRET" in said
    assert not missing.stdout.strip()


def test_client_accepts_an_injected_http_client(fake: FakePiste) -> None:
    with httpx.Client(timeout=5) as http:
        client = PisteClient(fake.url, fake.url, CLIENT_ID, CLIENT_SECRET, http=http)
        client.close()  # not ours to close
        assert client.article(article_ids(fake)[0])["num"]
