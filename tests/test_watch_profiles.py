"""Watch profiles of the legal watch: matching, storage, the digest, the CLI and the API.

Hand-made changes only: no corpus package needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from assistant.runtime import Runtime
from assistant.veille.digest import digest, veille_digest
from assistant.veille.profiles import ProfileStore, VeilleProfile
from ingestion.journal import Change, ChangeJournal
from plume.errors import InvalidWatchRequest, UnknownProfile
from plume.settings import Settings

RURAL = "LEGITEXT000022197698"
TRAVAIL = "LEGITEXT000006072050"
CGCT = "LEGITEXT000006070633"
TOKEN = "x" * 32


def change(
    code: str, num: str, text: str, section: str = "", old: str | None = None, day: str = ""
) -> Change:
    return Change(
        code_id=code,
        code_title={RURAL: "Code rural", TRAVAIL: "Code du travail", CGCT: "CGCT"}[code],
        num=num,
        kind="modifie" if old else "nouveau",
        old_article_id=f"LEGIARTI{num}old" if old else None,
        new_article_id=f"LEGIARTI{num}",
        old_text=old,
        new_text=text,
        effective=day or "2026-03-27",
        section=section,
    )


EAU = change(
    CGCT,
    "L2224-12",
    "Le règlement du service d'eau potable est établi par la commune.",
    "Partie législative > Services publics locaux > Eau et assainissement",
)
ELUS = change(
    CGCT,
    "L2123-1",
    "Les élus municipaux bénéficient d'autorisations d'absence.",
    "Partie législative > Conditions d'exercice des mandats",
)
REPOS = change(
    TRAVAIL,
    "L3132-1",
    "Il est interdit de faire travailler un salarié plus de six jours par semaine.",
    "Partie législative > Durée du travail, repos et congés > Repos hebdomadaire",
    old="Il est interdit d'occuper plus de six jours par semaine un même salarié.",
)
BOIS = change(
    RURAL,
    "L151-36",
    "Les travaux d'entretien des cours d'eau non domaniaux.",
    "Partie législative > Aménagement et équipement de l'espace rural",
)
ALL = [EAU, ELUS, REPOS, BOIS]


def kept(profile: VeilleProfile) -> set[str]:
    return {c.num for c in ALL if profile.matches(c)}


# --- matching ----------------------------------------------------------------------------------


def test_codes_only_follows_every_change_of_those_codes() -> None:
    assert kept(VeilleProfile("communes", codes=(CGCT,))) == {"L2224-12", "L2123-1"}
    assert kept(VeilleProfile("deux", codes=(CGCT, RURAL))) == {"L2224-12", "L2123-1", "L151-36"}


def test_sections_ignore_case_and_accents() -> None:
    assert kept(VeilleProfile("repos", sections=("DUREE DU TRAVAIL",))) == {"L3132-1"}
    assert kept(VeilleProfile("espace", sections=("amenagement et équipement",))) == {"L151-36"}
    assert kept(VeilleProfile("rien", sections=("Urbanisme",))) == set()


def test_keywords_ignore_accents_and_find_words_not_fragments() -> None:
    assert kept(VeilleProfile("elus", keywords=("elu",))) == {"L2123-1"}  # « élus »
    assert kept(VeilleProfile("eau", keywords=("EAU",))) == {"L2224-12", "L151-36"}
    nouveau = change(CGCT, "L1", "Un nouveau réseau, des bureaux.")
    assert not VeilleProfile("eau", keywords=("eau",)).matches(nouveau)
    assert kept(VeilleProfile("absence", keywords=("autorisations  d'absence",))) == {"L2123-1"}
    # the old text counts: « occuper » is gone from the new wording
    assert kept(VeilleProfile("occuper", keywords=("occuper",))) == {"L3132-1"}
    # and the article number
    assert kept(VeilleProfile("num", keywords=("L151-36",))) == {"L151-36"}


def test_every_kind_of_criterion_given_must_match() -> None:
    assert kept(VeilleProfile("eau-cgct", codes=(CGCT,), keywords=("eau",))) == {"L2224-12"}
    both = VeilleProfile("mix", codes=(CGCT,), sections=("mandats",), keywords=("eau", "élus"))
    assert kept(both) == {"L2123-1"}
    assert kept(VeilleProfile("none", codes=(TRAVAIL,), keywords=("eau",))) == set()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "vide"}, "vide"),
        ({"name": "vide", "keywords": ("  ",)}, "mot-clé vide"),
        ({"name": "Urbanisme", "codes": (CGCT,)}, "Nom de profil invalide"),
        ({"name": "a", "codes": (CGCT,)}, "Nom de profil invalide"),
        ({"name": "bad/../name", "codes": (CGCT,)}, "Nom de profil invalide"),
        ({"name": "ok", "codes": ("LEGITEXT1",)}, "Code invalide"),
    ],
)
def test_bad_profiles_are_refused_in_french(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidWatchRequest, match=message):
        VeilleProfile(**kwargs)  # type: ignore[arg-type]


# --- storage -----------------------------------------------------------------------------------


def test_store_round_trip_in_an_atomic_json_file(tmp_path: Path) -> None:
    store = ProfileStore(tmp_path)
    assert store.list() == []
    eau = VeilleProfile("eau", codes=(CGCT,), keywords=("eau", "eau"), description=" Réseau  ")
    assert store.put(eau) is True
    assert store.put(VeilleProfile("elus", sections=("mandats",))) is True
    assert store.put(VeilleProfile("eau", codes=(CGCT,), keywords=("eau",))) is False
    again = ProfileStore(tmp_path)
    assert [p.name for p in again.list()] == ["eau", "elus"]
    assert again.get("eau").keywords == ("eau",)
    raw = json.loads((tmp_path / "veille" / "profils.json").read_text(encoding="utf-8"))
    assert raw["profils"]["elus"] == {
        "codes": [],
        "sections": ["mandats"],
        "keywords": [],
        "description": "",
    }
    assert [p.name for p in (tmp_path / "veille").iterdir()] == ["profils.json"]  # no temp left
    store.delete("eau")
    assert [p.name for p in store.list()] == ["elus"]
    with pytest.raises(UnknownProfile, match="inconnu « eau »"):
        store.get("eau")
    with pytest.raises(UnknownProfile):
        store.delete("eau")


# --- the digest --------------------------------------------------------------------------------


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    ChangeJournal(data).append(ALL)
    ProfileStore(data).put(VeilleProfile("eau-cgct", codes=(CGCT,), keywords=("eau",)))
    return data


def test_digest_keeps_to_the_profile(journal_dir: Path) -> None:
    from datetime import date

    changes = ChangeJournal(journal_dir).read(date(2026, 3, 1))
    profile = VeilleProfile("travail", codes=(TRAVAIL,))
    rows = json.loads(digest(changes, date(2026, 3, 1), "json", profile))["changes"]
    assert [r["num"] for r in rows] == ["L3132-1"]
    md = digest(changes, date(2026, 3, 1), "md", profile)
    assert "1 changement(s)" in md and "Code rural" not in md


def test_watch_digest_by_profile_name(journal_dir: Path) -> None:
    corpus = Settings().corpus_dir
    text = veille_digest(journal_dir, corpus, "2026-03-01", None, "json", "eau-cgct")
    assert [r["num"] for r in json.loads(text)["changes"]] == ["L2224-12"]
    with pytest.raises(UnknownProfile, match="Profils existants : eau-cgct"):
        veille_digest(journal_dir, corpus, "2026-03-01", None, "json", "inconnu")


# --- the CLI -----------------------------------------------------------------------------------


def plume(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLUME_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    cli = Path(sys.executable).parent / "plume"
    return subprocess.run([str(cli), *args], env=env, capture_output=True, text=True, timeout=60)


def test_cli_profiles_add_list_digest_delete(journal_dir: Path) -> None:
    added = plume(
        "veille",
        "profil",
        "ajouter",
        "repos",
        "--code",
        TRAVAIL,
        "--section",
        "repos hebdomadaire",
        "--mot-cle",
        "salarié",
        "--description",
        "Repos du personnel",
        data_dir=journal_dir,
    )
    assert added.returncode == 0, added.stderr
    assert "Profil « repos » créé" in added.stdout
    listed = plume("veille", "profil", "liste", "--json", data_dir=journal_dir)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["repos"]["keywords"] == ["salarié"] and set(rows) == {"eau-cgct", "repos"}
    table = plume("veille", "profil", "liste", data_dir=journal_dir)
    assert "Repos du personnel" in table.stdout

    done = plume(
        "veille",
        "digest",
        "--since",
        "2026-03-01",
        "--format",
        "json",
        "--profil",
        "repos",
        data_dir=journal_dir,
    )
    assert done.returncode == 0, done.stderr
    assert [r["num"] for r in json.loads(done.stdout)["changes"]] == ["L3132-1"]

    deleted = plume("veille", "profil", "supprimer", "repos", data_dir=journal_dir)
    assert deleted.returncode == 0 and "supprimé" in deleted.stdout
    gone = plume(
        "veille", "digest", "--since", "2026-03-01", "--profil", "repos", data_dir=journal_dir
    )
    assert gone.returncode == 1 and "Profil de veille inconnu « repos »" in gone.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ajouter", "vide"], "au moins un code"),
        (["ajouter", "Mauvais Nom", "--code", CGCT], "Nom de profil invalide"),
        (["ajouter", "x1", "--code", "LEGITEXT1"], "Code invalide"),
        (["supprimer", "inconnu"], "inconnu"),
        # a real code, but neither indexed nor in the journal: 0 changes forever
        (["ajouter", "etat-civil", "--code", "LEGITEXT000006070721"], "Code non indexé"),
    ],
)
def test_cli_refuses_bad_profiles(tmp_path: Path, args: list[str], message: str) -> None:
    done = plume("veille", "profil", *args, data_dir=tmp_path / "data")
    assert done.returncode == 1 and message in done.stderr


# --- the API -----------------------------------------------------------------------------------


@pytest.fixture
def client(journal_dir: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=journal_dir, admin_token=TOKEN)
    runtime = Runtime.build(settings, llm=None)
    try:
        with TestClient(create_app(settings, runtime=runtime)) as c:
            yield c
    finally:
        runtime.close()


AUTH = {"Authorization": f"Bearer {TOKEN}"}
URL = "/v1/admin/veille/profils"


def test_api_profiles_crud(client: TestClient) -> None:
    body = {"codes": [TRAVAIL], "keywords": ["salarie"], "description": "Personnel"}
    created = client.put(f"{URL}/personnel", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json()["keywords"] == ["salarie"]
    assert client.put(f"{URL}/personnel", json=body, headers=AUTH).status_code == 200
    names = [p["name"] for p in client.get(URL, headers=AUTH).json()]
    assert names == ["eau-cgct", "personnel"]

    rows = client.get("/v1/veille", params={"since": "2026-03-01", "profil": "personnel"})
    assert [r["num"] for r in rows.json()["changes"]] == ["L3132-1"]
    md = client.get(
        "/v1/veille", params={"since": "2026-03-01", "profil": "eau-cgct", "format": "md"}
    )
    assert "L2224-12" in md.text and "L2123-1" not in md.text

    assert client.delete(f"{URL}/personnel", headers=AUTH).json() == {
        "name": "personnel",
        "deleted": True,
    }
    missing = client.delete(f"{URL}/personnel", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "profil_inconnu"
    assert "inconnu « personnel »" in missing.json()["error"]["message"]
    unknown = client.get("/v1/veille", params={"since": "2026-03-01", "profil": "personnel"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "profil_inconnu"


def test_api_profiles_require_the_admin_token(client: TestClient) -> None:
    assert client.get(URL).status_code == 401
    assert client.put(f"{URL}/x1", json={"codes": [CGCT]}).status_code == 401
    wrong = client.delete(f"{URL}/eau-cgct", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "Jeton" in wrong.json()["error"]["message"]
    assert [p["name"] for p in client.get(URL, headers=AUTH).json()] == ["eau-cgct"]


def test_api_profiles_validation_in_french(client: TestClient) -> None:
    empty = client.put(f"{URL}/vide", json={}, headers=AUTH)
    assert empty.status_code == 400 and "au moins un code" in empty.json()["error"]["message"]
    name = client.put(f"{URL}/Mauvais", json={"codes": [CGCT]}, headers=AUTH)
    assert name.status_code == 400 and "Nom de profil invalide" in name.json()["error"]["message"]
    civil = client.put(f"{URL}/etat-civil", json={"codes": ["LEGITEXT000006070721"]}, headers=AUTH)
    assert civil.status_code == 400 and "Code non indexé" in civil.json()["error"]["message"]
    shape = client.put(f"{URL}/ok", json={"codes": "pas une liste"}, headers=AUTH)
    assert shape.status_code == 422 and shape.json()["error"]["code"] == "requete_invalide"
    extra = client.put(f"{URL}/ok", json={"codes": [CGCT], "inconnu": 1}, headers=AUTH)
    assert extra.status_code == 422
