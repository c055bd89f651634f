"""The compose recipe and Plume's image (issue 22, deployment recipes): deploy/compose.yaml
against the Compose Specification's JSON schema (the copy check-jsonschema ships), the
Dockerfile through hadolint, then what no schema sees — the PLUME_ variables are Plume's,
secrets stay out of the file, every image comes from the registry variable, the replicas
share one database, cluster and Redis, the probes hit real routes, the ingestion job does not
serve. No Docker here: nothing is started (README « Déployer »)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from assistant.records.sovereignty import IMAGES_ROLE, build_sheet
from assistant.runtime import Runtime
from plume.settings import Settings
from tests.deploy_support import (
    DEPLOY,
    PENDING_COMMANDS,
    PENDING_SETTINGS,
    app_paths,
    commands_in,
    load_yaml,
    plume_commands,
    plume_variables,
    secret_variables,
    unknown_variables,
)

COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
CADDYFILE = DEPLOY / "caddy" / "Caddyfile"
REGISTRY = "${PLUME_IMAGE_REGISTRY:?"
REPLICAS = ("plume-api-1", "plume-api-2")
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")


def _compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def _compose_schema() -> dict[str, Any]:
    vendored = files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text(encoding="utf-8"))


def _services() -> dict[str, Any]:
    return _compose()["services"]


def _plume_services() -> dict[str, Any]:
    return {n: s for n, s in _services().items() if n.startswith("plume-")}


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = _compose_schema()
    jsonschema.validate(_compose(), schema)
    # the schema is strict enough to catch a typo: it is not a formality
    broken = copy.deepcopy(_compose())
    broken["services"]["postgres"]["healthcheck"]["intervall"] = "10s"
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        jsonschema.validate(broken, schema)


def test_every_plume_variable_of_the_recipe_is_a_setting() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    names = set(VARIABLE.findall(text))
    for service in _plume_services().values():
        names |= set(service["environment"])
    for example in ("env.example", "secrets/plume.env.example"):
        lines = (DEPLOY / example).read_text(encoding="utf-8").splitlines()
        names |= {ln.split("=")[0].lstrip("# ") for ln in lines if "=" in ln}
    assert {n for n in names if n.startswith("PLUME_")} >= {"PLUME_QDRANT_URL", "PLUME_ADMIN_TOKEN"}
    assert unknown_variables(names) == set()


def test_pending_names_are_still_pending() -> None:
    assert PENDING_SETTINGS.isdisjoint(plume_variables()), "now in plume/settings.py: unlist"
    assert PENDING_COMMANDS.isdisjoint(plume_commands()), "now a plume command: unlist"


def test_secrets_are_never_written_in_the_recipe() -> None:
    secret = secret_variables()
    assert {"PLUME_ADMIN_TOKEN", "PLUME_DATABASE_URL", "PLUME_QDRANT_API_KEY"} <= secret
    for name, service in _plume_services().items():
        assert secret.isdisjoint(service["environment"]), name
        assert service["env_file"] == ["secrets/plume.env"], name
    assert "QDRANT__SERVICE__API_KEY" not in COMPOSE.read_text(encoding="utf-8").split("#")[0]
    for name in ("postgres", "redis"):
        assert _services()[name]["secrets"], name
    ignored = (DEPLOY / ".gitignore").read_text(encoding="utf-8")
    assert "secrets/*" in ignored and "!secrets/*.example" in ignored


def test_every_image_comes_from_the_registry_variable() -> None:
    images = {name: service["image"] for name, service in _services().items()}
    assert len(images) == 9 and len(set(images.values())) == 5  # 3 qdrant, 3 plume
    for name, image in images.items():
        assert image.startswith(REGISTRY), name
        path = image.split("}", 1)[1]  # after the registry: /owner/name:tag, pinned
        assert re.fullmatch(r"(/[a-z0-9.-]+){2}:[\w.${}:-]+", path), name
        assert not path.endswith(":latest"), name
    first = DOCKERFILE.read_text(encoding="utf-8").split("\nFROM ", 1)[1].split()[0]
    assert first.startswith("${PLUME_IMAGE_REGISTRY}/"), first
    assert _plume_services()["plume-api-1"]["build"]["args"]["PLUME_IMAGE_REGISTRY"].startswith(
        REGISTRY
    )
    env = _plume_services()["plume-api-1"]["environment"]
    assert env["PLUME_IMAGE_REGISTRY"].startswith(REGISTRY)  # for the sovereignty sheet
    for mirror in ("PLUME_NPM_REGISTRY", "PLUME_LEXHUB_URL"):  # the job's downloads
        assert env[mirror].startswith(f"${{{mirror}:?"), mirror


def test_the_replicas_share_one_database_cluster_redis_and_data_folder() -> None:
    plume = _plume_services()
    envs = [dict(plume[name]["environment"]) for name in REPLICAS]
    fills = [env.pop("PLUME_LOCAL_FILL") for env in envs]
    assert envs[0] == envs[1]
    assert fills == ["true", "false"]  # settings.local_fill: one replica fills the e5 vectors
    assert envs[0]["PLUME_STORE_BACKEND"] == "server"
    for name in (*REPLICAS, "plume-ingest"):
        service = plume[name]
        assert service["env_file"] == plume[REPLICAS[0]]["env_file"], name
        assert service["volumes"] == ["plume-data:/data"], name
        assert service["environment"]["PLUME_DATA_DIR"] == "/data", name
        assert service["environment"]["PLUME_QDRANT_URL"] == envs[0]["PLUME_QDRANT_URL"], name
    shared = (DEPLOY / "secrets" / "plume.env.example").read_text(encoding="utf-8")
    assert "@postgres:5432/" in shared and "@redis:6379" in shared


def test_three_qdrant_nodes_form_one_cluster_behind_one_name() -> None:
    services = _services()
    nodes = {n: s for n, s in services.items() if n.startswith("qdrant-")}
    assert sorted(nodes) == ["qdrant-1", "qdrant-2", "qdrant-3"]
    seed = "http://qdrant-1:6335"
    for name, node in nodes.items():
        assert node["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
        assert node["command"][-2:] == ["--uri", f"http://{name}:6335"]
        if name != "qdrant-1":
            assert node["command"][1:3] == ["--bootstrap", seed], name
        assert node["networks"]["back"]["aliases"] == ["qdrant"]
        assert "/readyz" in " ".join(node["healthcheck"]["test"])
    assert len({tuple(n["volumes"]) for n in nodes.values()}) == 3
    env = _plume_services()["plume-api-1"]["environment"]
    assert env["PLUME_QDRANT_URL"] == "http://qdrant:6333"
    layout = ("SHARDS", "REPLICATION", "WRITE_CONSISTENCY")
    shards, copies, acks = (int(env[f"PLUME_QDRANT_{k}"].split(":-")[1][:-1]) for k in layout)
    assert 1 < copies <= len(nodes) and shards >= len(nodes) and acks <= copies
    assert services["redis"]["networks"] == services["postgres"]["networks"] == ["back"]
    assert _compose()["networks"]["back"]["internal"] is True


def test_the_probes_hit_the_apps_real_routes() -> None:
    paths = app_paths()
    docker = re.search(r"127\.0\.0\.1:8000(/\w+)", DOCKERFILE.read_text(encoding="utf-8"))
    caddy = re.search(r"health_uri\s+(\S+)", CADDYFILE.read_text(encoding="utf-8"))
    assert docker and caddy
    assert {docker.group(1), caddy.group(1)} == {"/healthz"} and "/healthz" in paths
    assert "/livez" in paths
    upstreams = re.search(r"reverse_proxy\s+([^{]+)\{", CADDYFILE.read_text(encoding="utf-8"))
    assert upstreams and upstreams.group(1).split() == [f"{n}:8000" for n in REPLICAS]
    proxy = _services()["proxy"]
    trusted = _plume_services()["plume-api-1"]["environment"]["PLUME_TRUSTED_PROXIES"]
    assert proxy["networks"]["front"]["ipv4_address"] == trusted


def test_the_ingestion_job_does_not_serve_and_uses_real_commands() -> None:
    job = _plume_services()["plume-ingest"]
    assert job["restart"] == "no" and job["healthcheck"] == {"disable": True}
    assert "ports" not in job and "expose" not in job
    script = job["command"][-1]
    used = commands_in(script)
    assert "serve" not in used
    assert used[:3] == ["db upgrade", "store init", "corpus fetch"]
    assert "ingest" in used and used[-1] == "vectors"
    assert set(used) <= plume_commands() | PENDING_COMMANDS
    for name in REPLICAS:  # the replicas serve: Plume's image's own command, `plume serve`
        assert "command" not in _plume_services()[name]
    assert 'CMD ["plume", "serve"]' in DOCKERFILE.read_text(encoding="utf-8")


def test_the_image_runs_as_a_user_with_the_locked_dependencies() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "uv sync --frozen --no-dev" in text
    user = re.search(r"^USER (\d+)$", text, flags=re.MULTILINE)
    assert user and int(user.group(1)) >= 1000
    assert re.search(r"^HEALTHCHECK ", text, flags=re.MULTILINE)


def test_hadolint_passes_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint") or str(Path(__file__).parents[1] / ".venv/bin/hadolint")
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_sovereignty_sheet_says_where_the_images_come_from() -> None:
    def row(registry: str, **declared: str) -> Any:
        sheet = build_sheet(Settings(image_registry=registry, endpoint_countries=declared))
        (images,) = [e for e in sheet.endpoints if e.role == IMAGES_ROLE]
        return images, sheet

    hub, sheet = row("docker.io")
    assert (hub.country, hub.users_data) == ("US", False)
    assert "| Images des conteneurs" in sheet.markdown() and "États-Unis" in sheet.markdown()
    assert sheet.eu_certified  # public images carry no user data: listed, not a refusal
    mirror, _ = row("registry.example.fr/dockerhub", **{"registry.example.fr": "FR"})
    assert (mirror.url, mirror.country) == ("https://registry.example.fr/dockerhub", "FR")
    assert row("rg.fr-par.scw.cloud/plume")[0].country == "FR"
    assert not [e for e in build_sheet(Settings()).endpoints if e.role == IMAGES_ROLE]


def test_liveness_answers_while_readiness_reports_a_broken_index(tmp_path: Path) -> None:
    """/livez (liveness: restart the process?) answers without reading the index; /healthz
    (readiness: send it traffic?) says 503 when the index lost what the sync log recorded —
    restarting would not repair it, so liveness must not fail on it."""
    settings = Settings(data_dir=tmp_path / "data", local_fill=False)
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "sync.json").write_text(json.dumps({"service-public": {"added": 12}}))
    runtime = Runtime.build(settings)
    try:
        with TestClient(create_app(settings, runtime=runtime)) as client:
            assert client.get("/healthz").status_code == 503
            live = client.get("/livez")
            assert live.status_code == 200 and live.json() == {"status": "ok"}
    finally:
        runtime.close()
