"""The widget's HTTP edge, in process: its script, the DSFR served by Plume, CORS per key.

The browser side (streaming, citations, feedback, keyboard, hostile host page) is tested in
headless Chromium by tests/test_widget_e2e.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.routes.widget import dsfr_dist
from assistant.models import AI_NOTICE
from assistant.runtime import Runtime
from ingestion.service import ingest_source
from plume import REPO_ROOT
from plume.errors import CorpusNotFetched
from plume.keys import KeyStore
from plume.settings import Settings
from tests.conftest import make_mini_corpus, package_root

STATIC = REPO_ROOT / "api" / "static"
SITE = "http://intranet.mairie.test"
OTHER_SITE = "http://autre-site.test"
QUESTION = {"question": "Comment obtenir une copie intégrale d'acte de naissance ?"}


def link_dsfr(settings: Settings) -> None:
    """Makes the fetched DSFR visible under `settings.data_dir` (a link, not a copy)."""
    try:
        dist = dsfr_dist(Settings())
    except CorpusNotFetched:
        pytest.skip("DSFR package not fetched: run `plume corpus fetch dsfr` (make test does)")
    folder = dist.parent.parent
    settings.packages_dir.mkdir(parents=True, exist_ok=True)
    link = settings.packages_dir / folder.name
    if not link.exists():
        link.symlink_to(folder, target_is_directory=True)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("widget") / "data", retention_days=45)


@pytest.fixture(scope="module")
def client(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    link_dsfr(settings)
    corpus = make_mini_corpus(package_root(), tmp_path_factory.mktemp("widget-corpus") / "c")
    runtime = Runtime.build(settings)
    ingest_source(settings, runtime.store, None, "service-public", path=corpus)
    with TestClient(create_app(settings, runtime=runtime), base_url="http://plume.test") as c:
        yield c
    runtime.close()


@pytest.fixture(scope="module")
def key(settings: Settings) -> str:
    return KeyStore(settings.data_dir).create("25176", [SITE], "intranet de test").key


@pytest.fixture(scope="module")
def other_key(settings: Settings) -> str:
    return KeyStore(settings.data_dir).create("30109", [OTHER_SITE], "autre site").key


def code_of(resp) -> str:  # type: ignore[no-untyped-def]
    error = resp.json()["error"]
    assert error["message"]
    return str(error["code"])


# --- assets ---------------------------------------------------------------------------------


def test_widget_script_carries_the_notices(client: TestClient) -> None:
    resp = client.get("/widget.js")

    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/javascript")
    assert resp.headers["access-control-allow-origin"] == "*"
    assert AI_NOTICE in resp.text
    assert "conservées 45 jours" in resp.text  # the retention in force, not a fixed text
    assert "/*config*/" not in resp.text


def test_widget_script_renders_server_text_safely() -> None:
    script = (STATIC / "widget.js").read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/|^\s*//.*$", "", script, flags=re.S | re.M)

    assert "innerHTML" not in code and "insertAdjacentHTML" not in code
    assert "outerHTML" not in code and "eval(" not in code
    assert not re.search(r"https?://", code)  # every request goes to the Plume serving it


def test_shadow_stylesheet_is_the_dsfr_scoped_to_the_shadow_root(client: TestClient) -> None:
    css = client.get("/widget.css")

    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert ":host{" in css.text and not re.search(r":root(?![\w-])", css.text)
    assert "url(/dsfr/icons/system/close-line.svg)" in css.text
    assert not re.search(r"url\((['\"]?)(?!data:|/dsfr/)", css.text)  # no relative, no remote
    assert "@font-face" not in css.text
    assert ".plume-panel" in css.text  # the widget's own styles come after the DSFR's


def test_fonts_are_served_by_plume(client: TestClient) -> None:
    faces = client.get("/widget-fonts.css").text
    urls = re.findall(r"url\(([^)]+)\)", faces)

    assert faces.count("@font-face") >= 6 and "font-family:Marianne" in faces
    assert urls and all(
        re.fullmatch(r"/dsfr/fonts/(Marianne|Spectral)-\w+\.woff2?", u) for u in urls
    )
    font = client.get(urls[0])
    assert font.status_code == 200 and len(font.content) > 10_000
    assert font.headers["access-control-allow-origin"] == "*"  # fonts load with CORS


@pytest.mark.parametrize(
    "path",
    [
        "/dsfr/../package.json",
        "/dsfr/%2e%2e/%2e%2e/package.json",
        "/dsfr/dsfr.module.min.js",  # only styles, fonts and images are served
        "/dsfr/nope.css",
    ],
)
def test_dsfr_serves_only_its_assets(client: TestClient, path: str) -> None:
    resp = client.get(path)

    assert resp.status_code == 404
    assert code_of(resp) == "http_404"


def test_full_page_uses_only_local_resources(client: TestClient) -> None:
    page = client.get("/")
    links = re.findall(r'(?:src|href)="([^"]*)"', page.text)

    assert page.status_code == 200 and 'lang="fr"' in page.text
    assert "/dsfr/dsfr.min.css" in links and "/widget.js" in links
    assert all(link.startswith(("/", "#")) for link in links), links
    assert client.get("/dsfr/dsfr.min.css").status_code == 200


# --- CORS per key ---------------------------------------------------------------------------


def preflight(client: TestClient, origin: str) -> object:
    return client.options(
        "/v1/chat",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-plume-key",
        },
    )


def test_preflight_from_an_allowed_origin(client: TestClient, key: str) -> None:
    resp = preflight(client, SITE)

    assert resp.status_code == 204  # type: ignore[attr-defined]
    headers = resp.headers  # type: ignore[attr-defined]
    assert headers["access-control-allow-origin"] == SITE
    assert "x-plume-key" in headers["access-control-allow-headers"].lower()
    assert "Origin" in headers["vary"]


def test_preflight_from_an_unknown_origin_is_refused(client: TestClient, key: str) -> None:
    resp = preflight(client, "http://pirate.test")

    assert resp.status_code == 403  # type: ignore[attr-defined]
    assert code_of(resp) == "origine_non_autorisee"
    assert "http://pirate.test" in resp.json()["error"]["message"]  # type: ignore[attr-defined]


def test_chat_from_the_key_s_origin(client: TestClient, key: str) -> None:
    resp = client.post("/v1/chat", json=QUESTION, headers={"Origin": SITE, "X-Plume-Key": key})

    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == SITE
    assert resp.json()["citations"]


def test_cross_origin_call_without_a_key_is_refused(client: TestClient, key: str) -> None:
    resp = client.post("/v1/chat", json=QUESTION, headers={"Origin": SITE})

    assert resp.status_code == 401
    assert code_of(resp) == "cle_inconnue" and "data-key" in resp.json()["error"]["message"]
    assert resp.headers["access-control-allow-origin"] == SITE  # so the widget can show it


def test_unknown_key_is_refused(client: TestClient, key: str) -> None:
    forged = "plm_" + "x" * 43
    resp = client.post("/v1/chat", json=QUESTION, headers={"Origin": SITE, "X-Plume-Key": forged})

    assert resp.status_code == 401 and code_of(resp) == "cle_inconnue"


def test_a_key_is_refused_on_another_origin(client: TestClient, key: str, other_key: str) -> None:
    feedback = {"conversation_id": "c", "message_id": "m", "rating": "up", "comment": None}
    for path, body in (("/v1/chat", QUESTION), ("/v1/feedback", feedback)):
        resp = client.post(path, json=body, headers={"Origin": OTHER_SITE, "X-Plume-Key": key})
        assert resp.status_code == 403, path
        assert code_of(resp) == "origine_non_autorisee"


def test_same_origin_and_server_calls_need_no_key(client: TestClient) -> None:
    same = client.post("/v1/chat", json=QUESTION, headers={"Origin": "http://plume.test"})
    server = client.post("/v1/chat", json=QUESTION)

    assert same.status_code == 200 and server.status_code == 200
    assert "access-control-allow-origin" not in same.headers
    assert "access-control-allow-origin" not in server.headers


def test_own_page_behind_a_proxy_is_recognised(client: TestClient) -> None:
    # a reverse proxy may pass Host as the upstream's: the browser's Sec-Fetch-Site decides
    own = {"Origin": "https://plume.mairie.fr", "Sec-Fetch-Site": "same-origin"}
    other = {"Origin": "https://plume.mairie.fr", "Sec-Fetch-Site": "cross-site"}

    assert client.post("/v1/chat", json=QUESTION, headers=own).status_code == 200
    assert client.post("/v1/chat", json=QUESTION, headers=other).status_code == 401


def test_other_routes_get_no_cors_headers(client: TestClient, key: str) -> None:
    resp = client.post(
        "/v1/search", json={"query": "concession"}, headers={"Origin": SITE, "X-Plume-Key": key}
    )

    assert resp.status_code == 200
    assert "access-control-allow-origin" not in resp.headers


def test_manifest_pins_the_dsfr() -> None:
    from plume import packages

    pkg = packages.load_manifest(Path(REPO_ROOT / "corpus"))["dsfr"]
    assert pkg.package == "@gouvfr/dsfr" and pkg.integrity.startswith("sha512-")
