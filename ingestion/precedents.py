"""Lists of funded projects (precedents): what was funded, for whom, and how much.

Two official formats, both `;`-separated, detected from their header:

- a préfecture's list of DETR/DSIL/DPV/DSID projects (`appelation`, `beneficiaire`,
  `annee`, `projet`, `cout_total_ht`, `subvention_accordee`, optionally
  `code_insee_siren`);
- the Fonds vert open data export (`code_departement`, `code_commune`,
  `nom_demarche_ds`, `nom_du_projet`, `montant_engage`…): no project cost, hence no
  rate, and no year column (the year is taken from the file name, e.g. "…-2023-…").

Amounts are written the French way ("2 495", "3 504 500", "21 667,00 €", with
non-breaking or narrow no-break spaces). Codes that lost their leading zero are
restored ("1" → "01", "1004" → "01004").

A malformed row is reported (`<file> ligne N : …`) and the others are imported. A
subsidy above the project's cost is rejected as such a row: these programmes fund a
share of the cost, so it is a typing error (swapped columns, a missing digit) that
would otherwise show a rate above 100 % in every figure computed from it.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ingestion.csv_rows import numbered_rows
from plume.errors import MalformedDocument

DETR_COLUMNS = (
    "departement",
    "appelation",
    "beneficiaire",
    "annee",
    "projet",
    "cout_total_ht",
    "subvention_accordee",
)
FONDS_VERT_COLUMNS = (
    "nom_region",
    "code_departement",
    "code_commune",
    "nom_commune",
    "nom_demarche_ds",
    "nom_du_projet",
    "nom_beneficiaire_principal",
    "montant_engage",
)
FONDS_VERT = "Fonds vert"
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009\u2007]+")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR = re.compile(r"(?<!\d)(20\d\d|19\d\d)(?!\d)")
_INSEE = re.compile(r"(?:\d{2}|2[AB])\d{3}")
_DEPARTEMENT = re.compile(r"\d{2,3}|2[AB]")
_NULL = {"", "null", "none", "n/a", "na", "-"}


@dataclass(frozen=True)
class Precedent:
    """One funded project."""

    dataset: str  # slug of the file's name
    programme: str  # DETR, DSIL, DPV, DSID, Fonds vert
    measure: str  # the Fonds vert démarche ("" for the préfecture lists)
    year: int | None
    beneficiary: str
    commune: str  # name ("" when the beneficiary is not a commune)
    commune_insee: str | None
    departement: str  # INSEE code, zero-padded ("01", "2A", "971")
    region: str  # name, or ""
    project: str  # title
    cost: Decimal | None  # € HT
    subsidy: Decimal  # €
    rate: Decimal | None  # subsidy / cost, when the cost is known

    @property
    def identity(self) -> str:
        """What stays the same when the same list is imported again."""
        return "\x1f".join(
            (
                self.programme,
                str(self.year or ""),
                self.beneficiary,
                self.project,
                str(self.subsidy),
            )
        )


def slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].rstrip("-") or "liste"


def parse_amount(text: str, label: str = "montant") -> Decimal:
    """A French amount: "3 504 500", "21 667,00 €", "1.234,50" → Decimal. Raises
    `MalformedDocument` (in French) when illegible or negative."""
    raw = (text or "").strip()
    value = _SPACES.sub("", raw.replace("€", "").replace("EUR", ""))
    negative = value.startswith("-")
    value = value.lstrip("+-")
    if "," in value:
        value = value.replace(".", "").replace(",", ".")  # dots were thousands separators
    elif value.count(".") > 1:
        value = value.replace(".", "")
    if not value:
        raise MalformedDocument(f"{label} : valeur manquante")
    if not _PLAIN_NUMBER.fullmatch(value):
        raise MalformedDocument(f"{label} illisible : « {raw} »")
    if negative:
        raise MalformedDocument(f"{label} : montant négatif « {raw} »")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern above guards it
        raise MalformedDocument(f"{label} illisible : « {raw} »") from exc


def departement_code(text: str) -> str:
    """ "1" → "01", "2a" → "2A", "971" stays. Raises `MalformedDocument` otherwise."""
    code = _SPACES.sub("", text or "").upper()
    if code.isdigit() and len(code) == 1:
        code = code.zfill(2)
    if not _DEPARTEMENT.fullmatch(code):
        raise MalformedDocument(f"code département illisible : « {text} »")
    return code


def commune_code(text: str) -> str | None:
    """ "1004" → "01004", "2A004" stays, "NULL" → None. Raises `MalformedDocument`."""
    code = _SPACES.sub("", text or "").upper()
    if code.lower() in _NULL:
        return None
    if code.isdigit() and len(code) == 4:
        code = code.zfill(5)
    if not _INSEE.fullmatch(code):
        raise MalformedDocument(f"code commune illisible : « {text} »")
    return code


def _year(text: str) -> int | None:
    value = (text or "").strip()
    if not value:
        return None
    if not value.isdigit() or not 1980 <= int(value) <= 2100:
        raise MalformedDocument(f"année illisible : « {text} »")
    return int(value)


def _rate(cost: Decimal | None, subsidy: Decimal) -> Decimal | None:
    if cost is None or cost <= 0:
        return None
    if subsidy > cost:
        raise MalformedDocument(
            f"subvention ({subsidy} €) supérieure au coût HT du projet ({cost} €)"
        )
    return subsidy / cost


def _text(row: dict[str, str], column: str) -> str:
    value = " ".join(row.get(column, "").split())
    return "" if value.lower() in _NULL else value


def _required(row: dict[str, str], column: str, label: str) -> str:
    value = _text(row, column)
    if not value:
        raise MalformedDocument(f"{label} : valeur manquante")
    return value


def _detr(row: dict[str, str], dataset: str, _: int | None) -> Precedent:
    cost_text = _text(row, "cout_total_ht")
    cost = parse_amount(cost_text, "coût HT") if cost_text else None
    subsidy = parse_amount(row.get("subvention_accordee", ""), "subvention")
    beneficiary = _required(row, "beneficiaire", "bénéficiaire")
    code = _SPACES.sub("", row.get("code_insee_siren", ""))
    # the column holds the commune's INSEE code, or the SIREN of an intercommunal body
    insee = code if _INSEE.fullmatch(code) else None
    return Precedent(
        dataset=dataset,
        programme=_required(row, "appelation", "programme (appelation)").upper(),
        measure="",
        year=_year(row.get("annee", "")),
        beneficiary=beneficiary,
        commune="" if len(code) == 9 else beneficiary,
        commune_insee=insee,
        departement=departement_code(row.get("departement", "")),
        region="",
        project=_required(row, "projet", "intitulé du projet"),
        cost=cost,
        subsidy=subsidy,
        rate=_rate(cost, subsidy),
    )


def _fonds_vert(row: dict[str, str], dataset: str, year: int | None) -> Precedent:
    return Precedent(
        dataset=dataset,
        programme=FONDS_VERT,
        measure=_text(row, "nom_demarche_ds"),
        year=year,
        beneficiary=_required(row, "nom_beneficiaire_principal", "bénéficiaire"),
        commune=_text(row, "nom_commune"),
        commune_insee=commune_code(row.get("code_commune", "")),
        departement=departement_code(row.get("code_departement", "")),
        region=_text(row, "nom_region"),
        project=_required(row, "nom_du_projet", "intitulé du projet"),
        cost=None,
        subsidy=parse_amount(row.get("montant_engage", ""), "montant engagé"),
        rate=None,
    )


_Parser = Callable[[dict[str, str], str, "int | None"], Precedent]
FORMATS: dict[str, tuple[tuple[str, ...], _Parser]] = {
    "DETR/DSIL": (DETR_COLUMNS, _detr),
    FONDS_VERT: (FONDS_VERT_COLUMNS, _fonds_vert),
}


def _header(cells: list[str]) -> list[str]:
    return [unicodedata.normalize("NFC", c).strip().lower() for c in cells]


def detect_format(header: list[str], name: str) -> str:
    """The format whose columns the header has; a clear French error otherwise."""
    for fmt, (columns, _) in FORMATS.items():
        if set(columns) <= set(header):
            return fmt
    expected = " ; ".join(f"{fmt} : {', '.join(cols)}" for fmt, (cols, _) in FORMATS.items())
    raise MalformedDocument(
        f"{name} : liste de projets non reconnue (séparateur « ; » attendu). "
        f"Colonnes attendues — {expected}."
    )


def read(path: Path) -> tuple[list[Precedent], list[str]]:
    """The funded projects of a list, and one error per malformed row (`ligne N : …`)."""
    try:
        content = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "UTF-8 attendu"
        raise MalformedDocument(f"{path.name} : lecture impossible ({why})") from exc
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=";")
    header = _header(next(reader, []))
    fmt = detect_format(header, path.name)
    parse = FORMATS[fmt][1]
    dataset = slug(path.stem)
    found = _YEAR.search(path.stem)
    file_year = int(found.group(1)) if found else None
    projects: list[Precedent] = []
    errors: list[str] = []
    for line, cells in numbered_rows(reader, path.name, len(header), errors):
        row = dict(zip(header, (unicodedata.normalize("NFC", c) for c in cells), strict=True))
        try:
            projects.append(parse(row, dataset, file_year))
        except MalformedDocument as exc:
            errors.append(f"{path.name} ligne {line} : {exc.message}")
    return projects, errors


def describe(projects: list[Precedent]) -> str:
    """A short French title for a list, from what it holds (cited with the figures)."""
    if not projects:
        return "Liste de projets financés"
    programmes = Counter(p.programme for p in projects)
    names = "/".join(name for name, _ in programmes.most_common())
    if set(programmes) == {FONDS_VERT}:
        return "Projets financés par le Fonds vert (données ouvertes de l'État)"
    departements = sorted({p.departement for p in projects})
    where = (
        f"préfecture du département {departements[0]}"
        if len(departements) == 1
        else f"départements {', '.join(departements)}"
    )
    return f"Projets {names} retenus, {where}"
