"""The « Fiche IA souveraine » from the configuration; EU processing refused off its list."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.records.sovereignty import build_sheet
from cli.main import app as cli
from plume.settings import Settings


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]


def test_default_install_is_local_and_certified(tmp_path: Path) -> None:
    sheet = build_sheet(_settings(tmp_path))
    assert sheet.eu_certified and sheet.model is None
    roles = {e.role: e for e in sheet.endpoints}
    assert roles["Index de recherche (Qdrant intégré)"].country == "FR"
    assert roles["Base des enregistrements (SQLite)"].users_data
    npm = roles["Paquets des sources (npm)"]
    assert (npm.country, npm.users_data) == ("US", False)  # public packages only: listed
    assert "CLOUD Act" in npm.law
    assert "certifié" in sheet.markdown()
    # the codes with their history: public data, and their limits said
    codes = roles["Codes et leur historique (LexHub, git)"]
    assert not codes.users_data
    (limit,) = sheet.limits
    assert "6 décembre 2023" in limit and "réforme de 2025" in limit
    assert "Limite des sources" in sheet.markdown()


def test_mistral_eu_api_is_certified(tmp_path: Path) -> None:
    sheet = build_sheet(_settings(tmp_path, mistral_api_key="k"))
    assert sheet.eu_certified and sheet.model_vendor == "Mistral AI SAS (France)"
    model = sheet.endpoints[0]
    assert (model.url, model.country, model.users_data) == ("https://api.mistral.ai", "FR", True)
    assert "RGPD" in model.law


@pytest.mark.parametrize(
    ("values", "certified"),
    [
        ({"mistral_server_url": "http://10.0.0.5:8000"}, True),  # self-hosted, in France
        ({"mistral_server_url": "http://10.0.0.5:8000", "hosting_country": "CH"}, False),
        ({"mistral_server_url": "https://llm.example.com"}, False),  # unknown country
        (
            {
                "mistral_server_url": "https://llm.example.com",
                "endpoint_countries": {"llm.example.com": "de"},
            },
            True,
        ),
        ({"mistral_server_url": "https://api.openai.com"}, False),
        (
            {
                "mistral_server_url": "https://api.openai.com",
                "endpoint_countries": {"api.openai.com": "FR"},
            },  # a declaration cannot move it
            False,
        ),
        ({"store_backend": "server", "qdrant_url": "http://127.0.0.1:6333"}, True),
        ({"store_backend": "server", "qdrant_url": "https://x.cloud.qdrant.io:6333"}, False),
        ({"database_url": "postgresql://plume:secret@db.example.org/plume"}, False),
        ({"redis_url": "redis://127.0.0.1:6379/0"}, True),
    ],
)
def test_certification_follows_every_endpoint(
    tmp_path: Path, values: dict[str, object], certified: bool
) -> None:
    sheet = build_sheet(_settings(tmp_path, **values))
    assert sheet.eu_certified is certified
    assert bool(sheet.refusals) is not certified
    assert "secret" not in sheet.markdown() + json.dumps(sheet.as_dict())


def test_the_cli_refuses_a_non_eu_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLUME_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLUME_MISTRAL_SERVER_URL", "https://api.openai.com")
    result = CliRunner().invoke(cli, ["fiche-souverainete"])
    assert result.exit_code == 1
    assert "certification refusée" in result.output
    assert "https://api.openai.com est traité hors de l'UE (US)" in result.output

    monkeypatch.setenv("PLUME_MISTRAL_SERVER_URL", "http://127.0.0.1:8001")
    result = CliRunner().invoke(cli, ["fiche-souverainete", "--json"])
    assert result.exit_code == 0, result.output
    sheet = json.loads(result.output)
    assert sheet["eu_certified"] is True and sheet["refusals"] == []
    assert sheet["endpoints"][0]["operator"].startswith("auto-hébergé")


def test_the_admin_api_serves_the_sheet(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app
    from assistant.runtime import Runtime

    token = "test-admin-token-0123456789abcdef"
    settings = _settings(tmp_path, admin_token=token, mistral_server_url="https://api.openai.com")
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        sheet = client.get("/v1/admin/souverainete", headers=headers).json()
        assert sheet["eu_certified"] is False and len(sheet["refusals"]) == 2
        md = client.get("/v1/admin/souverainete?format=md", headers=headers)
        assert md.text.startswith("# Fiche IA souveraine") and "certification refusée" in md.text
        assert client.get("/v1/admin/souverainete").status_code == 401
    runtime.close()
