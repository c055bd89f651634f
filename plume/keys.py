"""API keys: who is calling, for which commune (tenant), from which web origins.

A key is given once, when it is created (`plume cle ajouter`, `POST /v1/admin/cles`); only
its SHA-256 is kept, in `<data_dir>/cles.json` (rewritten whole, atomically). A request
carries it in the `X-Plume-Key` header. Without a key a request sees the shared corpus only.

A key has a kind. A `publique` key (the default, and what a key written before kinds
existed is) is the widget's: it sits in a web page, so anyone who reads the page has it; it
names its commune (records, feedback, conversations) but sees the shared corpus only. A
`privee` key is for a server-to-server integration: it sees its commune's documents too,
and is refused when a browser sends it (`Origin`). An agent signed in through OpenID
Connect (`plume.agents`, `api.auth`) sees their commune's documents from the browser.

Tenants are communes' INSEE codes (« 25176 ») or a short slug (« agglo-nord »);
`SHARED_TENANT` (« commun ») is the shared corpus everyone sees.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from plume.documents import SHARED_TENANT, TENANT_PATTERN
from plume.errors import (
    ApiKeyNotFound,
    InvalidApiKey,
    InvalidTenant,
    UnknownApiKey,
)
from plume.files import read_table, write_table

KEY_PREFIX = "plm_"
_TENANT = re.compile(TENANT_PATTERN)
_KEY = re.compile(r"plm_[A-Za-z0-9_-]{20,80}")
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_MAX_ORIGINS = 20
PUBLIC, PRIVATE = "publique", "privee"
KINDS = (PUBLIC, PRIVATE)
_LOCK = threading.Lock()  # one writer at a time within a process (the API's threads)


def check_tenant(tenant: str) -> str:
    """The tenant id if valid (INSEE code or slug), else `InvalidTenant`."""
    if not _TENANT.fullmatch(tenant):
        raise InvalidTenant(
            f"Commune invalide « {tenant[:60]} » : un code INSEE (ex. 25176, 2A004) ou un "
            "identifiant de 2 à 40 caractères parmi minuscules, chiffres et tirets."
        )
    return tenant


def check_origin(origin: str) -> str:
    """A web origin `scheme://host[:port]` (what browsers send in `Origin`), normalised."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise InvalidApiKey(
            f"Origine invalide « {origin[:80]} » : attendu https://site.exemple.fr (sans chemin)."
        )
    if parts.query or parts.fragment or parts.username:
        raise InvalidApiKey(f"Origine invalide « {origin[:80]} ».")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # « :99999 », « :abc »
        raise InvalidApiKey(
            f"Origine invalide « {origin[:80]} » : le port est un nombre de 1 à 65535."
        ) from None
    return f"{parts.scheme}://{parts.hostname}{port}"


