"""Section titles rebuilt from LexHub's folder slugs, their accents and elisions taken from
the codes' own words."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from plume.text import fold_accents

# --- section titles ---------------------------------------------------------------------------

_WORD = re.compile(r"[a-zà-öø-ÿœæ]+", re.IGNORECASE)
_KIND = ("sous-paragraphe", "paragraphe", "sous-section", "section", "chapitre", "titre", "livre")
_ROMAN = re.compile(r"^(?:[ivxlc]+|ier|ire|ere|er|[0-9]+|[a-z])$")
_QUALIFIERS = {"bis", "ter", "quater", "quinquies", "sexies", "septies", "octies", "preliminaire"}
_ELIDED = ("l", "d", "qu", "lorsqu", "jusqu", "n", "s")
_SMALL = {"ier": "Ier", "ire": "Ire", "er": "er"}
# Words of the codes' structure, always spelt so (the articles' words give the others)
_STRUCTURE = (
    "législative réglementaire première deuxième troisième quatrième cinquième sixième "
    "septième huitième neuvième dixième préliminaire générales générale généraux général "
    "État collectivités intérêt matière électorale élection élections élus"
)


class SectionTitles:
    """Slugs → readable titles: `titre-ii-organes-de-la-commune` → « Titre II : Organes de la
    commune ». Accents and apostrophes come back from the codes' own words (the most
    frequent spelling of each folded word); a word never seen stays as it is."""

    def __init__(self, texts: Iterable[str]):
        seen: Counter[str] = Counter()
        for text in texts:
            seen.update(_WORD.findall(text.lower()))
        counts: dict[str, Counter[str]] = {}
        for word, n in seen.items():  # each spelling folded once
            counts.setdefault(fold_accents(word), Counter())[word] += n
        self.words = {k: c.most_common(1)[0][0] for k, c in counts.items()}
        self.words |= {fold_accents(w).lower(): w.lower() for w in _STRUCTURE.split()}
        self._cache: dict[str, str] = {}

    def word(self, slug_word: str) -> str:
        if slug_word in self.words:
            return self.words[slug_word]
        for elided in _ELIDED:  # « lurbanisme » → « l'urbanisme »
            rest = slug_word[len(elided) :]
            if slug_word.startswith(elided) and len(rest) > 2 and rest in self.words:
                return f"{elided}'{self.words[rest]}"
        return slug_word

    def title(self, slug: str) -> str:
        if slug not in self._cache:
            self._cache[slug] = self._title(slug)
        return self._cache[slug]

    def _title(self, slug: str) -> str:
        words = slug.split("-")
        head: list[str] = []
        kind = next((k for k in _KIND if slug.startswith(f"{k}-")), None)
        if kind is not None:
            words = words[len(kind.split("-")) :]
            head = [kind.capitalize()]
            while words and (_ROMAN.match(words[0]) or words[0] in _QUALIFIERS):
                token = words.pop(0)
                if token in _QUALIFIERS:
                    head.append(self.word(token))
                else:
                    head.append(_SMALL.get(token, token.upper()))
        elif (words and words[-1] == "partie") or (len(words) > 1 and words[1] == "partie"):
            cut = words.index("partie") + 1
            head = [" ".join(self.word(w) for w in words[:cut]).capitalize()]
            words = words[cut:]
        rest = " ".join(self.word(w) for w in words)
        if not head:
            return rest[:1].upper() + rest[1:]
        if not rest:
            return " ".join(head)
        return f"{' '.join(head)} : {rest[:1].upper()}{rest[1:]}"
