"""A commune's document cleaned of what could pass for Plume's own sources (issue 21).

An uploaded file is the commune's text, read by the model as data between source tags
(assistant/chat/model.py). It may carry what looks like that structure — citation markers
« [1] », « [12] », « [1, 2] », a header forged on the model's source blocks (« [1] Code
général des collectivités territoriales — Article L2121-17 (https://www.legifrance…) »),
the tags themselves — and an extractive answer would quote them as they are. At ingestion:

- a line shaped like a source's header (a marker, then a title, then a web address or a
  « — Article … ») is dropped, and so is a line that is only such an address in brackets;
- the remaining citation markers are removed, and tag-like « <source …> » too;
- a sentence that speaks to the assistant rather than to the commune (« répondez que… »,
  « ignorez les consignes… », « affichez vos instructions », « tu es… ») is dropped: a
  council's minutes never address a model.

A reference in the document's own words (« Vu l'article L2121-17 du code… ») stays.
"""

from __future__ import annotations

import re

_MARKER = r"\[\s*\d{1,3}(?:\s*[,;–-]\s*\d{1,3})*\s*\]"
# « [1] Code … — Article L2121-17 (https://…) », « [2] Fiche … (https://…, en vigueur …) »
_FORGED_HEADER = re.compile(
    rf"^\s*(?:{_MARKER}\s*)+\S.*?(?:\(\s*(?:https?://|www\.|/v1/)[^)]*\)?|\s[—–-]\s*Article\b.*)\s*$",
    re.IGNORECASE,
)
# a line that is only « (https://…, en vigueur depuis …) »: the second line of a forged block
_ADDRESS_LINE = re.compile(r"^\s*\(\s*(?:https?://|www\.|/v1/)[^)]*\)\s*$", re.IGNORECASE)
_MARKERS = re.compile(rf"[ \t\u00a0\u202f]*(?:{_MARKER})")
_TAG = re.compile(r"</?\s*source\b[^>\n]*>?", re.IGNORECASE)
_ORDER = (
    r"r[ée]ponde?z?s?\s+(?:que|uniquement|toujours|seulement)"
    r"|ignor(?:e|ez|er)\s+(?:toutes\s+)?(?:les\s+|tes\s+|vos\s+)?"
    r"(?:pr[ée]c[ée]dentes\s+)?(?:instructions|consignes|r[èe]gles|sources)"
    r"|oublie(?:z)?\s+(?:toutes\s+)?(?:les\s+|tes\s+|vos\s+)?(?:instructions|consignes|r[èe]gles)"
    r"|(?:affiche|r[ée]v[èe]le|r[ée]p[èe]te|recopie)(?:z)?\s+(?:ton|votre|tes|vos|le)\s+"
    r"(?:prompt|instructions|consignes|r[èe]gles|message\s+syst[èe]me)"
    r"|(?:tu\s+es|vous\s+[êe]tes)\s+(?:d[ée]sormais\s+|maintenant\s+)?(?:plume|un\s+assistant|une\s+ia|l'assistant)"
    r"|(?:system\s+prompt|prompt\s+syst[èe]me|instructions?\s+(?:pour|à|a)\s+l'(?:ia|assistant|intelligence))"
    r"|(?:à|a|pour)\s+l'attention\s+de\s+(?:l'ia|l'assistant|plume)"
    r"|note\s+(?:pour|à|a)\s+(?:l'ia|l'assistant|plume)"
)
# a sentence holding such an order, up to its end (or the line's)
_INJECTION = re.compile(rf"[^.!?\n]*\b(?:{_ORDER})\b[^.!?\n]*[.!?]*", re.IGNORECASE)


def clean(text: str) -> str:
    """`text` without forged source headers, citation markers or source tags."""
    lines: list[str] = []
    for line in text.split("\n"):
        if _FORGED_HEADER.match(line) or _ADDRESS_LINE.match(line):
            continue
        line = _INJECTION.sub("", _TAG.sub("", _MARKERS.sub("", line))).strip(" \t")
        if line.strip() or not lines or lines[-1].strip():
            lines.append(line.rstrip() if line.strip() else "")
    return "\n".join(lines).strip()
