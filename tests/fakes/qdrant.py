"""A fake Qdrant server's REST API on loopback, recording what Plume asks of it.

Enough of the API for a collection's creation and layout (exists, create, shard keys,
payload indexes), upserts and batched queries: each request is kept (method, path, JSON
body) for the test to read; no point is stored, queries find nothing.

    with FakeQdrant() as fake:
        store = ServerStore(fake.url, collection="plume", layout=...)
        fake.bodies("PUT", "/collections/plume")   # the create_collection requests
"""

from __future__ import annotations

import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"result": result, "status": "ok", "time": 0.0})


class FakeQdrant(LoopbackServer):
    name = "fake-qdrant"

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, Any]] = []
        self.collections: set[str] = set()

    def bodies(self, method: str, path: str) -> list[Any]:
        return [b for m, p, b in self.requests if (m, p) == (method, path)]

    def _app(self) -> Starlette:
        async def handle(request: Request) -> JSONResponse:
            raw = await request.body()
            body = json.loads(raw) if raw else None
            path = request.url.path
            self.requests.append((request.method, path, body))
            parts = path.strip("/").split("/")
            if path == "/":
                return JSONResponse({"title": "qdrant - vector search engine", "version": "1.20.0"})
            if parts[-1] == "exists":
                return _ok({"exists": parts[1] in self.collections})
            if len(parts) == 2 and request.method == "PUT":
                self.collections.add(parts[1])
                return _ok(True)
            if parts[-1] == "batch":
                return _ok([{"points": []} for _ in body["searches"]])
            if parts[-1] in ("points", "index"):
                return _ok({"operation_id": len(self.requests), "status": "completed"})
            return _ok(True)

        return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "PUT", "POST"])])
