"""The national programmes catalogue: `corpus/programmes.toml`, written by the team.

Each `[[programme]]` (DETR, DSIL, DPV, Fonds vert, LEADER…) becomes an `Aide` with the
slug `programme-<code>` (document id `aide/programme-<code>`, url = its official page),
indexed like an aides-territoires aid, and its chunks' payload also carries `programme`
(the code), `rules` (the eligibility rules table), `legal_basis` and `deadline_note`,
which `assistant.aides.eligibility` reads.

A malformed programme (no name or url, a bad rate, an unknown rule) is reported, naming
it, and the others are imported. Items carry the scope `aide/programme-`: a programme
removed from the file is deleted; an unreadable file deletes nothing.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from llama_index.core.schema import TextNode

from ingestion.aides_territoires.records import Aide
from ingestion.pipeline import SourceItem
from ingestion.sources.aides import aide_nodes
from plume.documents import content_hash
from plume.errors import MalformedDocument

NAME = "programmes"
FILE = "programmes.toml"
SCOPE = "aide/programme-"
FLAGS = ("qpv", "action_coeur_de_ville", "rural", "outre_mer")
ZONES = ("metro", "drom")
POPULATION_BASES = ("DGF", "INSEE")
_INT_RULES = (
    "population_min",
    "population_max",
    "population_max_outre_mer",
    "population_review_max",
    "population_review_max_outre_mer",
)
_TEXT_RULES = ("review_reason", "population_basis")
_LIST_RULES = {"zones": ZONES, "requires": FLAGS, "excludes": FLAGS, "notes": None}
_CODE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Programme:
    code: str
    aide: Aide
    legal_basis: str = ""
    deadline_note: str = ""
    rules: dict[str, Any] = field(default_factory=dict)


def read_catalogue(path: Path) -> dict[str, Any]:
    """The parsed TOML; `MalformedDocument` if it cannot be read or has no `version`."""
    if not path.is_file():
        raise MalformedDocument(f"{path} : catalogue des programmes introuvable")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MalformedDocument(f"{path.name} : lecture impossible ({exc.strerror})") from exc
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MalformedDocument(f"{path.name} : TOML illisible ({exc})") from exc
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        raise MalformedDocument(f"{path.name} : « version » manquante (date de relecture)")
    if not isinstance(data.get("programme", []), list):
        raise MalformedDocument(f"{path.name} : « [[programme]] » attendu")
    return data


def catalogue_version(path: Path) -> str:
    """The catalogue's `version` (its review date), the source version of its chunks."""
    return str(read_catalogue(path)["version"]).strip()


def _text(raw: dict[str, Any], key: str, who: str, *, required: bool = False) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str):
        raise MalformedDocument(f"{who} : « {key} » doit être un texte")
    if required and not value.strip():
        raise MalformedDocument(f"{who} : « {key} » manquant")
    return value.strip()


