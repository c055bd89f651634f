"""Watch profiles of the legal watch (veille juridique): what a commune follows.

A profile names codes (LEGITEXT ids), sections (matched, case and accents aside, as
substrings of the change's breadcrumb « Partie > Livre > Titre > … ») and keywords
(matched, case and accents aside, where a word begins in the article's new or old text
or its number: « élu » finds « élus » but « eau » does not find « nouveau »). Every kind
of criterion given must match; within one kind, any value will do. A profile with no
criterion at all is refused: it would follow everything.

`ProfileStore` keeps them in `<data_dir>/veille/profils.json`, rewritten whole to a
temporary file then renamed over the old one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.journal import Change, ChangeJournal
from plume.errors import (
    InvalidWatchRequest,
    MalformedDocument,
    UnknownFilterValue,
    UnknownProfile,
    shown,
)
from plume.files import read_table, write_table
from plume.text import fold_accents

_NAME = re.compile(r"[a-z0-9-]{2,40}")
_CODE = re.compile(r"LEGITEXT\d{12}")
_MAX_ITEMS = 50
_MAX_LEN = 200
_LOCK = threading.Lock()  # one writer at a time within a process (the API's threads)


def _fold(text: str) -> str:
    return " ".join(fold_accents(text).casefold().split())


def _clean(values: tuple[str, ...] | list[str], what: str) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(" ".join(v.split()) for v in values))
    if any(not v for v in cleaned):
        raise InvalidWatchRequest(f"Profil invalide : {what} vide.")
    if len(cleaned) > _MAX_ITEMS or any(len(v) > _MAX_LEN for v in cleaned):
        raise InvalidWatchRequest(
            f"Profil invalide : au plus {_MAX_ITEMS} {what}s de {_MAX_LEN} caractères."
        )
    return cleaned


@dataclass(frozen=True)
class VeilleProfile:
    name: str
    codes: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    description: str = ""
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise InvalidWatchRequest(
                f"Nom de profil invalide « {shown(self.name)} » : de 2 à 40 caractères parmi "
                "minuscules sans accent, chiffres et tirets (par exemple « urbanisme-eau »)."
            )
        codes = _clean(self.codes, "code")
        bad = [c for c in codes if not _CODE.fullmatch(c)]
        if bad:
            raise InvalidWatchRequest(
                f"Code invalide : {', '.join(bad)} (attendu LEGITEXT suivi de 12 chiffres)."
            )
        sections, keywords = _clean(self.sections, "section"), _clean(self.keywords, "mot-clé")
        if not (codes or sections or keywords):
            raise InvalidWatchRequest(
                f"Profil « {self.name} » vide : indiquez au moins un code, une section "
                "ou un mot-clé."
            )
        patterns = tuple(re.compile(r"(?<!\w)" + re.escape(_fold(k))) for k in keywords)
        object.__setattr__(self, "codes", codes)
        object.__setattr__(self, "sections", sections)
        object.__setattr__(self, "keywords", keywords)
        object.__setattr__(self, "description", " ".join(self.description.split()))
        object.__setattr__(self, "_patterns", patterns)

    def matches(self, change: Change) -> bool:
        """Whether the change concerns this profile: every kind of criterion given matches."""
        if self.codes and change.code_id not in self.codes:
            return False
        if self.sections:
            breadcrumb = _fold(change.section)
            if not any(_fold(s) in breadcrumb for s in self.sections):
                return False
        if self._patterns:
            text = _fold(" ".join((change.num, change.new_text or "", change.old_text or "")))
            if not any(p.search(text) for p in self._patterns):
                return False
        return True

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "codes": list(self.codes),
            "sections": list(self.sections),
            "keywords": list(self.keywords),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, name: str, raw: dict[str, object]) -> VeilleProfile:
        def strings(key: str) -> tuple[str, ...]:
            values = raw.get(key) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise MalformedDocument(f"Profil « {name} » : « {key} » n'est pas une liste.")
            return tuple(values)

        return cls(
            name=name,
            codes=strings("codes"),
            sections=strings("sections"),
            keywords=strings("keywords"),
            description=str(raw.get("description") or ""),
        )


@dataclass
class ProfileStore:
    """The profiles, one JSON file: `<data_dir>/veille/profils.json`."""

    data_dir: Path
    path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.path = self.data_dir / "veille" / "profils.json"

    def _load(self) -> dict[str, VeilleProfile]:
        table = read_table(self.path, "profils", "de profils")
        return {name: VeilleProfile.from_dict(name, body) for name, body in table.items()}

    def _write(self, profiles: dict[str, VeilleProfile]) -> None:
        table = {
            name: {k: v for k, v in p.as_dict().items() if k != "name"}
            for name, p in profiles.items()
        }
        write_table(self.path, "profils", table)

    def list(self) -> list[VeilleProfile]:
        return [p for _, p in sorted(self._load().items())]

    def get(self, name: str) -> VeilleProfile:
        profiles = self._load()
        if name not in profiles:
            known = ", ".join(sorted(profiles)) or "aucun"
            raise UnknownProfile(
                f"Profil de veille inconnu « {shown(name)} ». Profils existants : {known}."
            )
        return profiles[name]

    def put(self, profile: VeilleProfile) -> bool:
        """Create or replace the profile; whether it is new."""
        with _LOCK:
            profiles = self._load()
            created = profile.name not in profiles
            profiles[profile.name] = profile
            self._write(profiles)
        return created

    def delete(self, name: str) -> None:
        with _LOCK:
            profiles = self._load()
            if name not in profiles:
                raise UnknownProfile(f"Profil de veille inconnu « {shown(name)} ».")
            del profiles[name]
            self._write(profiles)


def refuse_unindexed(profile: VeilleProfile, indexed: dict[str, str], data_dir: Path) -> None:
    """A profile on a code Plume neither indexes nor has changes of in its journal would
    report 0 changes forever: refused. `indexed`: the codes of the index, id → title."""
    indexed = {**ChangeJournal(data_dir).codes(), **indexed}
    missing = [c for c in profile.codes if c not in indexed]
    if missing:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(indexed.items())) or "aucun"
        raise UnknownFilterValue(
            f"Code non indexé : {', '.join(missing)} — un profil sur ce code ne signalerait "
            f"jamais rien. Indexez-le d'abord (plume ingest legi). Codes indexés : {listed}."
        )
