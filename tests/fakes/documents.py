"""Small synthetic files for the document tests: text and scanned PDFs, an encrypted PDF,
a DOCX, an ODT, a zip bomb dressed as a DOCX. Generated in memory, never stored."""

from __future__ import annotations

import zipfile
from io import BytesIO

import pypdfium2 as pdfium
from PIL import Image, ImageDraw, ImageFont


def _pdf_string(line: str) -> bytes:
    raw = line.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def text_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with a text layer (Helvetica, WinAnsi), one list of lines per page."""
    objects: list[bytes] = []
    n_pages = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    font_id = 3 + 2 * n_pages
    for i, lines in enumerate(pages):
        content_id = 4 + 2 * i
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>".encode()
        )
        ops = [b"BT /F1 11 Tf 14 TL 50 790 Td"]
        ops += [_pdf_string(line) + b" '" for line in lines]
        ops.append(b"ET")
        stream = b"\n".join(ops)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    out = BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def encrypted_pdf(password: str = "secret") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(BytesIO(text_pdf([["Document confidentiel"]]))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def scanned_pdf(lines: list[str]) -> bytes:
    """A PDF whose only page is an image of the lines (no text layer): a scan."""
    width, height = 1654, 2339  # A4 at 200 dpi
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    for i, line in enumerate(lines):
        draw.text((150, 200 + i * 80), line, fill=0, font=font)
    jpeg = BytesIO()
    image.save(jpeg, format="JPEG", quality=90)
    jpeg.seek(0)
    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(595, 842)
    obj = pdfium.PdfImage.new(pdf)
    obj.load_jpeg(jpeg, inline=False)
    obj.set_matrix(pdfium.PdfMatrix().scale(595, 842))
    page.insert_obj(obj)
    page.gen_content()
    out = BytesIO()
    pdf.save(out)
    return out.getvalue()


def docx(title: str, paragraphs: list[str], bullets: list[str] = ()) -> bytes:  # type: ignore[assignment]
    from docx import Document

    document = Document()
    document.add_heading(title, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    for b in bullets:
        document.add_paragraph(b, style="List Bullet")
    out = BytesIO()
    document.save(out)
    return out.getvalue()


_ODT_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2">
<office:body><office:text>
<text:h text:outline-level="1">{title}</text:h>
{paragraphs}
<text:list><text:list-item><text:p>{item}</text:p></text:list-item></text:list>
</office:text></office:body></office:document-content>"""


def odt(title: str, paragraphs: list[str], item: str) -> bytes:
    body = "\n".join(f"<text:p>{p}</text:p>" for p in paragraphs)
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        content = _ODT_CONTENT.format(title=title, paragraphs=body, item=item)
        z.writestr("content.xml", content, zipfile.ZIP_DEFLATED)
        z.writestr("META-INF/manifest.xml", "<manifest/>")
    return out.getvalue()


def zip_bomb_docx(unzipped_mb: int = 50) -> bytes:
    """A .docx-looking zip whose one entry inflates to `unzipped_mb` MB of zeros."""
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as entry:
            block = b"\0" * (1 << 20)
            for _ in range(unzipped_mb):
                entry.write(block)
    return out.getvalue()