def key_id(key: str) -> str:
    """The public id of a key: the first 12 hex digits of its SHA-256."""
    return _digest(key)[:12]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A key and what it grants. `key` is the secret itself right after creation or
    lookup, and its public id (`id`) when listed."""

    key: str
    tenant: str
    origins: tuple[str, ...] = ()
    label: str = ""
    id: str = ""
    created: str = ""
    kind: str = PUBLIC

    @property
    def private(self) -> bool:
        """A server-to-server key: it sees its commune's documents, never from a page."""
        return self.kind == PRIVATE

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a call from `origin` may use this key: a server's call (no `Origin`)
        always; a browser page's only if its origin is listed. A key with no origins is
        thus a server-to-server key, usable from no web page."""
        if self.private:
            return origin is None
        return origin is None or origin in self.origins

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "tenant": self.tenant,
            "kind": self.kind,
            "origins": list(self.origins),
            "label": self.label,
            "created": self.created,
        }


@dataclass
class KeyStore:
    """The API keys, one JSON file: `<data_dir>/cles.json` (hashes only)."""

    data_dir: Path
    path: Path = field(init=False)
    # the file as last read, by its signature (mtime, size, inode): every request looks a
    # key up, and the file changes only when a key is added or revoked (by any process)
    _read: tuple[tuple[int, int, int], dict[str, dict[str, object]]] | None = field(
        default=None, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self.path = self.data_dir / "cles.json"

    def _table(self) -> dict[str, dict[str, object]]:
        """The keys as last read (not to be changed), read again when the file changed."""
        try:
            st = self.path.stat()
        except OSError:
            return {}
        signature = (st.st_mtime_ns, st.st_size, st.st_ino)
        read = self._read
        if read is None or read[0] != signature:
            read = (signature, read_table(self.path, "cles", "des clés"))
            self._read = read
        return read[1]

    def _load(self) -> dict[str, dict[str, object]]:
        """The keys, a copy to change and write."""
        return dict(self._table())

    def _write(self, keys: dict[str, dict[str, object]]) -> None:
        write_table(self.path, "cles", keys)
        self.path.chmod(0o600)

    @staticmethod
    def _from_raw(key: str, digest: str, raw: dict[str, object]) -> ApiKey:
        origins = raw.get("origins") or []
        return ApiKey(
            key=key,
            tenant=str(raw.get("tenant") or SHARED_TENANT),
            origins=tuple(str(o) for o in origins) if isinstance(origins, list) else (),
            label=str(raw.get("label") or ""),
            id=digest[:12],
            created=str(raw.get("created") or ""),
            kind=PRIVATE if raw.get("kind") == PRIVATE else PUBLIC,  # none written: public
        )

    def create(
        self,
        tenant: str,
        origins: list[str] | tuple[str, ...] = (),
        label: str = "",
        kind: str = PUBLIC,
    ) -> ApiKey:
        """A new key for `tenant`; the returned `key` is the only time the secret is shown."""
        check_tenant(tenant)
        if kind not in KINDS:
            raise InvalidApiKey(f"Type de clé inconnu « {kind[:20]} » : publique ou privee.")
        cleaned = tuple(dict.fromkeys(check_origin(o) for o in origins))
        if kind == PRIVATE and cleaned:
            raise InvalidApiKey(
                "Une clé privée sert aux appels de serveur à serveur : elle n'a pas d'origine "
                "(le widget d'un site prend une clé publique)."
            )
        if len(cleaned) > _MAX_ORIGINS:
            raise InvalidApiKey(f"Au plus {_MAX_ORIGINS} origines par clé.")
        label = " ".join(label.split())
        if len(label) > 200:
            raise InvalidApiKey("Libellé trop long (200 caractères au plus).")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        digest = _digest(secret)
        raw: dict[str, object] = {
            "tenant": tenant,
            "kind": kind,
            "origins": list(cleaned),
            "label": label,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with _LOCK:
            keys = self._load()
            keys[digest] = raw
            self._write(keys)
        return self._from_raw(secret, digest, raw)

    def lookup(self, key: str) -> ApiKey:
        """The key's grants, or `UnknownApiKey` (unknown, revoked or malformed)."""
        if not _KEY.fullmatch(key):
            raise UnknownApiKey("Clé d'API invalide.")
        digest = _digest(key)
        raw = self._table().get(digest)
        if raw is None:
            raise UnknownApiKey("Clé d'API inconnue ou révoquée.")
        return self._from_raw(key, digest, raw)

    def list(self) -> list[ApiKey]:
        keys = [self._from_raw(d[:12], d, raw) for d, raw in self._table().items()]
        return sorted(keys, key=lambda k: (k.tenant, k.created, k.id))

    def origins(self) -> set[str]:
        """Every origin some public key allows (what CORS may answer to)."""
        return {o for k in self.list() if not k.private for o in k.origins}

    def delete(self, key_or_id: str) -> ApiKey:
        """Revoke a key, given the key itself or its 12-digit id."""
        wanted = key_id(key_or_id) if _KEY.fullmatch(key_or_id) else key_or_id
        if not _KEY_ID.fullmatch(wanted):
            raise ApiKeyNotFound(
                f"Clé inconnue « {key_or_id[:20]} » (attendu son id, 12 chiffres hexadécimaux)."
            )
        with _LOCK:
            keys = self._load()
            digest = next((d for d in keys if d.startswith(wanted)), None)
            if digest is None:
                raise ApiKeyNotFound(f"Clé inconnue « {wanted} ».")
            removed = self._from_raw(wanted, digest, keys.pop(digest))
            self._write(keys)
        return removed
