"""The digest of the legal watch: the journal's changes, read for a town hall.

What concerns a town hall first (`town_hall.py`: communes, état civil, elections, public
agents, urbanism, rural matters…), then the rest; each part grouped by code then section,
one line per change saying what it is (« Nouvel article R5311-3-12, en vigueur le
27/03/2026 : « … » »), the amending text, then the word-level diff with long unchanged
stretches elided; with a model, a summary it wrote from the changes in that order opens the
digest. Markdown, HTML (every value escaped) or JSON. With a commune, the digest ends on
the aids closing soon for it (same digest: legal watch and grant deadlines).
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from assistant.veille.headlines import headline
from assistant.veille.profiles import ProfileStore, VeilleProfile
from assistant.veille.town_hall import LEAD, REST, TITLE, matter, place
from ingestion.journal import Change, ChangeJournal, DiffOp
from ingestion.legi import listed_codes
from plume.errors import InvalidWatchRequest, UnknownFilterValue, shown

if TYPE_CHECKING:
    from assistant.aides.listing import Deadlines
    from assistant.llm.generator import Generator
    from assistant.veille.summary import Summary

Format = Literal["md", "html", "json"]
FORMATS: tuple[Format, ...] = ("md", "html", "json")
_CONTEXT = 6  # words kept on each side of a change
_MAX_OPS = 12  # changed stretches shown per article; the journal keeps them all
_MAX_WORDS = 60  # words shown of one changed stretch
NOTHING = "Aucun changement relevé sur la période."


def _shortened(ops: Iterable[DiffOp]) -> list[DiffOp]:
    """Unchanged stretches cut to a few words around the changes."""
    ops = list(ops)
    out: list[DiffOp] = []
    for i, (op, words) in enumerate(ops):
        if len(out) >= _MAX_OPS:
            out.append(("=", "…"))
            break
        parts = words.split()
        if op != "=" and len(parts) > _MAX_WORDS:
            words = " ".join(parts[:_MAX_WORDS]) + " …"
        if op == "=" and len(parts) > 2 * _CONTEXT:
            head = " ".join(parts[:_CONTEXT]) if i > 0 else ""
            tail = " ".join(parts[-_CONTEXT:]) if i < len(ops) - 1 else ""
            words = " … ".join(p for p in (head, tail) if p) if head or tail else "…"
            if i == 0:
                words = "… " + words
            elif i == len(ops) - 1:
                words += " …"
        out.append((op, words))
    return out


def compact_diff(ops: Iterable[DiffOp]) -> str:
    """The diff as one line: `[-removed-]{+added+}` around the kept words."""
    marks = {"=": "{}", "-": "[-{}-]", "+": "{{+{}+}}"}
    return " ".join(marks[op].format(words) for op, words in _shortened(ops))


Groups = dict[str, dict[str, list[Change]]]  # code → section → changes


def _grouped(changes: list[Change]) -> Groups:
    groups: Groups = {}
    for change in changes:
        code = f"{change.code_title} ({change.code_id})"
        groups.setdefault(code, {}).setdefault(change.section or "Sans section", []).append(change)
    return groups


def _parts(changes: list[Change]) -> list[tuple[str, Groups]]:
    """What concerns a town hall, by its matter's place, then the rest (a part with no
    change left out), each grouped by code then section."""
    placed = [(p, c) for c in changes if (p := place(c)) is not None]
    first = [c for _, c in sorted(placed, key=lambda pc: pc[0])]  # stable: same place, same order
    rest = [c for c in changes if place(c) is None]
    return [(title, _grouped(part)) for title, part in ((TITLE, first), (REST, rest)) if part]


def _title(since: date, count: int) -> str:
    return f"Veille juridique depuis le {since.strftime('%d/%m/%Y')} : {count} changement(s)"


def ordered(changes: list[Change]) -> list[Change]:
    """The changes in the digest's order — what concerns a town hall first, then the rest,
    each by code then section: [n] numbers them, and the model's summary reads them so."""
    return [
        c
        for _, groups in _parts(changes)
        for sections in groups.values()
        for items in sections.values()
        for c in items
    ]


def _markdown(
    changes: list[Change],
    since: date,
    summary: Summary | None,
    deadlines: Deadlines | None,
    empty: str,
) -> str:
    lines = [f"# {_title(since, len(changes))}", ""]
    if summary is not None:
        lines += ["## Ce qui change pour la commune (synthèse rédigée par le modèle)", ""]
        lines += [summary.text, ""]
    n = 0
    for part, groups in _parts(changes):
        lines += [f"## {part}", ""] + ([f"_{LEAD}_", ""] if part == TITLE else [])
        for code, sections in groups.items():
            lines += [f"### {code}", ""]
            for section, items in sections.items():
                lines += [f"#### {section}", ""]
                for c in items:
                    n += 1
                    lines.append(f"- [{n}] {headline(c)}")
                    if c.amended_by:
                        lines.append(f"  - Texte : {'; '.join(c.amended_by)}")
                    if c.diff:
                        lines.append(f"  - Modification : {compact_diff(c.diff)}")
                lines.append("")
    if not changes:
        lines += [empty, ""]
    if deadlines is not None:
        lines += [f"## {deadlines.title}", "", *deadlines.lines()]
    return "\n".join(lines).rstrip() + "\n"


def _html_diff(ops: Iterable[DiffOp]) -> str:
    tags = {"=": "{}", "-": "<del>{}</del>", "+": "<ins>{}</ins>"}
    return " ".join(tags[op].format(html.escape(words)) for op, words in _shortened(ops))


