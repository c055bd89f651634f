"""The change journal of the legal watch (veille juridique): what changed in a code.

`compare` sets two snapshots of one code side by side (the earlier and the later
legi-data package); `changes_since` reads, inside one snapshot, the article versions that
came into force after a date (`opening_changes`: those of the months before the snapshot's
date, when a code is first indexed). Articles are identified by their number within a
code, a version by its LEGIARTI id.

Each `Change` carries a word-level diff: a list of `(op, words)` pairs, `op` being "="
(kept), "-" (removed) or "+" (added), the words joined by single spaces (line breaks
are not kept). It is empty for a new or a repealed article: its text says it all.

`ChangeJournal` keeps the changes in `<data_dir>/journal/legi.jsonl`, one JSON object a
line. Appending is idempotent and atomic: the whole file is rewritten to a temporary file
then renamed over the old one, so a crash never leaves a half-written journal. A version
is recorded once however it was found: read inside one snapshot (no former text), then
found again by comparing two snapshots, it takes the former text and the diff.
"""

from __future__ import annotations

import calendar
import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from ingestion.legi import Article, CodeText, load_code_tree, parse_code
from plume.errors import MalformedDocument
from plume.files import write_atomically

Kind = Literal["nouveau", "modifie", "abroge", "renumerote"]
DiffOp = tuple[str, str]
_BLANKS = re.compile(r"\s+")


@dataclass(frozen=True)
class Change:
    code_id: str
    code_title: str
    num: str
    kind: Kind
    old_article_id: str | None
    new_article_id: str | None
    old_num: str | None = None  # the former number of a renumbered article
    old_text: str | None = None
    new_text: str | None = None
    diff: tuple[DiffOp, ...] = ()
    effective: str | None = None  # ISO date: the new version's start, or the repeal date
    amended_by: tuple[str, ...] = ()  # titles of the texts behind the new version
    section: str = ""  # Partie > Livre > Titre > …
    snapshot_from: str = ""
    snapshot_to: str = ""

    @property
    def key(self) -> tuple[str, str, str | None]:
        """What makes two records the same change (the journal keeps one): a version of an
        article coming into force (its id), or the repeal of one."""
        if self.kind == "abroge":
            return (self.code_id, "abroge", self.old_article_id or self.new_article_id)
        return (self.code_id, "version", self.new_article_id)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Change:
        values = dict(raw)
        values["diff"] = tuple((str(op), str(words)) for op, words in raw.get("diff") or [])  # type: ignore[attr-defined]
        values["amended_by"] = tuple(str(t) for t in raw.get("amended_by") or [])  # type: ignore[attr-defined]
        return cls(**values)  # type: ignore[arg-type]


