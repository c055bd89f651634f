"""Schemathesis over the API's public and admin routes (the admin token sent): whatever a
caller sends that the OpenAPI schema describes — and what it does not, in the negative
mode — is answered without a server error. A bounded run (a few dozen cases per route, a
fixed seed, derandomised) over a small index of real fiches; the streamed chat is driven
by its own test below (schemathesis reads an SSE stream as a body)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.main import create_app
from assistant.runtime import Runtime
from ingestion.service import ingest_source
from plume.settings import Settings
from tests.conftest import package_root

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
CONFIG = {
    "seed": 21,
    "generation": {"deterministic": True, "max-examples": 20},
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
}


FICHES = ("F1427", "F1432", "F1444", "F1367")  # birth and marriage certificates, elections


def small_corpus(root: Path) -> Path:
    """A few real fiches, shaped like the npm package."""
    folder = root / "data" / "particuliers"
    folder.mkdir(parents=True)
    for fiche in FICHES:
        source = package_root() / "data" / "particuliers" / f"{fiche}.json"
        shutil.copyfile(source, folder / source.name)
    return root


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    root = tmp_path_factory.mktemp("schemathesis")
    settings_ = Settings(data_dir=root / "data", admin_token=TOKEN)
    runtime = Runtime.build(settings_)
    corpus = small_corpus(root / "corpus")
    ingest_source(settings_, runtime.store, None, "service-public", path=corpus)
    yield create_app(settings_, runtime=runtime)
    runtime.close()


class Deferred:
    """The ASGI app schemathesis calls: the real one, built over its index by the fixture
    (the schema is read at import time, from an app that is never started)."""

    app: FastAPI | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "the app fixture sets it"
        await self.app(scope, receive, send)


DEFERRED = Deferred()
schema = schemathesis.openapi.from_dict(
    create_app().openapi(), config=schemathesis.Config.from_dict(CONFIG)
)
schema.app = DEFERRED


@schema.parametrize()
@settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error(case: schemathesis.Case[Any], app: FastAPI) -> None:
    DEFERRED.app = app
    if case.operation.path == "/v1/chat" and isinstance(case.body, dict):
        case.body.pop("stream", None)  # the stream has its own test
    case.call_and_validate(headers=ADMIN, checks=[not_a_server_error])


def test_the_stream_is_never_cut_by_a_server_error(app: FastAPI) -> None:
    """The SSE answer, left out above: bad input is a 4xx before the stream opens, and a
    stream that opens ends with `done`."""
    json = {"Content-Type": "application/json"}
    with TestClient(app) as client:
        for body in (
            b'{"question": "\\ud800", "stream": true}',
            b'{"question": "acte de naissance \\udfff", "stream": true}',
            b'{"question": "' + b"x" * 3000 + b'", "stream": true}',
            b'{"question": "", "stream": true}',
        ):
            resp = client.post("/v1/chat", content=body, headers=json)
            assert 400 <= resp.status_code < 500, body[:40]
            assert "event:" not in resp.text
        for question in ("copie intégrale d'acte de naissance", "mairie \U0001f600 " * 50):
            resp = client.post("/v1/chat", json={"question": question, "stream": True})
            assert resp.status_code == 200
            events = [line for line in resp.text.splitlines() if line.startswith("event:")]
            assert events[0] == "event: notice" and events[-1] == "event: done", events
