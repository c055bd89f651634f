"""The widget end to end, in Debian's headless Chromium driven by Playwright.

Plume runs under uvicorn on a loopback port, over a small real index and the fake Mistral
(which streams its answer word by word, paced so that the stream can be watched). A host
page on another port, with hostile CSS, embeds the widget with one script tag and a key
bound to its origin. Every request the browser makes is routed through the test: any that
would leave localhost is aborted and fails the test. A screenshot of each state is saved
under test-artifacts/widget/.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.main import create_app
from assistant.runtime import Runtime
from ingestion.runs import IngestRuns
from ingestion.service import ingest_source
from plume import REPO_ROOT
from plume.db.models import Feedback
from plume.keys import KeyStore
from plume.settings import Settings
from tests.conftest import make_mini_corpus, package_root
from tests.fakes.loopback import LoopbackServer
from tests.fakes.mistral import CHAT, FakeMistral, message_text
from tests.test_widget import link_dsfr

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts" / "widget"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]"}
QUESTION = "Comment obtenir une copie intégrale d'acte de naissance ?"
REPLY = (
    "La demande se fait auprès de la mairie du lieu de naissance, qui détient l'acte. [{n}]\n"
    "- Elle peut aussi se faire en ligne, selon les cas. [{n}]"
)
HOSTILE_CSS = """
* { font-family: "Comic Sans MS", cursive !important; color: #ff00ff !important;
    line-height: 3 !important; letter-spacing: 3px !important; box-sizing: content-box !important; }
