"""What in the legal watch concerns a town hall: the digest lists it first, then the rest.

A change concerns a town hall when the title of its code, or else the path of sections
above its article (« Partie > Livre > Titre > … »), names one of the matters below — case
and accents aside, where a word begins (« maire » finds « maires », not « primaire »).

The town hall's part is in this order: first the codes a town hall applies as a whole,
named by their title (the CGCT, the CRPA, the Code électoral, the Code de l'urbanisme), in
the order of the matters; then, in the other codes, the sections that name a matter
(« Des actes de l'état civil » in the Code civil, « Chemins ruraux » in the Code rural),
in the same order. No score: a change is in or out, and its place is its matter's. Within
one matter, and in the rest, the changes keep their order (by code, then section).
"""

from __future__ import annotations

import re
from functools import lru_cache

from ingestion.journal import Change
from plume.text import fold_accents

# matter → words, folded (lower case, no accents); the order is the digest's
MATTERS: dict[str, tuple[str, ...]] = {
    "communes": (
        "collectivites territoriales",
        "collectivites locales",
        "la commune",  # not « dispositions communes »
        "les communes",
        "des communes",
        "aux communes",
        "communal",
        "communaux",
        "intercommunal",
        "municipal",
        "municipaux",
        "maire",
        "mairie",
    ),
    "relations avec le public": ("relations entre le public",),  # the CRPA
    "état civil": ("etat civil", "celebration du mariage", "du pacte civil de solidarite"),
    "élections": ("code electoral", "elections municipales"),
    "agents publics": ("fonction publique", "agents publics"),
    "urbanisme": ("urbanisme", "permis de construire"),
    "espace rural": (
        "chemins ruraux",
        "amenagement foncier",
        "garde des animaux",
        "animaux errants",
    ),
    "cimetières": ("cimetiere", "operations funeraires", "sepulture"),
}
TITLE = "Pour la mairie"
LEAD = "Communes, état civil, élections, agents publics, urbanisme, espace rural, cimetières."
REST = "Autres changements"

_PATTERNS = [
    re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + ")")
    for words in MATTERS.values()
]
_NAMES = list(MATTERS)


@lru_cache(maxsize=4096)  # a digest repeats its codes' titles and sections
def _matter(text: str) -> int | None:
    folded = " ".join(fold_accents(text).casefold().split())
    return next((i for i, pattern in enumerate(_PATTERNS) if pattern.search(folded)), None)


def place(change: Change) -> int | None:
    """The change's place in the town hall's part (smaller first), None if not there: its
    code's title's matter, else (after every code named by its title) its sections'."""
    by_title = _matter(change.code_title)
    if by_title is not None:
        return by_title
    by_section = _matter(change.section)
    return None if by_section is None else len(MATTERS) + by_section


def matter(change: Change) -> str | None:
    """The town hall's matter the change concerns (« communes », « état civil »…), if any."""
    found = place(change)
    return None if found is None else _NAMES[found % len(MATTERS)]
