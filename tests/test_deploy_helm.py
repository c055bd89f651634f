"""The Kubernetes chart (issue 22, deployment recipes): deploy/helm/plume rendered by Helm's
own engine (helm-python-sdk binds Helm's Go SDK: no helm binary), its values checked by its
values.schema.json, every manifest validated against Kubernetes' schemas (kubernetes-validate,
strict: an unknown field fails), then what no schema sees. Qdrant's official chart, a
dependency fetched by `helm dependency build`, is not fetched here (no network): Plume's
templates are rendered alone, and the Qdrant URL they build is checked against that chart's
naming rule. No cluster here (README « Déployer »)."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.deploy_support import (
    DEPLOY,
    app_paths,
    commands_in,
    load_yaml,
    plume_commands,
    secret_variables,
    unknown_variables,
)

CHART = DEPLOY / "helm" / "plume"
KUBERNETES = "1.33.0"
QDRANT_CHART = "https://qdrant.github.io/qdrant-helm"


def render(values: dict[str, Any] | None = None, release: str = "plume") -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values or {}, name=release, namespace="mairies")
    return [
        doc
        for name, text in sorted(files.items())
        if name.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def _one(docs: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    (found,) = [
        d
        for d in docs
        if d["kind"] == kind
        and (
            component is None
            or d["metadata"]["labels"].get("app.kubernetes.io/component") == component
        )
    ]
    return found


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    return render()


def test_the_chart_renders_and_every_manifest_is_valid_kubernetes(
    docs: list[dict[str, Any]],
) -> None:
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "Deployment",
            "Service",
            "Ingress",
            "Job",
            "PersistentVolumeClaim",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "NetworkPolicy",
            "NetworkPolicy",
        ]
    )
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
    wrong = copy.deepcopy(_one(docs, "Deployment"))
    wrong["spec"]["replica"] = 2  # a typo: strict validation is not a formality
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES, strict=True)
    lint = helm.lint(str(CHART))
    assert lint["errors"] == []
    # a warning, not an error: Qdrant's chart is fetched by `helm dependency build`, not here
    assert [m["error"] for m in lint["messages"] if m["severity"] > 1] == [
        "chart directory is missing these dependencies: qdrant"
    ]


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ({"api": {"replicas": "deux"}}, "/api/replicas"),
        ({"env": {"MISTRAL_API_KEY": "x"}}, "MISTRAL_API_KEY"),  # not a PLUME_ variable
        ({"env": {"PLUME_LOCAL_FILL": "true"}}, "PLUME_LOCAL_FILL"),  # the chart's own
        ({"imageRegistry": "https://registry.example.fr"}, "/imageRegistry"),
    ],
)
def test_values_are_checked_by_the_charts_schema(values: dict[str, Any], said: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=said):
        render(values)


def test_every_plume_variable_is_a_setting_and_secrets_come_from_the_secret(
    docs: list[dict[str, Any]],
) -> None:
    values = load_yaml(CHART / "values.yaml")
    secret = secret_variables()
    for doc in (_one(docs, "Deployment"), _one(docs, "Job")):
        (container,) = _containers(doc)
        env = _env(container)
        assert unknown_variables(set(env)) == set()
        for name, value in env.items():
            if name in secret:  # from the existing Secret, never a value in the chart
                assert value["secretKeyRef"]["name"] == values["existingSecret"], name
        assert {"PLUME_ADMIN_TOKEN", "PLUME_DATABASE_URL", "PLUME_REDIS_URL"} <= set(env)
        assert env["PLUME_STORE_BACKEND"] == "server" and env["PLUME_DATA_DIR"] == "/data"
    assert secret.isdisjoint(values["env"])


def test_the_replicas_and_the_job_share_one_database_cluster_redis_and_data_folder(
    docs: list[dict[str, Any]],
) -> None:
    api, job = _one(docs, "Deployment"), _one(docs, "Job")
    assert api["spec"]["replicas"] == 2
    (served,), (ingesting,) = _containers(api), _containers(job)
    a, b = _env(served), _env(ingesting)
    assert a.pop("PLUME_LOCAL_FILL") == b.pop("PLUME_LOCAL_FILL") == "false"
    assert a == b
    assert a["PLUME_QDRANT_URL"] == "http://plume-qdrant:6333"
    claim = _one(docs, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    for doc in (api, job):
        (volume,) = doc["spec"]["template"]["spec"]["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


@pytest.mark.parametrize(
    ("release", "overrides", "url"),
    [  # qdrant-helm's qdrant.fullname: the release's name when it holds « qdrant »
        ("plume", {}, "http://plume-qdrant:6333"),
        ("qdrant-mairies", {}, "http://qdrant-mairies:6333"),
        ("plume", {"qdrant": {"fullnameOverride": "vecteurs"}}, "http://vecteurs:6333"),
        (
            "plume",
            {"qdrant": {"enabled": False}, "externalQdrantUrl": "https://q.example.fr"},
            "https://q.example.fr",
        ),
    ],
)
def test_the_qdrant_url_is_the_official_charts_service(
    release: str, overrides: dict[str, Any], url: str
) -> None:
    (container,) = _containers(_one(render(overrides, release), "Deployment"))
    assert _env(container)["PLUME_QDRANT_URL"] == url


def test_the_probes_hit_the_apps_real_routes(docs: list[dict[str, Any]]) -> None:
    (container,) = _containers(_one(docs, "Deployment"))
    probes = {k: container[k]["httpGet"]["path"] for k in container if k.endswith("Probe")}
    assert probes == {
        "startupProbe": "/livez",
        "livenessProbe": "/livez",
        "readinessProbe": "/healthz",
    }
    assert set(probes.values()) <= app_paths()
    assert container["readinessProbe"]["timeoutSeconds"] > 5  # /healthz waits 5 s at most
    service = _one(docs, "Service")
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "api"
    budget = _one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert budget == _one(docs, "Deployment")["spec"]["selector"]["matchLabels"]


def test_the_ingestion_job_does_not_serve(docs: list[dict[str, Any]]) -> None:
    job = _one(docs, "Job")
    assert job["metadata"]["name"].endswith("-ingest-1")  # one Job per release revision
    (container,) = _containers(job)
    assert "ports" not in container and not any(k.endswith("Probe") for k in container)
    used = commands_in(container["command"][-1])
    assert used[:3] == ["db upgrade", "store init", "corpus fetch"] and used[-1] == "vectors"
    assert "serve" not in used and set(used) <= plume_commands()
    labels = job["spec"]["template"]["metadata"]["labels"]
    service = _one(docs, "Service")["spec"]["selector"]
    assert not service.items() <= labels.items()  # the Service sends it nothing
    policies = {p["metadata"]["name"]: p["spec"] for p in docs if p["kind"] == "NetworkPolicy"}
    assert policies["plume-ingest"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert "ingress" not in policies["plume-ingest"]  # no traffic in


def test_every_image_comes_from_the_eu_registry(docs: list[dict[str, Any]]) -> None:
    values = load_yaml(CHART / "values.yaml")
    registry = values["imageRegistry"]
    for doc in docs:
        spec = doc.get("spec", {}).get("template", {}).get("spec")
        for container in (spec or {}).get("containers", []):
            assert container["image"].startswith(f"{registry}/"), doc["metadata"]["name"]
            (container_env,) = [e for e in container["env"] if e["name"] == "PLUME_IMAGE_REGISTRY"]
            assert container_env["value"] == registry  # for the sovereignty sheet
    qdrant = values["qdrant"]
    assert qdrant["image"]["repository"] == f"{registry}/qdrant/qdrant"
    host = registry.split("/")[0]
    assert qdrant["chartTests"]["dbInteraction"]["image"].startswith(f"{host}/")


def test_qdrant_is_the_official_chart_as_a_three_node_cluster() -> None:
    chart = load_yaml(CHART / "Chart.yaml")
    (dependency,) = chart["dependencies"]
    assert dependency == {
        "name": "qdrant",
        "version": "1.19.0",
        "repository": QDRANT_CHART,
        "condition": "qdrant.enabled",
    }
    values = load_yaml(CHART / "values.yaml")
    qdrant, env = values["qdrant"], values["env"]
    assert qdrant["config"]["cluster"]["enabled"] is True
    assert qdrant["replicaCount"] == 3 and qdrant["podDisruptionBudget"]["enabled"] is True
    copies = int(env["PLUME_QDRANT_REPLICATION"])
    assert 1 < copies <= qdrant["replicaCount"] <= int(env["PLUME_QDRANT_SHARDS"])
    assert int(env["PLUME_QDRANT_WRITE_CONSISTENCY"]) <= copies
    key = qdrant["apiKey"]["valueFrom"]["secretKeyRef"]
    (plume_key,) = [s for s in values["secretEnv"] if s["name"] == "PLUME_QDRANT_API_KEY"]
    assert key == {"name": values["existingSecret"], "key": plume_key["key"]}


def test_a_schedule_adds_a_cronjob_running_the_jobs_very_pod() -> None:
    docs = render({"ingest": {"schedule": "0 3 * * *"}})
    cron, job = _one(docs, "CronJob"), _one(docs, "Job")
    kubernetes_validate.validate(cron, KUBERNETES, strict=True)
    assert cron["spec"]["schedule"] == "0 3 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"  # never two ingestions at once
    assert cron["spec"]["jobTemplate"]["spec"]["template"] == job["spec"]["template"]
    assert not [d for d in render() if d["kind"] == "CronJob"]  # none by default
