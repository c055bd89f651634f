"""The `plume` command line, run as real processes on real fiches.

Each `plume` process spends several seconds importing, so the scenarios that share no
store (bad input, a malformed fiche, the store lock, production settings) start in
background threads when the module starts, each in its own data folder, while the
main scenario runs in the foreground; their tests then check what happened.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

PLUME = Path(sys.executable).parent / "plume"
ADMIN_TOKEN = "supersecret-value-1234567890abcd"
MISTRAL_KEY = "sk-xyz"
ROW_FIELDS = {"doc_id", "title", "url", "text", "source_version"}


@dataclass
class Run:
    args: tuple[str, ...]
    code: int
    out: str
    err: str
    seconds: float

    @property
    def said(self) -> str:
        """stderr with rich's line wrapping undone."""
        return " ".join(self.err.split())


def plume_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env |= {
        "PLUME_DATA_DIR": str(data_dir),
        "COLUMNS": "400",  # rich wraps at 80 columns when not on a terminal
        "PYTHONIOENCODING": "utf-8",
        "DO_NOT_TRACK": "true",
    }
    return env | extra


def plume(*args: str, data_dir: Path, timeout: float = 120, **extra_env: str) -> Run:
    started = time.monotonic()
    proc = subprocess.run(
        [str(PLUME), *args],
        cwd=data_dir.parent,  # away from the repository's .env
        env=plume_env(data_dir, **extra_env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        check=False,
    )
    return Run(args, proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


def summary_row(out: str) -> dict[str, str]:
    """The ingestion summary table printed by `plume ingest`, as column → value."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "ajoutés" in line and "inchangés" in line)
    columns = [c.strip() for c in re.split(r"[┃│|]", lines[at])[1:-1]]
    row = next(line for line in lines[at + 1 :] if re.search(r"\d", line))
    values = [c.strip() for c in re.split(r"[┃│|]", row)[1:-1]]
    return dict(zip(columns, values, strict=True))


def copy_fiches(root: Path, target: Path, ids: list[str]) -> Path:
    folder = target / "data" / "particuliers"
    folder.mkdir(parents=True)
    for fiche_id in ids:
        name = f"{fiche_id}.json"
        shutil.copyfile(root / "data" / "particuliers" / name, folder / name)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- background scenarios ------------------------------------------------------------------


def scenario_bad_input(tmp: Path) -> dict[str, Run]:
    def fresh(name: str) -> Path:
        (tmp / name).mkdir()
        return tmp / name / "data"

    return {
        "unknown source": plume("ingest", "nope", data_dir=fresh("nope")),
        "empty query": plume("search", "", data_dir=fresh("empty")),
        "long query": plume("search", "a" * 2001, data_dir=fresh("long")),
        "bad audience": plume("search", "x", "--audience", "Martiens", data_dir=fresh("mars")),
        # User text is echoed in the message: it must not be read as rich markup.
        "markup": plume("search", "x", "--audience", "[/x]", data_dir=fresh("markup")),
        "not fetched": plume("ingest", "service-public", data_dir=fresh("unfetched")),
    }


def scenario_malformed_fiche(tmp: Path, vdd_root: Path) -> dict[str, Run]:
    folder = copy_fiches(vdd_root, tmp / "fiches", ["F1427", "F1432", "F1444"])
    (folder / "data" / "particuliers" / "F999999.json").write_text("{not json")
    data = tmp / "data"
    return {
        "ingest": plume("ingest", "service-public", "--path", str(folder), data_dir=data),
        "sources": plume("sources", "--json", data_dir=data),
    }


def scenario_store_lock(tmp: Path, vdd_root: Path) -> dict[str, Any]:
    folder = copy_fiches(vdd_root, tmp / "fiches", ["F1427"])
    data = tmp / "data"
    indexed = plume("ingest", "service-public", "--path", str(folder), data_dir=data)
    assert indexed.code == 0, indexed.err
    port = free_port()
    log = open(tmp / "serve.log", "w+", encoding="utf-8")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [str(PLUME), "serve", "--port", str(port)],
        cwd=tmp,
        env=plume_env(data),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        health = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                log.seek(0)
                raise AssertionError(f"plume serve exited early:\n{log.read()}")
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("plume serve did not answer /healthz in time")
            time.sleep(0.2)
        # A second opener must fail at once, not wait for the lock: the timeout catches a hang.
        ingest = plume("ingest", "service-public", "--path", str(folder), data_dir=data, timeout=90)
        # the read commands go through the running server's API instead
        reads = {
            "search": plume("search", "acte de naissance", "--json", data_dir=data),
            "ask": plume("ask", "Comment obtenir un acte de naissance ?", "--json", data_dir=data),
            "sources": plume("sources", "--json", data_dir=data),
            "tenant": plume("search", "acte", "--tenant", "78003", data_dir=data),
            "delete": plume("delete", "vdd/F1427", data_dir=data),
        }
        still_serving = httpx.get(health, timeout=5).status_code
        # the server fills the passages' e5 vectors in the background, by itself
        e5: dict[str, Any] = {}
        while time.monotonic() < deadline + 60 and not e5.get("done"):
            e5 = httpx.get(health, timeout=5).json()["e5"]
            time.sleep(0.5)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    announced = (data / "serveur.json").exists()
    return {
        "ingest": ingest,
        "still serving": still_serving,
        "e5": e5,
        "reads": reads,
        "announced after stop": announced,
    }


def scenario_production(tmp: Path) -> dict[str, Run]:
    data = tmp / "data"
    # Were the check missing, the server would listen on this port until the timeout.
    port = str(free_port())
    return {
        "serve, weak token": plume(
            "serve",
            "--port",
            port,
            data_dir=data,
            timeout=60,
            PLUME_ENV="production",
            PLUME_ADMIN_TOKEN="changeme",
        ),
        # The same settings check, through the lighter `plume config`.
        "config, no token": plume("config", data_dir=data, PLUME_ENV="production"),
    }


class Background:
    def __init__(self, selected: set[str]) -> None:
        self.selected = selected
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="plume-cli")
        self.jobs: dict[str, Future[Any]] = {}

    def start(self, test_name: str, scenario: Callable[..., Any], *args: Any) -> None:
        if test_name in self.selected:
            self.jobs[test_name] = self.pool.submit(scenario, *args)

    def result(self, test_name: str) -> Any:
        return self.jobs[test_name].result(timeout=280)


@pytest.fixture(scope="module", autouse=True)
def background(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Background]:
    selected = {
        item.name
        for item in request.session.items
        if getattr(item, "module", None) is request.module
    }
    jobs = Background(selected)
    try:
        vdd_root: Path | None = request.getfixturevalue("vdd_root")
    except pytest.skip.Exception:
        vdd_root = None  # the tests that need fiches skip through `vdd_root` themselves
    jobs.start(
        "test_bad_input_is_refused_in_french", scenario_bad_input, tmp_path_factory.mktemp("bad")
    )
    jobs.start(
        "test_production_refuses_a_missing_or_weak_admin_token",
        scenario_production,
        tmp_path_factory.mktemp("prod"),
    )
    if vdd_root is not None:
        jobs.start(
            "test_store_lock_points_to_the_admin_api",
            scenario_store_lock,
            tmp_path_factory.mktemp("lock"),
            vdd_root,
        )
        jobs.start(
            "test_malformed_fiche_is_reported_and_the_others_ingested",
            scenario_malformed_fiche,
            tmp_path_factory.mktemp("malformed"),
            vdd_root,
        )
    yield jobs
    jobs.pool.shutdown(wait=True)


# --- the main scenario, in the foreground --------------------------------------------------


def test_ingest_search_ask_delete(mini_corpus: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    started = datetime.now(UTC).replace(microsecond=0)

    first = plume("ingest", "service-public", "--path", str(mini_corpus), data_dir=data)
    assert first.code == 0, first.err
    assert "service-public local:mini" in first.out
    counts = summary_row(first.out)
    assert int(counts["documents"]) > 0
    assert int(counts["ajoutés"]) > int(counts["documents"])  # several passages per fiche
    assert (counts["mis à jour"], counts["supprimés"], counts["inchangés"], counts["erreurs"]) == (
        "0",
        "0",
        "0",
        "0",
    )

    second = plume("ingest", "service-public", "--path", str(mini_corpus), data_dir=data)
    assert second.code == 0, second.err
    again = summary_row(second.out)
    assert again["documents"] == counts["documents"]
    assert (again["ajoutés"], again["mis à jour"], again["supprimés"]) == ("0", "0", "0")
    assert again["inchangés"] == counts["ajoutés"]

    listed = plume("sources", "--json", data_dir=data)
    assert listed.code == 0, listed.err
    (source,) = json.loads(listed.out)
    assert source["source"] == "service-public"
    assert source["documents"] == int(counts["documents"]) > 0
    assert source["chunks"] == int(counts["ajoutés"]) > 0
    assert source["versions"] == {"local:mini": source["chunks"]}
    synced = datetime.fromisoformat(source["last_sync"])
    assert started - timedelta(seconds=1) <= synced <= datetime.now(UTC)

    found = plume("search", "copie intégrale acte de naissance", "--json", data_dir=data)
    assert found.code == 0, found.err
    rows = json.loads(found.out)
    assert isinstance(rows, list) and rows
    assert "vdd/F1427" in [r["doc_id"] for r in rows[:3]]
    for row in rows:
        assert row.keys() >= ROW_FIELDS
        assert row["source_version"] == "local:mini"
        assert row["url"].startswith("https://www.service-public.fr/")
        assert row["text"].strip()

    asked = plume(
        "ask", "Comment obtenir une copie intégrale d'acte de naissance ?", "--json", data_dir=data
    )
    assert asked.code == 0, asked.err
    answer = json.loads(asked.out)
    assert answer["mode"] == "extractive"
    assert answer["citations"] and answer["citations"][0]["n"] == 1
    assert "[1]" in answer["answer"]
    assert "vdd/F1427" in [c["doc_id"] for c in answer["citations"]]
    assert "intelligence artificielle" in answer["notice"]

    off_topic = plume(
        "ask", "recette de la tarte tatin aux pommes caramélisées", "--json", data_dir=data
    )
    assert off_topic.code == 0, off_topic.err
    refusal = json.loads(off_topic.out)
    assert refusal["mode"] == "refusal" and refusal["flags"] == ["hors_champ"]
    assert refusal["citations"] == []
    assert refusal["answer"].startswith("Cette question sort du champ de Plume")

    deleted = plume("delete", "vdd/F1427", data_dir=data)
    assert deleted.code == 0, deleted.err
    removed = re.search(r"vdd/F1427 : (\d+) passages supprimés", deleted.out)
    assert removed and int(removed.group(1)) > 0

    after = plume("search", "copie intégrale acte de naissance", "--json", data_dir=data)
    assert after.code == 0, after.err
    assert "vdd/F1427" not in [r["doc_id"] for r in json.loads(after.out)]

    twice = plume("delete", "vdd/F1427", data_dir=data)
    assert twice.code != 0
    assert "« vdd/F1427 » n'est pas dans l'index" in twice.said
    assert "Traceback" not in twice.err


def test_config_masks_secrets(tmp_path: Path) -> None:
    shown = plume(
        "config",
        data_dir=tmp_path / "data",
        PLUME_ADMIN_TOKEN=ADMIN_TOKEN,
        PLUME_MISTRAL_API_KEY=MISTRAL_KEY,
    )

    assert shown.code == 0, shown.err
    assert ADMIN_TOKEN not in shown.out + shown.err
    assert MISTRAL_KEY not in shown.out + shown.err
    assert "admin_token = **********" in shown.out
    assert "mistral_api_key = **********" in shown.out
    assert f"data_dir = {tmp_path / 'data'}" in shown.out
    assert "use_dense = True" in shown.out  # a key turns dense vectors on


def test_invalid_setting_is_named(tmp_path: Path) -> None:
    shown = plume("config", data_dir=tmp_path / "data", PLUME_PORT="huit-mille")

    assert shown.code == 1
    assert "Configuration invalide : PLUME_PORT :" in shown.said
    assert "Traceback" not in shown.err


# --- the background scenarios' checks ------------------------------------------------------


def test_bad_input_is_refused_in_french(background: Background) -> None:
    runs = background.result("test_bad_input_is_refused_in_french")

    for name, run in runs.items():
        assert run.code == 1, f"{name}: {run.out} {run.err}"
        assert "Erreur :" in run.said, name
        assert "Traceback" not in run.err, name
    assert (
        "Source inconnue : « nope ». Sources disponibles : service-public, legi, aides-territoires, "
        "programmes, precedents." in runs["unknown source"].said
    )
    assert "La question est vide" in runs["empty query"].said
    assert "trop longue (2001 caractères, 2000 au maximum)" in runs["long query"].said
    bad_audience = runs["bad audience"].said
    assert "« Martiens »" in bad_audience
    assert "Valeurs possibles : Particuliers, Professionnels, Associations." in bad_audience
    assert "n'est pas installé : lancez `plume corpus fetch`" in runs["not fetched"].said
    assert "« [/x] »" in runs["markup"].said


def test_malformed_fiche_is_reported_and_the_others_ingested(
    background: Background, vdd_root: Path
) -> None:
    runs = background.result("test_malformed_fiche_is_reported_and_the_others_ingested")

    ingest = runs["ingest"]
    assert ingest.code == 3, ingest.err
    counts = summary_row(ingest.out)
    assert (counts["documents"], counts["erreurs"]) == ("3", "1")
    assert int(counts["ajoutés"]) > 0
    assert "rejeté" in ingest.said and "F999999.json" in ingest.said
    assert "F1427" not in ingest.said
    assert "Traceback" not in ingest.err

    (source,) = json.loads(runs["sources"].out)
    assert source["documents"] == 3
    assert source["chunks"] == int(counts["ajoutés"])
    assert source["last_sync"]


def test_store_lock_points_to_the_admin_api(background: Background, vdd_root: Path) -> None:
    outcome = background.result("test_store_lock_points_to_the_admin_api")
    reads = outcome["reads"]
    # while `plume serve` runs, the read commands answer through its API
    for name in ("search", "ask", "sources"):
        assert reads[name].code == 0, f"{name}: {reads[name].err}"
    assert json.loads(reads["search"].out)[0]["doc_id"] == "vdd/F1427"
    answer = json.loads(reads["ask"].out)
    assert answer["mode"] != "refusal" and answer["citations"][0]["doc_id"] == "vdd/F1427"
    assert json.loads(reads["sources"].out)[0]["source"] == "service-public"
    # a commune's documents need its key; a deletion names the admin route
    assert reads["tenant"].code == 1 and "X-Plume-Key" in reads["tenant"].said
    assert (
        reads["delete"].code == 1 and "DELETE /v1/admin/documents/vdd/F1427" in reads["delete"].said
    )
    assert not outcome["announced after stop"]  # the server's address goes with it

    ingest = outcome["ingest"]
    assert ingest.code == 1, ingest.out
    assert "déjà ouvert" in ingest.said
    assert "/v1/admin/ingest" in ingest.said
    assert "Traceback" not in ingest.err
    assert outcome["still serving"] == 200
    # `plume serve` starts the e5 filler (it once did only when the app built its runtime)
    assert outcome["e5"]["done"] >= 1 and outcome["e5"]["error"] is None


def test_production_refuses_a_missing_or_weak_admin_token(background: Background) -> None:
    runs = background.result("test_production_refuses_a_missing_or_weak_admin_token")

    for name, run in runs.items():
        assert run.code == 1, f"{name}: {run.out} {run.err}"
        assert "Configuration invalide" in run.said, name
        assert "PLUME_ADMIN_TOKEN" in run.said, name
        assert "PLUME_ENV=production" in run.said, name
        assert "Traceback" not in run.err, name
    assert "écoute sur" not in runs["serve, weak token"].out


def test_a_stale_server_address_is_ignored(tmp_path: Path) -> None:
    """A server killed hard leaves its address behind: the read commands then open the index
    themselves rather than calling a server that is gone."""
    from cli.remote import SERVER_FILE, running_server
    from plume.settings import Settings

    settings = Settings(data_dir=tmp_path)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    address = tmp_path / SERVER_FILE
    address.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": int(gone.stdout)}))
    assert running_server(settings) is None
    address.write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": os.getppid()}))
    found = running_server(settings)
    assert found is not None and found.url == "http://127.0.0.1:9"
    address.write_text("{not json")
    assert running_server(settings) is None


def test_an_address_that_is_not_plume_gets_a_clear_error() -> None:
    """The announced port now serves something else (or nothing): a French message, not a
    traceback."""
    import http.server
    import threading

    from cli.remote import RemoteServer, ServerUnreachable

    class Html(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>autre chose</html>")

        def log_message(self, *args: Any) -> None:
            pass

    other = http.server.HTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ServerUnreachable, match="pas \\(ou plus\\) un serveur Plume"):
            RemoteServer(f"http://127.0.0.1:{other.server_port}").sources()
    finally:
        other.shutdown()
    with pytest.raises(ServerUnreachable, match="ne répond pas"):
        RemoteServer(f"http://127.0.0.1:{free_port()}").sources()
