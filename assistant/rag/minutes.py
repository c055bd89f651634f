"""A commune's own documents (payload kind `document`): which of their lines are worth
quoting, and which carry a decision (what each document is: assistant.rag.meetings).

A council's minutes are not written like a fiche or an article: a letterhead, the list of
those present, the agenda's titles, dates alone on their line, then each item — its title,
what the mayor presents, and its outcome, often alone (« Vote : à l'unanimité »,
« ADOPTÉ 9 voix pour, 5 abstentions. »). Read as plain sentences, the lines that share the
question's words are the headings (« Séance du 19 mai 2021 »), and an outcome says nothing
of what was adopted. So, for these documents:

- `units`: the lines reflowed (a line that starts in lower case continues the one before),
  the headings — short lines without a sentence's end, dates alone, the letterhead, page
  numbers — never a unit of their own; an outcome alone is joined to the title of its item
  (« RPQS Eau potable — Exercice 2020 — Vote : à l'unanimité »), or to the sentence before
  it, and dropped when it has neither; a line that opens a list keeps its items.
- `decision`: whether a unit carries a decision (« décide », « approuve », « adopte »,
  « autorise », « à l'unanimité », « voté », « désigne », « fixe », « est proclamé élu »…).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assistant.rag.meetings import WEEKDAY, WORDS_DATE, fold
from plume.text import split_sentences

# --- what a line is ----------------------------------------------------------------------------
_DONE = (
    r"(?:vote|votee?s?|adopte|adoptee?s?|approuve|approuvee?s?|decide|decidee?s?|fixe|fixee?s?"
    r"|designe|designee?s?|nommee?s?|elue?s?|valide|validee?s?|accepte|acceptee?s?|autorise"
    r"|autorisee?s?|attribue|attribuee?s?|rejete|rejetee?s?|refuse|refusee?s?|proclamee?s?"
    r"|prise?s?|reconduite?s?|renouvelee?s?|accordee?s?)"
)
_OUTCOME = r"(?:votee?s?|adoptee?s?|approuvee?s?|acceptee?s?|validee?s?|rejetee?s?|refusee?s?)"
_ACTS = (
    r"(?:decide|approuve|approbation|adopte|autorise|designe|fixe|accepte|valide|vote"
    r"|attribue|accorde|refuse|rejette|emet|donne son accord|prend acte|elit|charge|sollicite)"
)
_DECISION = re.compile(
    # « a été voté », « est validé », « il est proclamé élu », « sont adoptés »
    rf"\b(?:est|sont|a ete|ont ete|a|ont|ayant) (?:\w+ )?{_DONE}\b"
    # « le conseil décide », « le Conseil Adopte », « le conseil municipal, à l'unanimité, fixe »
    rf"|\b(?:le conseil|l assemblee)(?: \w+){{0,5}} {_ACTS}\b"
    # a numbered decision or an outcome: « 2° - autorise », « Vote : à l'unanimité »
    rf"|^(?:\d+ ?° ?|[ivx]+ |\d+ )?{_ACTS}\b|^{_OUTCOME}\b"
    r"|\ba l unanimite\b|\bunanimite\b|\b\d+ voix\b|\b\d+ abstentions?\b"
    r"|\b\d+ votes? (?:pour|contre)\b"
    r"|\bemet un avis\b|\bprend acte\b"
)
# not the council's decision: « pas de vote », « le maire informe que… », « il est proposé de »
_NOT_DECISION = re.compile(
    r"\bpas de vote\b|\binformee?s? (?:les|le|la|l|que|qu)\b"
    r"|\b(?:il est |est )?propose\w* (?:au|de|d)\b"
)
# the procedure around an outcome, which says nothing of it
_FILLER = re.compile(
    r"personne ne prenant la parole,?|il est passe au vote,?|apres en avoir delibere,?"
    r"|le conseil municipal,?|le conseil,?",
)
_OUTCOME_WORDS = re.compile(
    r"\b(?:vote|votee?s?|adopte|adoptee?s?|approuvee?s?|accepte|acceptee?s?|valide|rejete"
    r"|rejetee?s?|refuse|a|l|la|le|unanimite|majorite|voix|pour|contre|abstentions?|par|et|avec"
    r"|sans|membres?|presents?|representes?|exprimes?|suffrages?|de|des|du|\d+)\b"
)
_BOILERPLATE = re.compile(
    r"^(?:republique francaise|departement d|nombre de membres|en exercice|qui ont pris part"
    r"|dont procuration|date de la convocation|date d affichage|objet\b|presents?\b|absents?\b"
    r"|absentes? excusee?s?|excusee?s?\b|procurations?\b|pouvoirs?\b|secretaire de seance"
    r"|pour extrait conforme|seance levee|recu le|prefecture|accuse de reception"
    r"|acte certifie|envoi prefecture|reception en prefecture|publiee? le|affichee? le"
    r"|l an (?:deux )?mille|ordre du jour|\d+ ?/ ?\d+$)"
    r"|regulierement convoque|s est reuni|sous la presidence de"
)
_NUMBERED = re.compile(r"^(?:[IVX]+|\d+ ?°|\d+ ?[.)/]|[A-Z] ?[.)/])(?:\s+|\s*[-–—.)]\s*)\S")
# a short line with one of these is a sentence that lost its full stop, not a title
_VERB = re.compile(
    r"\b(?:est|sont|a|ont|était|sera|seront|déclare|propose|présente|informe|demande|précise"
    r"|expose|soumet|rappelle|indique|invite|procède|prend|donne|peut|doit|va|fait|il|elle"
    r"|ils|elles|nous|on)\b"
)
_AMOUNT = re.compile(r"\d[\d  .,]*\s?(?:€|euros?\b|%)", re.IGNORECASE)
# a list's item: « - », « • »… or a Symbol font's bullet, read as a private-use or a
# control character
_LIST_ITEM = re.compile(r"^\s*(?:[-•+*▪◦➢►\ue000-\uf8ff\x00-\x08\x0e-\x1f]\s*)+")
_SENTENCE_END = re.compile(r"[.!?;…]$")
_NAME = re.compile(r"^[A-ZÀ-ÖØ-Þ][A-ZÀ-ÖØ-Þ'’-]+$")
MAX_TITLE_WORDS = 20  # a line without a sentence's end and at most this many words: a title


_VOTED = re.compile(r"\bunanimite\b|\b\d+ (?:voix|votes? (?:pour|contre))\b")


def decision(text: str) -> bool:
    """Whether a line carries a decision: not a proposal nor the mayor's news, unless its
    outcome follows (« Il propose d'en assurer le financement… — Vote : à l'unanimité »)."""
    folded = fold(text)
    if not _DECISION.search(folded):
        return False
    return not _NOT_DECISION.search(folded) or bool(_VOTED.search(folded))


def _date_only(folded: str) -> bool:
    rest = WORDS_DATE.sub(" ", folded)
    rest = re.sub(
        rf"\b(?:seance|publique|du|le|de|la|conseil|municipal|compte|rendu|reunion|{WEEKDAY}"
        r"|convoque|convocation|(?:19|20)\d{2}|a|\d+h\d*|\d+ ?h)\b",
        " ",
        rest,
    )
    return not rest.strip() and folded != rest


def _names(line: str) -> bool:
    """A list of people: words mostly in capitals, with commas or dashes between them."""
    words = re.findall(r"[^\s,–-]+", line)
    caps = sum(bool(_NAME.match(w)) and len(w) > 1 for w in words)
    return len(words) >= 4 and caps / len(words) >= 0.3 and bool(re.search(r"[,–-]", line))


def _title(line: str) -> bool:
    """An item's title: « II PADD. », « Rapport sur le Prix et la Qualité du Service public
    (RPQS) Eau Potable — Exercice 2020 » — short, without a sentence's end or a verb."""
    words = len(line.split())
    if _VERB.search(line.lower()) or _AMOUNT.search(line):
        return False  # a sentence without its full stop, or a figure (« Coop scolaire 400€ »)
    if _SENTENCE_END.search(line):
        return words <= 4 or (bool(_NUMBERED.match(line)) and words <= MAX_TITLE_WORDS)
    return words <= MAX_TITLE_WORDS


