"""The LexHub connector: codes as a git history, one Markdown file per article.

A small repository of LexHub's shape is written here, commit by commit (each commit dated
the day its versions come into force, as upstream does), then read the way `plume ingest
legi` reads the real one. The last tests read the real bundle of ../shared/data when it is
there (skipped with the reason otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from assistant.veille.digest import veille_digest
from ingestion import lexhub
from ingestion.journal import ChangeJournal
from ingestion.legi import CodeText
from ingestion.service import code_inventory, fetch, ingest_source, missing_codes
from plume import REPO_ROOT
from plume.errors import CorruptPackage, MalformedDocument
from plume.settings import Settings
from plume.store import SearchFilter, SourceStats
from plume.store.edge import EdgeStore

CGCT = "LEGITEXT000006070633"
FOLDER = "code-general-des-collectivites-territoriales"
SECTION = (
    f"{FOLDER}/partie-legislative/deuxieme-partie-la-commune/"
    "livre-ier-organisation-de-la-commune/titre-ii-organes-de-la-commune/"
    "chapitre-ier-le-conseil-municipal/section-4-fonctionnement"
)
MOVED = f"{FOLDER}/partie-legislative/deuxieme-partie-la-commune/section-5-dispositions-diverses"
QUORUM_2010 = (
    "<p>Le conseil municipal ne délibère valablement que lorsque la majorité de ses membres "
    "en exercice assiste à la séance.</p>"
)
QUORUM_2020 = (
    "<p>Le conseil municipal ne délibère valablement que lorsque la majorité de ses membres "
    "en exercice est présente.</p><p>Voir les <a href='/" + SECTION + "/l2121-10.md' "
    "title='Code général des collectivités territoriales - art. L2121-10 (V)'>articles "
    "L. 2121-10 à L. 2121-12</a>.</p><br/><br/><i>NOTA:<p>Conformément à l'article 9 de la "
    "loi n° 2020-1 du 1er janvier 2020, ces dispositions entrent en vigueur le 1er mars "
    "2020.</p></i>"
)
CONVOCATION = "<p>Toute convocation est faite par le maire. Elle indique les questions portées à l'ordre du jour.</p>"


def _git(repo: Path, *args: str, day: str | None = None) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo.parent)}
    if day:
        env |= {"GIT_AUTHOR_DATE": f"{day}T00:00:00Z", "GIT_COMMITTER_DATE": f"{day}T00:00:00Z"}
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _write(repo: Path, path: str, num: str, body: str) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"# Article {num}\n\n{body}", encoding="utf-8")


def _commit(repo: Path, day: str, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message, day=day)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three articles over four dates: a creation, a new wording, a move, a repeal."""
    root = tmp_path_factory.mktemp("lexhub") / "legifrance"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _write(root, f"{SECTION}/l2121-17.md", "L2121-17", QUORUM_2010)
    _write(root, f"{SECTION}/l2121-10.md", "L2121-10", CONVOCATION)
    _write(root, f"{SECTION}/l2121-99.md", "L2121-99", "<p>Un article bientôt abrogé.</p>")
    _commit(root, "1970-01-02", "Modifications par Loi 1884-04-05")
    _write(root, f"{SECTION}/l2121-17.md", "L2121-17", QUORUM_2020)
    _commit(root, "2020-03-01", "Modifications par LOI n° 2020-1 du 1er janvier 2020")
    (root / f"{SECTION}/l2121-10.md").rename(root / "tmp.md")
    (root / MOVED).mkdir(parents=True)
    (root / "tmp.md").rename(root / f"{MOVED}/l2121-10.md")
    (root / f"{SECTION}/l2121-99.md").unlink()
    _commit(root, "2021-07-01", "Modifications par Ordonnance n° 2021-1 du 2 juin 2021")
    return root


@pytest.fixture(scope="module")
def pin() -> lexhub.Pin:
    real = lexhub.load_pin(REPO_ROOT / "corpus")
    assert real is not None
    return real


