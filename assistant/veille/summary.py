"""The digest's opening summary, written by the model when one is configured.

The model reads the changes numbered as the digest lists them (prompts/digest.v*.md) and
says what they mean for a town hall, citing [n]; the citation check of the answers applies
(a change that was not given, or words it does not contain, are removed). No model, a model
failure, or a summary with no valid citation: no summary — the digest itself is extractive
and always there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from assistant.llm.generator import Generator, Message
from assistant.llm.prompts import PromptBook
from assistant.models import Passage
from assistant.rag.citation_check import check_citations
from assistant.veille.headlines import headline
from ingestion.journal import Change
from plume.documents import legi_doc_id
from plume.store import Hit

log = logging.getLogger(__name__)
MAX_CHANGES = 30  # beyond, the summary covers the first ones and says so through the list
MAX_TEXT = 600


@dataclass(frozen=True)
class Summary:
    text: str
    prompt_version: str
    flags: tuple[str, ...] = ()


def _passage(n: int, change: Change) -> Passage:
    payload = {
        "doc_id": legi_doc_id(change.code_id, change.num),
        "title": f"Article {change.num}",
        "section": change.section,
        "text": change.new_text or change.old_text or "",
    }
    return Passage(n, 0.0, Hit(f"change-{n}", 0.0, payload))


def _numbered(changes: list[Change]) -> str:
    blocks = []
    for n, c in enumerate(changes, start=1):
        text = (c.new_text or c.old_text or "")[:MAX_TEXT]
        amended = f"\nTexte modificatif : {'; '.join(c.amended_by)}" if c.amended_by else ""
        blocks.append(f"[{n}] {headline(c)}{amended}\n{text}")
    return "\n\n".join(blocks)


def summarize(
    changes: list[Change], since: date, llm: Generator | None, prompts: PromptBook | None = None
) -> Summary | None:
    if llm is None or not changes:
        return None
    prompt = (prompts or PromptBook.load())["digest"]
    shown = changes[:MAX_CHANGES]
    content = prompt.render(
        since=since.strftime("%d/%m/%Y"),
        until=date.today().strftime("%d/%m/%Y"),
        changes=_numbered(shown),
    )
    try:
        response = llm.chat([Message("user", content)])
    except Exception as exc:  # the digest stands without its summary
        log.warning("digest summary failed: %s", type(exc).__name__)
        return None
    check = check_citations(response.text, [_passage(n, c) for n, c in enumerate(shown, 1)])
    if not check.cited:
        return None
    flags = tuple(
        f
        for f, on in (
            ("citation_retiree", check.removed),
            ("phrase_non_sourcee", check.unsupported),
        )
        if on
    )
    return Summary(check.text, prompt.id, flags)
