"""One change of the journal in one French sentence: what it is, which article, from when."""

from __future__ import annotations

import re
from datetime import date

from ingestion.journal import Change

_KIND = {
    "nouveau": "Nouvel article",
    "modifie": "Article modifié",
    "abroge": "Article abrogé",
    "renumerote": "Article renuméroté",
}
# a sentence ends before a capitalised word: "articles L. 5311-1" and "I. -" go on
_SENTENCE = re.compile(r"^(.{20,}?[.;:])(?:\s+(?=[A-ZÀÂÉÈÊÎÔÛÇ][a-zà-ÿ'’])|$)")
_MAX_SENTENCE = 300


def first_sentence(text: str) -> str:
    line = " ".join(text.split())
    match = _SENTENCE.match(line)
    sentence = match.group(1) if match else line
    return sentence if len(sentence) <= _MAX_SENTENCE else sentence[: _MAX_SENTENCE - 1] + "…"


def _french_date(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y") if iso else "date inconnue"


def headline(change: Change) -> str:
    """What the change means, in one sentence: kind, article, date, first sentence."""
    what = f"{_KIND[change.kind]} {change.num}"
    if change.kind == "renumerote" and change.old_num:
        what += f" (ancien article {change.old_num})"
    when = _french_date(change.effective)
    if change.kind == "abroge":
        return f"{what} — à compter du {when} : article abrogé."
    return f"{what} — en vigueur le {when} : « {first_sentence(change.new_text or '')} »"
