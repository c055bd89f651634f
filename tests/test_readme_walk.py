"""The README, walked as a newcomer would: every command of its ```bash blocks, in its
order, with the server running where the README implies it, each outcome checked.

`WALK` maps the README's commands one by one, in order: a README command that is not the
walk's next step, or a step left without its command, fails at once — the README and this
walk cannot drift apart. Each step says how it runs, what stands for its placeholders
(`given`, `files`), in which state the server must be and what its outcome must hold
(tests/walk/outcomes.py); a step not run says why (`skip`).

The environment (tests/walk/shell.py) imitates `make run` on a folder of its own: the
fiches are the tests' mini corpus, the codes, their history, the grants and the funded
projects are the real ones, indexed by the Makefile's own `ingest` target. The server's
background e5 filling is off (`PLUME_LOCAL_FILL=false`): it takes an hour and a half, and
answers would change as vectors arrive — the walk reads what search gives before them
(BM25), as the README's examples do. No network: the Mistral API is the tests' loopback
fake, speaking its wire protocol.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from tests.conftest import make_mini_corpus
from tests.fakes.mistral import FakeMistral
from tests.walk import checks as c
from tests.walk import outcomes as o
from tests.walk.readme import Command, commands
from tests.walk.shell import FETCHED, SHARED_DATA, Done, Shell, missing_inputs

README = Path(__file__).parents[1] / "README.md"
Given = str | Callable[[Shell], str]


@dataclass(frozen=True)
class Step:
    pattern: str  # a regular expression the README command (blanks made one) matches in full
    check: o.Check | None = None  # what the outcome must hold, besides exit code 0
    server: Literal["up", "down"] | None = None  # needed before it runs; None: as it is
    given: Mapping[str, Given] = field(default_factory=dict)  # placeholder → what stands for it
    files: Mapping[str, Path] = field(default_factory=dict)  # links in the shell's folder
    run: Callable[[Shell, str], Done] = Shell.sh
    skip: str = ""  # why it is not run
    many: bool = False  # it also stands for the commands right after it that match it


def make_run(shell: Shell, text: str) -> Done:
    """`make run`: the set-up steps are `make test`'s (packages fetched, venv); its `ingest`
    target is run as it is on the walk's data folder, then the server starts."""
    done = shell.make("ingest")
    shell.start()
    return done


def exporting(restart: bool, leaving: tuple[str, ...] = ()) -> Callable[[Shell, str], Done]:
    """`export A=B …`, run by bash (a `$(…)` in it too), kept in the walk's shell for the
    commands after it; `leaving`: variables of an earlier section unset first; `restart`:
    the server started again to read them."""

    def run(shell: Shell, text: str) -> Done:
        names = re.findall(r"(?:^export|\s)([A-Z_][A-Z0-9_]*)=", text)
        assert text.startswith("export ") and names, text
        done = shell.sh(f"{text} && env -0")
        exported = dict(item.split("=", 1) for item in done.out.split("\0") if "=" in item)
        for name in leaving:
            shell.env.pop(name, None)
        shell.env |= {name: exported[name] for name in names}
        if restart:
            shell.start()
        return Done(text, done.code, "", done.err, done.seconds)

    return run


def restart(shell: Shell, text: str) -> Done:
    shell.start()
    return Done(text, 0, "", "", 0.0)