@pytest.fixture(scope="module")
def cgct(repo: Path, pin: lexhub.Pin) -> CodeText:
    only = replace(pin, codes=tuple(c for c in pin.codes if c.id == CGCT))
    (history,) = list(lexhub.read_codes(repo, only))
    return history.code


def _versions(code: CodeText, num: str) -> list[tuple[str | None, str | None]]:
    return [(a.in_force_from, a.in_force_to) for a in code.articles if a.num == num]


def test_every_version_with_its_dates(cgct: CodeText) -> None:
    # before 1970 upstream means "in force on or before": no known start
    assert _versions(cgct, "L2121-17") == [(None, "2020-03-01"), ("2020-03-01", None)]
    # moved with the same text: one version, now in its new section
    assert _versions(cgct, "L2121-10") == [(None, None)]
    moved = next(a for a in cgct.articles if a.num == "L2121-10")
    assert moved.breadcrumb[-1] == "Section 5 : Dispositions diverses"
    # deleted: abrogated that day
    assert _versions(cgct, "L2121-99") == [(None, "2021-07-01")]


def test_text_nota_links_and_amending_text(cgct: CodeText) -> None:
    new = next(a for a in cgct.articles if a.num == "L2121-17" and a.in_force_to is None)
    assert new.text.splitlines()[0].endswith("en exercice est présente.")
    assert "NOTA" not in new.text and "<" not in new.text
    assert new.nota.startswith("Conformément à l'article 9")
    assert new.links == (f"legi/{CGCT}/L2121-10",)
    assert [a.text_title for a in new.amended_by] == ["LOI n° 2020-1 du 1er janvier 2020"]
    assert new.doc_id == f"legi/{CGCT}/L2121-17"
    assert "query=L2121-17" in new.url and new.url.startswith("https://www.legifrance.gouv.fr/")
    # the same history read twice gives the same version ids (point ids hang on them)
    assert len({a.id for a in cgct.articles}) == len(cgct.articles)


def test_section_titles_get_their_accents_back(cgct: CodeText) -> None:
    quorum = next(a for a in cgct.articles if a.num == "L2121-17")
    assert quorum.breadcrumb == (
        "Partie législative",
        "Deuxième partie : La commune",
        "Livre Ier : Organisation de la commune",
        "Titre II : Organes de la commune",
        "Chapitre Ier : Le conseil municipal",
        "Section 4 : Fonctionnement",
    )


def test_section_titles_restore_elisions() -> None:
    titles = lexhub.SectionTitles(["l'urbanisme et l'État, la généralité"])
    assert titles.title("code-de-lurbanisme") == "Code de l'urbanisme"
    assert titles.title("chapitre-ier-bis-generalites") == "Chapitre Ier bis : Generalites"
    assert titles.title("titre-iii-de-letat") == "Titre III : De l'état"


def test_a_file_that_is_not_an_article_is_named(tmp_path: Path) -> None:
    with pytest.raises(MalformedDocument, match="# Article"):
        lexhub.parse_file("Bonjour\n\n<p>texte</p>", {})
    with pytest.raises(MalformedDocument, match="pas un dépôt git"):
        lexhub.Repository(tmp_path)


def _settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