button, input, textarea { all: unset !important; background: lime !important; }
div, section, p, ol, li, a, button { display: inline !important; visibility: hidden; }
.plume, .plume-panel, .fr-btn, #plume-panel { display: none !important; }
body { font-size: 7px !important; background: #222 !important; }
"""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed (make chromium)"
)


# --- servers --------------------------------------------------------------------------------


class _Paced:
    """Waits between the chunks of a streamed chat answer, so the stream can be watched."""

    def __init__(self, app: ASGIApp, delay_s: float) -> None:
        self.app, self.delay_s = app, delay_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CHAT:
            await self.app(scope, receive, send)
            return

        async def paced(message: Message) -> None:
            if message["type"] == "http.response.body" and message.get("more_body"):
                await asyncio.sleep(self.delay_s)
            await send(message)

        await self.app(scope, receive, paced)


class PacedMistral(FakeMistral):
    def _app(self) -> Starlette:
        app = super()._app()
        app.add_middleware(_Paced, delay_s=0.06)
        return app


class PlumeServer(LoopbackServer):
    """The real Plume app, served on loopback."""

    name = "plume"

    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        super().__init__()
        self.settings, self.runtime = settings, runtime

    def _app(self) -> Starlette:
        app = create_app(self.settings, runtime=self.runtime)
        app.state.runtime, app.state.runs = self.runtime, IngestRuns()  # no lifespan here
        return app


class HostSite(LoopbackServer):
    """Another site (another port, so another origin) that embeds the widget."""

    name = "host-site"

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, str] = {}

    def _app(self) -> Starlette:
        async def page(request: Request) -> HTMLResponse:
            html = self.pages.get(request.path_params["name"])
            return HTMLResponse(html or "absent", status_code=200 if html else 404)

        return Starlette(routes=[Route("/{name}", page)])

    def embed(self, name: str, plume_url: str, key: str, css: str = HOSTILE_CSS) -> str:
        self.pages[name] = (
            '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
            f"<title>Intranet de la mairie</title><style>{css}</style></head><body>"
            "<h1>Intranet de la mairie</h1><p>Actualités du service.</p>"
            f'<script src="{plume_url}/widget.js" data-key="{key}"></script>'
            "</body></html>"
        )
        return f"{self.url}/{name}"


def citing_reply(body: dict[str, Any]) -> str:
    """Cites the first numbered source of the prompt, as a careful model would."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    prompt = message_text(users[-1]) if users else ""
    if "Question réécrite" in prompt:
        return QUESTION
    return REPLY.format(n=1)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    with PacedMistral(chat_reply=citing_reply) as server:
        yield server


@pytest.fixture(scope="module")
def runtime(fake: FakeMistral, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    root = tmp_path_factory.mktemp("widget-e2e")
    settings = Settings(
        data_dir=root / "data",
        mistral_api_key="k",
        mistral_server_url=fake.url,
        llm_retry_s=1,
        llm_timeout_s=10,
    )
    link_dsfr(settings)
    rt = Runtime.build(settings)
    ingest_source(
        settings,
        rt.store,
        None,
        "service-public",
        path=make_mini_corpus(package_root(), root / "c"),
    )
    rt.refresh_stats()
    yield rt
    rt.close()


@pytest.fixture(scope="module")
def plume(runtime: Runtime) -> Iterator[PlumeServer]:
    with PlumeServer(runtime.settings, runtime) as server:
        yield server


@pytest.fixture(scope="module")
def host() -> Iterator[HostSite]:
    with HostSite() as server:
        yield server


# --- the browser ----------------------------------------------------------------------------


class Browser:
    """A fresh Chromium profile; every request is checked: localhost only."""

    def __init__(self, profile: Path) -> None:
        self.outside: list[str] = []
        self.requests: list[str] = []
        self._pw = sync_api.sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            locale="fr-FR",
            viewport={"width": 1100, "height": 900},
        )
        self.context.route("**/*", self._guard)

    def _guard(self, route: Any) -> None:
        url = route.request.url
        self.requests.append(url)
        if urlsplit(url).hostname in LOCAL:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()
        self._pw.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()
    assert b.outside == [], f"requests left localhost: {b.outside}"


@pytest.fixture(autouse=True)
def _well_behaved(fake: FakeMistral, browser: Browser) -> Iterator[None]:
    fake.reset()
    fake.chat_reply = citing_reply
    yield
    assert browser.outside == [], f"requests left localhost: {browser.outside}"


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def active(page: Any) -> dict[str, str]:
    """The focused element, through shadow roots: its tag, text, label and outline."""
    return dict(
        page.evaluate(
            """() => {
              let el = document.activeElement;
              while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
              const s = getComputedStyle(el);
              return {tag: el.tagName.toLowerCase(), text: (el.textContent || "").trim(),
                      label: el.getAttribute("aria-label") || "", id: el.id || "",
                      outline: s.outlineStyle + " " + s.outlineWidth};
            }"""
        )
    )


def tab_to(page: Any, matches: Any, limit: int = 40, key: str = "Tab") -> dict[str, str]:
    """Presses Tab until the focused element matches; fails if the keyboard cannot reach it."""
    for _ in range(limit):
        page.keyboard.press(key)
        focused = active(page)
        if matches(focused):
            return focused
    raise AssertionError("not reachable with the keyboard")


def ask_on_page(browser: Browser, plume: PlumeServer, question: str = QUESTION) -> tuple[Any, Any]:
    """The full page opened, `question` typed and sent: the page and its chat."""
    page = browser.context.new_page()
    page.goto(plume.url + "/")
    chat = page.locator("plume-chat")
    chat.get_by_label("Votre question").fill(question)
    chat.get_by_label("Votre question").press("Enter")
    return page, chat


def wait_answer(chat: Any) -> None:
    chat.locator(".plume-turn .plume-text[aria-busy=false]").last.wait_for(timeout=20_000)


# --- the tests ------------------------------------------------------------------------------


def test_widget_on_a_hostile_page_end_to_end(
    browser: Browser, plume: PlumeServer, host: HostSite, fake: FakeMistral, runtime: Runtime
) -> None:
    key = KeyStore(runtime.settings.data_dir).create("25176", [host.url], "intranet").key
    page = browser.context.new_page()
    page.goto(host.embed("intranet", plume.url, key))
    chat = page.locator("plume-chat")
    launcher = chat.get_by_role("button", name="Poser une question à Plume")
    launcher.wait_for()
    page.wait_for_function("document.fonts.check('500 16px Marianne')", timeout=10_000)
    shot(page, "01-host-page-launcher")

    # the host page's CSS does not reach into the widget
    style = launcher.evaluate(
        "b => { const s = getComputedStyle(b); return [s.fontFamily, s.color, s.backgroundColor, s.display]; }"
    )
    assert style[0].startswith("Marianne") and style[1] == "rgb(245, 245, 254)"
    assert style[2] == "rgb(0, 0, 145)" and style[3] != "none"  # DSFR blue France, visible

    launcher.click()
    question = chat.get_by_label("Votre question")
    assert question.evaluate("q => q === q.getRootNode().activeElement")  # focus moved in
    fake.delay_s = 0.6  # the model takes a moment: the waiting state shows
    question.fill(QUESTION)
    question.press("Enter")
    waiting = chat.locator(".plume-waiting").last
    waiting.wait_for(state="visible")
    assert "Plume cherche dans les sources" in chat.get_by_role("status").first.inner_text()
    shot(page, "02-waiting")

    # the answer streams in: several partial texts are shown before the last
    text = chat.locator(".plume-text").last
    seen: list[str] = []
    while text.get_attribute("aria-busy") == "true" and len(seen) < 500:
        current = text.inner_text()
        if current and (not seen or seen[-1] != current):
            seen.append(current)
            if len(seen) == 3:
                shot(page, "03-streaming")
        page.wait_for_timeout(25)
    wait_answer(chat)
    assert len(seen) >= 3, seen
    assert text.get_attribute("aria-live") == "polite"
    final = text.inner_text()
    assert "La demande se fait auprès de la mairie" in final
    assert final.startswith(seen[0]) and len(seen[0]) < len(seen[1]) < len(seen[2])

    # numbered citations: kind, title, date; the excerpt one click away
    first = chat.locator(".plume-citation").first
    assert first.locator(".plume-kind").text_content() == "Fiche"
    link = first.get_by_role("link")
    assert link.get_attribute("href", timeout=1000).startswith("https://www.service-public.fr/")
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert "mise à jour le" in first.locator(".plume-date").inner_text()
    assert chat.locator(".plume-text .plume-marker").count() == 2
    # the next closest texts, not cited, each with its key sentence and link
    also = chat.locator(".plume-see-also").last
    assert also.is_visible() and also.locator(".plume-also").count() >= 1
    assert also.locator(".plume-also").first.get_by_role("link").get_attribute("href")
    cited = {c.get_attribute("href") for c in chat.locator(".plume-citation a").all()}
    assert not cited & {a.get_attribute("href") for a in also.locator("a").all()}
    # the reliability level, and why, one click away
    badge = chat.locator(".plume-level").last
    assert badge.text_content().startswith("Fiabilité : ")  # shown in capitals (DSFR)
    assert badge.get_attribute("data-level") in ("elevee", "moyenne", "faible")
    reasons = chat.locator(".plume-reasons").last
    assert reasons.is_hidden()
    chat.locator(".plume-why summary").last.click()
    assert reasons.is_visible() and reasons.locator("li").count() >= 1
    shot(page, "04-answer-with-citations")
    first.get_by_role("button", name="Lire l'extrait de la source 1").click()
    excerpt = chat.locator(".plume-excerpt").last
    assert excerpt.is_visible() and len(excerpt.locator("blockquote").inner_text()) > 40
    shot(page, "05-excerpt")
    excerpt.get_by_role("button", name="Fermer l'extrait").click()
    assert excerpt.is_hidden()

    # copy
    browser.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=host.url)
    chat.get_by_role("button", name="Copier la réponse").click()
    chat.get_by_text("Réponse copiée dans le presse-papiers.").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("La demande se fait") and "Sources :\n[1] " in copied
    assert "\nFiabilité : " in copied

    # feedback, stored with the conversation
    chat.get_by_role("button", name="Non, pas utile").click()
    chat.get_by_label("Commentaire (facultatif)").fill("Il manque le délai de délivrance.")
    chat.get_by_role("button", name="Envoyer mon avis").click()
    chat.get_by_text("Merci : votre avis est enregistré.").wait_for()
    shot(page, "06-feedback-sent")
    with runtime.records.db.session() as s:
        stored = s.scalars(select(Feedback)).all()
        assert [(f.rating, f.comment, f.tenant) for f in stored] == [
            ("down", "Il manque le délai de délivrance.", "25176")
        ]

    # a new conversation
    chat.get_by_role("button", name="Nouvelle conversation").click()
    assert chat.locator(".plume-turn").count() == 0
    chat.get_by_text("Nouvelle conversation commencée.").wait_for()
    shot(page, "07-new-conversation")

    # Escape closes the floating panel and gives the focus back to the launcher
    page.keyboard.press("Escape")
    assert chat.locator(".plume-panel").is_hidden()
    assert active(page)["text"] == "Poser une question à Plume"
    page.close()