# What stands for the README's placeholders: real files of ../shared/data and of the fetched
# packages, read in place (links in the shell's folder), and values of the walk.
CODE_RURAL = "@socialgouv__legi-data@{}/package/data/LEGITEXT000022197698.json"
SNAPSHOTS = {
    "OLD.json": str(FETCHED / CODE_RURAL.format("2.511.0")),
    "NEW.json": str(FETCHED / CODE_RURAL.format("2.513.0")),
}
FLAUX = SHARED_DATA / "municipal_documents" / "flaux_gard"  # the commune 30110
MINUTES, ORDERS = FLAUX / "comptes_rendus", FLAUX / "arretes_et_avis"
MAY_2021 = MINUTES / "20210519 - compte rendu 19 Mai 2021.pdf"  # scanned: OCR
FLAUX_FILES = {  # a few of each, the OCR of them all takes minutes
    "compte-rendus/20210519.pdf": MAY_2021,
    "compte-rendus/20200710.doc": MINUTES / "20200710-5 - compte rendu du 10 juillet.doc",
    "compte-rendus/20201019.doc": MINUTES / "20201019-4 - compte rendu du 19 octobre 2020.doc",
    "arretes/secheresse-2023.pdf": ORDERS / "AP_202303_Restriction_SecheresseNum_int.odt.pdf",
    "arretes/travaux-2020.pdf": ORDERS / "ART_20200615_reglementation_travaux_FDF.pdf",
    "arretes/ars-eau.pdf": ORDERS / "ars_eau.pdf",
}
UPLOADS = {
    "cr-2021-05-19.pdf": MAY_2021,  # loaded already, under another name: nothing added
    "deliberation.doc": MINUTES / "20200619-4 -  compte rendu du 19 juin.doc",
}
MINUTES_QUESTION = '"Qu’a décidé le conseil municipal du 19 mai 2021 ?"'  # ’: inside \'…\'
KEY_CHAT: dict[str, Given] = {"plm_…": lambda shell: shell.memo["key"], '"…"': MINUTES_QUESTION}
MODEL_ENV = ("PLUME_MISTRAL_API_KEY", "PLUME_MISTRAL_SERVER_URL", "PLUME_CHAT_MODEL")
# an EU key cannot be used offline: the loopback fake stands for the EU API (the key is
# the fake's, and the client is pointed at it)
EU_KEY = {"...": "walk-key PLUME_MISTRAL_SERVER_URL={fake}"}
BENCH = "a benchmark (minutes to an hour and a half); its figures are in bench/results/"
WRITES_MODELS = "; --ecrire rewrites corpus/models/"
NO_CLUSTER = "no Docker, no Kubernetes cluster on this machine"