def test_ingest_a_history_then_ask_as_of_a_day(repo: Path, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    store = EdgeStore(settings.store_dir, dense_dim=4)
    try:
        summary = ingest_source(settings, store, None, "legi", path=repo)
        assert summary.errors == [] and summary.added == 4
        again = ingest_source(settings, store, None, "legi", path=repo)
        assert (again.added, again.updated, again.deleted, again.skipped) == (0, 0, 0, 4)

        def quorum(day: date) -> list[str]:
            where = SearchFilter(as_of=day, doc_ids=[f"legi/{CGCT}/L2121-17"])
            return [str(p.get("text")) for _, p in store.scan(where, ["text"])]

        assert quorum(date(2015, 6, 1))[0].endswith("assiste à la séance.")
        assert "est présente" in quorum(date(2024, 1, 1))[0]
        today = SearchFilter(as_of=date.today(), doc_ids=[f"legi/{CGCT}/L2121-99"])
        assert list(store.scan(today, ["text"])) == []  # repealed
        payload = next(p for _, p in store.scan(SearchFilter(), ["text_date", "cites"]))
        assert payload["text_date"] == "2023-12-06"
    finally:
        store.close()
    # the change journal is filled from the same reading: `plume veille` is never empty
    journal = ChangeJournal(settings.data_dir).read(date(2020, 1, 1))
    assert [(c.num, c.kind, c.effective) for c in journal] == [
        ("L2121-17", "modifie", "2020-03-01"),
        ("L2121-99", "abroge", "2021-07-01"),
    ]
    modified = journal[0]
    assert ("-", "assiste") in modified.diff and ("-", "la séance.") in modified.diff
    assert modified.amended_by == ("LOI n° 2020-1 du 1er janvier 2020",)
    assert modified.section.endswith("Section 4 : Fonctionnement")
    digest = veille_digest(settings.data_dir, settings.corpus_dir, "2020-01-01", [CGCT], "md")
    assert "Article modifié L2121-17" in digest and "LOI n° 2020-1" in digest


def _bundle(repo: Path, tmp_path: Path) -> tuple[Path, str, str]:
    bundle = tmp_path / "codes.bundle"
    _git(repo, "bundle", "create", str(bundle), "HEAD", "main")
    head = _git(repo, "rev-parse", "HEAD").strip()
    digest = lexhub.sha256(bundle)
    return bundle, head, digest


def test_a_bundle_given_with_path_is_read_like_a_clone(repo: Path, tmp_path: Path) -> None:
    bundle, _, _ = _bundle(repo, tmp_path)
    settings = _settings(tmp_path)
    store = EdgeStore(settings.store_dir, dense_dim=4)
    try:
        summary = ingest_source(settings, store, None, "legi", path=bundle)
        assert summary.errors == [] and summary.added == 4
        broken = tmp_path / "broken.bundle"
        broken.write_bytes(b"not a bundle")
        bad = ingest_source(settings, store, None, "legi", path=broken)
        assert bad.errors and "bundle git illisible" in bad.errors[0]
        assert store.count(SearchFilter(sources=["legi"])) == 4  # nothing lost
    finally:
        store.close()


def test_fetch_from_a_bundle_checks_its_sha256(repo: Path, pin: lexhub.Pin, tmp_path: Path) -> None:
    bundle, head, digest = _bundle(repo, tmp_path)
    packages = tmp_path / "packages"
    wrong = replace(pin, bundle=bundle, bundle_head=head, bundle_sha256="0" * 64)
    with pytest.raises(CorruptPackage, match="sha256"):
        lexhub.fetch(wrong, packages)
    assert list(packages.iterdir()) == []  # nothing half-made
    good = replace(wrong, bundle_sha256=digest)
    copy = lexhub.fetch(good, packages)
    assert lexhub.Repository(copy).head_commit == head
    assert lexhub.fetch(good, packages) == copy  # idempotent
    assert lexhub.fetched(packages, good) == copy


def test_fetch_by_a_partial_clone_of_the_codes_folders(
    repo: Path, pin: lexhub.Pin, tmp_path: Path
) -> None:
    # a server that serves partial clones (GitHub does): here a local bare copy
    server = tmp_path / "server.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(server)], check=True)
    _git(server, "config", "uploadpack.allowFilter", "true")
    _git(server, "config", "uploadpack.allowAnySHA1InWant", "true")
    head = _git(server, "rev-parse", "HEAD").strip()
    remote = replace(pin, bundle=None, commit=head)
    copy = lexhub.fetch(remote, tmp_path / "packages", url=f"file://{server}")
    cgct = replace(remote, codes=tuple(c for c in remote.codes if c.id == CGCT))
    (history,) = list(lexhub.read_codes(copy, cgct))
    assert history.versions == 4


def test_without_bundle_nor_network_the_other_sources_still_come(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO_ROOT / "corpus", corpus)
    text = (corpus / "sources.toml").read_text(encoding="utf-8")
    lexhub_entry = text[text.index("\n[lexhub]\n") :].replace('"../shared', '"../absent')
    (corpus / "sources.toml").write_text(lexhub_entry, encoding="utf-8")  # LexHub only
    settings = _settings(tmp_path).model_copy(
        update={"corpus_dir": corpus, "lexhub_url": f"file://{tmp_path / 'nowhere'}"}
    )
    skipped: dict[str, str] = {}
    assert fetch(settings, None, on_skip=skipped.__setitem__) == {}
    assert list(skipped) == ["lexhub"] and "git clone" in skipped["lexhub"]
    with pytest.raises(CorruptPackage):  # asked for by name: an error
        fetch(settings, ["lexhub"])


# --- the real bundle ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(pin: lexhub.Pin, tmp_path_factory: pytest.TempPathFactory) -> Path:
    if pin.bundle is None or not pin.bundle.is_file():
        pytest.skip(f"{pin.bundle} absent: the LexHub bundle of ../shared/data is needed")
    return lexhub.fetch(pin, tmp_path_factory.mktemp("packages"))


def test_the_real_electoral_code(real: Path, pin: lexhub.Pin) -> None:
    only = replace(pin, codes=tuple(c for c in pin.codes if c.folder == "code-electoral"))
    (history,) = list(lexhub.read_codes(real, only, since="2015-01-01"))
    code = history.code
    current = [a for a in code.articles if a.in_force_to is None]
    assert len(current) == 1247 and code.rejected == []
    l252 = next(a for a in current if a.num == "L252")
    assert "moins de 1000 habitants sont élus au scrutin majoritaire" in l252.text
    assert l252.breadcrumb[-2].startswith("Chapitre II : Dispositions spéciales aux communes")


def test_sources_list_each_code_and_what_is_missing(repo: Path, tmp_path: Path) -> None:
    bundle, head, digest = _bundle(repo, tmp_path)
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO_ROOT / "corpus", corpus)
    text = (corpus / "sources.toml").read_text(encoding="utf-8")
    real = lexhub.load_pin(REPO_ROOT / "corpus")
    assert real is not None and real.bundle is not None
    text = text.replace(
        f'bundle = "../shared/data/legi/lexhub/{real.bundle.name}"', f'bundle = "{bundle}"'
    )
    text = text.replace(real.bundle_head, head).replace(real.bundle_sha256, digest)
    (corpus / "sources.toml").write_text(text, encoding="utf-8")
    settings = _settings(tmp_path).model_copy(update={"corpus_dir": corpus})
    legi_data = ["LEGITEXT000031366350", "LEGITEXT000006072050", "LEGITEXT000006073189"]
    legi_data.append("LEGITEXT000022197698")
    indexed = SourceStats("legi", 4, 4, parts={f"legi/{c}": 1 for c in legi_data})
    # the LexHub history not fetched: nothing is missing, its codes are not expected
    assert missing_codes(settings, [indexed]) == []
    fetch(settings, ["lexhub"])
    lexhub_codes = ["LEGITEXT000006070633", "LEGITEXT000006070239", "LEGITEXT000006070721"]
    lexhub_codes.append("LEGITEXT000006074075")
    assert missing_codes(settings, [indexed]) == sorted(lexhub_codes)
    store = EdgeStore(settings.store_dir, dense_dim=4)
    try:
        ingest_source(
            settings, store, None, "legi", path=settings.packages_dir / f"lexhub-{head[:12]}.git"
        )
        rows = code_inventory(settings, store.list_sources())
    finally:
        store.close()
    assert [(r.title, r.articles, r.origin) for r in rows] == [
        (
            "Code général des collectivités territoriales",
            3,
            "LexHub, texte à jour au 6 décembre 2023",
        )
    ]