def test_unknown_key_and_origin_are_refused_clearly(
    browser: Browser, plume: PlumeServer, host: HostSite, runtime: Runtime
) -> None:
    page = browser.context.new_page()
    page.goto(host.embed("forged", plume.url, "plm_" + "x" * 43, css=""))
    chat = page.locator("plume-chat")
    chat.get_by_role("button", name="Poser une question à Plume").click()
    chat.get_by_label("Votre question").fill(QUESTION)
    chat.get_by_role("button", name="Envoyer").click()
    alert = chat.get_by_role("alert")
    alert.wait_for()
    assert "Clé d'API inconnue ou révoquée" in alert.inner_text()
    assert chat.get_by_label("Votre question").input_value() == QUESTION  # kept, to retry
    shot(page, "08-unknown-key")

    # a key of another site: this origin is refused
    other = KeyStore(runtime.settings.data_dir).create("30109", ["http://ailleurs.test"]).key
    page.goto(host.embed("other-site", plume.url, other, css=""))
    chat.get_by_role("button", name="Poser une question à Plume").click()
    chat.get_by_label("Votre question").fill(QUESTION)
    chat.get_by_role("button", name="Envoyer").click()
    chat.get_by_role("alert").wait_for()
    assert "n'est pas autorisé" in chat.get_by_role("alert").inner_text()
    shot(page, "09-origin-refused")
    page.close()


