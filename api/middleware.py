"""`curl -d '{"question": …}'` sends JSON labelled as a form: read it as the JSON it is.

The API only accepts JSON bodies, so a form-encoded label on /v1/ is treated as JSON; a
body that is not JSON still gets the usual 422 with a French message.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

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
