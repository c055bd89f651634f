"""An uploaded file → its elements (title, text, list, table), with page numbers.

PDF: text layer or OCR per page, then unstructured's text partitioning of each page.
DOCX: unstructured's DOCX partitioner. Legacy DOC: Debian's `antiword`, then text.
ODT: its `content.xml` turned into HTML (no pandoc). HTML, Markdown (through
markdown-it), TXT and EML (the standard library's email parser): unstructured's HTML or
text partitioning.
"""

from __future__ import annotations

import email
import email.policy
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from io import BytesIO
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

from ingestion.documents.detect import detect_format
from ingestion.documents.partition import (
    Element,
    docx_elements,
    html_elements,
    text_elements,
)
from ingestion.documents.pdf import OcrOptions, PdfPage, pdf_pages
from plume.errors import RejectedFile


@dataclass(frozen=True)
class ParseOptions:
    max_bytes: int = 50_000_000
    max_unzipped: int = 200_000_000
    max_pages: int = 2000
    ocr: OcrOptions = field(default_factory=OcrOptions)


@dataclass
class ParsedDocument:
    format: str
    elements: list[Element]
    pages: int | None = None  # PDFs (and DOCX with page breaks)
    ocr_pages: int = 0
    subject: str = ""  # an e-mail's subject


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _pdf(
    data: bytes, options: ParseOptions, on_page: Callable[[PdfPage], None] | None
) -> ParsedDocument:
    pages = pdf_pages(data, options.ocr, options.max_pages, on_page)
    elements = [el for p in pages for el in text_elements(p.text, page=p.number)]
    return ParsedDocument("pdf", elements, len(pages), sum(p.ocr for p in pages))


def _doc(data: bytes) -> list[Element]:
    with tempfile.NamedTemporaryFile(suffix=".doc") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            done = subprocess.run(
                ["antiword", "-m", "UTF-8.txt", "-w", "0", tmp.name],
                capture_output=True,
                timeout=120,
                check=False,
            )
        except FileNotFoundError:
            raise RejectedFile(
                "Lecture des documents Word anciens (.doc) indisponible : installez antiword "
                "(`make system`)."
            ) from None
        except subprocess.TimeoutExpired:
            raise RejectedFile("Document Word (.doc) trop long à lire.") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").lower()
        if "encrypt" in why or "password" in why:
            raise RejectedFile("Document Word (.doc) protégé par un mot de passe.")
        raise RejectedFile("Document Word ancien (.doc) illisible ou corrompu.")
    return text_elements(_untable(done.stdout.decode("utf-8", errors="replace")))


def _untable(text: str) -> str:
    """antiword draws Word tables with `|`: one line per cell instead."""
    lines: list[str] = []
    for line in text.splitlines():
        if "|" in line:
            lines.extend(c.strip() for c in line.split("|") if c.strip())
        else:
            lines.append(line)
    return "\n".join(lines)


_ODF_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_ODF_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


def _odt_html(data: bytes) -> str:
    """The text of an ODT's `content.xml` as simple HTML: headings, paragraphs, lists, tables."""
    try:
        xml = zipfile.ZipFile(BytesIO(data)).read("content.xml")
        root = ElementTree.fromstring(xml)
    except (KeyError, zipfile.BadZipFile, ElementTree.ParseError):
        raise RejectedFile("Document OpenDocument (.odt) illisible ou corrompu.") from None
    except Exception:  # defusedxml refuses entity tricks (billion laughs…)
        raise RejectedFile("Document OpenDocument (.odt) refusé : XML dangereux.") from None
    parts: list[str] = []

    def text_of(node: Any) -> str:
        return " ".join("".join(node.itertext()).split())

    def walk(node: Any) -> None:
        for child in node:
            tag = child.tag
            if tag == f"{_ODF_TEXT}h":
                level = min(int(child.get(f"{_ODF_TEXT}outline-level", "1") or 1), 6)
                parts.append(f"<h{level}>{escape(text_of(child))}</h{level}>")
            elif tag == f"{_ODF_TEXT}list-item":
                parts.append(f"<ul><li>{escape(text_of(child))}</li></ul>")
            elif tag == f"{_ODF_TABLE}table-row":
                cells = [escape(text_of(c)) for c in child if c.tag == f"{_ODF_TABLE}table-cell"]
                parts.append(
                    "<table><tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr></table>"
                )
            elif tag == f"{_ODF_TEXT}p":
                parts.append(f"<p>{escape(text_of(child))}</p>")
            else:
                walk(child)

    walk(root)
    return "\n".join(parts)


def _eml(data: bytes) -> tuple[str, list[Element]]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    subject = str(message.get("subject") or "").strip()
    body = message.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
    if body is None:
        return subject, []
    try:
        content = body.get_content()
    except (LookupError, ValueError):
        raise RejectedFile("Courriel illisible (encodage inconnu).") from None
    if body.get_content_subtype() == "html":
        return subject, html_elements(content)
    return subject, text_elements(content)


def _markdown(text: str) -> list[Element]:
    from markdown_it import MarkdownIt

    return html_elements(MarkdownIt("commonmark").enable("table").render(text))


def parse_document(
    data: bytes,
    options: ParseOptions | None = None,
    on_page: Callable[[PdfPage], None] | None = None,
) -> ParsedDocument:
    """Parse a file of any accepted format; `RejectedFile` says why one cannot be."""
    options = options or ParseOptions()
    fmt = detect_format(data, options.max_bytes, options.max_unzipped)
    if fmt == "pdf":
        parsed = _pdf(data, options, on_page)
    elif fmt == "docx":
        try:
            elements = docx_elements(data)
        except (KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise RejectedFile("Document Word (.docx) illisible ou corrompu.") from exc
        pages = max((e.page or 1 for e in elements), default=None)
        parsed = ParsedDocument("docx", elements, pages)
    elif fmt == "doc":
        parsed = ParsedDocument("doc", _doc(data))
    elif fmt == "odt":
        parsed = ParsedDocument("odt", html_elements(_odt_html(data)))
    elif fmt == "html":
        parsed = ParsedDocument("html", html_elements(_decode(data)))
    elif fmt == "md":
        parsed = ParsedDocument("md", _markdown(_decode(data)))
    elif fmt == "eml":
        subject, elements = _eml(data)
        parsed = ParsedDocument("eml", elements, subject=subject)
    else:
        parsed = ParsedDocument("txt", text_elements(_decode(data)))
    if not any(e.text.strip() for e in parsed.elements):
        raise RejectedFile("Aucun texte lisible dans ce fichier.")
    return parsed


def title_from_name(name: str) -> str:
    """A title from a file name: « CR_reunion_20210129.pdf » → « CR reunion 20210129 »."""
    stem = Path(name).stem if "." in name else name
    return " ".join(stem.replace("_", " ").split()) or "Document sans nom"
