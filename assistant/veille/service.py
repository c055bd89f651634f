"""The legal watch's use cases, called by both edges (`plume veille`, `/v1/veille`).

The digest reads the change journal; with a model (and its circuit breaker closed) a written
summary opens it; with a commune, the aids closing soon for it close it. The watch profiles
are kept in the data folder; one on a code Plume does not index is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.llm.breaker import CircuitBreaker
from assistant.veille.digest import known_codes, parse_since, veille_digest
from assistant.veille.profiles import ProfileStore, VeilleProfile, refuse_unindexed
from ingestion.journal import (
    Change,
    ChangeJournal,
    code_path,
    compare_files,
    journal_packages,
    journal_since,
)
from ingestion.legi import listed_codes
from plume import packages
from plume.settings import Settings

if TYPE_CHECKING:
    from assistant.aides.service import AidesService
    from assistant.communes import CommuneRegistry
    from assistant.corpus import CorpusService
    from assistant.llm.generator import Generator


@dataclass
class VeilleService:
    settings: Settings
    llm: Generator | None
    breaker: CircuitBreaker
    # the index (a profile's codes must be indexed) and the aids (deadlines of a commune):
    # absent when the watch is read without opening the store (`plume veille` alone)
    corpus: CorpusService | None = None
    aides: AidesService | None = None
    communes: CommuneRegistry | None = None
    profiles: ProfileStore = field(init=False)

    def __post_init__(self) -> None:
        self.profiles = ProfileStore(self.settings.data_dir)

    @classmethod
    def journal_only(cls, settings: Settings, *, model: bool = True) -> VeilleService:
        """The watch without the index (a server may hold it meanwhile): the digest and the
        profiles, with the served one's model rule (the model configured, behind a circuit
        breaker); `model=False` where no summary is written (the profiles)."""
        from assistant.llm.client import build_llm

        breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset_s)
        return cls(settings, build_llm(settings) if model else None, breaker)

    def digest(
        self,
        since: str,
        codes: list[str] | None = None,
        fmt: str = "md",
        profile: str | None = None,
        commune: str | None = None,
        within: int = 30,
    ) -> str:
        """The digest since `since` (AAAA-MM-JJ) as md, html or json; with `commune`, the aids
        closing for it within `within` days end it."""
        closing = None
        if commune:
            if self.aides is None or self.communes is None:
                raise RuntimeError("VeilleService built without the aids: use the runtime's")
            closing = self.aides.deadlines(self.communes.get(commune), within)
        llm = self.llm if self.llm is not None and self.breaker.allow() else None
        s = self.settings
        return veille_digest(s.data_dir, s.corpus_dir, since, codes, fmt, profile, llm, closing)

    def list_profiles(self) -> list[VeilleProfile]:
        return self.profiles.list()

    def profile_needs_index(self, profile: VeilleProfile) -> bool:
        """Whether checking the profile's codes needs the index: not when the change journal
        knows them all (then it works while a server holds the index)."""
        known = ChangeJournal(self.settings.data_dir).codes()
        return any(code not in known for code in profile.codes)

    def put_profile(self, profile: VeilleProfile) -> bool:
        """Create or replace; True when created. A code neither indexed nor in the change
        journal is refused."""
        if self.profile_needs_index(profile):
            if self.corpus is None:
                raise RuntimeError("VeilleService built without the index: use the runtime's")
            refuse_unindexed(profile, self.corpus.indexed_codes(), self.settings.data_dir)
        return self.profiles.put(profile)

    def delete_profile(self, name: str) -> None:
        self.profiles.delete(name)

    # --- filling the journal (done at ingestion; by hand for a snapshot kept aside) --------

    def compare(self, old: Path, new: Path, code: str | None = None) -> tuple[list[Change], int]:
        """Compare two versions of a code (files, or package folders and `code`) and record
        the changes: (the changes found, how many are new in the journal)."""
        changes = compare_files(
            code_path(old, code), code_path(new, code), old.name or str(old), new.name or str(new)
        )
        return changes, ChangeJournal(self.settings.data_dir).append(changes)

    def code_titles(self) -> dict[str, str]:
        """The codes one may ask about, id → title (« LEGITEXT000006072050 » → « Code du
        travail »)."""
        return known_codes(ChangeJournal(self.settings.data_dir), self.settings.corpus_dir)

    def record_since(self, since: str) -> tuple[date, dict[str, int]]:
        """The article versions of today's snapshot in force since `since`: code → new ones."""
        day = parse_since(since)
        s = self.settings
        current = packages.pinned(s.corpus_dir, "legi")
        root = packages.package_dir(s.packages_dir, current)
        found = journal_since(s.data_dir, (root, current.version), self._codes(), day)
        return day, found

    def record_upgrade(self, from_package: str) -> tuple[str, str, dict[str, int]]:
        """The changes from a previous snapshot (pinned as `from_package`) to today's:
        (previous version, current version, code → new ones)."""
        s = self.settings
        before = packages.pinned(s.corpus_dir, from_package)
        after = packages.pinned(s.corpus_dir, "legi")
        roots = [packages.package_dir(s.packages_dir, p) for p in (before, after)]
        added = journal_packages(
            s.data_dir, (roots[0], before.version), (roots[1], after.version), self._codes()
        )
        return before.version, after.version, added

    def _codes(self) -> list[str]:
        return list(listed_codes(self.settings.corpus_dir))
