"""The service-public.fr source: fiches from the npm package, a folder of XML, or a DILA zip.

Yields one `SourceItem` per fiche: either its nodes, or the error that kept it out
(one bad fiche never stops the others).
"""

from __future__ import annotations

import re
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.chunking import fiche_nodes
from ingestion.fiches import Fiche, load_fiche_tree, parse_fiche
from ingestion.pipeline import SourceItem
from plume.documents import vdd_doc_id
from plume.errors import MalformedDocument

NAME = "service-public"
_FICHE_ID = re.compile(r"[FN]\d+")
_AUDIENCE_FOLDERS = {
    "particuliers": "Particuliers",
    "professionnels": "Professionnels",
    "associations": "Associations",
}


@dataclass(frozen=True)
class Selection:
    """Which fiches to index (see corpus/service_public.toml)."""

    content_types: frozenset[str]
    ancestors: frozenset[str]
    everything: bool = False

    @classmethod
    def load(cls, corpus_dir: Path, *, everything: bool = False) -> Selection:
        with open(corpus_dir / "service_public.toml", "rb") as fh:
            raw = tomllib.load(fh)
        ids = {*raw.get("themes", {}), *raw.get("dossiers", {})}
        return cls(frozenset(raw["content_types"]), frozenset(ids), everything)

    def accepts(self, fiche: Fiche) -> bool:
        if self.everything:
            return True
        return fiche.doc_type in self.content_types and bool(fiche.ancestors & self.ancestors)


@dataclass
class _Entry:
    fiche_id: str
    read: Callable[[], bytes]
    name: str
    audiences: list[str] = field(default_factory=list)


def _entries(root: Path) -> list[_Entry]:
    """Every fiche file under `root` (package folder, XML folder or zip), one per id."""
    found: dict[str, _Entry] = {}

    def add(fiche_id: str, name: str, read: Callable[[], bytes], audience: str | None) -> None:
        if not _FICHE_ID.fullmatch(fiche_id):
            return  # index.json, R* resources (links, services, cerfa): not fiches
        entry = found.setdefault(fiche_id, _Entry(fiche_id, read, name))
        if audience and audience not in entry.audiences:
            entry.audiences.append(audience)

    if root.is_file() and zipfile.is_zipfile(root):
        archive = zipfile.ZipFile(root)
        for info in archive.infolist():
            if info.filename.endswith(".xml"):
                stem = Path(info.filename).stem
                add(stem, info.filename, lambda i=info: archive.read(i), None)  # type: ignore[misc]
        return sorted(found.values(), key=lambda e: e.fiche_id)
    base = root / "data" if (root / "data").is_dir() else root
    for path in sorted(base.rglob("*")):
        if path.suffix in (".json", ".xml") and path.is_file():
            audience = _AUDIENCE_FOLDERS.get(path.parent.name)
            add(path.stem, str(path), path.read_bytes, audience)
    return sorted(found.values(), key=lambda e: e.fiche_id)


def count_items(root: Path) -> int:
    return len(_entries(root))


def items(root: Path, *, version: str, selection: Selection) -> Iterator[SourceItem]:
    """Parse each fiche under `root` and yield its nodes, or why it was left out."""
    for entry in _entries(root):
        doc_id = vdd_doc_id(entry.fiche_id)
        try:
            raw = entry.read()
            fiche = parse_fiche(load_fiche_tree(raw, entry.name))
        except MalformedDocument as exc:
            yield SourceItem(doc_id, error=f"{entry.name} : {exc.message}")
            continue
        except OSError as exc:
            yield SourceItem(doc_id, error=f"{entry.name} : lecture impossible ({exc.strerror})")
            continue
        for audience in entry.audiences:
            if audience not in fiche.audience:
                fiche.audience.append(audience)
        if not selection.accepts(fiche):
            yield SourceItem(doc_id, selected=False)
            continue
        yield SourceItem(doc_id, nodes=fiche_nodes(fiche, source=NAME, version=version))