ELECTORAL_SECTION = (
    "code-electoral/partie-legislative/livre-i-election-des-deputes-des-conseillers-generaux-"
    "et-des-conseillers-municipaux-des-departements/titre-iv-dispositions-speciales-a-"
    "lelection-des-conseillers-municipaux-et-des-membres-du-conseil-de-paris/chapitre-ii-"
    "dispositions-speciales-aux-communes-de-moins-de-3-500-habitants/section-1-mode-de-scrutin"
)


@contextmanager
def _serving(
    repo: Path, tmp_path: Path, article: tuple[str, str, str], commit: tuple[str, str]
) -> Iterator[Any]:
    """The API over `repo` plus one more article (path, number, HTML) committed on a day."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from assistant.runtime import Runtime

    codes = tmp_path / "legifrance"
    shutil.copytree(repo, codes)
    _write(codes, *article)
    _commit(codes, *commit)
    settings = _settings(tmp_path)
    runtime = Runtime.build(settings)
    try:
        assert ingest_source(settings, runtime.store, None, "legi", path=codes).errors == []
        with TestClient(create_app(settings, runtime=runtime)) as client:
            yield client
    finally:
        runtime.close()


def test_an_answer_on_small_communes_elections_says_the_2025_reform_is_missing(
    repo: Path, tmp_path: Path
) -> None:
    l252 = (
        f"{ELECTORAL_SECTION}/l252.md",
        "L252",
        "<p>Les membres des conseils municipaux des communes de moins de 1000 habitants sont "
        "élus au scrutin majoritaire.</p>",
    )
    with _serving(
        repo, tmp_path, l252, ("2014-03-23", "Modifications par LOI n°2013-403")
    ) as client:
        ballot = client.post(
            "/v1/chat",
            json={
                "question": "Comment sont élus les conseillers municipaux des communes "
                "de moins de 1000 habitants ?"
            },
        ).json()
        quorum = client.post(
            "/v1/chat", json={"question": "Quand le conseil municipal délibère-t-il valablement ?"}
        ).json()
    cited = ballot["citations"][0]
    assert cited["doc_id"] == "legi/LEGITEXT000006070239/L252"
    assert cited["text_date"] == "2023-12-06" and cited["in_force_from"] == "2014-03-23"
    assert "réforme de 2025" in (ballot["warning"] or "")
    assert quorum["citations"][0]["doc_id"] == f"legi/{CGCT}/L2121-17"
    assert not quorum.get("warning")  # the CGCT's quorum: no caveat


def test_a_past_day_before_the_history_held_says_the_text_is_not_available(
    repo: Path, tmp_path: Path
) -> None:
    # as upstream for L2131-1: only its 2022 version, though the article is older
    l2131_1 = (
        f"{SECTION}/l2131-1.md",
        "L2131-1",
        "<p>Les actes pris par les autorités communales sont exécutoires de plein droit dès "
        "qu'il a été procédé à leur publication sous forme électronique.</p>",
    )
    question = "quand les actes de la commune deviennent-ils exécutoires ?"
    day = ("2022-07-01", "Modifications par Ordonnance n° 2021-1310 du 7 octobre 2021")
    with _serving(repo, tmp_path, l2131_1, day) as client:
        past = client.post("/v1/search", json={"query": question, "as_of": "2019-06-01"})
        now = client.post("/v1/search", json={"query": question})
        asked = client.post("/v1/chat", json={"question": question, "as_of": "2019-06-01"})
    # the chat says it too, whatever it answers from the texts of that day
    assert "Article L2131-1" in (asked.json()["warning"] or "")
    assert "antérieur au 1er juillet 2022" in asked.json()["warning"]
    assert past.status_code == now.status_code == 200
    assert f"legi/{CGCT}/L2131-1" not in [h["doc_id"] for h in past.json()["hits"]]
    (notice,) = past.json()["notices"]
    assert notice.startswith("Article L2131-1") and "antérieur au 1er juillet 2022" in notice
    assert now.json()["hits"][0]["doc_id"] == f"legi/{CGCT}/L2131-1"
    assert now.json()["notices"] == []