WALK: list[Step] = [
    # Two commands
    Step(r"make run", o.set_up, run=make_run),
    Step(r"make test", skip="this very suite"),
    # What to try: the server runs (`make run` serves); the CLI goes through it
    Step(r"curl -s -X POST localhost:8000/v1/chat -d .*", o.first_chat, "up", run=c.curl),
    Step(r'plume ask "qui peut demander un extrait .*', o.says("[1] Acte de naissance", "extrait")),
    Step(r'plume search "concession funéraire" --json', o.concession_hits),
    Step(r'plume ask "le silence gardé .*', o.says("[1] Article L231-1 — Code des relations")),
    Step(r'plume search "silence vaut acceptation" --as-of 2019-01-01', o.in_force_in_2019),
    Step(r"plume sources", o.sources_served),
    Step(r"plume config", o.settings_shown),
    # Legal watch
    Step(r"plume veille --since 2025-04-01", o.digest_since_set_up),
    Step(r"plume veille journal --from-package legi-previous", o.upgrade_recorded),
    Step(r"plume veille journal --since 2025-01-01", o.versions_since),
    Step(r"plume veille --since 2026-03-01 --format md", o.digest_md),
    Step(r"curl 'localhost:8000/v1/veille\?since=2026-03-01&code=.*", o.rural_json, run=c.curl),
    Step(r"plume veille compare OLD.json NEW.json", o.compared, given=SNAPSHOTS),
    Step(
        r"plume veille profil ajouter eau --code \S+ --mot-cle eau", o.says("Profil « eau » créé.")
    ),
    Step(r"plume veille profil liste --json", o.profile_listed),
    Step(r"plume veille digest --since 2026-03-01 --profil eau", o.profile_digest),
    # Grants
    Step(r"plume commune ajouter 78013 --rurale", o.says("Profil de Andelu créé.", "rurale : oui")),
    Step(r"plume commune ajouter 78003 .*", o.says("Ablis", "Cœur de Ville : oui", "QPV : 12,0 %")),
    Step(r'plume aides "refaire le toit de l\'école" --commune 78013', o.school_roof),
    Step(r"plume aides --commune 78013 --cloture-dans 30 --type Subvention", o.closing_subsidies),
    Step(r'plume precedents "vidéoprotection"', o.precedents),
    Step(r'plume ask "Quelles aides pour refaire le toit .*" --commune 78013', o.grants_in_chat),
    Step(r'plume ask "Territoires d\'IA : .*', o.says("(500 licences ou plus)", "= 500,00 €")),
    Step(r"plume veille --since 2026-11-01 --commune 78013 --echeances 30", o.closing_digest),
    Step(r"plume cofinancement .* --ia-frugale", o.says("Taux retenu : 50 %.", "= 500,00 €")),
    Step(r"plume cofinancement --licences 500 --deploiement 2000", o.cofinancing_range),
    # With a Mistral model
    Step(r"export PLUME_MISTRAL_API_KEY=\.\.\.", given=EU_KEY, run=exporting(restart=False)),
    Step(r"make run", run=restart),  # indexed already (--if-empty): the server, with the model
    Step(
        r"export PLUME_MISTRAL_SERVER_URL=http://10\.0\.0\.5:8000 PLUME_CHAT_MODEL=\S+",
        given={"http://10.0.0.5:8000": "{fake}"},  # a self-hosted server: read at start
        run=exporting(restart=True),
    ),
    Step(r"curl -N -X POST localhost:8000/v1/chat -d .*", o.streamed, "up", run=c.curl),
    # Administrators: « stop the server, export the token, start it again » — without the
    # model of the section above, an alternative set-up: the next answers are read ones
    Step(r"export PLUME_ADMIN_TOKEN=.*", o.strong_token, run=exporting(True, leaving=MODEL_ENV)),
    Step(r"curl -X POST localhost:8000/v1/admin/ingest .*", o.run_started, run=c.curl),
    Step(
        r"curl localhost:8000/v1/admin/ingest/<run id> .*",
        o.run_polled,
        given={"<run id>": lambda shell: shell.memo["run"]},
        run=c.curl,
    ),
    Step(r"curl -X DELETE localhost:8000/v1/admin/documents/vdd/F1427 .*", o.deleted, run=c.curl),
    # Several replicas: the ingestion job against a Qdrant server and PostgreSQL
    Step(
        r"PLUME_STORE_BACKEND=server .* plume ingest service-public --if-empty",
        skip="a Qdrant server; tests/test_replicas.py runs it on Qdrant's local mode",
    ),
    # The store's layout: the embedded store, made as configured by `make run`
    Step(r"plume store etat", o.says("Stockage edge", "e5 (384)", "Conforme"), "down"),
    Step(r"plume store init", o.says("Conforme à la configuration"), "down"),
    Step(r"plume store migrate", o.says("Conforme à la configuration"), "down"),
    # A commune's own documents
    Step(r"plume cle ajouter 30110 --privee", o.key_made),
    Step(
        r"plume ingest files compte-rendus/ arretes/\*\.pdf .*",
        o.files_ingested,
        "down",
        files=FLAUX_FILES,
    ),
    Step(r"plume sources --tenant 30110", o.files_listed),
    Step(
        r'plume ask "Qu\'a décidé le conseil municipal du 19 mai 2021 \?" --tenant 30110',
        o.minutes_cli,
    ),
    Step(
        r"curl -X POST localhost:8000/v1/admin/documents .*",
        o.uploaded,
        "up",
        files=UPLOADS,
        run=c.curl,
    ),
    Step(
        r"curl -X POST localhost:8000/v1/chat -H \"X-Plume-Key: .*",
        o.chat_with_key,
        given=KEY_CHAT,
        run=c.curl,
    ),
    Step(r"plume agent ajouter marie\.dupont@flaux\.fr 30110", o.agent_added),
    # Records, indicators, reversibility
    Step(
        r"plume indicateurs --from 2026-05-01 --to 2026-10-31 --html rapport\.html",
        o.report_written,
    ),
    Step(
        r"plume deploiement 30110 .*", o.says("30110 : 3 licence(s), 2 utilisateur(s), 2 formé(s).")
    ),
    Step(
        r"plume fiche-souverainete", o.says("# Fiche IA souveraine", "Union européenne : certifié")
    ),
    Step(r"plume export sauvegarde/", o.exported, "down"),  # « the server stopped »
    Step(
        r"PLUME_DATA_DIR=/srv/plume-neuf plume import sauvegarde/",
        o.imported,
        given={"/srv/plume-neuf": "{root}/neuf"},
    ),
    Step(r"plume purge", o.says("Conservation 30 jours :")),
    # Deploying: no Docker and no cluster here; tests/test_deploy*.py check the recipes
    Step(r"docker compose -f deploy/compose\.yaml up -d", skip=NO_CLUSTER),
    Step(r"helm dependency build deploy/helm/plume", skip=NO_CLUSTER + ", no network"),
    Step(r"helm upgrade --install plume deploy/helm/plume .*", skip=NO_CLUSTER),
    # Development
    Step(r"make lint", skip="ruff and mypy over the checkout, after `uv sync` of the dev tools"),
    Step(r"make bench", skip=BENCH),
    Step(r"make eval", skip="the five evaluation sets with e5 vectors: an hour and a half"),
    Step(r"make eval-gate", skip="`make test` runs the release gate right after this suite"),
    Step(r"plume eval scope \[--ecrire\]", skip="trains on e5 vectors (minutes)" + WRITES_MODELS),
    Step(r"plume eval calibrate \[--ecrire\]", skip="builds an evaluation index" + WRITES_MODELS),
    Step(r"plume vectors \[--etat\]", o.coverage, given={"[--etat]": "--etat"}),
    Step(r"\.venv/bin/python -m bench\.\w+", skip=BENCH, many=True),
    Step(r"make lock", skip="re-resolves the dependencies from PyPI and rewrites uv.lock"),
]


