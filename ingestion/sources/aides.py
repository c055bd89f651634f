"""The aides-territoires source: grants, from a CSV export or from the API's JSON.

`items(path)` reads a catalogue export (`.csv`) or the file the API sync writes
(`<data_dir>/aides-territoires/aids.json`: `{"complete", "error", "count", "results"}`),
and yields one `SourceItem` per aid, or per malformed row (its error).

An aid is one chunk, or several when its description is long (cut between paragraphs,
each piece under the aid's name, which the index text repeats). `in_force_to` is the day
after the closing date (the store's bound is exclusive; `deadline` keeps the date itself):
once it has passed, the store's date filter no longer shows the aid as open.

Items of a complete read carry the scope `aide/`: aids gone from the catalogue are then
deleted. A partial API sync yields unscoped items and its error: what it fetched is
added or updated, and nothing else is deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import TextNode

from ingestion.aides_territoires.client import AidesTerritoiresClient, FetchResult
from ingestion.aides_territoires.records import DEFAULT_BASE_URL, Aide, from_csv, parse_records
from ingestion.chunking import MAX_TOKENS
from ingestion.pipeline import SourceItem
from plume.documents import ChunkMeta, content_hash, perimeter_key, point_id
from plume.errors import MalformedDocument
from plume.files import write_atomically

NAME = "aides-territoires"
SCOPE = "aide/"
SYNC_FILE = "aids.json"


@lru_cache(maxsize=4)
def _splitter(max_tokens: int) -> SentenceSplitter:
    return SentenceSplitter(chunk_size=max_tokens, chunk_overlap=0, paragraph_separator="\n")


def facts(aide: Aide) -> str:
    """The aid's key facts in one paragraph (searchable, and shown when it has no text)."""
    parts = [
        ("Financeurs", ", ".join(aide.funders)),
        ("Bénéficiaires", ", ".join(aide.beneficiaries)),
        ("Types d'aide", ", ".join(aide.aid_types)),
        ("Thématiques", ", ".join(aide.categories)),
        ("Territoire", aide.perimeter),
        ("Appel à projets", "oui" if aide.is_call_for_project else ""),
        ("Récurrence", aide.recurrence),
        ("Date de clôture", aide.submission_deadline or ""),
    ]
    return " ; ".join(f"{label} : {value}" for label, value in parts if value) + "."


def closes_on(deadline: str | None) -> str | None:
    """The day after the deadline: the store's `in_force_to` is exclusive, and an aid can
    still be applied for on its closing day."""
    if deadline is None:
        return None
    return (date.fromisoformat(deadline) + timedelta(days=1)).isoformat()


def aide_nodes(
    aide: Aide, *, version: str, source: str = NAME, max_tokens: int = MAX_TOKENS
) -> list[TextNode]:
    meta = ChunkMeta(
        doc_id=aide.doc_id,
        title=aide.name,
        url=aide.url,
        source=source,
        source_version=version,
        kind="aide",
        section=", ".join(aide.funders),
        modified=aide.date_updated,
        in_force_to=closes_on(aide.submission_deadline),
    )
    extra = {
        "funders": list(aide.funders),
        "beneficiaries": list(aide.beneficiaries),
        "aid_types": list(aide.aid_types),
        "categories": list(aide.categories),
        "perimeter": aide.perimeter,
        "perimeter_key": perimeter_key(aide.perimeter),  # « inconnu » when not given
        "recurrence": aide.recurrence,
        "deadline": aide.submission_deadline,
        "predeposit_date": aide.predeposit_date,
        "rate_min": aide.rate_min,
        "rate_max": aide.rate_max,
        "application_url": aide.application_url,
    }
    body = aide.description
    if aide.eligibility:
        body = f"{body}\nConditions d'éligibilité : {aide.eligibility}".strip()
    text = f"{body}\n{facts(aide)}".strip()
    nodes = []
    for index, piece in enumerate(_splitter(max_tokens).split_text(text)):
        payload = {**meta.as_payload(), **extra, "chunk_index": index}
        payload["content_hash"] = content_hash(piece, payload)
        nodes.append(TextNode(id_=point_id(aide.doc_id, index), text=piece, metadata=payload))
    return nodes


def _read_sync_file(path: Path) -> tuple[list[dict[str, Any]], str | None, str]:
    """Records, the sync's error if it was partial, and the base URL of relative links."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MalformedDocument(f"{path.name} : lecture impossible ({exc.strerror})") from exc
    except ValueError as exc:
        raise MalformedDocument(f"{path.name} : JSON illisible") from exc
    if isinstance(data, list):
        return data, None, DEFAULT_BASE_URL
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        error = data.get("error") if data.get("complete") is False else None
        return data["results"], error, str(data.get("base_url") or DEFAULT_BASE_URL)
    raise MalformedDocument(f"{path.name} : liste d'aides attendue (« results »)")


def items(path: Path, *, version: str) -> Iterator[SourceItem]:
    """The aids of a CSV export or of an API sync file."""
    partial: str | None = None
    try:
        if path.suffix.lower() == ".csv":
            aides, errors = from_csv(path)
        else:
            records, partial, base_url = _read_sync_file(path)
            aides, errors = parse_records(records, base_url)
    except MalformedDocument as exc:
        yield SourceItem("aide/fichier", error=exc.message)  # unscoped: nothing deleted
        return
    scope = None if partial else SCOPE
    for aide in aides:
        yield SourceItem(aide.doc_id, nodes=aide_nodes(aide, version=version), scope=scope)
    for n, error in enumerate(errors, start=1):
        yield SourceItem(f"aide/erreur-{n}", error=error, scope=scope)
    if partial:
        yield SourceItem("aide/synchronisation", error=partial)


def save_sync(result: FetchResult, folder: Path, base_url: str) -> Path:
    """Write what an API sync fetched to `folder/aids.json` (atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / SYNC_FILE
    data = {
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_url": base_url,
        "complete": result.complete,
        "error": result.error,
        "count": result.count,
        "pages": result.pages,
        "results": result.records,
    }
    return write_atomically(target, json.dumps(data, ensure_ascii=False))


def sync(client: AidesTerritoiresClient, folder: Path) -> Path:
    """Fetch the catalogue into `folder/aids.json`; a partial sync is saved as such."""
    return save_sync(client.fetch_aids(), folder, client.base_url)
