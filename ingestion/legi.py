"""Légifrance code trees → `Code` and its `Article`s.

The input is the JSON tree Légifrance's "consult code" API returns, as published daily in
the npm package `@socialgouv/legi-data` (one `data/LEGITEXT….json` per code):
`{"type": "code", "data": {...}, "children": [sections…]}`, sections nesting sections and
articles. Each article carries the version in force on the day of the snapshot: its
number, state, dates, HTML text, nota, the other versions' ids and the texts that
created, modified or repealed it.

Dates are epoch milliseconds in legi-data and ISO strings in older exports; both are
read. Légifrance's far-future end (2999-01-01) means "no end" and becomes `None`.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from plume.documents import legi_doc_id
from plume.errors import MalformedDocument

Node = dict[str, Any]

LEGIFRANCE = "https://www.legifrance.gouv.fr/codes"
_CODE_ID = re.compile(r"LEGITEXT\d{12}")
_ARTICLE_ID = re.compile(r"LEGIARTI\d{12}")
# Real Légifrance ids (LEGIARTI0000…); test exports made up others (LEGIARTI9…) that
# must not be turned into links.
_REAL_ARTICLE_ID = re.compile(r"LEGIARTI0000\d{8}")
_NO_END = date(2998, 12, 31)  # 2999-01-01, sometimes shifted to the eve by a time zone
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The texts that change an article: it is their target (`cible`). `source` links point
# the other way (this article codifies, or modifies, another text).
_AMENDING = {"CREE", "MODIFIE", "ABROGE", "TRANSFERE", "DEPLACE", "ANNULE"}
# Characters an article number may hold but a document id may not (R*123-4, Annexe à l'art. 2)
_NOT_IN_DOC_ID = re.compile(r"[^\w.\- ]+")


@dataclass(frozen=True)
class Code:
    id: str  # LEGITEXT…
    title: str
    snapshot: str | None  # ISO date of the code's last modification in this export

    @property
    def url(self) -> str:
        return f"{LEGIFRANCE}/texte_lc/{self.id}"


@dataclass(frozen=True)
class Amendment:
    """A text that created, modified or repealed an article (Légifrance `lienModifications`)."""

    text_title: str
    text_cid: str
    link_type: str  # CREE, MODIFIE, ABROGE…
    signed: str | None
    published: str | None
    in_force_from: str | None

    def as_payload(self) -> dict[str, str | None]:
        return {
            "text_title": self.text_title,
            "text_cid": self.text_cid,
            "link_type": self.link_type,
            "signed": self.signed,
            "published": self.published,
            "in_force_from": self.in_force_from,
        }


@dataclass(frozen=True)
class Article:
    code: Code
    id: str  # LEGIARTI… of this version
    num: str  # L2121-17, R*136-8-1, Annexe I…
    state: str  # VIGUEUR, ABROGE, ABROGE_DIFF, VIGUEUR_DIFF, MODIFIE…
    text: str  # plain text, one paragraph (alinéa) per line
    breadcrumb: tuple[str, ...]  # Partie > Livre > Titre > Chapitre > Section
    in_force_from: str | None
    in_force_to: str | None  # None: no end known
    amended_by: tuple[Amendment, ...] = ()
    nota: str = ""
    link: str | None = None  # the article's page, when its id cannot make one (LexHub)
    links: tuple[str, ...] = ()  # document ids of the articles its text cites

    @property
    def legitext(self) -> str:
        return self.code.id

    @property
    def doc_id(self) -> str:
        return legi_doc_id(self.code.id, doc_number(self.num))

    @property
    def linkable(self) -> bool:
        """Whether the id is a real Légifrance id (made-up ids link to the code instead)."""
        return bool(_REAL_ARTICLE_ID.fullmatch(self.id))

    @property
    def url(self) -> str:
        if self.link:
            return self.link
        return f"{LEGIFRANCE}/article_lc/{self.id}" if self.linkable else self.code.url


@dataclass
class CodeText:
    """A parsed code: its articles in tree order, and the ones that could not be read."""

    code: Code
    articles: list[Article]
    rejected: list[tuple[str, str]]  # (article number or id, why)


def listed_codes(corpus_dir: Path) -> dict[str, str]:
    """The codes of `corpus/legi.toml` [codes] taken from legi-data: id → short title (the
    description up to its colon, without the abbreviation: « Code du travail »)."""
    with open(corpus_dir / "legi.toml", "rb") as fh:
        described = tomllib.load(fh)["codes"]
    return {str(k): str(v).split(" :")[0].split(" (")[0] for k, v in described.items()}


def doc_number(num: str) -> str:
    """The article number as document ids spell it: `R*136-8-1` → `R136-8-1`."""
    return " ".join(_NOT_IN_DOC_ID.sub(" ", num.replace("*", "")).split())


# --- dates and text -------------------------------------------------------------------------


def iso_date(value: object, *, end: bool = False) -> str | None:
    """Epoch milliseconds or an ISO string → ISO date; far-future ends → None."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            day = (_EPOCH + timedelta(milliseconds=value)).date()
        elif isinstance(value, str):
            day = date.fromisoformat(value[:10])
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError) as exc:
        raise MalformedDocument(f"date illisible : {value!r}") from exc
    if end and day >= _NO_END:
        return None
    return day.isoformat()


_BLOCK = {"p", "div", "br", "tr", "table", "center", "li", "ul", "ol", "blockquote", "thead"}
_BLOCK |= {"tbody", "h1", "h2", "h3", "h4", "h5", "h6", "hr"}
_SPACES = re.compile(r"[ \t\r\n\u00a0\u202f]+")


