"""An agent signs in from Plume's page, in Debian's headless Chromium (issue 21, item 9).

Plume runs under uvicorn on loopback with the fake OpenID Connect provider beside it: the
chat shows « Se connecter », the browser goes to the provider and back, and the chat then
names the agent and their commune; a question on the commune's council is answered from its
document. Every request the browser makes stays on localhost.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.runtime import Runtime
from ingestion.documents.items import Upload
from plume.settings import Settings
from tests.fakes.oidc import FakeOidc
from tests.test_widget import link_dsfr
from tests.test_widget_e2e import CHROMIUM, Browser, PlumeServer

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (make chromium)"
)
MARIE, FLAUX = "marie.dupont@flaux.fr", "30110"
LAVOIR = (
    "Le conseil municipal décide la réfection du lavoir de la place aux Herbes pour un "
    "montant de 18 400 euros."
)
QUESTION = "Qu'a décidé le conseil : réfection du lavoir de la place aux Herbes ?"


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeOidc]:
    with FakeOidc(client_id="plume-e2e", client_secret="secret-du-client-e2e") as fake:
        fake.email = MARIE
        yield fake


@pytest.fixture(scope="module")
def plume(provider: FakeOidc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlumeServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("signin-e2e") / "data",
        oidc_issuer=provider.issuer,
        oidc_client_id="plume-e2e",
        oidc_client_secret="secret-du-client-e2e",
        session_secret="cle-de-session-e2e-0123456789-abcdefghijkl",
    )
    link_dsfr(settings)
    runtime = Runtime.build(settings)
    runtime.documents.upload([Upload("lavoir.txt", LAVOIR.encode())], FLAUX, "cdg")
    runtime.refresh_stats()  # what an admin upload's job does when it ends
    runtime.agents.add(MARIE, FLAUX)
    with PlumeServer(settings, runtime) as server:
        yield server
    runtime.close()


def test_an_agent_signs_in_and_sees_the_communes_document(
    plume: PlumeServer, provider: FakeOidc, tmp_path: Path
) -> None:
    browser = Browser(tmp_path / "profile")
    try:
        page = browser.context.new_page()
        page.goto(f"{plume.url}/")
        sign_in = page.get_by_role("link", name="Se connecter")
        sign_in.wait_for(timeout=15_000)
        sign_in.click()
        page.wait_for_url(f"{plume.url}/", timeout=15_000)  # there and back
        account = page.locator(".plume-account")
        account.get_by_text(f"Connecté : {MARIE} — commune {FLAUX}").wait_for(timeout=15_000)
        assert [p for p, _ in provider.requests if p in ("/authorize", "/token")] == [
            "/authorize",  # the browser, sent there by Plume
            "/token",  # Plume, with the code the browser brought back
        ]

        page.get_by_label("Votre question").fill(QUESTION)
        page.get_by_role("button", name="Envoyer").click()
        done = page.locator(".plume-turn .plume-text[aria-busy=false]").last
        done.wait_for(timeout=120_000)
        # the commune's document, which only a signed-in agent of Flaux may read
        assert "18 400 euros" in done.inner_text(), done.inner_text()

        page.get_by_role("button", name="Se déconnecter").click()
        page.get_by_role("link", name="Se connecter").wait_for(timeout=15_000)
        assert browser.outside == [], browser.outside
    finally:
        browser.close()
