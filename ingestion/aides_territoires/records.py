"""Grants from aides-territoires: the `Aide` domain object and its parsers.

Two formats, one object:

- `from_csv(path)`: the catalogue export (comma-separated, UTF-8) with the columns
  `Nom, Lien, Financeurs, Bénéficiaire, Types d'aides, AAP/AMI, Récurrence, Descriptif,
  Date Clôture`; lists are `;`-separated, `AAP/AMI` is `Oui` or empty, closing dates are
  `dd/mm/yyyy`. A malformed row is reported with the line it starts on; the others are
  imported.
- `from_api(record)`: one aid of the public API `/api/aids/` (name, slug or url,
  description in HTML, targeted_audiences, aid_types, financers… as lists of strings or
  of objects with a `name`).

An aid's stable id is its slug, the last segment of its aides-territoires page
(`…/aides/<slug>/`): document id `aide/<slug>`.
"""

from __future__ import annotations

import csv
import html
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ingestion.csv_rows import numbered_rows
from plume.documents import aide_doc_id
from plume.errors import MalformedDocument

DEFAULT_BASE_URL = "https://aides-territoires.beta.gouv.fr"
CSV_COLUMNS = (
    "Nom",
    "Lien",
    "Financeurs",
    "Bénéficiaire",
    "Types d'aides",
    "AAP/AMI",
    "Récurrence",
    "Descriptif",
    "Date Clôture",
)
_SLUG = re.compile(r"^[\w\-]+$")


@dataclass(frozen=True)
class Aide:
    slug: str
    name: str
    url: str  # the aid's page on aides-territoires
    description: str = ""
    eligibility: str = ""
    funders: list[str] = field(default_factory=list)
    beneficiaries: list[str] = field(default_factory=list)  # targeted audiences
    aid_types: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    perimeter: str = ""
    is_call_for_project: bool = False
    recurrence: str = ""
    start_date: str | None = None  # ISO dates
    predeposit_date: str | None = None
    submission_deadline: str | None = None
    rate_min: int | None = None  # subvention rate, percent
    rate_max: int | None = None
    application_url: str = ""
    origin_url: str = ""
    date_updated: str | None = None

    @property
    def doc_id(self) -> str:
        return aide_doc_id(self.slug)

    def is_open(self, on: date) -> bool:
        """Still open on `on`: no deadline, or a deadline not passed."""
        return self.submission_deadline is None or self.submission_deadline >= on.isoformat()


# --- small parsers -------------------------------------------------------------------------


def slug_of(url: str) -> str:
    """The last non-empty segment of the URL's path (`…/aides/<slug>/` → `<slug>`)."""
    segments = [s for s in urlsplit(url.strip()).path.split("/") if s]
    if not segments or not _SLUG.match(segments[-1]):
        raise MalformedDocument(f"lien sans identifiant d'aide : « {url} »")
    return segments[-1]


def iso_date(value: object) -> str | None:
    """`dd/mm/yyyy`, `yyyy-mm-dd` or an ISO timestamp → `yyyy-mm-dd`; None if empty."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        if re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", text):
            return datetime.strptime(text, "%d/%m/%Y").date().isoformat()
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError as exc:
        raise MalformedDocument(f"date illisible : « {text} »") from exc


def split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def names(value: object) -> list[str]:
    """A list of strings, or of objects with a `name` (or a single one) → names."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        name = item.get("name") if isinstance(item, dict) else item
        if name is not None and str(name).strip():
            out.append(unicodedata.normalize("NFC", html.unescape(str(name))).strip())
    return out