class _PlainText(HTMLParser):
    """Légifrance's article HTML → text: a line per paragraph or table row, cells `|`."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []
        self.cells = 0  # depth of open table cells: paragraphs inside stay on the row

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("td", "th"):
            if "".join(self.line).strip():
                self.line.append(" | ")
            self.cells += 1
        elif tag in _BLOCK:
            self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self.cells = max(0, self.cells - 1)
        elif tag in _BLOCK:
            self._break(tag)

    def handle_data(self, data: str) -> None:
        self.line.append(data)

    def _break(self, tag: str) -> None:
        if self.cells and tag not in ("tr", "table"):
            self.line.append(" ")
        else:
            self.end_line()

    def end_line(self) -> None:
        text = _SPACES.sub(" ", "".join(self.line)).strip()
        if text:
            self.lines.append(text)
        self.line = []


def html_text(html: str) -> str:
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    parser.end_line()
    return "\n".join(parser.lines)


def _plain(data: Node, text_key: str, html_key: str) -> str:
    """The HTML keeps the paragraphs (alinéas) that the flat text loses; else the flat text."""
    html, flat = data.get(html_key), data.get(text_key)
    text = html_text(html) if isinstance(html, str) and html.strip() else ""
    if not text and isinstance(flat, str):
        text = _SPACES.sub(" ", flat).strip()
    return text


# --- the tree -------------------------------------------------------------------------------


def load_code_tree(raw: bytes, name: str) -> Node:
    try:
        tree = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MalformedDocument(f"JSON illisible dans {name} : {exc}") from exc
    if not isinstance(tree, dict):
        raise MalformedDocument(
            f"{name} : ce n'est pas un code (un objet JSON de type « code » est attendu)"
        )
    return tree


def parse_code_header(tree: Node) -> Code:
    kind = tree.get("type")
    if kind != "code":
        found = f"type « {kind} »" if isinstance(kind, str) else "pas de type"
        raise MalformedDocument(
            f"ce n'est pas l'arbre d'un code Légifrance ({found}, « code » attendu)"
        )
    data = tree.get("data")
    if not isinstance(data, dict) or not data.get("id"):
        raise MalformedDocument("identifiant du code absent (data.id)")
    code_id = str(data["id"])
    if not _CODE_ID.fullmatch(code_id):
        raise MalformedDocument(
            f"identifiant de code invalide : {code_id!r} (LEGITEXT et 12 chiffres attendus)"
        )
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        raise MalformedDocument(f"code {code_id} sans titre")
    if not isinstance(tree.get("children"), list):
        raise MalformedDocument(f"code {code_id} sans sections ni articles (children)")
    snapshot = iso_date(data.get("dateModif") or data.get("dateDebutVersion"))
    return Code(id=code_id, title=title.strip(), snapshot=snapshot)


def walk_articles(node: Node, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Node]]:
    """Every article node under `node`, with the titles of the sections above it."""
    for child in node.get("children") or []:
        if not isinstance(child, dict):
            continue
        if child.get("type") == "article":
            yield path, child
        elif child.get("type") == "section":
            title = str((child.get("data") or {}).get("title") or "").strip()
            yield from walk_articles(child, (*path, title) if title else path)


def _amendments(links: object) -> tuple[Amendment, ...]:
    found: dict[tuple[str, str, str], Amendment] = {}
    for link in links if isinstance(links, list) else []:
        if not isinstance(link, dict) or link.get("linkOrientation") != "cible":
            continue
        if link.get("linkType") not in _AMENDING:
            continue
        amendment = Amendment(
            text_title=str(link.get("textTitle") or "").strip(),
            text_cid=str(link.get("textCid") or ""),
            link_type=str(link["linkType"]),
            signed=iso_date(link.get("dateSignaTexte"), end=True),
            published=iso_date(link.get("datePubliTexte"), end=True),
            in_force_from=iso_date(link.get("dateDebutCible"), end=True),
        )
        found.setdefault((amendment.text_cid, amendment.link_type, amendment.text_title), amendment)
    return tuple(found.values())


def parse_article(node: Node, code: Code, breadcrumb: tuple[str, ...]) -> Article:
    data = node.get("data")
    if not isinstance(data, dict):
        raise MalformedDocument("article sans données (data)")
    article_id = str(data.get("id") or "")
    if not _ARTICLE_ID.fullmatch(article_id):
        raise MalformedDocument(f"identifiant d'article invalide : {article_id!r}")
    num = str(data.get("num") or "").strip()
    if not doc_number(num):
        raise MalformedDocument(f"article {article_id} sans numéro")
    text = _plain(data, "texte", "texteHtml")
    if not text:
        raise MalformedDocument(f"article {num} ({article_id}) sans texte")
    return Article(
        code=code,
        id=article_id,
        num=num,
        state=str(data.get("etat") or ""),
        text=text,
        breadcrumb=breadcrumb,
        in_force_from=iso_date(data.get("dateDebut")),
        in_force_to=iso_date(data.get("dateFin"), end=True),
        amended_by=_amendments(data.get("lienModifications")),
        nota=_plain(data, "nota", "notaHtml"),
    )


def parse_code(tree: Node) -> CodeText:
    """Parse a whole code tree. A bad header raises `MalformedDocument`; a bad article is
    listed in `rejected` and the others are kept."""
    code = parse_code_header(tree)
    parsed = CodeText(code=code, articles=[], rejected=[])
    for breadcrumb, node in walk_articles(tree):
        try:
            parsed.articles.append(parse_article(node, code, breadcrumb))
        except MalformedDocument as exc:
            data = node.get("data")
            known = data if isinstance(data, dict) else {}
            where = str(known.get("num") or known.get("id") or "?")
            parsed.rejected.append((where, exc.message))
    return parsed