def test_full_page_keyboard_only(browser: Browser, plume: PlumeServer, fake: FakeMistral) -> None:
    page = browser.context.new_page()
    page.goto(plume.url + "/")
    page.locator("plume-chat .plume-panel").wait_for()
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("Marianne")

    focused = tab_to(page, lambda f: f["id"] == "plume-question")
    assert focused["outline"].startswith("solid")  # a visible focus (RGAA 10.7)
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    chat = page.locator("plume-chat")
    wait_answer(chat)
    assert "La demande se fait auprès de la mairie" in chat.locator(".plume-text").inner_text()

    focused = tab_to(page, lambda f: f["label"] == "Lire l'extrait de la source 1")
    assert focused["outline"].startswith("solid")
    page.keyboard.press("Enter")
    excerpt = chat.locator(".plume-excerpt")
    assert excerpt.is_visible() and active(page)["id"] == "plume-excerpt-1"
    shot(page, "10-keyboard-excerpt")
    page.keyboard.press("Escape")
    assert excerpt.is_hidden() and active(page)["label"] == "Lire l'extrait de la source 1"

    tab_to(page, lambda f: f["text"].endswith("Oui, utile"))
    page.keyboard.press("Space")
    assert active(page)["tag"] == "textarea"  # the comment field, optional
    page.keyboard.type("Clair et sourcé.")
    tab_to(page, lambda f: f["text"] == "Envoyer mon avis")
    page.keyboard.press("Enter")
    chat.get_by_text("Merci : votre avis est enregistré.").wait_for()
    shot(page, "11-keyboard-feedback")

    tab_to(page, lambda f: f["text"] == "Nouvelle conversation")
    page.keyboard.press("Enter")
    assert chat.locator(".plume-turn").count() == 0 and active(page)["id"] == "plume-question"
    page.close()


def test_widget_keyboard_only_on_the_host_page(
    browser: Browser, plume: PlumeServer, host: HostSite, runtime: Runtime
) -> None:
    key = KeyStore(runtime.settings.data_dir).create("25176", [host.url], "clavier").key
    page = browser.context.new_page()
    page.goto(host.embed("keyboard", plume.url, key))
    chat = page.locator("plume-chat")
    chat.get_by_role("button", name="Poser une question à Plume").wait_for()

    launcher = tab_to(page, lambda f: f["text"] == "Poser une question à Plume")
    assert launcher["outline"].startswith("solid")
    page.keyboard.press("Enter")
    assert active(page)["id"] == "plume-question"
    # back to the notices: the privacy notice opens with Enter
    tab_to(page, lambda f: f["text"] == "Vos données : ce qui est conservé", 5, "Shift+Tab")
    page.keyboard.press("Enter")
    privacy = chat.locator(".plume-privacy p")
    assert privacy.is_visible()
    assert "conservées 30 jours" in privacy.inner_text() and "tiers" in privacy.inner_text()
    tab_to(page, lambda f: f["id"] == "plume-question")
    page.keyboard.type(QUESTION)
    page.keyboard.press("Enter")
    wait_answer(chat)
    tab_to(page, lambda f: f["text"] == "Copier la réponse")
    page.keyboard.press("Escape")
    assert chat.locator(".plume-panel").is_hidden()
    assert active(page)["text"] == "Poser une question à Plume"
    page.keyboard.press("Enter")  # reopens, the conversation kept
    assert chat.locator(".plume-turn").count() == 1
    shot(page, "13-keyboard-widget")
    page.close()


