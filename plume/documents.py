"""Documents and chunks: canonical ids and the payload every chunk carries.

Document ids are stable across runs, machines and releases; search hits, citations and
evaluation sets all use them:

    legi/<LEGITEXT id>/<article number>   an article of a code
    vdd/<fiche id>                        a service-public.fr fiche
    aide/<aides-territoires slug>         a grant
    projet/<list>/<hash>                  a funded project (precedent)
    doc/<tenant>/<hash>                   a document uploaded for a commune
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from plume.text import fold_accents

SHARED_TENANT = "commun"
# A commune's INSEE code (Corsica's 2A/2B included), and a tenant: an INSEE code, or the
# name of a group (an intercommunality, a centre de gestion) — as regular expressions
INSEE_PATTERN = r"^[0-9][0-9AB][0-9]{3}$"
TENANT_PATTERN = r"^[0-9][0-9AB][0-9]{3}$|^[a-z0-9][a-z0-9-]{1,39}$"
_POINT_NAMESPACE = uuid.UUID("6f1d3c1e-3b1a-5e0c-9a59-706c756d6500")

_DOC_ID = re.compile(
    r"^(legi/LEGITEXT\d{12}/[\w.\- ]+|vdd/[A-Z]+\d+|aide/[\w\-]+|doc/[\w\-]+/[0-9a-f]{8,64}"
    r"|projet/[\w\-]+/[0-9a-f]{16})$"
)


_EPOCH = date(1970, 1, 1)
ALWAYS_FROM = 0  # day numbers of a text with no known start
ALWAYS_TO = (date(2999, 1, 1) - _EPOCH).days  # ... or no known end (Légifrance's 2999-01-01)


def day_number(iso: str | None, default: int) -> int:
    """Days since 1970-01-01 of an ISO date (what `as_of` filters compare); `default` if none."""
    if not iso:
        return default
    return (date.fromisoformat(iso[:10]) - _EPOCH).days


MONTHS = [  # French month names, January first
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]


def french_date(iso: str | None) -> str:
    """`2023-12-06` → « 6 décembre 2023 » (the input itself if it is not an ISO date)."""
    try:
        day = date.fromisoformat(str(iso)[:10])
    except ValueError:
        return str(iso or "")
    first = "1er" if day.day == 1 else str(day.day)
    return f"{first} {MONTHS[day.month - 1]} {day.year}"


def vdd_doc_id(fiche_id: str) -> str:
    return f"vdd/{fiche_id}"


def legi_doc_id(legitext: str, article_number: str) -> str:
    return f"legi/{legitext}/{article_number}"


def aide_doc_id(slug: str) -> str:
    return f"aide/{slug}"


def tenant_doc_id(tenant: str, content: bytes) -> str:
    return f"doc/{tenant}/{hashlib.sha256(content).hexdigest()[:16]}"


def payload_index_text(meta: dict[str, Any], text: str) -> str:
    """The text a chunk is indexed by: breadcrumb, title and section headings, the lead of
    the text it continues (an article cut in pieces), then body."""
    heading = " > ".join([*meta.get("breadcrumb", []), meta.get("title", "")])
    section = meta.get("section", "")
    return "\n".join(p for p in (heading, section, meta.get("lead", ""), text) if p)


UNKNOWN_PERIMETER = "inconnu"


def perimeter_key(name: str | None) -> str:
    """A territory's name as aid perimeters and commune profiles compare it: accents,
    case, hyphens and apostrophes aside (« Île-de-France » → « ile de france »)."""
    words = re.sub(r"[\s\-'’]+", " ", fold_accents(name or "").casefold()).split()
    return " ".join(words) or UNKNOWN_PERIMETER


def is_doc_id(value: str) -> bool:
    return bool(_DOC_ID.match(value))


def point_id(doc_id: str, chunk_index: int) -> str:
    """Deterministic Qdrant point id of a chunk: rerunning an ingestion overwrites, never adds."""
    return str(uuid.uuid5(_POINT_NAMESPACE, f"{doc_id}#{chunk_index}"))


def content_hash(text: str, metadata: dict[str, Any]) -> str:
    """Hash of what a chunk shows; an unchanged hash means the stored point is up to date."""
    h = hashlib.sha256(text.encode())
    for key in sorted(metadata):
        if key not in ("content_hash", "indexed_at"):
            h.update(f"\x00{key}={metadata[key]!r}".encode())
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class ChunkMeta:
    """What every chunk's payload says about where its text comes from."""

    doc_id: str
    title: str
    url: str
    source: str
    source_version: str
    kind: str  # fiche | article | aide | document
    breadcrumb: list[str] = field(default_factory=list)
    section: str = ""
    audience: list[str] = field(default_factory=list)
    doc_type: str = ""
    modified: str | None = None  # ISO date of the source's last modification
    in_force_from: str | None = None
    in_force_to: str | None = None
    tenant: str = SHARED_TENANT

    def as_payload(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "url": self.url,
            "source": self.source,
            "source_version": self.source_version,
            "kind": self.kind,
            "breadcrumb": list(self.breadcrumb),
            "section": self.section,
            "audience": list(self.audience),
            "doc_type": self.doc_type,
            "modified": self.modified,
            "in_force_from": self.in_force_from,
            "in_force_to": self.in_force_to,
            # integer days, for the store's `as_of` range filter (always in force if unknown)
            "in_force_from_day": day_number(self.in_force_from, ALWAYS_FROM),
            "in_force_to_day": day_number(self.in_force_to, ALWAYS_TO),
            "tenant": self.tenant,
        }


# Vocabularies of the payload fields a search may filter on.
SOURCES = ("service-public", "legi", "aides-territoires", "programmes", "precedents")
AUDIENCES = ("Particuliers", "Professionnels", "Associations")
KINDS = ("fiche", "article", "aide", "document", "projet")
