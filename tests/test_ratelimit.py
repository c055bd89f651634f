"""Rate limits per API key and per address: in memory, and in Redis shared by processes."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from api.main import create_app
from assistant.runtime import Runtime
from plume.settings import Settings

REDIS = "redis://127.0.0.1:6379/0"


def _redis_or_skip() -> str:
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unreachable at {REDIS} ({type(exc).__name__})")
    return REDIS


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    return _redis_or_skip() if request.param == "redis" else None


@contextmanager
def _serve(tmp_path: Path, ip: str, **limits: object) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", **limits)  # type: ignore[arg-type]
    runtime = Runtime.build(settings)
    try:
        with TestClient(create_app(settings, runtime=runtime), client=(ip, 5000)) as client:
            yield client
    finally:
        runtime.close()


def _ip() -> str:  # a fresh address per test: counts in Redis outlive a test
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


def test_per_address_limit_gives_a_french_429(backend: str | None, tmp_path: Path) -> None:
    with _serve(tmp_path, _ip(), redis_url=backend, rate_limit_ip_per_minute=3) as client:
        assert [client.get("/v1/sources").status_code for _ in range(3)] == [200] * 3
        r = client.get("/v1/sources")
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        error = r.json()["error"]
        assert error["code"] == "trop_de_requetes"
        assert error["message"].startswith("Trop de requêtes : réessayez dans ")
        assert client.get("/healthz").status_code == 200  # only the API is limited


def test_per_key_limit_counts_each_key(backend: str | None, tmp_path: Path) -> None:
    key_a, key_b = (f"plm_{uuid.uuid4().hex}{uuid.uuid4().hex}" for _ in range(2))
    with _serve(
        tmp_path,
        _ip(),
        redis_url=backend,
        rate_limit_key_per_minute=2,
        rate_limit_ip_per_minute=100,
    ) as client:
        statuses = [
            client.get("/v1/sources", headers={"X-Plume-Key": key_a}).status_code for _ in range(3)
        ]
        assert statuses[2] == 429 and 429 not in statuses[:2]
        assert client.get("/v1/sources", headers={"X-Plume-Key": key_b}).status_code != 429
        assert client.get("/v1/sources").status_code == 200  # no key: the address limit


def test_redis_counts_are_shared_by_processes(tmp_path: Path) -> None:
    url, ip = _redis_or_skip(), _ip()
    with (
        _serve(tmp_path / "a", ip, redis_url=url, rate_limit_ip_per_minute=2) as first,
        _serve(tmp_path / "b", ip, redis_url=url, rate_limit_ip_per_minute=2) as second,
    ):
        assert first.get("/v1/sources").status_code == 200
        assert second.get("/v1/sources").status_code == 200
        assert first.get("/v1/sources").status_code == 429


def test_memory_counts_are_per_process(tmp_path: Path) -> None:
    ip = _ip()
    with (
        _serve(tmp_path / "a", ip, rate_limit_ip_per_minute=1) as first,
        _serve(tmp_path / "b", ip, rate_limit_ip_per_minute=1) as second,
    ):
        assert first.get("/v1/sources").status_code == 200
        assert second.get("/v1/sources").status_code == 200
        assert first.get("/v1/sources").status_code == 429


def test_the_administrator_is_not_limited_but_a_wrong_token_is(tmp_path: Path) -> None:
    token = "test-admin-token-0123456789abcdef"
    with _serve(tmp_path, _ip(), admin_token=token, rate_limit_ip_per_minute=2) as client:
        good = {"Authorization": f"Bearer {token}"}
        assert {client.get("/v1/admin/usage", headers=good).status_code for _ in range(5)} == {200}
        bad = {"Authorization": "Bearer devine"}
        statuses = [client.get("/v1/admin/usage", headers=bad).status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
