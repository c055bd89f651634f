"""What the command line prints reads well in an 80-column terminal and in a log: no
header cut to « Co… », no value cut, an ingestion's progress in a few lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from assistant.records.report import COLUMNS as INDICATORS
from cli.common import out
from cli.eval import _print_tables
from cli.main import app
from cli.progress import IngestLog
from eval.report import TABLES

PLUME = Path(sys.executable).parent / "plume"
NARROW = {"COLUMNS": "80"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def headers(text: str) -> list[list[str]]:
    """Each rich table's header cells, a header wrapped on several lines joined again."""
    lines = [line.strip() for line in text.splitlines()]
    found = []
    for start, line in enumerate(lines):
        if line.startswith("┏"):
            end = next(i for i in range(start, len(lines)) if lines[i].startswith("┡"))
            rows = [row.strip("┃").split("┃") for row in lines[start + 1 : end]]
            cells = zip(*rows, strict=True)
            found.append([" ".join(p.strip() for p in parts if p.strip()) for parts in cells])
    return found


def assert_reads_at_80(text: str, expected: set[str]) -> None:
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "…" not in text, text  # neither a header nor a value cut
    shown = {cell for table in headers(text) for cell in table}
    assert expected <= shown, (expected - shown, text)


def test_the_indicators_read_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    communes = {
        "78551": "Saint-Germain-en-Laye",
        "78003": "Ablis",
        "2A004": "Ajaccio",
        "97411": "Saint-Denis",
        "25176": "Chalezeule",
    }
    for insee, name in communes.items():
        declared = ["deploiement", insee, "--licences", "3", "--utilisateurs", "2", "--nom", name]
        assert runner.invoke(app, declared).exit_code == 0
    shown = runner.invoke(app, ["indicateurs"], env=NARROW)
    assert shown.exit_code == 0, shown.output
    # a column per commune, a row per indicator: every one of them in full
    assert_reads_at_80(shown.output, {*communes, "total"})
    for _, label in INDICATORS[1:]:
        assert re.search(rf"^│ {re.escape(label)} +│", shown.output, re.M), label
    assert all(name in shown.output for name in communes.values())


def test_the_evaluation_tables_read_at_80_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = ["all", "legal", "tag:heldout-3", "tag:gold-pooled", "fiche", "aide", "refusal"]
    metrics = [m for family in TABLES.values() for m in family]
    summary = {g: {"n": 35.0, **{m: 0.5 for m in metrics}} for g in groups}
    monkeypatch.setenv("COLUMNS", "80")
    with out.capture() as captured:
        _print_tables(summary)
    text = ANSI.sub("", captured.get())
    assert_reads_at_80(text, {"métrique", *groups})
    for metric in metrics:  # each metric of each group, its figure whole
        assert re.search(rf"^│ {re.escape(metric)} +│ +0\.500 │", text, re.M), metric
    assert text.count("│ n ") == len(headers(text))


def test_the_keys_read_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    origins = ["https://www.saint-germain-en-laye.fr", "https://accueil.saint-germain-en-laye.fr"]
    added = ["cle", "ajouter", "78551", "--libelle", "Accueil de la mairie, guichet unique"]
    assert runner.invoke(app, [*added, *(f"--origine={o}" for o in origins)]).exit_code == 0
    listed = runner.invoke(app, ["cle", "liste"], env=NARROW)
    assert listed.exit_code == 0, listed.output
    assert_reads_at_80(listed.output, {"id", "commune", "origines", "libellé", "créée le"})


def plume(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env |= {"PLUME_DATA_DIR": str(data_dir), "PYTHONIOENCODING": "utf-8", **NARROW}
    return subprocess.run(
        [str(PLUME), *args],
        cwd=data_dir.parent,  # away from the repository's .env
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
    )


def test_an_ingestion_in_a_log_says_a_few_lines_and_the_sources_read_at_80_columns(
    mini_corpus: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    ingested = plume("ingest", "service-public", "--path", str(mini_corpus), data_dir=data)
    assert ingested.returncode == 0, ingested.stderr
    # stderr is not a terminal: no bar, a line now and then, then one final line
    said = ingested.stderr.splitlines()
    assert 1 <= len(said) <= 4, said
    assert all(line.startswith("Indexation service-public : ") for line in said), said
    last = re.fullmatch(
        r"Indexation service-public : terminée \((\d+)/(\d+) documents, \d+ passages écrits\)",
        said[-1],
    )
    assert last and last[1] == last[2], said
    summary = {"documents", "ajoutés", "mis à jour", "supprimés", "inchangés", "erreurs", "durée"}
    assert_reads_at_80(ingested.stdout, summary)

    listed = plume("sources", data_dir=data)
    assert listed.returncode == 0, listed.stderr
    columns = {"source", "documents", "passages", "vecteurs e5", "versions", "dernière synchro"}
    assert_reads_at_80(listed.stdout, columns)
    assert "service-public" in listed.stdout and "local:mini" in listed.stdout


@pytest.mark.parametrize("known", [True, False])
def test_a_large_ingestion_in_a_log_says_about_ten_lines(known: bool) -> None:
    """The codes: 270 batches of 256 passages, 29112 articles (their number unknown ahead)."""
    logged = StringIO()
    log = IngestLog(Console(file=logged, width=80), "legi")
    if known:
        log.on_total(29112)
    for batch in range(270):
        log.progress(107 if batch < 269 else 29112 - 269 * 107)
        log.written(256)
    log.finish()
    said = logged.getvalue().splitlines()
    assert 5 <= len(said) <= 10, said
    if known:
        assert said[0] == "Indexation legi : 10 % (2996/29112 documents, 7168 passages écrits)"
        assert (
            said[-1] == "Indexation legi : terminée (29112/29112 documents, 69120 passages écrits)"
        )
    else:
        assert said[0] == "Indexation legi : 4280 documents, 10240 passages écrits"
        assert said[-1] == "Indexation legi : terminée (29112 documents, 69120 passages écrits)"
