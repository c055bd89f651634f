"""Personal data out of stored texts: e-mail addresses, IBANs, NIR, phone numbers.

Applied to questions, answers and feedback comments before they are recorded. Order
matters: an IBAN or a NIR holds digit runs a phone pattern would otherwise take.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# ISO 13616: country, check digits, then 11 to 30 letters/digits, often in groups of four
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
# NIR: sex, year, month (or 20–99 for unknown), département (2A/2B), commune, order, key
NIR = re.compile(
    r"\b[12378][ .]?\d{2}[ .]?(?:0[1-9]|1[0-2]|[2-9]\d)[ .]?(?:\d{2}|2[AB])[ .]?\d{3}"
    r"[ .]?\d{3}(?:[ .]?\d{2})?\b",
    re.I,
)
PHONE = re.compile(r"(?:(?<![\w+])(?:\+|00)33[ .-]?(?:\(0\)[ .-]?)?|\b0)[1-9](?:[ .-]?\d{2}){4}\b")

PLACEHOLDERS = (
    (EMAIL, "[courriel]"),
    (IBAN, "[iban]"),
    (NIR, "[nir]"),
    (PHONE, "[telephone]"),
)


def redact(text: str) -> str:
    """`text` with personal data replaced by placeholders such as « [courriel] »."""
    for pattern, placeholder in PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return text