def _html(
    changes: list[Change],
    since: date,
    summary: Summary | None,
    deadlines: Deadlines | None,
    empty: str,
) -> str:
    e = html.escape
    out = [f"<h1>{e(_title(since, len(changes)))}</h1>"]
    if summary is not None:
        out.append("<h2>Ce qui change pour la commune (synthèse rédigée par le modèle)</h2>")
        out += [f"<p>{e(line)}</p>" for line in summary.text.splitlines() if line.strip()]
    n = 0
    for part, groups in _parts(changes):
        out.append(f"<h2>{e(part)}</h2>")
        if part == TITLE:
            out.append(f"<p><em>{e(LEAD)}</em></p>")
        for code, sections in groups.items():
            out.append(f"<h3>{e(code)}</h3>")
            for section, items in sections.items():
                out += [f"<h4>{e(section)}</h4>", "<ul>"]
                for c in items:
                    n += 1
                    item = f"<li><p>[{n}] {e(headline(c))}</p>"
                    if c.amended_by:
                        item += f"<p>Texte : {e('; '.join(c.amended_by))}</p>"
                    if c.diff:
                        item += f"<p>Modification : {_html_diff(c.diff)}</p>"
                    out.append(item + "</li>")
                out.append("</ul>")
    if not changes:
        out.append(f"<p>{e(empty)}</p>")
    if deadlines is not None:
        out += [f"<h2>{e(deadlines.title)}</h2>", "<ul>"]
        out += [f"<li>{e(line.strip().removeprefix('- '))}</li>" for line in deadlines.lines()]
        out.append("</ul>")
    return "\n".join(out) + "\n"


def _json(
    changes: list[Change],
    since: date,
    summary: Summary | None,
    deadlines: Deadlines | None,
    empty: str,
) -> str:
    rows = [
        {"n": n, **c.as_dict(), "headline": headline(c), "town_hall": matter(c)}
        for n, c in enumerate(changes, 1)
    ]
    body: dict[str, object] = {"since": since.isoformat(), "changes": rows}
    if not rows:
        body["message"] = empty
    if summary is not None:
        body["summary"] = {
            "text": summary.text,
            "prompt_version": summary.prompt_version,
            "flags": list(summary.flags),
        }
    if deadlines is not None:
        body["deadlines"] = deadlines.as_dict()
    return json.dumps(body, ensure_ascii=False, indent=2)


def digest(
    changes: list[Change],
    since: date,
    fmt: Format = "md",
    profile: VeilleProfile | None = None,
    llm: Generator | None = None,
    deadlines: Deadlines | None = None,
    empty: str = NOTHING,
) -> str:
    """The digest of `changes` since `since`, as Markdown, HTML or JSON; of a profile's only.
    With a model, it opens on a summary the model wrote from the numbered changes. `empty`:
    what it says when there is none."""
    if profile is not None:
        changes = [c for c in changes if profile.matches(c)]
    changes = ordered(changes)
    summary = None
    if llm is not None:
        from assistant.veille.summary import summarize

        summary = summarize(changes, since, llm)
    render = {"md": _markdown, "html": _html, "json": _json}[fmt]
    return render(changes, since, summary, deadlines, empty)


# --- the use case, shared by the CLI and the API ----------------------------------------------


def parse_since(text: str, today: date | None = None) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidWatchRequest(
            f"Date invalide « {shown(text)} » : attendu AAAA-MM-JJ (par exemple 2026-03-01)."
        ) from None
    if day > (today or date.today()):
        raise InvalidWatchRequest(
            f"La date « {text} » est dans le futur : la veille porte sur des changements passés."
        )
    return day


def parse_format(text: str) -> Format:
    if text not in FORMATS:
        raise InvalidWatchRequest(f"Format inconnu « {shown(text)} » : md, html ou json.")
    return text


def known_codes(journal: ChangeJournal, corpus_dir: Path) -> dict[str, str]:
    """The codes one may ask about: those of corpus/legi.toml and those in the journal."""
    return {**listed_codes(corpus_dir), **journal.codes()}


def veille_digest(
    data_dir: Path,
    corpus_dir: Path,
    since: str,
    codes: list[str] | None,
    fmt: str,
    profile: str | None = None,
    llm: Generator | None = None,
    deadlines: Deadlines | None = None,
) -> str:
    """Validate the request, read the journal, render the digest (of a profile, if named)."""
    day, form = parse_since(since), parse_format(fmt)
    followed = ProfileStore(data_dir).get(profile) if profile else None
    journal = ChangeJournal(data_dir)
    known = known_codes(journal, corpus_dir)
    unknown = [c for c in codes or [] if c not in known]
    if unknown:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(known.items()))
        raise UnknownFilterValue(f"Code inconnu : {', '.join(unknown)}. Codes connus : {listed}.")
    wanted = set(codes) if codes else None
    changes = journal.read(day, wanted)
    empty = NOTHING if changes else f"{NOTHING} {_coverage(journal, wanted)}"
    return digest(changes, day, form, followed, llm, deadlines, empty)


def _coverage(journal: ChangeJournal, codes: set[str] | None) -> str:
    """Why nothing came: the journal is empty, or holds only changes older than asked."""
    dates = [c.effective for c in journal.read(None, codes) if c.effective]
    if not dates:
        return (
            "Le journal des modifications est vide : il se remplit quand les codes sont "
            "indexés (plume ingest legi) ou avec plume veille journal."
        )
    latest = date.fromisoformat(max(dates)).strftime("%d/%m/%Y")
    return (
        f"Le changement le plus récent que le journal connaît est en vigueur le {latest} : "
        "choisissez une date antérieure."
    )
