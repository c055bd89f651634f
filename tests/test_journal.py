"""The change journal and digest of the legal watch (veille juridique).

Real data: the two legi-data snapshots `plume corpus fetch` installs (2.511.0 as
`legi-previous`, 2.513.0 as `legi`), and the 2015 CGCT of `../shared/data/legi`. Tests
needing them skip with the reason when absent. The CLI and API tests use small code
trees in the same shape, written to a temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from assistant.runtime import Runtime
from assistant.veille.digest import digest, parse_since
from assistant.veille.headlines import first_sentence
from ingestion.journal import Change, ChangeJournal, changes_since, compare, load_code
from ingestion.legi import CodeText, load_code_tree, parse_code
from plume import packages
from plume.errors import InvalidWatchRequest, MalformedDocument
from plume.settings import Settings
from tests.conftest import SHARED_DATA

RURAL = "LEGITEXT000022197698"
TRAVAIL = "LEGITEXT000006072050"
CGCT = "LEGITEXT000006070633"


def package_code(source: str, code: str) -> Path:
    settings = Settings()
    try:
        root = packages.package_dir(
            settings.packages_dir, packages.pinned(settings.corpus_dir, source)
        )
    except Exception:
        pytest.skip(f"package « {source} » not fetched: run `plume corpus fetch`")
    return root / "data" / f"{code}.json"


@pytest.fixture(scope="session")
def rural() -> list[Change]:
    old, new = package_code("legi-previous", RURAL), package_code("legi", RURAL)
    return compare(load_code(old), load_code(new), "2.511.0", "2.513.0")


@pytest.fixture(scope="session")
def travail() -> list[Change]:
    # about 7 s: two 55 MB trees parsed
    old, new = package_code("legi-previous", TRAVAIL), package_code("legi", TRAVAIL)
    return compare(load_code(old), load_code(new), "2.511.0", "2.513.0")


def one(changes: list[Change], num: str) -> Change:
    return next(c for c in changes if c.num == num)


def added_words(change: Change) -> str:
    return " ".join(words for op, words in change.diff if op == "+")


# --- real snapshots ---------------------------------------------------------------------------


def test_code_rural_between_snapshots(rural: list[Change]) -> None:
    assert Counter(c.kind for c in rural) == {"modifie": 7}
    assert all(c.snapshot_from == "2.511.0" and c.snapshot_to == "2.513.0" for c in rural)
    council = one(rural, "D511-54-1")
    assert (council.kind, council.effective) == ("modifie", "2026-03-27")
    assert council.old_article_id == "LEGIARTI000024082666"
    assert council.new_article_id == "LEGIARTI000053720809"
    assert "intérieur." in added_words(council)
    assert council.amended_by == ("Décret n°2026-208 du 24 mars 2026 - art. 1",)
    disability = one(rural, "D732-12-1")
    assert (disability.kind, disability.effective) == ("modifie", "2026-03-21")
    assert "incapacité" in added_words(disability)


def test_code_du_travail_between_snapshots(travail: list[Change]) -> None:
    assert Counter(c.kind for c in travail) == {"nouveau": 13, "modifie": 10}
    created = one(travail, "R5311-3-12")
    assert (created.kind, created.effective, created.old_article_id) == (
        "nouveau",
        "2026-03-27",
        None,
    )
    assert created.diff == () and created.new_text
    funds = one(travail, "R6332-21")
    assert (funds.kind, funds.effective) == ("modifie", "2026-03-01")
    assert "plafond" in added_words(funds)
    # same version id, spacing re-rendered ("l' article" → "l'article"): not a change
    assert not any(c.num == "D1272-1" for c in travail)


# --- compare rules, on small trees -------------------------------------------------------------


def article(
    aid: str, num: str, text: str, start: int = 1, state: str = "VIGUEUR"
) -> dict[str, Any]:
    day = f"2026-03-{start:02d}"
    return {
        "type": "article",
        "data": {"id": aid, "num": num, "etat": state, "texte": text, "dateDebut": day},
    }


def tree(articles: list[dict[str, Any]], code: str = RURAL, title: str = "Code rural") -> Any:
    section = {"type": "section", "data": {"title": "Livre Ier"}, "children": articles}
    return {"type": "code", "data": {"id": code, "title": title}, "children": [section]}


def ident(n: int) -> str:
    return f"LEGIARTI{n:012d}"


OLD = [
    article(ident(1), "L1", "Le maire tient le registre."),
    article(ident(2), "L2", "Article qui disparaît."),
    article(ident(3), "L3", "Article déplacé tel quel."),
    article(ident(4), "L4", "Article bientôt abrogé."),
]
NEW = [
    article(ident(11), "L1", "Le maire tient le registre des chiens dangereux.", start=27),
    article(ident(3), "L3-1", "Article déplacé tel quel."),
    article(ident(4), "L4", "Article bientôt abrogé.", state="ABROGE"),
    article(ident(5), "L5", "Un nouvel article sur la fourrière. Et la suite.", start=20),
]


def parsed(articles: list[dict[str, Any]], **kw: str) -> CodeText:
    return parse_code(tree(articles, **kw))


def test_compare_rules() -> None:
    changes = compare(parsed(OLD), parsed(NEW), "a", "b")
    kinds = {c.num: c.kind for c in changes}
    assert kinds == {
        "L1": "modifie",
        "L3-1": "renumerote",
        "L4": "abroge",
        "L5": "nouveau",
        "L2": "abroge",
    }
    assert one(changes, "L3-1").old_num == "L3"
    assert ("+", "registre des chiens dangereux.") in one(changes, "L1").diff
    assert one(changes, "L1").effective == "2026-03-27"


def test_compare_refuses_two_codes() -> None:
    other = parsed(NEW, code=TRAVAIL, title="Code du travail")
    with pytest.raises(MalformedDocument, match="deux codes différents"):
        compare(parsed(OLD), other, "a", "b")


def test_changes_since_on_the_2015_cgct() -> None:
    path = SHARED_DATA / "legi" / f"{CGCT}.json"
    if not path.is_file():
        pytest.skip(f"{path} absent: the 2015 code trees of ../shared/data/legi are needed")
    code = parse_code(load_code_tree(path.read_bytes(), path.name))
    changes = changes_since(code, date(2015, 4, 1), "2015")
    assert changes and all((c.effective or "") >= "2015-04-01" for c in changes)
    assert len(changes) < len(code.articles) // 10
    assert {c.kind for c in changes} <= {"nouveau", "modifie"}


# --- the journal -------------------------------------------------------------------------------


def test_journal_is_idempotent_and_valid_jsonl(tmp_path: Path) -> None:
    journal = ChangeJournal(tmp_path)
    changes = compare(parsed(OLD), parsed(NEW), "a", "b")
    assert journal.append(changes) == 5
    before = journal.path.read_bytes()
    assert journal.append(changes) == 0
    assert journal.path.read_bytes() == before
    lines = before.decode().splitlines()
    assert len(lines) == 5 and all(json.loads(line)["code_id"] == RURAL for line in lines)
    assert list(journal.path.parent.iterdir()) == [journal.path]  # no temp file left
    assert journal.read() == changes


def test_journal_read_filters(tmp_path: Path) -> None:
    journal = ChangeJournal(tmp_path)
    journal.append(compare(parsed(OLD), parsed(NEW), "a", "b"))
    late = journal.read(since=date(2026, 3, 21))
    assert {c.num for c in late} == {"L1", "L2"}  # L2: repeal date unknown, kept
    assert journal.read(codes={TRAVAIL}) == []


# --- the digest --------------------------------------------------------------------------------


def test_digest_formats() -> None:
    changes = compare(parsed(OLD), parsed(NEW), "a", "b")
    since = date(2026, 3, 1)
    md = digest(changes, since, "md")
    assert "## Code rural (LEGITEXT000022197698)" in md and "### Livre Ier" in md
    assert (
        "Nouvel article L5 — en vigueur le 20/03/2026 : « Un nouvel article sur la fourrière. »"
        in md
    )
    assert "{+registre des chiens dangereux.+}" in md and "article abrogé" in md
    page = digest(
        [*changes, Change(RURAL, "<script>", "L9", "abroge", ident(9), None)], since, "html"
    )
    assert "<script>" not in page and "&lt;script&gt;" in page and "<ins>" in page
    rows = json.loads(digest(changes, since, "json"))["changes"]
    assert len(rows) == 5 and rows[0]["headline"].startswith("Article modifié L1")


def test_first_sentence_keeps_references() -> None:
    text = "Les audits mentionnés aux articles L. 5311-3 et L. 5311-4 sont menés. Ensuite."
    assert (
        first_sentence(text)
        == "Les audits mentionnés aux articles L. 5311-3 et L. 5311-4 sont menés."
    )


def test_since_is_validated() -> None:
    with pytest.raises(InvalidWatchRequest, match="AAAA-MM-JJ"):
        parse_since("01/03/2026")
    with pytest.raises(InvalidWatchRequest, match="futur"):
        parse_since((date.today() + timedelta(days=1)).isoformat())


# --- the edges: CLI and API --------------------------------------------------------------------


def plume(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLUME_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    cli = Path(sys.executable).parent / "plume"
    return subprocess.run([str(cli), *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def small_journal(tmp_path: Path) -> Path:
    for name, articles in (("old", OLD), ("new", NEW)):
        (tmp_path / f"{name}.json").write_text(json.dumps(tree(articles)), encoding="utf-8")
    data = tmp_path / "data"
    done = plume(
        "veille", "compare", str(tmp_path / "old.json"), str(tmp_path / "new.json"), data_dir=data
    )
    assert done.returncode == 0, done.stderr
    assert "5 nouveau(x)" in done.stdout
    # each change in one line, not only a count
    assert sum(line.startswith("- ") for line in done.stdout.splitlines()) == 5
    assert "en vigueur le" in done.stdout
    return data


def test_cli_compare_then_digest(small_journal: Path, tmp_path: Path) -> None:
    done = plume(
        "veille", "digest", "--since", "2026-03-01", "--format", "json", data_dir=small_journal
    )
    assert done.returncode == 0, done.stderr
    assert {r["num"] for r in json.loads(done.stdout)["changes"]} == {
        "L1",
        "L2",
        "L3-1",
        "L4",
        "L5",
    }
    again = plume(
        "veille",
        "compare",
        str(tmp_path / "old.json"),
        str(tmp_path / "new.json"),
        data_dir=small_journal,
    )
    assert "0 nouveau(x)" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2999-01-01"], "futur"),
        (["--since", "hier"], "Date invalide"),
        (["--since", "2026-03-01", "--code", "LEGITEXT000000000001"], "Codes connus"),
    ],
)
def test_cli_refuses_bad_input(small_journal: Path, args: list[str], message: str) -> None:
    done = plume("veille", "digest", *args, data_dir=small_journal)
    assert done.returncode == 1 and message in done.stderr


def test_cli_refuses_a_file_of_another_shape_and_two_codes(tmp_path: Path) -> None:
    (tmp_path / "fiche.json").write_text('{"type": "fiche"}', encoding="utf-8")
    (tmp_path / "other.json").write_text(json.dumps(tree(NEW, code=TRAVAIL, title="Travail")))
    (tmp_path / "old.json").write_text(json.dumps(tree(OLD)))
    shape = plume(
        "veille",
        "compare",
        str(tmp_path / "fiche.json"),
        str(tmp_path / "old.json"),
        data_dir=tmp_path / "d",
    )
    assert shape.returncode == 1 and "pas l'arbre d'un code" in shape.stderr
    codes = plume(
        "veille",
        "compare",
        str(tmp_path / "old.json"),
        str(tmp_path / "other.json"),
        data_dir=tmp_path / "d",
    )
    assert codes.returncode == 1 and "deux codes différents" in codes.stderr


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    ChangeJournal(settings.data_dir).append(compare(parsed(OLD), parsed(NEW), "a", "b"))
    runtime = Runtime.build(settings, llm=None)
    try:
        with TestClient(create_app(settings, runtime=runtime)) as c:
            yield c
    finally:
        runtime.close()


def test_api_veille(client: TestClient) -> None:
    rows = client.get("/v1/veille", params={"since": "2026-03-21", "code": RURAL}).json()["changes"]
    assert {r["num"] for r in rows} == {"L1", "L2"}
    page = client.get("/v1/veille", params={"since": "2026-03-01", "format": "html"})
    assert page.headers["content-type"].startswith("text/html") and "<h2>" in page.text
    md = client.get("/v1/veille", params={"since": "2026-03-01", "format": "md"})
    assert md.text.startswith("# Veille juridique")


def test_api_veille_errors_in_french(client: TestClient) -> None:
    future = client.get("/v1/veille", params={"since": "2999-01-01"})
    assert future.status_code == 400 and future.json()["error"]["code"] == "veille_invalide"
    unknown = client.get("/v1/veille", params={"since": "2026-03-01", "code": "LEGITEXT1"})
    assert unknown.status_code == 400 and "Codes connus" in unknown.json()["error"]["message"]
    assert client.get("/v1/veille").status_code == 422