def _outcome_only(folded: str) -> bool:
    """An outcome that says nothing of its object: « Vote : à l'unanimité »."""
    if not decision(folded):
        return False
    rest = _OUTCOME_WORDS.sub(" ", _FILLER.sub(" ", folded))
    return len([w for w in rest.split() if len(w) > 2]) < 2


def _filler(folded: str) -> bool:
    return not _FILLER.sub(" ", folded).strip()


def _without_filler(line: str) -> str:
    """« Personne ne prenant la parole, il est passé au vote Vote : à l'unanimité » →
    « Vote : à l'unanimité »."""
    out = re.sub(
        r"^(?:Personne ne prenant la parole,?\s*)?(?:il est passé au vote,?\s*)?",
        "",
        line,
        flags=re.IGNORECASE,
    )
    return out.strip() or line


def _reflow(text: str) -> list[str | None]:
    """Lines, a line that starts in lower case joined to the one before it when that one
    does not end a sentence (a PDF's wrapped line); None for a line of the letterhead, the
    attendance or a page number, which nothing is joined across."""
    lines: list[str | None] = []
    for raw in text.split("\n"):
        line = " ".join(raw.split())
        if not line:
            continue
        folded = fold(line)
        if _BOILERPLATE.search(folded) or _names(line):
            lines.append(None)
        elif lines and lines[-1] and line[:1].islower() and not _SENTENCE_END.search(lines[-1]):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
    return lines