def word_diff(old: str, new: str) -> tuple[DiffOp, ...]:
    """Word-level diff of two texts, as ("=" | "-" | "+", words) pairs."""
    a, b = old.split(), new.split()
    ops: list[DiffOp] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(("=", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            ops.append(("-", " ".join(a[i1:i2])))
        if j2 > j1:
            ops.append(("+", " ".join(b[j1:j2])))
    return tuple(ops)


def _same_text(a: str, b: str) -> bool:
    # Légifrance re-renders links between snapshots ("l' article" → "l'article"):
    # a difference in spacing alone is not a change of the law
    return _BLANKS.sub("", a) == _BLANKS.sub("", b)


def _change(kind: Kind, old: Article | None, new: Article | None, span: tuple[str, str]) -> Change:
    shown = new or old
    assert shown is not None
    if new is not None and kind != "abroge":
        effective = new.in_force_from
    elif new is not None:
        effective = new.in_force_to or new.in_force_from
    else:
        effective = (old.in_force_to if old else None) or None
    modified = kind in ("modifie", "renumerote") and old is not None and new is not None
    return Change(
        code_id=shown.code.id,
        code_title=shown.code.title,
        num=shown.num,
        kind=kind,
        old_article_id=old.id if old else None,
        new_article_id=new.id if new else None,
        old_num=old.num if kind == "renumerote" and old else None,
        old_text=old.text if old else None,
        new_text=new.text if new and kind != "abroge" else None,
        diff=word_diff(old.text, new.text) if modified and old and new else (),
        effective=effective,
        amended_by=_amending(new, effective) if new else (),
        section=" > ".join(shown.breadcrumb),
        snapshot_from=span[0],
        snapshot_to=span[1],
    )


def _amending(article: Article, effective: str | None) -> tuple[str, ...]:
    """The texts behind this version: those in force from its start (else every one)."""
    titles = tuple(a.text_title for a in article.amended_by if a.in_force_from == effective)
    return titles or tuple(a.text_title for a in article.amended_by)


def _by_num(code: CodeText) -> dict[str, list[Article]]:
    found: dict[str, list[Article]] = {}
    for article in code.articles:
        found.setdefault(article.num, []).append(article)
    return found


def _pair(olds: list[Article], news: list[Article]) -> list[tuple[Article | None, Article | None]]:
    """Versions under one number: the same id first, the others in tree order."""
    new_ids = {a.id for a in news}
    pairs: list[tuple[Article | None, Article | None]] = []
    pairs += [(o, next(n for n in news if n.id == o.id)) for o in olds if o.id in new_ids]
    old_ids = {a.id for a in olds}
    rest_old = [o for o in olds if o.id not in new_ids]
    rest_new = [n for n in news if n.id not in old_ids]
    pairs += list(zip(rest_old, rest_new, strict=False))
    pairs += [(o, None) for o in rest_old[len(rest_new) :]]
    pairs += [(None, n) for n in rest_new[len(rest_old) :]]
    return pairs


def compare(old: CodeText, new: CodeText, old_version: str, new_version: str) -> list[Change]:
    """The changes from the `old` snapshot of a code to the `new` one, in the new tree order."""
    if old.code.id != new.code.id:
        raise MalformedDocument(
            f"Comparaison impossible : deux codes différents ({old.code.id} « {old.code.title} » "
            f"et {new.code.id} « {new.code.title} »)."
        )
    span = (old_version, new_version)
    before, after = _by_num(old), _by_num(new)
    changes: list[Change] = []
    gone: list[Article] = []
    for num in dict.fromkeys([*after, *before]):
        for o, n in _pair(before.get(num, []), after.get(num, [])):
            if o is None and n is not None:
                changes.append(_change("nouveau", None, n, span))
            elif n is None and o is not None:
                gone.append(o)
            elif o is not None and n is not None:
                if n.state.startswith("ABROGE") and not o.state.startswith("ABROGE"):
                    changes.append(_change("abroge", o, n, span))
                elif o.id != n.id or not _same_text(o.text, n.text):
                    changes.append(_change("modifie", o, n, span))
    for o in gone:  # under another number now: renumbered, else repealed
        moved = next(
            (
                c
                for c in changes
                if c.kind == "nouveau"
                and (c.new_article_id == o.id or _same_text(c.new_text or "", o.text))
            ),
            None,
        )
        if moved is None:
            changes.append(_change("abroge", o, None, span))
            continue
        n = next(a for a in after[moved.num] if a.id == moved.new_article_id)
        changes[changes.index(moved)] = _change("renumerote", o, n, span)
    return changes


def _has_earlier_version(article: Article) -> bool:
    # legi-data lists the other versions, but the parsed article keeps only the texts
    # that changed it: a MODIFIE among them means an earlier wording existed
    return any(a.link_type == "MODIFIE" for a in article.amended_by)


def changes_since(code: CodeText, since: date, version: str) -> list[Change]:
    """Inside one snapshot, the article versions that came into force on or after `since`."""
    day = since.isoformat()
    changes = []
    for article in code.articles:
        if article.in_force_from is None or article.in_force_from < day:
            continue
        kind: Kind = "modifie" if _has_earlier_version(article) else "nouveau"
        changes.append(_change(kind, None, article, ("", version)))
    return changes


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier (the month's last day when it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def snapshot_day(code: CodeText) -> date:
    """The day a snapshot of a code is up to: its last modification (Légifrance's
    `dateModif`), else the start of its latest version that is not in the future."""
    if code.code.snapshot:
        return date.fromisoformat(code.code.snapshot)
    today = date.today().isoformat()
    starts = [
        a.in_force_from for a in code.articles if a.in_force_from and a.in_force_from <= today
    ]
    return date.fromisoformat(max(starts)) if starts else date.today()


def opening_changes(code: CodeText, version: str, months: int) -> list[Change]:
    """A code first read from one snapshot, with no earlier one to compare it with: the
    article versions in force since `months` before the snapshot's date."""
    return changes_since(code, months_before(snapshot_day(code), months), version)


def history_changes(code: CodeText, since: date, version: str) -> list[Change]:
    """A code read with its history (LexHub): every version that came into force on or
    after `since`, against the version before it (word diff), and the articles repealed
    since. Each article's versions are in `code.articles`, oldest first."""
    day = since.isoformat()
    changes: list[Change] = []
    span = ("", version)
    for versions in _by_num(code).values():
        ordered = sorted(versions, key=lambda a: a.in_force_from or "")
        for before, after in zip([None, *ordered], ordered, strict=False):
            start = after.in_force_from
            if start is None or start < day:
                continue
            if before is None or not before.in_force_to or before.in_force_to != start:
                changes.append(_change("nouveau", None, after, span))
            elif not _same_text(before.text, after.text):
                changes.append(_change("modifie", before, after, span))
        last = ordered[-1]
        if last.in_force_to and last.in_force_to >= day:  # no version after it: repealed
            changes.append(_change("abroge", last, None, span))
    return changes


@dataclass
class ChangeJournal:
    """The journal of changes, one JSON object a line in `<data_dir>/journal/legi.jsonl`."""

    data_dir: Path
    path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.path = self.data_dir / "journal" / "legi.jsonl"

    def _load(self) -> list[Change]:
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [Change.from_dict(json.loads(line)) for line in lines if line.strip()]

    def append(self, changes: Iterable[Change]) -> int:
        """Record the changes not yet in the journal; how many were new. One recorded
        without its former version (read inside one snapshot) takes the former version and
        the diff when found again by a comparison of two snapshots, in its place."""
        recorded = self._load()
        where = {c.key: i for i, c in enumerate(recorded)}
        new, enriched = 0, False
        for change in changes:
            i = where.get(change.key)
            if i is None:
                where[change.key] = len(recorded)
                recorded.append(change)
                new += 1
            elif recorded[i].old_article_id is None and change.old_article_id is not None:
                recorded[i] = change
                enriched = True
        if new or enriched:
            self._write(recorded)
        return new

    def _write(self, changes: list[Change]) -> None:
        lines = (json.dumps(c.as_dict(), ensure_ascii=False) + "\n" for c in changes)
        write_atomically(self.path, "".join(lines))

    def read(self, since: date | None = None, codes: set[str] | None = None) -> list[Change]:
        """The recorded changes in effect on or after `since` (undated ones kept), of `codes`."""
        day = since.isoformat() if since else None
        return [
            c
            for c in self._load()
            if (codes is None or c.code_id in codes)
            and (day is None or c.effective is None or c.effective >= day)
        ]

    def codes(self) -> dict[str, str]:
        """The codes the journal holds changes of: id → title."""
        return {c.code_id: c.code_title for c in self._load()}

    def size(self) -> int:
        """How many changes are recorded (the lines, not parsed)."""
        if not self.path.is_file():
            return 0
        with self.path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())


def load_code(path: Path) -> CodeText:
    """One code tree from a JSON file; `MalformedDocument` (in French) if it is not one."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MalformedDocument(f"{path} : lecture impossible ({exc.strerror or exc}).") from exc
    code = parse_code(load_code_tree(raw, path.name))
    if not code.articles:
        raise MalformedDocument(f"{path.name} : aucun article lisible dans ce code.")
    return code


def code_path(root: Path, code_id: str | None) -> Path:
    """A code file given directly, or `code_id` in a package folder (or its `data/`)."""
    if root.is_file():
        return root
    if code_id is None:
        raise MalformedDocument(f"{root} est un dossier : précisez le code (--code LEGITEXT…).")
    # the npm package keeps its codes in data/; not imported from ingestion.sources.legi,
    # which loads llama-index (seconds) for chunking
    found = (root / "data" if (root / "data").is_dir() else root) / f"{code_id}.json"
    if not found.is_file():
        raise MalformedDocument(f"Le code {code_id} est absent de {root}.")
    return found


def compare_files(old: Path, new: Path, old_version: str, new_version: str) -> list[Change]:
    return compare(load_code(old), load_code(new), old_version, new_version)


def journal_packages(
    data_dir: Path, previous: tuple[Path, str], current: tuple[Path, str], codes: list[str]
) -> dict[str, int]:
    """Compare two fetched packages code by code and record the changes: code → new ones."""
    journal = ChangeJournal(data_dir)
    added = {}
    for code_id in codes:
        changes = compare_files(
            code_path(previous[0], code_id), code_path(current[0], code_id), previous[1], current[1]
        )
        added[code_id] = journal.append(changes)
    return added


def journal_since(
    data_dir: Path, current: tuple[Path, str], codes: list[str], since: date
) -> dict[str, int]:
    """Inside one snapshot: record the article versions in force since `since`, code by code."""
    journal = ChangeJournal(data_dir)
    return {
        code_id: journal.append(
            changes_since(load_code(code_path(current[0], code_id)), since, current[1])
        )
        for code_id in codes
    }
