"""A running `plume serve` holds the embedded index: the read commands then go through its API.

`plume serve` announces itself in `<data_dir>/serveur.json` (its address and process id)
and removes the file when it stops. `plume search`, `ask`, `sources`, `precedents`, `aides`
and `veille --commune` look for it first: when a live server holds the index, they send the
same request to its public API (as a caller without a key: the shared corpus) and print the
same way.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plume.errors import PlumeError

if TYPE_CHECKING:
    import httpx

    from plume.settings import Settings

SERVER_FILE = "serveur.json"


class ServerUnreachable(PlumeError):
    """The announced server did not answer."""


def _file(settings: Settings) -> Path:
    return settings.data_dir / SERVER_FILE


@contextlib.contextmanager
def announced(settings: Settings, host: str, port: int) -> Iterator[None]:
    """While serving: the address other commands reach this server at."""
    address = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    path = _file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": f"http://{address}:{port}", "pid": os.getpid()}))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def running_server(settings: Settings) -> RemoteServer | None:
    """The server announced in the data folder, if its process still runs."""
    try:
        found = json.loads(_file(settings).read_text())
        url, pid = str(found["url"]), int(found["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return RemoteServer(url) if pid != os.getpid() and _alive(pid) else None


class RemoteServer:
    """The public API of a running Plume, as the read commands need it."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            return httpx.request(method, self.url + path, timeout=120, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerUnreachable(
                f"Le serveur Plume annoncé à {self.url} ne répond pas ({type(exc).__name__}) : "
                "relancez `plume serve`, ou arrêtez-le pour lire l'index directement."
            ) from exc

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._decode(self._send(method, path, **kwargs))

    def _decode(self, response: httpx.Response) -> Any:
        try:
            body = response.json()
        except ValueError:
            raise ServerUnreachable(
                f"{self.url} a répondu {response.status_code} sans JSON : ce n'est pas (ou plus) "
                "un serveur Plume. Arrêtez-le, ou supprimez serveur.json du dossier de données."
            ) from None
        if response.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise PlumeError(str(error.get("message") or body))
        return body

    def search(self, query: str, limit: int, **filters: Any) -> dict[str, Any]:
        body = {"query": query, "limit": limit, **{k: v for k, v in filters.items() if v}}
        result: dict[str, Any] = self._call("POST", "/v1/search", json=body)
        return result

    def ask(self, question: str, **filters: Any) -> dict[str, Any]:
        body = {"question": question, **{k: v for k, v in filters.items() if v}}
        result: dict[str, Any] = self._call("POST", "/v1/chat", json=body)
        return result

    def sources(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/v1/sources")
        return result

    def health(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/healthz")
        return result

    def precedents(self, **params: Any) -> dict[str, Any]:
        query = {k: v for k, v in params.items() if v is not None}
        result: dict[str, Any] = self._call("GET", "/v1/precedents", params=query)
        return result

    def veille(self, **params: Any) -> str:
        """The legal watch's digest as the server writes it (md, html or json)."""
        query = {k: v for k, v in params.items() if v not in (None, [])}
        response = self._send("GET", "/v1/veille", params=query)
        if response.status_code >= 400:
            self._decode(response)  # raises the server's message
        return response.text

    def aides(self, **body: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/v1/aides", json={k: v for k, v in body.items() if v not in (None, [])}
        )
        return result