def test_model_text_is_never_rendered_as_html(
    browser: Browser, plume: PlumeServer, fake: FakeMistral
) -> None:
    fake.chat_reply = (
        '<img src="/x" onerror="window.pwned = 1"><script>window.pwned = 2</script> '
        + REPLY.format(n=1)
    )
    page, chat = ask_on_page(browser, plume)
    chat.locator(".plume-text").get_by_text("<img", exact=False).first.wait_for()
    wait_answer(chat)
    assert chat.locator(".plume-answer img, .plume-answer script").count() == 0
    assert page.evaluate("window.pwned") is None
    shot(page, "14-html-shown-as-text")
    page.close()


def test_model_failure_mid_stream_shows_the_sourced_fallback(
    browser: Browser, plume: PlumeServer, fake: FakeMistral
) -> None:
    fake.break_stream_after = 4
    page, chat = ask_on_page(browser, plume)
    wait_answer(chat)
    warning = chat.locator(".fr-alert--warning")
    assert warning.is_visible() and warning.inner_text()
    assert chat.locator(".plume-citation").count() >= 1
    shot(page, "12-model-unavailable")
    page.close()


def test_an_answer_the_model_declines_shows_the_texts_to_check(
    browser: Browser, plume: PlumeServer, fake: FakeMistral
) -> None:
    fake.chat_reply = "[[SANS_REPONSE]]"
    page, chat = ask_on_page(browser, plume)
    wait_answer(chat)
    text = chat.locator(".plume-text").last
    assert text.inner_text().startswith("Je n'ai pas de réponse certaine")
    assert "SANS_REPONSE" not in text.inner_text()
    assert "plume-pistes" in (text.get_attribute("class") or "")
    assert chat.locator(".plume-citations").last.get_attribute("aria-label") == (
        "Textes les plus proches, à vérifier"
    )
    assert chat.locator(".plume-citation").count() >= 1
    assert chat.locator(".plume-level").last.get_attribute("data-level") == "faible"
    shot(page, "15-pistes")
    page.close()


def test_an_out_of_scope_question_is_refused_without_a_level(
    browser: Browser, plume: PlumeServer, fake: FakeMistral
) -> None:
    page, chat = ask_on_page(
        browser, plume, "Une recette de blanquette pour le repas des anciens ?"
    )
    wait_answer(chat)
    text = chat.locator(".plume-text").last
    assert text.inner_text().startswith("Cette question sort du champ de Plume")
    assert "plume-refusal" in (text.get_attribute("class") or "")
    assert chat.locator(".plume-level").count() == 0 and fake.chat_calls == []
    shot(page, "16-hors-champ")
    page.close()


def test_lists_render_as_lists_and_the_question_stays_visible(
    browser: Browser, plume: PlumeServer, fake: FakeMistral
) -> None:
    """« - » lines are a list, and a source's enumeration flattened into one line
    (« … : - a - b ») a nested list; the question asked stays on screen above its answer."""
    items: list[str] = []

    def listing(body: dict[str, Any]) -> str:
        # the enumeration's words are the first source's own, so that the citation check
        # (which cuts a sentence its source does not back) keeps it
        prompt = message_text([m for m in body["messages"] if m["role"] == "user"][-1])
        words = re.sub(r"<[^>]+>|\[\d+\]", " ", prompt.split('<source n="1"', 1)[1]).split()
        words = [w for w in words[2:] if w.isalpha()]
        items[:] = [" ".join(words[:6]), " ".join(words[6:12]), " ".join(words[12:18])]
        return REPLY.format(n=1) + f"\n- {items[0]} : - {items[1]} - {items[2]} [1]"

    fake.chat_reply = listing
    page, chat = ask_on_page(browser, plume)
    wait_answer(chat)
    text = chat.locator(".plume-text").last
    assert text.locator(":scope > ul > li").count() == 2
    nested = text.locator("ul ul > li")
    assert nested.count() == 2
    assert nested.first.inner_text().startswith(items[1])
    asked = chat.locator(".plume-question").last
    assert asked.inner_text().strip().endswith(QUESTION)
    box = asked.bounding_box()
    assert box is not None and box["height"] > 16 and asked.is_visible()
    asked.scroll_into_view_if_needed()
    shot(page, "15-lists-and-question")
    page.close()


def test_no_external_request_was_made(browser: Browser) -> None:
    assert browser.requests, "the browser made no request at all"
    assert all(urlsplit(u).hostname in LOCAL for u in browser.requests)
