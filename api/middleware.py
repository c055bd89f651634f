"""Requests read before any route: JSON labelled as a form, and text that is not Unicode.

`curl -d '{"question": …}'` sends JSON labelled as a form: read it as the JSON it is. The
API only accepts JSON bodies, so a form-encoded label on /v1/ is treated as JSON; a body
that is not JSON still gets the usual 422 with a French message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body
from plume.errors import InvalidText, shown

_FORM = b"application/x-www-form-urlencoded"


class FormLabelledJson:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith("/v1/"):
            headers = [
                (k, b"application/json" if k == b"content-type" and v.startswith(_FORM) else v)
                for k, v in scope["headers"]
            ]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


# a JSON escape of a UTF-16 surrogate: one half of a pair, or a lone one that no UTF-8
# text can hold (« \ud800 »); the body is parsed only when one is there
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _invalid_text(value: Any, where: str = "") -> str | None:
    """The field of a parsed JSON value holding text that is not valid Unicode, or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where or "corps"
        return None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        name = f"{where}.{key}" if where else str(key)
        found = _invalid_text(key, name) if isinstance(key, str) else None
        if (found := found or _invalid_text(item, name)) is not None:
            return found
    return None


class ValidText:
    """Text inputs must be valid Unicode: a JSON body carrying a lone UTF-16 surrogate
    (`"\\ud800"`) is refused here, before any route (streamed or not) reads it — a 422 in
    French naming the field, instead of a 500 where the text is first written out."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        if content_type and b"json" not in content_type:  # FastAPI reads no label as JSON
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        more = True
        while more:
            message = await receive()
            messages.append(message)
            more = message["type"] == "http.request" and message.get("more_body", False)
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        field = None
        if _SURROGATE_ESCAPE.search(body):
            try:
                field = _invalid_text(json.loads(body))
            except ValueError:
                field = None  # not JSON: the route's own 422
        if field is not None:
            refusal = InvalidText(
                f"Texte invalide : caractère non valide dans « {shown(field, 60)} » (une "
                "moitié de paire UTF-16 isolée, comme \\ud800). Retirez-le, ou envoyez le "
                "texte en UTF-8."
            )
            response = JSONResponse(error_body(refusal.code, refusal.message), status_code=422)
            await response(scope, receive, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)
