"""The HTTP edge: builds the runtime at start-up, mounts the routes and the chat page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from api import errors
from api.middleware import FormLabelledJson, ValidText
from api.ratelimit import RateLimit
from api.routes import (
    admin,
    agents,
    aides,
    auth,
    cofinancing,
    communes,
    documents,
    feedback,
    indicators,
    keys,
    precedents,
    search,
    sources,
    veille,
    widget,
)
from api.sessions import HandshakeSession
from assistant.runtime import Runtime
from ingestion.runs import IngestRuns
from plume.settings import Settings

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """`runtime` may be given (tests, benchmarks); otherwise it is built at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runs = IngestRuns()
        if runtime is not None:
            app.state.runtime = runtime
            yield
            app.state.runs.wait_idle()
            return
        built = Runtime.build(settings or Settings())
        app.state.runtime = built
        built.start_background()  # e5 vectors after BM25; llama-index imported
        try:
            yield
        finally:
            app.state.runs.wait_idle()
            built.close()

    app = FastAPI(
        title="Plume",
        version="0.1.0",
        summary="Assistant sourcé pour les secrétaires de mairie",
        lifespan=lifespan,
    )
    errors.install(app)
    app.add_middleware(ValidText)  # inside the others: a refusal is counted, with CORS
    app.add_middleware(FormLabelledJson)
    app.add_middleware(RateLimit)  # inside the CORS layer: a 429 keeps its CORS headers
    app.add_middleware(widget.WidgetCors)
    app.add_middleware(HandshakeSession)  # the OpenID Connect handshake's cookie, /auth/ only
    app.include_router(search.router)
    app.include_router(sources.router)
    app.include_router(admin.router)
    app.include_router(veille.router)
    app.include_router(veille.admin_router)
    app.include_router(cofinancing.router)
    app.include_router(precedents.router)
    app.include_router(aides.router)
    app.include_router(communes.router)
    app.include_router(communes.admin_router)
    app.include_router(keys.admin_router)
    app.include_router(agents.admin_router)
    app.include_router(auth.router)
    app.include_router(documents.router)
    app.include_router(documents.admin_router)
    app.include_router(feedback.router)
    app.include_router(indicators.router)
    app.include_router(widget.router)

    @app.get("/", include_in_schema=False)
    def chat_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    return app
