"""Fiche → law links: the legal basis a service-public fiche cites, as article ranges.

A fiche's `Reference` elements name the law it rests on, e.g. « Code général des
collectivités territoriales : articles L2223-13 à L2223-18 », with a Légifrance URL that
often carries the code's LEGITEXT id (`cidTexte=`). Each reference to a code becomes a
`LawLink` (code, first article, last article of a range), stored in the fiche's chunks
as a short spec (`LEGITEXT000006070633/L2223-13..L2223-18`). Ranges are resolved against
the article numbers of the code actually indexed (`resolve`), so a link never names an
article that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ingestion.fiches import Reference
from plume.text import fold_accents

# Codes by their name as fiches (and secretaries) write it, folded and lowercased.
CODE_NAMES: dict[str, str] = {
    "code general des collectivites territoriales": "LEGITEXT000006070633",
    "cgct": "LEGITEXT000006070633",
    "code electoral": "LEGITEXT000006070239",
    "code des relations entre le public et l'administration": "LEGITEXT000031366350",
    "crpa": "LEGITEXT000031366350",
    "code du travail": "LEGITEXT000006072050",
    "code de la securite sociale": "LEGITEXT000006073189",
    "code rural et de la peche maritime": "LEGITEXT000022197698",
    "code rural": "LEGITEXT000022197698",
    "code civil": "LEGITEXT000006070721",
    "code de l'urbanisme": "LEGITEXT000006074075",
    "code de la route": "LEGITEXT000006074228",
    "code penal": "LEGITEXT000006070719",
    "code de procedure penale": "LEGITEXT000006071154",
    "code de la sante publique": "LEGITEXT000006072665",
    "code de l'action sociale et des familles": "LEGITEXT000006074069",
    "code de l'education": "LEGITEXT000006071191",
    "code general des impots": "LEGITEXT000006069577",
    "code de la consommation": "LEGITEXT000006069565",
    "code de l'environnement": "LEGITEXT000006074220",
    "code de la securite interieure": "LEGITEXT000025503132",
    "code de la commande publique": "LEGITEXT000037701019",
    "code general de la propriete des personnes publiques": "LEGITEXT000006070299",
    "code de justice administrative": "LEGITEXT000006070933",
    "code monetaire et financier": "LEGITEXT000006072026",
    "code de commerce": "LEGITEXT000005634379",
    "code de procedure civile": "LEGITEXT000006070716",
    "code general de la fonction publique": "LEGITEXT000044416551",
}
MAX_RANGE = 40  # a wider range is a whole chapter, not a legal basis worth linking
SUB_ARTICLES = 3  # inserted articles taken in a range: L2223-13-1 … L2223-13-3

_CID = re.compile(r"cidTexte=(LEGITEXT\d{12})")
_LATIN = r"bis|ter|quater|quinquies|sexies|septies|octies|nonies|\w*decies|[A-Z]"
_NUM = rf"(?:[LRDA]\*?\s?\.?\s?)?\d+(?:-\d+)*(?:\s(?:{_LATIN})\b)?"
_RANGE = re.compile(rf"({_NUM})\s*(?:(à|au)\s*({_NUM}))?")
_NUM_PARTS = re.compile(r"([A-Z]*)(\d+(?:-\d+)*)(.*)")


def code_id(name: str) -> str | None:
    """The LEGITEXT id of a code named in French, or None if unknown."""
    folded = re.sub(r"\s+", " ", fold_accents(name).lower().replace("’", "'")).strip()
    return CODE_NAMES.get(folded)


def normalize_number(raw: str) -> str:
    """« L. 2121-17 » → « L2121-17 », « R* 41 » → « R41 », « 199 sexdecies » kept."""
    raw = raw.replace("*", "").strip()
    head = re.match(r"([LRDA])\s?\.?\s?(?=\d)", raw)
    return (head.group(1) + raw[head.end() :] if head else raw).strip()


@dataclass(frozen=True)
class LawLink:
    """An article, or a range of articles (`last`), of one code."""

    code_id: str
    first: str
    last: str | None = None

    @property
    def spec(self) -> str:
        tail = f"..{self.last}" if self.last else ""
        return f"{self.code_id}/{self.first}{tail}"

    @classmethod
    def from_spec(cls, spec: str) -> LawLink:
        code, _, numbers = spec.partition("/")
        first, _, last = numbers.partition("..")
        return cls(code, first, last or None)


def links_of(reference: Reference) -> list[LawLink]:
    """The articles one `Reference` cites; [] for a text that is not a known code."""
    name, sep, articles = reference.title.partition(":")
    if not sep:
        return []
    found = _CID.search(reference.url)
    code = found.group(1) if found else code_id(name)
    if code is None or not re.search(r"(?i)\barticles?\b", articles):
        return []
    links = []
    for match in _RANGE.finditer(articles):
        first = normalize_number(match.group(1))
        last = normalize_number(match.group(3)) if match.group(3) else None
        links.append(LawLink(code, first, last if last != first else None))
    return links


def fiche_links(references: Iterable[Reference]) -> list[LawLink]:
    """Every article link of a fiche's references, in order, without repeats."""
    return list(dict.fromkeys(link for r in references for link in links_of(r)))


def _parts(number: str) -> tuple[str, list[int]] | None:
    match = _NUM_PARTS.fullmatch(number)
    if not match or match.group(3):
        return None  # « 199 sexdecies », « L2 A »: not enumerable, taken as written
    return match.group(1), [int(d) for d in match.group(2).split("-")]


def article_ids(link: LawLink) -> list[str]:
    """Doc ids (`legi/<code>/<number>`) an article link may name.

    A range is enumerated on the first numeric part where its bounds differ, with the
    inserted articles of each number (« L9 à L15-1 » → L9, L9-1, … L15, L15-1;
    « L2223-13 à L2223-18 » → L2223-13, L2223-13-1, … L2223-18): numbers that no indexed
    article bears are harmless, search filters on the ids that exist. A range that is not
    enumerable (two prefixes, a suffix such as « bis », too wide) gives its bounds."""
    bounds = [link.first] if link.last is None else [link.first, link.last]
    first, last = _parts(link.first), _parts(link.last) if link.last else None
    if not (first and last and first[0] == last[0]):
        return [f"legi/{link.code_id}/{n}" for n in bounds]
    prefix, low, high = first[0], first[1], last[1]
    depth = next((i for i, (a, b) in enumerate(zip(low, high, strict=False)) if a != b), None)
    if depth is None or not 0 < high[depth] - low[depth] <= MAX_RANGE:
        return [f"legi/{link.code_id}/{n}" for n in bounds]
    numbers = []
    for n in range(low[depth], high[depth] + 1):
        base = [*low[:depth], n]
        for parts in [base, *([*base, sub] for sub in range(1, SUB_ARTICLES + 1))]:
            if low <= parts <= high:
                numbers.append(prefix + "-".join(map(str, parts)))
    return [f"legi/{link.code_id}/{n}" for n in numbers]


def law_ids(links: Iterable[LawLink]) -> list[str]:
    """Every doc id the links may name, in order, without repeats."""
    return list(dict.fromkeys(i for link in links for i in article_ids(link)))