def _sentences(line: str) -> list[str]:
    """A line's sentences, a label kept with its value (« Taux de Taxe d'Habitation :
    22,49% »)."""
    out: list[str] = []
    for piece in split_sentences(line):
        if out and out[-1].endswith(":") and len(piece.split()) <= 3:
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


@dataclass(frozen=True)
class Unit:
    text: str
    decision: bool


def units(text: str) -> list[Unit]:
    """The units of a document's passage worth quoting, headings never alone (see above)."""
    out: list[Unit] = []
    title = ""  # the current item's title, until its outcome
    since_title = 0  # sentences since that title (or since the last outcome)
    item_start = 0  # where that title's item starts in `out`
    opener: list[str] = []  # a line that opens a list, with its items so far

    def close_list() -> None:
        if len(opener) > 1:
            joined = " ".join(opener)
            out.append(Unit(joined, decision(joined)))
        opener.clear()

    def outcome(sentence: str) -> None:
        """An outcome alone, joined to what it decides: its item's title, and the sentence
        before it when the title is far or missing."""
        said = out[-1] if since_title and not out[-1].decision else None
        if said is not None and (since_title > 1 or not title):
            out.pop()  # the sentence just before says what was voted
            out.append(
                Unit(" — ".join(x for x in (title.rstrip(" .:"), said.text, sentence) if x), True)
            )
        elif title:  # before the item's sentences, which often only repeat its title
            out.insert(item_start, Unit(f"{title.rstrip(' .:')} — {sentence}", True))

    for line in _reflow(text):
        if line is None or _BOILERPLATE.search(fold(line)):  # joined, it may be one now
            close_list()
            continue
        if _LIST_ITEM.match(line) and opener:
            item = _LIST_ITEM.sub("", line).strip()
            if item:
                opener.append(f"- {item}")
            continue
        close_list()
        line = _LIST_ITEM.sub("", line) if _LIST_ITEM.match(line) and len(line) > 2 else line
        if line.endswith(":"):  # a list may follow (« A été élu : • - Fabien ABERT »)
            opener.append(line)
            if _title(line):  # or what an item is (« 3/ Délibération … du CDG : »)
                title, since_title, item_start = line, 0, len(out)
            continue
        if _title(line) and not _outcome_only(fold(line)):
            if not _date_only(fold(line)) and not re.fullmatch(r"[\W\d]*", line):
                title, since_title, item_start = line, 0, len(out)
            continue
        for sentence in _sentences(line):
            folded = fold(sentence)
            if _filler(folded) or _date_only(folded):
                continue
            if _outcome_only(folded):
                outcome(_without_filler(sentence))
                title, since_title = "", 0
                continue
            sentence = _without_filler(sentence)
            out.append(Unit(sentence, decision(sentence)))
            since_title += 1
    close_list()
    return out