def follow(readme: str) -> list[tuple[Command, Step]]:
    """Each README command with its step: the next one of WALK, whose pattern it matches in
    full (a step marked `many` also takes the commands right after it that match it)."""
    pairs: list[tuple[Command, Step]] = []
    problems, at = [], 0
    for command in commands(readme):
        previous = pairs[-1][1] if pairs else None
        if previous is not None and previous.many and re.fullmatch(previous.pattern, command.words):
            pairs.append((command, previous))
        elif at < len(WALK) and re.fullmatch(WALK[at].pattern, command.words):
            pairs.append((command, WALK[at]))
            at += 1
        else:
            expected = f"/{WALK[at].pattern}/" if at < len(WALK) else "nothing more"
            problems.append(
                f"README.md:{command.line} `{command.words}` is not the walk's next step "
                f"({expected}): update WALK in tests/test_readme_walk.py"
            )
            break
    else:
        if at < len(WALK):
            left = [step.pattern for step in WALK[at:]]
            problems.append(f"steps of WALK matching no README command: {left}: update WALK")
    assert not problems, "\n".join(problems)
    return pairs


def substituted(step: Step, command: Command, shell: Shell) -> str:
    """The command with the step's placeholders replaced, and its files laid in the shell's
    folder; `localhost:8000` is the walk's server."""
    text = command.text
    for placeholder, value in step.given.items():
        assert placeholder in text, f"README.md:{command.line}: no « {placeholder} » any more"
        text = text.replace(placeholder, value(shell) if callable(value) else value)
    text = text.replace("{fake}", shell.memo["fake"]).replace("{root}", str(shell.root))
    for name, target in step.files.items():
        assert target.is_file(), f"{target} absent from ../shared/data"
        link = shell.cwd / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(target)
    return shell.rewrite(text)


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory, vdd_root: Path) -> Iterator[Shell]:
    why = missing_inputs()
    if why is not None:
        pytest.skip(f"README walk: {why}")
    walk = Shell(tmp_path_factory.mktemp("walk"))
    walk.env["PLUME_LOCAL_FILL"] = "false"  # see the module's docstring
    walk.lay_packages(lambda folder: make_mini_corpus(vdd_root, folder))
    with FakeMistral(chat_reply=o.MODEL_REPLY) as fake:
        walk.memo["fake"] = fake.url
        try:
            yield walk
        finally:
            walk.stop()


def test_the_walk_follows_the_readme() -> None:
    pairs = follow(README.read_text(encoding="utf-8"))
    assert len({id(step) for _, step in pairs}) == len(WALK)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_readme_walks(shell: Shell) -> None:
    took, skipped = [], []
    for command, step in follow(README.read_text(encoding="utf-8")):
        if step.skip:
            skipped.append(f"not run: {command.words} — {step.skip}")
            continue
        text = substituted(step, command, shell)
        if step.server == "up" and not shell.serving:
            shell.start()
        elif step.server == "down":
            shell.stop()
        shell.memo["comment"] = command.comment
        done = step.run(shell, text)
        where = f"README.md:{command.line} `{command.words}`"
        assert done.code == 0, f"{where}\n{done}"
        if step.check is not None:
            try:
                step.check(shell, done)
            except AssertionError as exc:
                raise AssertionError(f"{where}: {exc}\n{done}") from exc
        took.append((done.seconds, command.words))
    slowest = [f"{s:6.1f} s  {words}" for s, words in sorted(took, reverse=True)[:12]]
    print("\n".join([*slowest, *skipped]))
