"""A follow-up made to stand alone without a model: « et pour un mariage ? » after « Quelles
pièces demander pour un PACS ? » becomes « Quelles pièces demander pour un mariage ? ».

Three shapes, tried in order:
- substitution: the follow-up is a phrase that opens like a phrase of the previous question
  (same preposition or article: « pour un mariage », « un acte de décès », « de nom »): it
  takes that phrase's place, up to the end of the clause. Not when it names an aspect of the
  same subject (« et le délai ? »: a delay, a cost, a procedure…) or a word already asked.
- a new subject that fits no phrase (« et pour la convocation ? » after a question on the
  quorum): the follow-up's own words lead the search, the previous question's words weigh
  less (`context`, assistant.rag.retrieval.CONTEXT_WEIGHT).
- anything else (« dans quel délai ? », « et s'il a oublié ? »), and any follow-up of a
  situation told at length (over SHORT_QUESTION words: its phrases are no frame to fill,
  measured on the blind sets of eval/datasets/followups_*): the previous question then
  the follow-up, searched together.
With a model, the model rewrites instead (assistant.chat.model); this is its fallback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from plume.text import FrenchAnalyzer

_ANALYZER = FrenchAnalyzer()


def _wordset(words: str) -> set[str]:
    return set(words.split())


# what opens a follow-up and says nothing: « et », « et alors », « même question pour »
_LEAD = re.compile(
    r"^\s*(?:et\s+(?:alors\s+|sinon\s+)?|mais\s+|(?:m[êe]me\s+(?:chose|question)|pareil|idem)"
    r"\s*(?=pour|avec|dans|en|si)\s*)",
    re.I,
)
# the first word of a phrase that may take a phrase's place, by family
_FAMILIES = (
    {"pour"},
    {"un", "une"},
    {"le", "la", "les", "l'"},
    {"de", "d'", "du", "des"},
    {"avec"},
    {"dans"},
    {"en"},
    {"sur"},
    {"chez"},
    {"au", "aux", "à"},
)
# what opens a clause or a question about the same subject, not a noun phrase
_CLAUSE_OPENERS = _wordset(
    "on il elle ils elles je j' nous vous c' ça ca qui que qu' quand comment où ou "
    "combien quel quelle quels quelles pourquoi est-ce faut peut doit y"
)
_PREPOSITIONS = {"pour", "avec", "dans", "en", "sur", "chez"}
_FAMILY = {word: n for n, words in enumerate(_FAMILIES) for word in words}
# an aspect of the subject already asked about, not a new subject
_ASPECTS = {
    _ANALYZER.terms(w)[0]
    for w in _wordset(
        "délai délais durée coût coûte prix tarif tarifs montant procédure démarche démarches "
        "conditions pièces justificatifs documents formulaire recours sanction sanctions "
        "date dates étapes modalités règles frais signature validité"
    )
}
_WORD = re.compile(r"\w+'|[\w-]+|[^\w\s]")
SHORT_QUESTION = 16  # words and signs: one clause, a frame whose phrase a follow-up replaces
_CLAUSE_END = {"?", ",", ";", ".", "!", ":"}
_CONDITION = re.compile(
    r"^\s*(?:et\s+)?(?:si|s'ils?|qu|quand|lorsqu|sinon|en\s+cas|au\s+cas|dans\s+le\s+cas)\b",
    re.I,
)


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _join(words: list[str]) -> str:
    """Words back into French text: « d'une », « mariage ? », « PACS, »."""
    out = ""
    for w in words:
        out += w if not out or out.endswith("'") or w in (",", ".") else " " + w
    return out


def _substitute(previous: list[str], phrase: list[str]) -> list[str] | None:
    """The previous question with its last phrase opening like `phrase` replaced; else
    like `phrase` without its preposition (« pour une DP » → « d'un permis »)."""
    new = set(_ANALYZER.terms(" ".join(phrase)))
    openings = [phrase, phrase[1:]] if phrase[0].lower() in _PREPOSITIONS else [phrase]
    for opening in openings:
        family = _FAMILY.get(opening[0].lower()) if opening else None
        if family is None:
            continue
        starts = [i for i, w in enumerate(previous) if _FAMILY.get(w.lower()) == family]
        for start in reversed(starts):
            end = next(
                (j for j in range(start + 1, len(previous)) if previous[j] in _CLAUSE_END),
                len(previous),
            )
            replaced = set(_ANALYZER.terms(" ".join(previous[start:end])))
            # a phrase of the same size, not a whole clause (« les règles de quorum du
            # conseil municipal » is not replaced by « la convocation »)
            if replaced and not new <= replaced and len(replaced) <= len(new) + 1:
                return [*previous[:start], *opening, *previous[end:]]
    return None


@dataclass(frozen=True)
class Rewrite:
    """A follow-up made to stand alone: `question` is what is judged, shown and scored;
    `search` (when set) is what is searched, with `context` at a lower weight."""

    question: str
    search: str = ""
    context: str = ""


def rewrite(previous: str, followup: str) -> Rewrite:
    """`followup`, asked after `previous` (the previous question as it was searched)."""
    previous = " ".join(previous.replace("’", "'").split())
    followup = " ".join(followup.replace("’", "'").split())
    joined = Rewrite(f"{previous} {followup}".strip())  # the same subject, another aspect
    if not previous or _CONDITION.match(followup):
        return joined
    lead = _LEAD.match(followup)
    if lead is None:
        return joined  # not an ellipsis: « dans quel délai ? » keeps the subject
    phrase = [w for w in _words(followup[lead.end() :]) if w not in _CLAUSE_END]
    if not phrase or phrase[0].lower() in _CLAUSE_OPENERS:
        return joined  # a clause (« et on les paie comment ? »), not a new subject
    new_terms = set(_ANALYZER.terms(" ".join(phrase)))
    if not new_terms or new_terms <= set(_ANALYZER.terms(previous)) or new_terms & _ASPECTS:
        return joined
    words = _words(previous)
    if len(words) > SHORT_QUESTION:
        return joined  # a situation told at length: its phrases are not a frame to fill
    replaced = _substitute(words, phrase)
    if replaced is not None:
        return Rewrite(_join(replaced))
    # a new subject that takes no phrase's place: its own words lead the search
    return Rewrite(joined.question, search=followup, context=previous)
