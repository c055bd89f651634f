"""A commune's meetings, as its documents and the questions name them.

- `meeting_date`: the day a document is of — in its title (« 20210519 - compte rendu 19 Mai
  2021 », « CR_reunion_20210129 », « 2014-05-22-0000072116 ») or its text (« Séance du … »);
  `of_the_day`: the documents of a day, by their titles.
- `describe`: what a document is, for an answer's introduction or the model's sources —
  « compte rendu du conseil municipal du 19 mai 2021, chargé le 7 décembre 2026 ».
- `meeting_days`: the meetings a question names by their day (« le conseil municipal du 19
  mai 2021 », not « le déficit au 1er janvier 2021 »); `asks_decision`: whether it asks what
  was decided (« qu'a décidé… », « quels prix le conseil a-t-il fixés… »), not the law
  (« si on vote le pacte… », « la délibération est-elle exécutoire ? »).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date

from plume.documents import MONTHS as FRENCH_MONTHS
from plume.documents import french_date
from plume.text import fold_accents

Day = tuple[int, int, int | None]  # (day, month, year or None)

MONTHS = tuple(fold_accents(m) for m in FRENCH_MONTHS)  # folded: « fevrier », « aout »
_SHORT_MONTHS = {"janv": 1, "fev": 2, "fevr": 2, "avr": 4, "juil": 7, "sept": 9, "oct": 10}
_SHORT_MONTHS |= {"nov": 11, "dec": 12}
MONTH = "|".join([*MONTHS, *_SHORT_MONTHS])
WEEKDAY = r"(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)"
# « 19 mai 2021 », « 24 sept 21 », « 15 octobre »; « 20210519 », « 2014-05-22 »; « 07 10 2022 »
WORDS_DATE = re.compile(rf"\b(1er|\d{{1,2}}) ({MONTH})\.?(?: (\d{{4}}|\d{{2}})\b)?")
_ISO_DATE = re.compile(
    r"(?<!\d)((?:19|20)\d{2})[-_ ]?(0[1-9]|1[0-2])[-_ ]?(0[1-9]|[12]\d|3[01])(?!\d)"
)
_DMY_DATE = re.compile(
    r"(?<!\d)(0?[1-9]|[12]\d|3[01])[/ ._-](0?[1-9]|1[0-2])[/ ._-]((?:19|20)\d{2})(?!\d)"
)


def fold(text: str) -> str:
    """Lower case, no accents, punctuation as spaces (« ° » and « / » kept)."""
    text = fold_accents(text.replace("’", "'")).lower()
    return " ".join(re.sub(r"[^\w°/]+", " ", text).split())


_ASKED_DONE = (
    r"(?:decidee?s?|votee?s?|adoptee?s?|approuvee?s?|fixee?s?|designee?s?|elue?s?|nommee?s?"
    r"|accordee?s?|attribuee?s?|autorisee?s?|acceptee?s?|refusee?s?|retenue?s?|prise?s?"
    r"|delibere)"
)
# what was decided, not the law (« si on vote le pacte… », « la délibération est-elle
# exécutoire ? »): a decision taken, in the past, or the decisions asked for by name
_ASKS_DECISION = re.compile(
    rf"\bqu (?:a|ont|avait|avaient) (?:t (?:il|elle|on) )?{_ASKED_DONE}\b"
    rf"|\b(?:a|ont|avait|avaient) (?:t (?:il|elle|ils|elles|on) )?(?:ete )?{_ASKED_DONE}\b"
    r"|\bquel(?:le)?s? (?:decisions?|deliberations?|delibs?|votes?)\b"
    r"|\bdecisions? (?:du|de la|de l|prises?)\b|\bqu est ce qui (?:a|ont) ete\b"
)


def asks_decision(question: str) -> bool:
    """Whether a question asks what a council decided: « qu'a décidé… », « quels prix le
    conseil a-t-il fixés… », « quelle délibération… », « décisions du conseil… »."""
    return bool(_ASKS_DECISION.search(fold(question)))


# what a question says of the meeting rather than of what it decided: the council, its
# decision, its day, and the words that ask
_MEETING_WORDS = re.compile(
    r"\b(?:conseils?|municipale?s?|cm|communes?|mairie|ville|seances?|reunions?|elus|decid\w*"
    r"|decisions?|vot\w*|delib\w*|adopt\w*|approuv\w*|fix\w*|design\w*|nomme\w*|elue?s?"
    r"|attribu\w*|accord\w*|autoris\w*|retenu\w*|pris|prises?|ete|qu|que|quoi"
    r"|quel\w*|est|ce|cette|a|ont|avait|t|il|elle|ils|elles|on|le|la|les|l|du|de|des|d|en"
    rf"|au|aux|pour|sur|lors|notre|nos|votre|vos|{MONTH}|{WEEKDAY}|1er|\d+)\b"
)


def subject_of(question: str) -> str:
    """A question's words on what was decided, without those naming the meeting: none in
    « qu'a décidé le conseil municipal du 19 mai 2021 ? », « taux taxe habitation foncier
    bâti montpellier » in « quels taux … le conseil de Montpellier a-t-il votés pour 2014 ? »."""
    return " ".join(_MEETING_WORDS.sub(" ", fold(question)).split())


_KINDS = (
    (re.compile(r"\bproces verbal\b|\bpv\b"), "procès-verbal du conseil municipal"),
    (
        re.compile(r"\bcompte rendu\b|\bc r\b|\bcr\b|\bcompte-rendu\b"),
        "compte rendu du conseil municipal",
    ),
    (re.compile(r"\bliste des deliberations\b"), "liste des délibérations du conseil municipal"),
    (
        re.compile(r"\bregistre des deliberations\b|\bdeliberations?\b|\bdelib\b"),
        "délibération du conseil municipal",
    ),
    (re.compile(r"\barrete prefectoral\b|\bprefet\b"), "arrêté préfectoral"),
    (re.compile(r"\barrete\b"), "arrêté"),
    (re.compile(r"\bnote de synthese\b"), "note de synthèse"),
)


def _year(text: str | None) -> int | None:
    if not text:
        return None
    year = int(text)
    return year + 2000 if year < 100 else year


def dates_in(text: str) -> list[Day]:
    """The days a text names, as (day, month, year or None), in their order."""
    folded = fold(text.replace("-", " ").replace("_", " ")) if text else ""
    found: list[tuple[int, Day]] = []
    for m in WORDS_DATE.finditer(folded):
        month = MONTHS.index(m[2]) + 1 if m[2] in MONTHS else _SHORT_MONTHS[m[2]]
        day = 1 if m[1] == "1er" else int(m[1])
        found.append((m.start(), (day, month, _year(m[3]))))
    for m in _ISO_DATE.finditer(text or ""):
        found.append((m.start(), (int(m[3]), int(m[2]), int(m[1]))))
    for m in _DMY_DATE.finditer(text or ""):
        found.append((m.start(), (int(m[1]), int(m[2]), int(m[3]))))
    return [d for _, d in sorted(found) if _valid(d)]


def _valid(d: Day) -> bool:
    try:
        date(d[2] or 2000, d[1], d[0])
    except ValueError:
        return False
    return True


def same_day(a: Day, b: Day) -> bool:
    """The same day, a missing year matching any."""
    return a[:2] == b[:2] and (a[2] is None or b[2] is None or a[2] == b[2])


_MONTH_NAMES = (
    *("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août"),
    *("septembre", "octobre", "novembre", "décembre"),
)


def _spoken(d: Day) -> str:
    day = "1er" if d[0] == 1 else str(d[0])
    return f"{day} {_MONTH_NAMES[d[1] - 1]}{f' {d[2]}' if d[2] else ''}"


_MEETING = re.compile(
    rf"\b(?:seance(?: publique)?|conseil municipal|reunion) (?:du|le) (?:{WEEKDAY} )?"
    rf"(?:1er|\d{{1,2}}) (?:{MONTH})(?: \d{{4}})?"
)


def meeting_date(title: str, texts: Iterable[str] = ()) -> Day | None:
    """The day a document is of: named in its title, or by its text (« Séance du … »)."""
    found = dates_in(title)
    if found:
        return found[0]
    for text in texts:
        m = _MEETING.search(fold(text))
        if m:
            days = dates_in(m[0])
            if days:
                return days[0]
    return None


_MEETING_NAMED = re.compile(
    r"\b(?:conseil(?: municipal)?|cm|seance(?: publique)?|reunion|compte rendu|proces verbal|pv"
    rf"|{_ASKED_DONE})(?: de \w+(?: \w+){{0,2}}?)? (?:du|de|d|le|en date du|lors de la seance du) "
)
_DAY_FIRST = re.compile(rf"^(?:{WEEKDAY} )?(?:1er|\d{{1,2}})(?: |/)")


def meeting_days(question: str) -> list[Day]:
    """The days of the meetings a question names — « le conseil municipal du 19 mai 2021 »,
    « qu'a décidé le conseil le 24 février 2023 », « la séance du 24/02/2023 » — not its other
    dates (« le déficit au 1er janvier 2021 »)."""
    folded = fold(question)
    days: list[Day] = []
    for m in _MEETING_NAMED.finditer(folded):
        tail = folded[m.end() : m.end() + 40]
        if _DAY_FIRST.match(tail):
            days += dates_in(tail)[:1]
    return days


def of_the_day(days: list[Day], titles: Mapping[str, str]) -> list[str]:
    """The documents (doc id → title) of a meeting on one of `days`, by their titles."""
    return [
        doc_id
        for doc_id, title in titles.items()
        if (day := meeting_date(title)) is not None and any(same_day(day, d) for d in days)
    ]


def kind_of(title: str, texts: Iterable[str] = ()) -> str | None:
    """« compte rendu du conseil municipal », « délibération du conseil municipal »… or None."""
    for text in (title, *texts):
        folded = fold(text)
        for pattern, label in _KINDS:
            if pattern.search(folded):
                return label
    return None


def describe(title: str, uploaded: str | None, texts: Iterable[str] = ()) -> str:
    """« compte rendu du conseil municipal du 19 mai 2021, chargé le 7 décembre 2026 »;
    « « Budget » , chargé le … » when neither its kind nor its day is known."""
    texts = list(texts)
    kind, day = kind_of(title, texts), meeting_date(title, texts)
    if kind and day:
        what = f"{kind} du {_spoken(day)}"
    elif kind:
        what = f"{kind} « {title} »"
    elif day:
        what = f"document « {title} » du {_spoken(day)}"
    else:
        what = f"« {title} »"
    return f"{what}, chargé le {french_date(uploaded)}" if uploaded else what