def _texts(raw: dict[str, Any], key: str, who: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedDocument(f"{who} : « {key} » doit être une liste de textes")
    return [v.strip() for v in value if v.strip()]


def _rate(raw: dict[str, Any], key: str, who: str) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise MalformedDocument(
            f"{who} : taux « {key} » invalide ({value!r}), entier de 0 à 100 attendu"
        )
    return value


def _rules(raw: object, who: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise MalformedDocument(f"{who} : « rules » doit être une table")
    rules: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _INT_RULES:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise MalformedDocument(f"{who} : règle « {key} » : entier positif attendu")
        elif key in _TEXT_RULES:
            if not isinstance(value, str) or not value.strip():
                raise MalformedDocument(f"{who} : règle « {key} » : texte attendu")
            if key == "population_basis" and value not in POPULATION_BASES:
                raise MalformedDocument(
                    f"{who} : « population_basis » : {' ou '.join(POPULATION_BASES)} attendu"
                )
        elif key in _LIST_RULES:
            allowed = _LIST_RULES[key]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise MalformedDocument(f"{who} : règle « {key} » : liste de textes attendue")
            unknown = [v for v in value if allowed is not None and v not in allowed]
            if unknown:
                raise MalformedDocument(
                    f"{who} : règle « {key} » : valeur(s) inconnue(s) {', '.join(unknown)} "
                    f"(attendu : {', '.join(allowed or ())})"
                )
        else:
            raise MalformedDocument(f"{who} : règle inconnue « {key} »")
        rules[key] = value
    for low, high in (
        ("population_max", "population_review_max"),
        ("population_max_outre_mer", "population_review_max_outre_mer"),
    ):
        if low in rules and high in rules and rules[high] < rules[low]:
            raise MalformedDocument(f"{who} : « {high} » est inférieur à « {low} »")
    return rules


def _description(summary: str, raw: dict[str, Any], rates: tuple[int | None, int | None]) -> str:
    lines = [summary]
    low, high = rates
    if low is not None and high is not None:
        lines.append(f"Taux de subvention : de {low} % à {high} %.")
    elif high is not None:
        lines.append(f"Taux de subvention : jusqu'à {high} %.")
    elif low is not None:
        lines.append(f"Taux de subvention : au moins {low} %.")
    for label, key in (("Date limite", "deadline_note"), ("Base légale", "legal_basis")):
        if raw.get(key):
            lines.append(f"{label} : {raw[key]}")
    return "\n".join(line for line in lines if line)


def parse_programme(raw: object, n: int, reviewed: str | None = None) -> Programme:
    """One `[[programme]]` table → `Programme`; `MalformedDocument` names what is wrong."""
    if not isinstance(raw, dict):
        raise MalformedDocument(f"programme n° {n} : table attendue")
    code = raw.get("code")
    if not isinstance(code, str) or not _CODE.match(code):
        raise MalformedDocument(
            f"programme n° {n} : « code » manquant ou invalide (minuscules, chiffres, tirets)"
        )
    who = f"programme « {code} »"
    name = _text(raw, "name", who, required=True)
    url = _text(raw, "url", who, required=True)
    if not url.startswith(("https://", "http://")):
        raise MalformedDocument(f"{who} : « url » doit être une adresse web (https://…)")
    rate_min, rate_max = _rate(raw, "rate_min", who), _rate(raw, "rate_max", who)
    if rate_min is not None and rate_max is not None and rate_min > rate_max:
        raise MalformedDocument(f"{who} : « rate_min » ({rate_min}) dépasse « rate_max »")
    deadline = raw.get("deadline")
    if deadline is not None:
        try:
            deadline = date.fromisoformat(str(deadline)).isoformat()
        except ValueError as exc:
            raise MalformedDocument(f"{who} : « deadline » : date AAAA-MM-JJ attendue") from exc
    legal_basis = _text(raw, "legal_basis", who)
    deadline_note = _text(raw, "deadline_note", who)
    aide = Aide(
        slug=f"programme-{code}",
        name=name,
        url=url,
        description=_description(_text(raw, "summary", who), raw, (rate_min, rate_max)),
        eligibility=_text(raw, "eligibility", who),
        funders=_texts(raw, "funders", who),
        beneficiaries=_texts(raw, "beneficiaries", who),
        aid_types=_texts(raw, "aid_types", who),
        categories=_texts(raw, "categories", who),
        perimeter=_text(raw, "perimeter", who),
        recurrence=_text(raw, "recurrence", who),
        submission_deadline=deadline,
        rate_min=rate_min,
        rate_max=rate_max,
        application_url=url,
        origin_url=url,
        date_updated=reviewed,
    )
    rules = _rules(raw.get("rules"), who)
    return Programme(code, aide, legal_basis, deadline_note, rules)


@dataclass(frozen=True)
class Rejected:
    """A malformed programme: the document it would be, and why it is not."""

    doc_id: str
    message: str


def _doc_id(raw: object, n: int) -> str:
    code = raw.get("code") if isinstance(raw, dict) else None
    if isinstance(code, str) and _CODE.match(code):
        return f"{SCOPE}{code}"  # an error item keeps its previous version in the store
    return f"{SCOPE}erreur-{n}"


def load(path: Path) -> tuple[str, list[Programme], list[Rejected]]:
    """The catalogue's version, its programmes, and the malformed ones with their error."""
    data = read_catalogue(path)
    version = str(data["version"]).strip()
    try:
        reviewed: str | None = date.fromisoformat(version).isoformat()
    except ValueError:
        reviewed = None
    programmes: list[Programme] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for n, raw in enumerate(data.get("programme", []), start=1):
        try:
            programme = parse_programme(raw, n, reviewed)
        except MalformedDocument as exc:
            rejected.append(Rejected(_doc_id(raw, n), f"{path.name} : {exc.message}"))
            continue
        if programme.code in seen:
            message = f"{path.name} : programme « {programme.code} » en double"
            rejected.append(Rejected(f"{SCOPE}erreur-{n}", message))
            continue
        seen.add(programme.code)
        programmes.append(programme)
    return version, programmes, rejected


def programme_nodes(programme: Programme, *, version: str) -> list[TextNode]:
    """The aid's chunks, their payload completed with the programme's rules."""
    nodes = aide_nodes(programme.aide, version=version, source=NAME)
    for node in nodes:
        payload = {
            **node.metadata,
            "programme": programme.code,
            "rules": dict(programme.rules),
            "legal_basis": programme.legal_basis,
            "deadline_note": programme.deadline_note,
        }
        payload["content_hash"] = content_hash(node.text, payload)  # the fields added count
        node.metadata = payload
    return nodes


def items(path: Path, *, version: str) -> Iterator[SourceItem]:
    """One item per programme of the catalogue, or per malformed programme (its error)."""
    try:
        _, programmes, rejected = load(path)
    except MalformedDocument as exc:
        yield SourceItem("aide/programmes", error=exc.message)  # unscoped: nothing deleted
        return
    for programme in programmes:
        nodes = programme_nodes(programme, version=version)
        yield SourceItem(programme.aide.doc_id, nodes=nodes, scope=SCOPE)
    for bad in rejected:
        yield SourceItem(bad.doc_id, error=bad.message, scope=SCOPE)