def rate(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(float(str(value).replace(",", ".").rstrip("% ")))
    except ValueError as exc:
        raise MalformedDocument(f"taux de subvention illisible : « {value} »") from exc


_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|tr|ul|ol)>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def plain_text(value: object) -> str:
    """HTML or flattened text → paragraphs separated by newlines (runs of 3+ spaces, as
    the export leaves where the HTML had paragraphs, count as breaks)."""
    if not value:
        return ""
    text = _BLOCK_END.sub("\n", str(value))
    text = html.unescape(_TAG.sub(" ", text)).replace("\xa0", " ")
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r" {3,}", "\n", text)
    lines = (re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# --- CSV export -------------------------------------------------------------------------------


def _csv_aide(row: dict[str, str]) -> Aide:
    name = row["Nom"].strip()
    if not name:
        raise MalformedDocument("nom de l'aide vide")
    link = row["Lien"].strip()
    return Aide(
        slug=slug_of(link),
        name=name,
        url=link,
        description=plain_text(row["Descriptif"]),
        funders=split_list(row["Financeurs"]),
        beneficiaries=split_list(row["Bénéficiaire"]),
        aid_types=split_list(row["Types d'aides"]),
        is_call_for_project=row["AAP/AMI"].strip().lower() in ("oui", "true", "1"),
        recurrence=row["Récurrence"].strip(),
        submission_deadline=iso_date(row["Date Clôture"]),
    )


def from_csv(path: Path) -> tuple[list[Aide], list[str]]:
    """The aids of an export, and one error per malformed row (`ligne N : …`)."""
    aides: list[Aide] = []
    errors: list[str] = []
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "UTF-8 attendu"
        raise MalformedDocument(f"{path.name} : lecture impossible ({why})") from exc
    reader = csv.reader(io.StringIO(content, newline=""))
    header = next(reader, None)
    if header is None or [unicodedata.normalize("NFC", h.strip()) for h in header] != list(
        CSV_COLUMNS
    ):
        raise MalformedDocument(
            f"{path.name} : en-tête inattendu, colonnes attendues : {', '.join(CSV_COLUMNS)}"
        )
    seen: set[str] = set()
    for line, raw in numbered_rows(reader, path.name, len(CSV_COLUMNS), errors):
        cells = [unicodedata.normalize("NFC", c) for c in raw]  # the export has NFD
        try:
            aide = _csv_aide(dict(zip(CSV_COLUMNS, cells, strict=True)))
        except MalformedDocument as exc:
            errors.append(f"{path.name} ligne {line} : {exc.message}")
            continue
        if aide.slug in seen:
            errors.append(f"{path.name} ligne {line} : aide en double ({aide.slug})")
            continue
        seen.add(aide.slug)
        aides.append(aide)
    return aides, errors


# --- API ----------------------------------------------------------------------------------------


def _slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:50].rstrip("-")


def from_api(record: dict[str, Any], base_url: str = DEFAULT_BASE_URL) -> Aide:
    """One aid of `/api/aids/`. Raises `MalformedDocument` without a name or an id."""
    if not isinstance(record, dict):
        raise MalformedDocument("aide : objet JSON attendu")
    name = plain_text(record.get("name")).replace("\n", " ")
    if not name:
        raise MalformedDocument(f"aide {record.get('id', '?')} : nom absent")
    raw_url = str(record.get("url") or "").strip()
    url = urljoin(base_url.rstrip("/") + "/", raw_url) if raw_url else ""
    if record.get("slug"):
        slug = str(record["slug"]).strip()
        if not _SLUG.match(slug):
            raise MalformedDocument(f"aide « {name} » : identifiant invalide « {slug} »")
        url = url or f"{base_url.rstrip('/')}/aides/{slug}/"
    elif url:
        slug = slug_of(url)
    elif record.get("id") not in (None, ""):
        # a partner record that has no page yet: its id, then its name, as aides-territoires does
        slug = f"{record['id']}-{_slugify(name)}".strip("-")
    else:
        raise MalformedDocument(f"aide « {name} » : ni slug, ni url, ni id")
    perimeter = record.get("perimeter")
    if isinstance(perimeter, dict):
        perimeter = perimeter.get("name")
    updated = record.get("date_updated")
    return Aide(
        slug=slug,
        name=name,
        url=url or str(record.get("origin_url") or ""),
        description=plain_text(record.get("description")),
        eligibility=plain_text(record.get("eligibility")),
        funders=names(record.get("financers") or record.get("financers_full")),
        beneficiaries=names(record.get("targeted_audiences")),
        aid_types=names(record.get("aid_types") or record.get("aid_types_full")),
        categories=names(record.get("categories")),
        perimeter=str(perimeter or ""),
        is_call_for_project=bool(record.get("is_call_for_project")),
        recurrence=str(record.get("recurrence") or ""),
        start_date=iso_date(record.get("start_date")),
        predeposit_date=iso_date(record.get("predeposit_date")),
        submission_deadline=iso_date(record.get("submission_deadline")),
        rate_min=rate(record.get("subvention_rate_lower_bound")),
        rate_max=rate(record.get("subvention_rate_upper_bound")),
        application_url=str(record.get("application_url") or ""),
        origin_url=str(record.get("origin_url") or ""),
        date_updated=iso_date(updated),
    )


def parse_records(
    records: Iterable[dict[str, Any]], base_url: str = DEFAULT_BASE_URL
) -> tuple[list[Aide], list[str]]:
    """`from_api` over records: the aids, and one error per unreadable record."""
    aides: list[Aide] = []
    errors: list[str] = []
    for n, record in enumerate(records, start=1):
        try:
            aides.append(from_api(record, base_url))
        except MalformedDocument as exc:
            errors.append(f"aide n° {n} de l'API : {exc.message}")
    return aides, errors
