"""What each README command's outcome must hold, for the walk's table
(tests/test_readme_walk.py): the words, ids and figures its answer gives — the figures
the README states read from the README itself, so that a wrong figure fails."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date, timedelta

from plume import REPO_ROOT
from tests.walk import checks as c
from tests.walk.shell import Done, Shell

Check = Callable[[Shell, Done], None]
MODEL_REPLY = "L'officier de l'état civil de la commune de naissance délivre l'acte. [1]"
TRAVAIL, RURAL, CRPA = "LEGITEXT000006072050", "LEGITEXT000022197698", "LEGITEXT000031366350"


def readme() -> str:
    return (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def says(*words: str) -> Check:
    """Its output holds these words, and it wrote nothing on stderr."""

    def check(shell: Shell, done: Done) -> None:
        assert not done.err.strip(), done.err
        for word in words:
            assert word in done.out, f"« {word} » not in the output"

    return check


# --- Two commands, What to try ---------------------------------------------------------------


def set_up(shell: Shell, done: Done) -> None:
    summaries = [row for row in c.table_rows(done.out) if len(row) == 7]  # one per source
    assert len(summaries) == 6 and all(row[5] == "0" for row in summaries), summaries  # erreurs
    said = c.readme_figure(readme(), r"`make run` says « Veille : (\d+) changement\(s\)")
    assert f"Veille : {said[1]} changement(s) ajouté(s) au journal." in done.out


def first_chat(shell: Shell, done: Done) -> None:
    """The answer, and the one the README shows after it (its ```json block), loosely."""
    assert c.status(done) == 200
    answer, shown = c.body(done), c.json_example(readme())
    assert answer["mode"] == shown["mode"] == "extractive"
    assert answer["citations"][0]["doc_id"] == shown["citations"][0]["doc_id"] == "vdd/F1427"
    assert answer["reliability"]["level"] == shown["reliability"]["level"]
    assert answer["answer"].startswith("Voici ce que disent les sources officielles :")


def concession_hits(shell: Shell, done: Done) -> None:
    hits = done.json()
    assert hits and all(re.fullmatch(r"(vdd|legi)/\S+", h["doc_id"]) for h in hits), hits
    assert hits[0]["doc_id"] == "vdd/F31001" and "concession" in hits[0]["title"].lower()


def in_force_in_2019(shell: Shell, done: Done) -> None:
    assert f"legi/{CRPA}/L231-1" in done.out
    assert not c.in_force_on(done, date(2019, 1, 1))


def sources_served(shell: Shell, done: Done) -> None:
    assert "serveur en marche" in done.out
    rows = {row[0]: row[1:] for row in c.table_rows(done.out)}
    assert rows["service-public"][:3] == ["28", "680", "1.199.0"], rows
    assert rows["legi"][2] == "2.513.0, lexhub@2023-12-06", rows
    assert {"aides-territoires", "precedents", "programmes"} <= set(rows)


def settings_shown(shell: Shell, done: Done) -> None:
    assert f"data_dir = {shell.data}" in done.out and "store_backend = edge" in done.out


# --- Legal watch -----------------------------------------------------------------------------


def journal_lines(shell: Shell) -> list[dict[str, object]]:
    path = shell.data / "journal" / "legi.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def digest_since_set_up(shell: Shell, done: Done) -> None:
    said = c.number(re.search(r"([\d,]+) changes", shell.memo["comment"])[1])  # type: ignore[index]
    assert f"# Veille juridique depuis le 01/04/2025 : {said} changement(s)" in done.out
    assert done.out.split("\n## ", 2)[1].startswith("Pour la mairie")  # the town hall's first


def upgrade_recorded(shell: Shell, done: Done) -> None:
    said = c.readme_figure(
        readme(),
        r"between legi-data 2\.511\.0 and 2\.513\.0, (\d+) real changes \(Code du travail: "
        r"(\d+) new, (\d+) modified; Code rural: (\d+) modified\), recorded once: the (\d+) "
        r"modified carry their former text and diff \((\d+) completed in place; the command "
        r"counts the (\d+) it did not hold yet\)",
    )
    total, new, modified, rural, carried, in_place, counted = map(int, said.groups())
    told = {m[1]: int(m[2]) for m in re.finditer(r"\((LEGITEXT\d+)\) : (\d+) nouveau", done.out)}
    assert sum(told.values()) == counted, told
    lines = journal_lines(shell)
    upgraded = [(ch["code_id"], ch["kind"]) for ch in lines if ch.get("snapshot_from") == "2.511.0"]
    assert upgraded.count((TRAVAIL, "modifie")) == modified, upgraded
    assert upgraded.count((RURAL, "modifie")) == rural == len(upgraded) - modified, upgraded
    assert modified + rural == carried and carried - in_place == counted and new + carried == total
    shell.memo["journal"] = len(lines)


def versions_since(shell: Shell, done: Done) -> None:
    told = re.findall(r"^.+ \((LEGITEXT\d+)\) : (\d+) nouveau\(x\) changement", done.out, re.M)
    assert {code for code, _ in told} >= {CRPA, TRAVAIL, RURAL}, done.out
    assert len(journal_lines(shell)) == shell.memo["journal"] + sum(int(n) for _, n in told)


def digest_md(shell: Shell, done: Done) -> None:
    assert done.out.startswith("# Veille juridique depuis le 01/03/2026 : ")
    assert "\n## Pour la mairie" in done.out and "Code rural" in done.out


def rural_json(shell: Shell, done: Done) -> None:
    assert c.status(done) == 200
    changes = c.body(done)["changes"]
    assert changes and {ch["code_id"] for ch in changes} == {RURAL}


def compared(shell: Shell, done: Done) -> None:
    assert "- Article modifié D511-54-1" in done.out  # recorded already: no new one
    assert re.search(r"^7 changement\(s\) relevé\(s\), 0 nouveau", done.out, re.M)


def profile_listed(shell: Shell, done: Done) -> None:
    (profile,) = done.json()
    assert profile["name"] == "eau" and profile["codes"] == ["LEGITEXT000006070633"], profile
    assert profile["keywords"] == ["eau"]


def profile_digest(shell: Shell, done: Done) -> None:
    assert done.out.startswith("# Veille juridique depuis le 01/03/2026")
    assert "Aucun changement relevé sur la période" in done.out  # the CGCT's text is of 2023


# --- Grants ----------------------------------------------------------------------------------


def school_roof(shell: Shell, done: Done) -> None:
    names = c.aid_names(done.out)
    assert names[0] == "Dotation d'équipement des territoires ruraux (DETR)", names
    assert "Dotation de soutien à l'investissement local (DSIL)" in names
    assert re.search(r"^\d+ aides écartées, que Andelu ne peut pas demander :", done.out, re.M)
    shell.memo["aids"] = names


def closing_subsidies(shell: Shell, done: Done) -> None:
    limits = re.findall(r"date limite : (\d\d)/(\d\d)/(\d{4})", done.out)
    if not c.aid_names(done.out):
        assert "Je n'ai pas trouvé d'aide ouverte pour Andelu" in done.out
    today = date.today()
    for day, month, year in limits:
        assert today <= date(int(year), int(month), int(day)) <= today + timedelta(days=30)


def precedents(shell: Shell, done: Done) -> None:
    assert re.search(r"^\d+ projets comparables financés \(DETR \d+\)", done.out, re.M)
    assert "subvention médiane" in done.out and "vidéoprotection" in done.out


def grants_in_chat(shell: Shell, done: Done) -> None:
    assert "**" not in done.out  # the widget's bold is not the terminal's
    assert c.aid_names(done.out) == shell.memo["aids"]  # the chat's list is `plume aides`'s
    assert "Projets comparables déjà financés" in done.out


def cofinancing_range(shell: Shell, done: Done) -> None:
    said = c.readme_figure(
        readme(),
        r"« de ([\d ]+,\d\d €) à ([\d ]+,\d\d €) » for 500 € of licences and 2 000 € of deployment",
    )
    assert f"le cofinancement va de {said[1]} à {said[2]}." in done.out, done.out
    assert "« territoires fragiles »" in done.out and "« IA frugale »" in done.out  # each named


def closing_digest(shell: Shell, done: Done) -> None:
    assert done.out.startswith("# Veille juridique depuis le 01/11/2026")
    assert "## Aides qui ferment dans les 30 prochains jours (Andelu)" in done.out


# --- With a Mistral model, Administrators --------------------------------------------------


def streamed(shell: Shell, done: Done) -> None:
    seen = c.events(done)
    names = [name for name, _ in seen]
    assert names[:2] == ["notice", "meta"] and names[-2:] == ["citations", "done"], names
    assert set(names[2:-2]) == {"delta"}
    assert "".join(data["text"] for name, data in seen if name == "delta") == MODEL_REPLY
    meta, finished = seen[1][1], seen[-1][1]
    assert meta["conversation_id"] and meta["question"] == "Qui délivre un acte de naissance ?"
    assert finished["mode"] == "generative" and finished["answer"] == MODEL_REPLY
    assert finished["model"] == "mistral-small-3.2" and finished["prompt_version"]
    assert finished["usage"]["completion_tokens"] > 0 and "impact" in finished


def strong_token(shell: Shell, done: Done) -> None:
    from plume.token_strength import weakness  # PLUME_ENV=production's check

    assert weakness(shell.env["PLUME_ADMIN_TOKEN"]) is None


def run_started(shell: Shell, done: Done) -> None:
    assert c.status(done) == 202 and c.body(done)["status"] == "en_cours"
    shell.memo["run"] = c.body(done)["id"]
    assert c.without_token(shell, done) == 401


def run_polled(shell: Shell, done: Done) -> None:
    assert c.status(done) == 200 and c.body(done)["id"] == shell.memo["run"]
    run = c.wait_for_run(shell, shell.memo["run"])
    assert run["status"] == "termine" and not run["summary"]["errors"], run
    assert c.without_token(shell, done) == 401


def deleted(shell: Shell, done: Done) -> None:
    assert c.status(done) == 200 and c.body(done)["chunks_deleted"] > 0
    assert c.without_token(shell, done) == 401


# --- A commune's own documents --------------------------------------------------------------


def key_made(shell: Shell, done: Done) -> None:
    shell.memo["key"] = re.search(r"^plm_\S+$", done.out, re.M)[0]  # type: ignore[index]
    assert "Conservez-la : elle ne sera plus affichée." in done.out
    assert "Clé privée créée pour « 30110 »" in done.out  # a public key sees no document


def files_ingested(shell: Shell, done: Done) -> None:
    assert [row[1] for row in c.table_rows(done.out)] == ["ajouté"] * 6
    assert "refusé" not in done.err


def files_listed(shell: Shell, done: Done) -> None:
    rows = c.table_rows(done.out)
    assert len(rows) == 6 and all(row[-1] == "CDG 30" for row in rows), rows


def minutes_answer(text: str) -> None:
    assert text.startswith(
        "D'après les documents de votre commune (compte rendu du conseil municipal du 19 mai "
        "2021, chargé le "
    ), text
    assert "sources officielles" not in text
    assert "Rapport sur le Prix et la Qualité du Service public (RPQS) Eau Potable" in text
    assert "Vote : à l'unanimité" in text


def minutes_cli(shell: Shell, done: Done) -> None:
    minutes_answer(done.out.split("\n\n", 1)[1])  # after the AI notice


def uploaded(shell: Shell, done: Done) -> None:
    assert c.status(done) == 202
    run = c.wait_for_run(shell, c.body(done)["id"])
    assert run["status"] == "termine" and not run["summary"]["errors"], run
    assert run["summary"]["added"] > 0 and run["summary"]["skipped"] > 0  # the same PDF again
    assert c.without_token(shell, done) == 401


def chat_with_key(shell: Shell, done: Done) -> None:
    assert c.status(done) == 200
    answer = c.body(done)
    minutes_answer(answer["answer"])
    assert answer["citations"][0]["doc_id"].startswith("doc/30110/")


def agent_added(shell: Shell, done: Done) -> None:
    assert "Agent marie.dupont@flaux.fr enregistré pour « 30110 »." in done.out


# --- Records, indicators, reversibility; development ----------------------------------------


def report_written(shell: Shell, done: Done) -> None:
    html = (shell.cwd / "rapport.html").read_text(encoding="utf-8")
    assert "Indicateurs du 2026-05-01 au" in " ".join(done.out.split()) and "<html" in html.lower()
    assert [row[0] for row in c.table_rows(done.out)][:3] == [
        "Nom",
        "Licences",
        "Utilisateurs déclarés",
    ]


def exported(shell: Shell, done: Done) -> None:
    found = re.search(r"Export écrit dans sauvegarde : \d+ fichiers, (\d+) passages", done.out)
    assert found and (shell.cwd / "sauvegarde" / "manifest.json").is_file()
    shell.memo["exported"] = int(found[1])


def imported(shell: Shell, done: Done) -> None:
    assert f"Import terminé : {shell.memo['exported']} passages" in done.out
    again = shell.sh(done.command)  # into an empty instance only
    assert again.code == 1 and "vide" in again.said, again


def coverage(shell: Shell, done: Done) -> None:
    assert re.search(r"^Vecteurs e5 : \d+ passages sur \d+", done.out, re.M)
