"""Agents: the people who sign in (OpenID Connect), each bound to the commune they work for.

The identity provider (ProConnect, or the centre de gestion's own) proves who signs in: the
ID token's `email`. Which commune's documents that person may read is not the provider's to
say: the administrator registers each agent (`plume agent ajouter marie@flaux.fr 30110`,
`POST /v1/admin/agents`), in `<data_dir>/agents.json` (rewritten whole, atomically). A
sign-in by an address nobody registered is refused; removing an agent ends their sessions
at their next request. An agent works for one commune: registering the address again moves
them to another.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from plume.errors import AgentNotFound, InvalidAgent, UnknownAgent, shown
from plume.files import read_table, write_table
from plume.keys import check_tenant

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_LOCK = threading.Lock()


def check_email(email: str) -> str:
    """The address, trimmed and lower-cased, or `InvalidAgent`."""
    cleaned = email.strip().lower()
    if len(cleaned) > 254 or not _EMAIL.fullmatch(cleaned):
        raise InvalidAgent(
            f"Adresse électronique invalide « {shown(email, 80)} » : attendu prenom.nom@mairie.fr."
        )
    return cleaned


@dataclass(frozen=True)
class Agent:
    email: str
    tenant: str
    label: str = ""
    created: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "email": self.email,
            "tenant": self.tenant,
            "label": self.label,
            "created": self.created,
        }


@dataclass
class AgentStore:
    """The registered agents, one JSON file: `<data_dir>/agents.json`."""

    data_dir: Path
    path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.path = self.data_dir / "agents.json"

    def _load(self) -> dict[str, dict[str, object]]:
        return read_table(self.path, "agents", "des agents")

    def _write(self, agents: dict[str, dict[str, object]]) -> None:
        write_table(self.path, "agents", agents)
        self.path.chmod(0o600)

    @staticmethod
    def _from_raw(email: str, raw: dict[str, object]) -> Agent:
        return Agent(
            email=email,
            tenant=str(raw.get("tenant") or ""),
            label=str(raw.get("label") or ""),
            created=str(raw.get("created") or ""),
        )

    def add(self, email: str, tenant: str, label: str = "") -> Agent:
        """Register `email` for `tenant` (again: moved to that commune)."""
        email = check_email(email)
        check_tenant(tenant)
        label = " ".join(label.split())
        if len(label) > 200:
            raise InvalidAgent("Libellé trop long (200 caractères au plus).")
        raw: dict[str, object] = {
            "tenant": tenant,
            "label": label,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        with _LOCK:
            agents = self._load()
            agents[email] = raw
            self._write(agents)
        return self._from_raw(email, raw)

    def lookup(self, email: str) -> Agent:
        """The agent registered under `email`, or `UnknownAgent`."""
        cleaned = email.strip().lower()
        raw = self._load().get(cleaned)
        if raw is None:
            raise UnknownAgent(
                f"Aucune commune n'est associée au compte « {shown(cleaned, 80)} » : demandez "
                "à l'administrateur de Plume de vous enregistrer (plume agent ajouter)."
            )
        return self._from_raw(cleaned, raw)

    def list(self) -> list[Agent]:
        agents = [self._from_raw(e, raw) for e, raw in self._load().items()]
        return sorted(agents, key=lambda a: (a.tenant, a.email))

    def delete(self, email: str) -> Agent:
        cleaned = email.strip().lower()
        with _LOCK:
            agents = self._load()
            raw = agents.pop(cleaned, None)
            if raw is None:
                raise AgentNotFound(f"Agent inconnu « {shown(cleaned, 80)} ».")
            self._write(agents)
        return self._from_raw(cleaned, raw)
