"""unstructured's partitioners, made safe to run offline.

unstructured 0.27 sends a telemetry ping on import unless `DO_NOT_TRACK` or
`SCARF_NO_ANALYTICS` is set, and its element-type heuristics (`is_possible_title`,
`is_possible_narrative_text` → `sent_tokenize`, `pos_tag`) load spaCy's English model
`en_core_web_sm`, which it downloads from GitHub on first use. Both are prevented here,
before unstructured is imported: telemetry is opted out, and the spaCy pipeline it gets
is a blank French one with a rule-based sentencizer (no model, nothing to download).
Without a tagger no word is tagged as a verb, so a one-sentence paragraph is classed by
length (title if short, text otherwise) rather than by grammar — enough for chunking.
"""

from __future__ import annotations

import os

os.environ["DO_NOT_TRACK"] = "true"
os.environ["SCARF_NO_ANALYTICS"] = "true"
os.environ["UNSTRUCTURED_DISABLE_NOTICE"] = "1"

from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from typing import TYPE_CHECKING, Any

import spacy
from unstructured.nlp import tokenize

if TYPE_CHECKING:
    from spacy.language import Language

LANGUAGES = ["fra"]
OFFLINE_PIPELINE = "plume-offline-fr"


@lru_cache(maxsize=1)
def offline_nlp() -> Language:
    """A blank French spaCy pipeline that only splits sentences."""
    nlp = spacy.blank("fr")
    nlp.add_pipe("sentencizer")
    nlp.meta["name"] = OFFLINE_PIPELINE
    return nlp


def _no_download() -> None:
    raise RuntimeError("Plume never downloads a spaCy model at run time.")


tokenize._get_nlp = offline_nlp  # type: ignore[assignment]
tokenize._install_spacy_model = _no_download


@dataclass(frozen=True)
class Element:
    """A piece of a document: `kind` is title, text, list or table; `page` from 1."""

    kind: str
    text: str
    page: int | None = None


_KINDS = {
    "Title": "title",
    "ListItem": "list",
    "Table": "table",
}
_SKIPPED = {"PageBreak", "Image", "Footer", "Header", "PageNumber"}


def _elements(raw: list[Any], page: int | None = None) -> list[Element]:
    out = []
    for el in raw:
        name = type(el).__name__
        text = " ".join(str(el.text or "").split()) if name != "Table" else str(el.text or "")
        if name in _SKIPPED or not text.strip():
            continue
        number = page if page is not None else getattr(el.metadata, "page_number", None)
        out.append(Element(_KINDS.get(name, "text"), text.strip(), number))
    return out


def text_elements(text: str, page: int | None = None) -> list[Element]:
    """Plain text (a PDF page's text layer, OCR output, a .doc through antiword)."""
    from unstructured.partition.text import partition_text

    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0c", "\n")
    if not text.strip():
        return []
    return _elements(partition_text(text=text, languages=LANGUAGES), page)


def html_elements(html: str) -> list[Element]:
    from unstructured.partition.html import partition_html

    if not html.strip():
        return []
    return _elements(partition_html(text=html, languages=LANGUAGES))


def docx_elements(data: bytes) -> list[Element]:
    from unstructured.partition.docx import partition_docx

    return _elements(partition_docx(file=BytesIO(data), languages=LANGUAGES))
