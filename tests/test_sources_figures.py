"""`/v1/sources` is public: its figures are computed once and kept, and follow every write."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from api.main import create_app
from assistant.runtime import Runtime
from plume.settings import Settings

TOKEN = "test-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def test_sources_are_kept_and_follow_an_ingestion_and_a_deletion(
    mini_corpus: Path, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", admin_token=TOKEN, rate_limit_costs={})
    runtime = Runtime.build(settings)
    runtime.corpus.ingest("service-public", path=mini_corpus)
    computed = runtime.store.source_stats  # type: ignore[attr-defined]
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:

            def figures() -> dict[str, tuple[int, int]]:
                rows = client.get("/v1/sources").json()
                return {r["source"]: (r["documents"], r["chunks"]) for r in rows}

            first = figures()
            docs, chunks = first["service-public"]
            assert [figures() for _ in range(5)] == [first] * 5
            assert computed.computations == 1  # polled six times, scanned once

            run = client.post("/v1/admin/ingest", json={"source": "programmes"}, headers=ADMIN)
            status = run.json()
            deadline = time.monotonic() + 60
            while status["status"] == "en_cours" and time.monotonic() < deadline:
                time.sleep(0.05)
                status = client.get(f"/v1/admin/ingest/{status['id']}", headers=ADMIN).json()
            assert status["status"] == "termine", status
            after = figures()
            assert after["service-public"] == (docs, chunks)
            assert after["programmes"][0] == status["summary"]["documents"] > 0

            gone = client.delete("/v1/admin/documents/vdd/F1427", headers=ADMIN).json()
            assert figures()["service-public"] == (docs - 1, chunks - gone["chunks_deleted"])
            assert computed.computations == 3
    finally:
        runtime.close()
