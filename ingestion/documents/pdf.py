"""PDF pages → text, page by page: the text layer through pypdfium2, and OCR with
tesseract for pages that are images (scans) or carry only a stamp's few words."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from plume.errors import RejectedFile

STAMP_TEXT_CHARS = 400  # fewer characters over an image: a scan (maybe stamped), OCR it
SCAN_AREA = 0.5  # ... an image covering at least this share of the page


@dataclass(frozen=True)
class OcrOptions:
    languages: str = "fra"
    dpi: int = 200
    workers: int = 2
    timeout_s: float = 180.0


@dataclass(frozen=True)
class PdfPage:
    number: int  # from 1
    text: str
    ocr: bool


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise RejectedFile(
                "PDF protégé par un mot de passe : enregistrez-le sans protection puis "
                "déposez-le à nouveau."
            ) from None
        raise RejectedFile("PDF corrompu ou illisible.") from None


def _needs_ocr(page: pdfium.PdfPage, text: str) -> bool:
    """A page that is mostly one picture, with little text: a scan (perhaps stamped). A
    text page with a logo or a signature keeps its text layer."""
    if len("".join(text.split())) >= STAMP_TEXT_CHARS:
        return False
    width, height = page.get_size()
    for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2):
        left, bottom, right, top = image.get_bounds()
        if (right - left) * (top - bottom) >= SCAN_AREA * width * height:
            return True
    return False


def ocr_image(png: bytes, options: OcrOptions) -> str:
    """Text of an image through Debian's tesseract (one thread: pages run in parallel)."""
    try:
        done = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", options.languages, "--psm", "3"],
            input=png,
            capture_output=True,
            timeout=options.timeout_s,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            check=False,
        )
    except FileNotFoundError:
        raise RejectedFile(
            "Reconnaissance de caractères indisponible : installez tesseract "
            "(`make system`) pour lire les documents scannés."
        ) from None
    except subprocess.TimeoutExpired:
        raise RejectedFile("Reconnaissance de caractères trop longue sur une page.") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise RejectedFile(f"Reconnaissance de caractères impossible : {reason[0][:200]}")
    return done.stdout.decode("utf-8", errors="replace")


def _render(page: pdfium.PdfPage, dpi: int) -> bytes:
    image = page.render(scale=dpi / 72, grayscale=True).to_pil()
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_pages(
    data: bytes,
    options: OcrOptions,
    max_pages: int,
    on_page: Callable[[PdfPage], None] | None = None,
) -> list[PdfPage]:
    """Every page's text, in order; scanned pages OCR'd in parallel."""
    pdf = _open(data)
    try:
        count = len(pdf)
        if count == 0:
            raise RejectedFile("PDF sans aucune page.")
        if count > max_pages:
            raise RejectedFile(f"PDF trop long : {count} pages (limite {max_pages}).")
        texts: dict[int, str] = {}
        scans: dict[int, bytes] = {}
        for index in range(count):
            page = pdf[index]
            try:
                text = page.get_textpage().get_text_range()
                if _needs_ocr(page, text):
                    scans[index + 1] = _render(page, options.dpi)
                else:
                    texts[index + 1] = text
            except pdfium.PdfiumError:
                raise RejectedFile(f"PDF corrompu : page {index + 1} illisible.") from None
            finally:
                page.close()
    finally:
        pdf.close()
    pages = {n: PdfPage(n, t, ocr=False) for n, t in texts.items()}
    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        for number, text in zip(
            scans, pool.map(lambda png: ocr_image(png, options), scans.values()), strict=True
        ):
            pages[number] = PdfPage(number, text, ocr=True)
    ordered = [pages[n] for n in sorted(pages)]
    if on_page:
        for page in ordered:
            on_page(page)
    return ordered
