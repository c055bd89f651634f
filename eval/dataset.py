"""Evaluation datasets: one JSON object per line.

    {"id": "crpa-silence-1", "question": "…", "gold": ["legi/LEGITEXT000031366350/L231-1"],
     "reference": "…", "kind": "legal", "as_of": "2024-01-01", "tenant": null, "tags": []}

`gold` lists the doc ids that answer the question; empty means nothing in the corpus does
(Plume should refuse). `as_of`, `tenant`, `tags` and `scope` are optional; `scope` is the
question's kind for the scope classifier (assistant.rag.scope: `admin`, `local`, `hors_champ`),
by default `local` for a commune's documents, `hors_champ` for a refusal, else `admin`. A bad line
is reported with its number and skipped: the rest of the set still runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from plume.errors import PlumeError

KINDS = ("legal", "fiche", "aide", "document", "refusal")
SCOPES = ("admin", "local", "hors_champ")


class InvalidDataset(PlumeError):
    """A dataset file that cannot be read at all (missing, empty, not UTF-8)."""

    code = "jeu_evaluation_invalide"


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    gold: tuple[str, ...]
    reference: str
    kind: str
    as_of: date | None = None
    tenant: str | None = None
    tags: tuple[str, ...] = ()
    line: int = 0
    scope: str = "admin"

    @property
    def expects_refusal(self) -> bool:
        return not self.gold


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"ligne {self.line} : {self.message}"


@dataclass
class Dataset:
    path: Path
    items: list[EvalItem] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.stem


def _text(row: dict[str, Any], key: str, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValueError(f"champ « {key} » absent ou vide")
    return value.strip()


def parse_item(row: Any, line: int) -> EvalItem:
    """One dataset line, validated; ValueError (message in French) when it is not usable."""
    if not isinstance(row, dict):
        raise ValueError("un objet JSON est attendu")
    gold = row.get("gold", [])
    if not isinstance(gold, list) or not all(isinstance(g, str) and g for g in gold):
        raise ValueError("« gold » doit être une liste d'identifiants de documents")
    kind = _text(row, "kind")
    if kind not in KINDS:
        raise ValueError(f"type « {kind} » inconnu (attendu : {', '.join(KINDS)})")
    as_of = None
    if row.get("as_of"):
        try:
            as_of = date.fromisoformat(str(row["as_of"]))
        except ValueError:
            raise ValueError(f"date « {row['as_of']} » invalide : attendu AAAA-MM-JJ") from None
    tags = row.get("tags") or []
    if not isinstance(tags, list):
        raise ValueError("« tags » doit être une liste")
    default = {"document": "local", "refusal": "hors_champ"}.get(kind, "admin")
    scope = row.get("scope") or default
    if scope not in SCOPES:
        raise ValueError(f"portée « {scope} » inconnue (attendu : {', '.join(SCOPES)})")
    return EvalItem(
        id=_text(row, "id"),
        question=_text(row, "question"),
        gold=tuple(gold),
        reference=_text(row, "reference", required=False),
        kind=kind,
        as_of=as_of,
        tenant=row.get("tenant") or None,
        tags=tuple(str(t) for t in tags),
        line=line,
        scope=scope,
    )


def load_dataset(path: Path, is_known: Callable[[str], bool] | None = None) -> Dataset:
    """Read a JSONL dataset. Lines that are not valid JSON, miss a field, repeat an id or
    name a gold id unknown to `is_known` become `problems`; the other lines are kept."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InvalidDataset(f"Jeu d'évaluation introuvable : {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidDataset(f"Jeu d'évaluation illisible : {path} ({exc})") from None
    dataset = Dataset(path)
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            item = parse_item(json.loads(raw), number)
        except json.JSONDecodeError as exc:
            dataset.problems.append(Problem(number, f"JSON invalide ({exc.msg})"))
            continue
        except ValueError as exc:
            dataset.problems.append(Problem(number, str(exc)))
            continue
        unknown = [g for g in item.gold if is_known is not None and not is_known(g)]
        if unknown:
            dataset.problems.append(Problem(number, f"identifiant inconnu : {', '.join(unknown)}"))
        elif item.id in seen:
            dataset.problems.append(Problem(number, f"identifiant de question répété : {item.id}"))
        else:
            seen.add(item.id)
            dataset.items.append(item)
    if not dataset.items and not dataset.problems:
        raise InvalidDataset(f"Jeu d'évaluation vide : {path}")
    return dataset
