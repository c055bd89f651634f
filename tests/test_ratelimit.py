"""Rate limits per API key, per commune and per address: in memory, and in Redis shared by
processes."""

from __future__ import annotations

import random
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis
import uvicorn
from fastapi.testclient import TestClient

from api.main import create_app
from api.ratelimit import TrustedProxies, server_options
from assistant.runtime import Runtime
from plume.keys import KeyStore
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
    limits.setdefault("rate_limit_costs", {})  # each request counts 1 unless a test says
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


def _keys(tmp_path: Path, *tenants: str) -> list[str]:
    """Real keys of these communes, in the data folder `_serve` uses."""
    store = KeyStore(tmp_path / "data")
    (tmp_path / "data").mkdir(parents=True, exist_ok=True)
    return [store.create(tenant).key for tenant in tenants]


def test_per_key_limit_counts_each_key(backend: str | None, tmp_path: Path) -> None:
    key_a, key_b = _keys(tmp_path, "30110", "25176")
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


def test_a_town_hall_behind_one_address_is_not_throttled(
    backend: str | None, tmp_path: Path
) -> None:
    """20 agents behind one NAT address, a minute of heavy normal use each (two chat turns,
    cost 5 each, and 6 searches: 320 for the town hall, over the former 300 per address),
    with their commune's key or without one: the default limits let them all through."""
    (key,) = _keys(tmp_path, "30110")
    defaults = Settings()
    costs = {"/v1/sources": defaults.rate_limit_costs["/v1/chat"]}  # a chat turn's weight
    for headers in ({"X-Plume-Key": key}, {}):
        with _serve(tmp_path, _ip(), redis_url=backend, rate_limit_costs=costs) as client:
            statuses = []
            for _agent in range(20):
                statuses += [client.get("/v1/sources", headers=headers).status_code for _ in "12"]
                search = {"query": "état civil"}
                statuses += [
                    client.post("/v1/search", json=search, headers=headers).status_code
                    for _ in range(6)
                ]
            assert statuses == [200] * 160, headers


def test_a_key_that_abuses_is_throttled_alone(backend: str | None, tmp_path: Path) -> None:
    """Counted on its key and commune, not on the shared address: another commune's key,
    and the callers without a key behind the same address, go on."""
    abuser, neighbour = _keys(tmp_path, "30110", "25176")
    with _serve(
        tmp_path,
        _ip(),
        redis_url=backend,
        rate_limit_key_per_minute=5,
        rate_limit_commune_per_minute=100,
        rate_limit_ip_per_minute=3,
    ) as client:
        statuses = [
            client.get("/v1/sources", headers={"X-Plume-Key": abuser}).status_code for _ in range(8)
        ]
        assert statuses == [200] * 5 + [429] * 3
        assert client.get("/v1/sources", headers={"X-Plume-Key": neighbour}).status_code == 200
        assert [client.get("/v1/sources").status_code for _ in range(4)] == [200] * 3 + [429]


def test_a_communes_keys_share_its_limit(backend: str | None, tmp_path: Path) -> None:
    widget, server, other = _keys(tmp_path, "30110", "30110", "25176")
    with _serve(
        tmp_path,
        _ip(),
        redis_url=backend,
        rate_limit_key_per_minute=100,
        rate_limit_commune_per_minute=4,
    ) as client:

        def get(key: str) -> int:
            return client.get("/v1/sources", headers={"X-Plume-Key": key}).status_code

        assert [get(widget), get(widget), get(server), get(server)] == [200] * 4
        assert get(server) == 429 and get(widget) == 429  # the commune's 4 are spent
        assert get(other) == 200


def test_unknown_keys_count_on_the_address(backend: str | None, tmp_path: Path) -> None:
    """Made-up keys, fresh each time, do not escape the limit: they count as no key."""
    with _serve(tmp_path, _ip(), redis_url=backend, rate_limit_ip_per_minute=2) as client:
        made_up = [f"plm_{uuid.uuid4().hex}{uuid.uuid4().hex}" for _ in range(3)]
        statuses = [
            client.get("/v1/sources", headers={"X-Plume-Key": k}).status_code for k in made_up
        ]
        assert statuses[2] == 429 and 429 not in statuses[:2]


