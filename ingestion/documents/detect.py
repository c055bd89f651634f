"""What an uploaded file is, decided from its content (magic numbers, zip entries,
sniffed text), never from its name. Zip containers are inspected before anything is
extracted: a zip bomb dressed as a .docx is refused from its directory alone."""

from __future__ import annotations

import re
import zipfile
from io import BytesIO

import filetype

from plume.errors import RejectedFile

FORMATS = ("pdf", "docx", "doc", "odt", "html", "txt", "md", "eml")
LABELS = {
    "pdf": "PDF",
    "docx": "Word (.docx)",
    "doc": "Word ancien (.doc)",
    "odt": "OpenDocument (.odt)",
    "html": "HTML",
    "txt": "texte",
    "md": "Markdown",
    "eml": "courriel (.eml)",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODT = b"application/vnd.oasis.opendocument.text"
MAX_ZIP_ENTRIES = 5000
MAX_ZIP_RATIO = 200  # uncompressed / compressed, per entry: beyond, a bomb
_HEADER = re.compile(rb"^[A-Za-z][A-Za-z0-9-]{1,40}:[ \t]", re.MULTILINE)
_MAIL_HEADERS = (b"from:", b"to:", b"subject:", b"date:", b"message-id:", b"mime-version:")
_HTML = re.compile(rb"<!doctype html|<html[\s>]|<body[\s>]|<(p|div|h[1-6]|table)[\s>]", re.I)
_MARKDOWN = re.compile(r"^(#{1,6} \S|[-*+] \S|\d+\. \S|> \S|```)|\[[^\]]+\]\([^)]+\)", re.M)


def _zip_format(data: bytes, max_unzipped: int) -> str:
    try:
        archive = zipfile.ZipFile(BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise RejectedFile("Archive corrompue (fichier .docx ou .odt illisible).") from None
    if len(entries) > MAX_ZIP_ENTRIES:
        raise RejectedFile(f"Archive refusée : plus de {MAX_ZIP_ENTRIES} fichiers à l'intérieur.")
    total = sum(e.file_size for e in entries)
    bomb = any(
        e.file_size > 1_000_000 and e.file_size > MAX_ZIP_RATIO * max(e.compress_size, 1)
        for e in entries
    )
    if total > max_unzipped or bomb:
        raise RejectedFile(
            "Archive refusée : son contenu décompressé est anormalement volumineux "
            f"({total // 1_000_000} Mo), ce qui ressemble à une bombe de décompression."
        )
    names = {e.filename for e in entries}
    if "mimetype" in names and archive.read("mimetype").strip() == _ODT:
        return "odt"
    if "word/document.xml" in names:
        return "docx"
    raise RejectedFile(
        "Archive non prise en charge : seuls les documents Word (.docx) et OpenDocument "
        "texte (.odt) sont acceptés parmi les fichiers zip."
    )


def _text_format(data: bytes) -> str:
    head = data[:4096]
    if b"\x00" in head:
        raise RejectedFile("Type de fichier non pris en charge (contenu binaire inconnu).")
    first = head.lstrip()[:2000]
    headers = _HEADER.findall(first.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0])
    if (
        first
        and _HEADER.match(first)
        and sum(h.lower().rstrip(b" \t") in _MAIL_HEADERS for h in headers) >= 2
    ):
        return "eml"
    if _HTML.search(head):
        return "html"
    text = head.decode("utf-8", errors="replace")
    return "md" if len(_MARKDOWN.findall(text)) >= 2 else "txt"


def detect_format(data: bytes, max_bytes: int, max_unzipped: int) -> str:
    """The format of a file among `FORMATS`, or `RejectedFile` with the reason in French."""
    if len(data) > max_bytes:
        raise RejectedFile(
            f"Fichier trop volumineux : {len(data) / 1e6:.1f} Mo (limite {max_bytes / 1e6:.0f} Mo)."
        )
    if not data.strip():
        raise RejectedFile("Fichier vide.")
    if data.startswith(_OLE):
        return "doc"
    kind = filetype.guess(data)
    if (kind is not None and kind.extension == "pdf") or data[:1024].lstrip().startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return _zip_format(data, max_unzipped)
    if kind is not None:
        raise RejectedFile(f"Type de fichier non pris en charge ({kind.mime}).")
    return _text_format(data)