def test_redis_counts_a_key_across_workers(tmp_path: Path) -> None:
    """Two workers (two apps, as `plume serve --workers 2` runs) count one key together in
    Redis; in memory each would count apart (the memory backend is per process)."""
    url = _redis_or_skip()
    (key,) = _keys(tmp_path / "a", "30110")
    (tmp_path / "b" / "data").mkdir(parents=True)
    shutil.copy(tmp_path / "a" / "data" / "cles.json", tmp_path / "b" / "data" / "cles.json")
    limits = {"rate_limit_key_per_minute": 2}
    headers = {"X-Plume-Key": key}
    with (
        _serve(tmp_path / "a", _ip(), redis_url=url, **limits) as first,
        _serve(tmp_path / "b", _ip(), redis_url=url, **limits) as second,
    ):
        assert first.get("/v1/sources", headers=headers).status_code == 200
        assert second.get("/v1/sources", headers=headers).status_code == 200
        assert first.get("/v1/sources", headers=headers).status_code == 429
        assert second.get("/v1/sources", headers=headers).status_code == 429


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


def test_a_route_counts_its_cost(tmp_path: Path) -> None:
    costs = {"/v1/sources": 4, "/v1/aides/echeances": 20}
    with _serve(tmp_path, _ip(), rate_limit_ip_per_minute=10, rate_limit_costs=costs) as client:
        assert [client.get("/v1/sources").status_code for _ in range(2)] == [200, 200]
        # 8 of 10 spent: a search (cost 1) still goes through, twice; the figures no more
        search = [client.post("/v1/search", json={"query": "état civil"}) for _ in range(3)]
        assert [r.status_code for r in search] == [200, 200, 429]
        assert client.get("/v1/sources").status_code == 429
    with _serve(tmp_path / "b", _ip(), rate_limit_ip_per_minute=10, rate_limit_costs=costs) as c:
        # a cost above the limit takes the whole window, it does not close the route for ever
        assert [c.get("/v1/aides/echeances").status_code for _ in range(2)] == [200, 429]


def test_trusted_proxies_believe_only_the_hops_they_add() -> None:
    proxies = TrustedProxies(["127.0.0.1", "10.0.0.0/8"])
    assert proxies.client("127.0.0.1", ["203.0.113.7"]) == "203.0.113.7"
    # what the client wrote on the left is not believed; the proxies' own hops are skipped
    assert proxies.client("127.0.0.1", ["6.6.6.6, 203.0.113.7, 10.1.2.3"]) == "203.0.113.7"
    assert proxies.client("10.9.9.9", ["6.6.6.6", "203.0.113.7:5555"]) == "203.0.113.7"
    assert proxies.client("127.0.0.1", ["[2001:db8::1]:443"]) == "2001:db8::1"
    assert proxies.client("127.0.0.1", []) == "127.0.0.1"
    assert proxies.client("198.51.100.2", ["203.0.113.7"]) == "198.51.100.2"  # not a proxy
    assert TrustedProxies([]).client("127.0.0.1", ["203.0.113.7"]) == "127.0.0.1"
    assert TrustedProxies(["*"]).client("198.51.100.2", ["203.0.113.7"]) == "203.0.113.7"


@contextmanager
def _uvicorn(tmp_path: Path, **options: object) -> Iterator[httpx.Client]:
    """A real uvicorn on loopback with the proxy options `plume serve` gives it."""
    settings = Settings(data_dir=tmp_path / "data", **options)  # type: ignore[arg-type]
    runtime = Runtime.build(settings)
    app = create_app(settings, runtime=runtime)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", **server_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(20)
        runtime.close()


def test_a_rotating_forwarded_for_from_loopback_is_one_client(tmp_path: Path) -> None:
    # no proxy trusted (the default): uvicorn no longer believes 127.0.0.1's X-Forwarded-For
    with _uvicorn(tmp_path, rate_limit_ip_per_minute=3, rate_limit_costs={}) as client:
        statuses = [
            client.get("/v1/sources", headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(1, 6)
        ]
        assert statuses == [200, 200, 200, 429, 429]


def test_a_trusted_proxy_forwarded_address_is_honoured(tmp_path: Path) -> None:
    with _uvicorn(
        tmp_path, rate_limit_ip_per_minute=2, rate_limit_costs={}, trusted_proxies="127.0.0.1"
    ) as client:

        def status(forwarded: str) -> int:
            return client.get("/v1/sources", headers={"X-Forwarded-For": forwarded}).status_code

        assert [status("203.0.113.7") for _ in range(3)] == [200, 200, 429]
        assert status("203.0.113.8") == 200  # another client behind the same proxy
        assert status("6.6.6.6, 203.0.113.7") == 429  # a forged left hop changes nothing
