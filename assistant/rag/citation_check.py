"""The citation check: a generated answer may only claim what its cited passages say.

The contract with the model (prompts/system.v1.md): the retrieved passages are numbered
[1]..[k] in the order they are given to it, passage n being `passages[n - 1]`. Every
sentence that states a fact cites its passages with markers — "[1]", "[1, 2]", "[1][2]",
"[1] [2]", before or after the final punctuation — and a phrase in quotes («…», "…", “…”,
‘…’) is copied word for word from a cited passage: its text, title or section.

`check_citations` holds a generated answer to that contract:

- a marker for a passage that was not retrieved ([0], [-1], [7] of 3) is removed:
  "source_inconnue";
- a quote that none of the sentence's valid citations holds is wording the model made up,
  so every citation of that sentence is removed: "citation_inexacte". A cited passage that
  lacks the quote while another cited passage holds it stays: it may support the rest of
  the sentence. Quotes are compared normalised (NFKC, casefold, ASCII apostrophes and
  quotes, whitespace collapsed, accents folded); quotes under 3 characters are ignored, and
  "[…]" or "..." in a quote cuts it into fragments that must each be found;
- a sentence without a quote must still be backed by what it cites (issue 21: a claim a
  poisoned document put in the model's mouth, cited to a genuine fiche): its lexical
  support — the share of its content words (4 letters or more, not function words,
  compared on their first `STEM` letters) found in its cited passages — under
  `MIN_SUPPORT` removes its citations: "non_etayee". A sentence of fewer than
  `MIN_SUPPORT_WORDS` content words is not judged. With a model configured, the unquoted
  cited sentences the lexical check lets through are also judged by it, all in one call
  (assistant.llm.support, prompts/support.v*.md): a sentence it does not find backed by
  what it cites is "non_etayee" too, and so is every one of them when its judgement
  cannot be had or read (fail closed);
- a factual sentence left without a valid citation is "unsupported". A sentence is factual
  unless it is a question, has fewer than 4 words (a connective, a heading such as "Pièces
  à fournir :"), is a whole line ending with ":" or opening with "#" (a heading, the
  introduction of a list), or says that Plume found nothing (REFUSAL_OPENINGS, which cover
  assistant.rag.extractive.NOT_FOUND and its invitation to rephrase): a refusal has nothing to
  cite.

The answer is flagged when a citation was removed or a sentence is unsupported. The chat
cuts the unsupported sentences from what it shows (`drop_unsupported`): a claim that a
poisoned document put in the model's mouth is neither cited nor shown.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from assistant.models import Passage
from plume.text import fold_accents

Reason = Literal["source_inconnue", "citation_inexacte", "non_etayee"]

# How an answer says Plume has no source: such a sentence cites nothing.
REFUSAL_OPENINGS = (
    "Je n'ai pas trouvé",
    "Je ne trouve pas",
    "Je ne sais pas",
    "Je ne dispose pas",
    "Aucune source",
    "Les sources ne permettent pas",
    "Les sources fournies ne permettent pas",
    "Reformulez",
)
MIN_QUOTE_CHARS = 3
MIN_FACT_WORDS = 4
# Lexical support of an unquoted sentence: the genuine answers of the tests' fake model and
# the extractive answers (copied sentences) score 0.5 to 1; a claim foreign to its passage
# scores under 0.3.
MIN_SUPPORT = 0.34
MIN_SUPPORT_WORDS = 3
STEM = 5
_FUNCTION_TEXT = (
    "alors aussi autre autres avec avoir cela celle celles celui ceux cette dans depuis donc "
    "elle elles entre etre fait faire leur leurs lors mais meme moins nous plus pour quand "
    "sans selon sera seront sont sous tous tout toute toutes tres vous votre vos peut "
    "peuvent doit doivent dont ainsi apres avant chez"
)
_FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())
_WORDS = re.compile(r"[a-z0-9]+")

# A marker: "[1]", "[1, 2]", "[1,2]", "[ 2 ]", "[-1]"; "[1][2]" and "[1] [2]" are two.
_MARKER = re.compile(r"\[\s*-?\d+(?:\s*,\s*-?\d+)*\s*\]")
# A list item: "- ", "* ", "• ", "1. ", "2) ".
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
# The end of a sentence: final punctuation, closing quotes ("gratuite. »"), then the
# markers that follow it, before a space and what opens a sentence (capital, digit, quote).
_END = re.compile(
    r"[.!?…]+(?:\s?[»”\")])*"
    rf"(?:\s*{_MARKER.pattern})*"
    r"(?=\s+[«\"“‘(]?[A-ZÀ-ÖØ-Þ0-9])"
)
# Words a period does not end: "art. L2121-17", "Mme", "cf."; single capitals ("M. le
# maire", "L. 2121-17") too. "n° 2017-890" and "3,5" hold no period followed by a space.
_ABBREVIATIONS = frozenset(
    {"art", "arts", "al", "av", "bd", "cf", "ch", "chap", "dr", "ex", "me", "mlle", "mm"}
    | {"mme", "mmes", "no", "p", "pp", "st", "ste", "vol"}
)
_LAST_WORD = re.compile(r"(\w+)$")
# Quotes. ‘…’ ends at a ’ that no letter follows: the ’ of "l’acte" is an apostrophe.
_QUOTE = re.compile(r"«([^«»]+)»" r'|"([^"\n]+)"' r"|“([^“”]+)”" r"|‘(.+?)’(?!\w)")
_ELLIPSIS = re.compile(r"\[?\.\.\.\]?")  # NFKC turns "…" into "..."
_ASCII = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "“": '"', "”": '"', "«": '"', "»": '"'})


@dataclass(frozen=True)
class RemovedCitation:
    n: int
    reason: Reason
    sentence: str
    quote: str | None = None


@dataclass(frozen=True)
class CitationCheck:
    text: str  # the answer without the failing markers
    cited: list[int]  # numbers kept, in order of first appearance
    removed: list[RemovedCitation]
    unsupported: list[str]  # factual sentences left without a citation, markers stripped

    @property
    def flagged(self) -> bool:
        return bool(self.removed or self.unsupported)


@dataclass(frozen=True)
class Claim:
    """An unquoted sentence and the passages it cites, for a model's judgement."""

    sentence: str  # markers stripped
    cited: tuple[int, ...]  # passage numbers, 1-based


# A model's judgement of claims: for each, whether its cited passages back it; None when
# there is no usable judgement (a failed call, a garbled reply): every claim is refused.
ClaimJudge = Callable[[Sequence[Claim]], Sequence[bool] | None]


@dataclass
class _Read:
    start: int
    end: int
    whole_line: bool
    plain: str
    markers: list[tuple[re.Match[str], list[int]]]
    valid: set[int]
    missing: str | None
    foreign: bool


def check_citations(
    answer: str,
    passages: Sequence[Passage],
    *,
    judge: ClaimJudge | None = None,
    drop_unsupported: bool = False,
) -> CitationCheck:
    """Removes the citations `passages` do not back, and lists the unsupported sentences.

    `judge`: a model's judgement of the unquoted sentences the lexical check let through,
    one call for all (a sentence it refuses is "non_etayee"; no usable judgement refuses
    them all). `drop_unsupported`: the unsupported sentences are also cut from the text
    (what the chat shows: a claim no source backs is not shown)."""
    haystacks = [
        [_normalise(str(x or "")) for x in (p.text, p.field("title"), p.field("section"))]
        for p in passages
    ]
    read: list[_Read] = []
    for start, end, whole_line in _sentences(answer):
        plain = _strip_markers(answer[start:end])
        markers = [
            (m, [int(x) for x in re.findall(r"-?\d+", m.group())])
            for m in _MARKER.finditer(answer, start, end)
        ]
        valid = {n for _, numbers in markers for n in numbers if 1 <= n <= len(passages)}
        missing = next(
            (q for q in _quotes(plain) if not any(_holds(haystacks[n - 1], q) for n in valid)),
            None,
        )
        foreign = bool(
            missing is None
            and valid
            and not _quotes(plain)
            and _support(plain, [haystacks[n - 1] for n in valid]) < MIN_SUPPORT
        )
        read.append(_Read(start, end, whole_line, plain, markers, valid, missing, foreign))
    if judge is not None:
        _judged(read, judge)
    cited: list[int] = []
    removed: list[RemovedCitation] = []
    unsupported: list[str] = []
    edits: list[tuple[int, int, list[int] | None]] = []  # markers to rewrite; None: cut
    for r in read:
        sentence = answer[r.start : r.end]
        kept_here: list[int] = []
        marker_edits: list[tuple[int, int, list[int] | None]] = []
        for marker, numbers in r.markers:
            kept = [n for n in numbers if n in r.valid and r.missing is None and not r.foreign]
            removed.extend(
                RemovedCitation(n, "source_inconnue", sentence)
                if n not in r.valid
                else RemovedCitation(n, "non_etayee", sentence)
                if r.foreign
                else RemovedCitation(n, "citation_inexacte", sentence, r.missing)
                for n in numbers
                if n not in kept
            )
            if len(kept) < len(numbers):
                marker_edits.append((marker.start(), marker.end(), kept))
            kept_here.extend(kept)
        cited.extend(n for n in dict.fromkeys(kept_here) if n not in cited)
        if not kept_here and _is_factual(r.plain, r.whole_line):
            unsupported.append(r.plain)
            if drop_unsupported:
                edits.append((r.start, r.end, None))
                continue
        edits.extend(marker_edits)
    return CitationCheck(_apply(answer, edits), cited, removed, unsupported)


def _judged(read: list[_Read], judge: ClaimJudge) -> None:
    """The model's judgement of the unquoted, cited sentences still standing: those it
    refuses — all of them when its judgement is unusable — become foreign (fail closed)."""
    asked = [
        r for r in read if r.valid and r.missing is None and not r.foreign and not _quotes(r.plain)
    ]
    if not asked:
        return
    try:
        verdicts = judge([Claim(r.plain, tuple(sorted(r.valid))) for r in asked])
    except Exception:  # a judge that breaks refuses: nothing unchecked passes
        verdicts = None
    if verdicts is None or len(verdicts) != len(asked):
        verdicts = [False] * len(asked)
    for r, backed in zip(asked, verdicts, strict=True):
        r.foreign = r.foreign or not backed


def _sentences(answer: str) -> list[tuple[int, int, bool]]:
    """(start, end, is the whole line) of each sentence; every line and list item apart."""
    out: list[tuple[int, int, bool]] = []
    offset = 0
    for line in answer.split("\n"):
        bullet = _BULLET.match(line)
        cut = bullet.end() if bullet else 0
        quoted = [q.span() for q in _QUOTE.finditer(line)]
        pieces: list[tuple[int, int]] = []
        for end in [*_ends(line, quoted), len(line)]:
            piece = line[cut:end]
            if piece.strip():
                first = offset + cut + len(piece) - len(piece.lstrip())
                pieces.append((first, offset + cut + len(piece.rstrip())))
            cut = end
        for i, (first, last) in enumerate(pieces):
            if out and not _MARKER.sub("", answer[first:last]).strip():
                out[-1] = (out[-1][0], last, out[-1][2])  # markers alone: the previous sentence's
            else:
                out.append((first, last, len(pieces) == 1 and i == 0))
        offset += len(line) + 1
    return out


def _ends(line: str, quoted: list[tuple[int, int]]) -> list[int]:
    """Where the sentences of a line end, but not after an abbreviation or inside a quote."""
    return [
        m.end()
        for m in _END.finditer(line)
        if not _abbreviation(line, m)
        and not any(start < m.start() and m.end() < stop for start, stop in quoted)
    ]


def _abbreviation(line: str, end: re.Match[str]) -> bool:
    """Whether the sentence end `end` is the single period of an abbreviation."""
    word = _LAST_WORD.search(line, 0, end.start())
    if word is None or not end.group().startswith(".") or end.group().startswith(".."):
        return False
    w = word.group()
    return w.lower() in _ABBREVIATIONS or (len(w) == 1 and w.isupper())


def _is_factual(plain: str, whole_line: bool) -> bool:
    bare = plain.strip(' *_»”")')
    if sum(any(c.isalnum() for c in w) for w in bare.split()) < MIN_FACT_WORDS:
        return False
    if bare.endswith("?") or (whole_line and (bare.endswith(":") or bare.startswith("#"))):
        return False
    return not _normalise(bare).startswith(_REFUSALS)


def _stems(text: str) -> set[str]:
    words = _WORDS.findall(_normalise(text).replace("'", " "))
    return {w[:STEM] for w in words if len(w) >= 4 and w not in _FUNCTION_WORDS}


def _support(plain: str, haystacks: list[list[str]]) -> float:
    """The share of the sentence's content words its cited passages hold (1 when it has
    too few to judge)."""
    wanted = _stems(plain)
    if len(wanted) < MIN_SUPPORT_WORDS:
        return 1.0
    held = set().union(*(_stems(text) for haystack in haystacks for text in haystack))
    return len(wanted & held) / len(wanted)


def _quotes(plain: str) -> list[str]:
    quotes = (next(g for g in m.groups() if g is not None).strip() for m in _QUOTE.finditer(plain))
    return [q for q in quotes if len(_normalise(q)) >= MIN_QUOTE_CHARS]


def _holds(haystack: list[str], quote: str) -> bool:
    fragments = (f.strip(" .,;:!?'\"()") for f in _ELLIPSIS.split(_normalise(quote)))
    wanted = [f for f in fragments if len(f) >= MIN_QUOTE_CHARS]
    return any(all(f in text for f in wanted) for text in haystack)


def _normalise(text: str) -> str:
    text = fold_accents(unicodedata.normalize("NFKC", text).casefold().translate(_ASCII))
    return " ".join(text.split())


_REFUSALS = tuple(_normalise(s) for s in REFUSAL_OPENINGS)


def _strip_markers(sentence: str) -> str:
    return re.sub(rf"[ \t\u00a0\u202f]*{_MARKER.pattern}", "", sentence).strip()


def _apply(answer: str, edits: list[tuple[int, int, list[int] | None]]) -> str:
    """Rewrites markers from the last: "[1, 3]" → "[1]"; a marker left empty goes with the
    space before it (unless a marker follows: "x [7][1]" → "x [1]"), or after it at the
    start of a line. A sentence cut (None) goes with the spaces after it, and its line
    with it when nothing but a list's bullet is left."""
    text = answer
    for start, end, kept in sorted(edits, key=lambda e: e[0], reverse=True):
        if kept is None:
            text = _cut(text, start, end)
            continue
        if kept:
            text = f"{text[:start]}[{', '.join(map(str, kept))}]{text[end:]}"
            continue
        while start and text[start - 1] in " \t\u00a0\u202f" and text[end : end + 1] != "[":
            start -= 1
        if start == 0 or text[start - 1] == "\n":
            while end < len(text) and text[end] in " \t":
                end += 1
        text = text[:start] + text[end:]
    return text


def _cut(text: str, start: int, end: int) -> str:
    while end < len(text) and text[end] in " \t\u00a0\u202f":
        end += 1
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    rest = text[line_start:start] + text[end:line_end]
    if not _BULLET.sub("", rest).strip():
        # the whole line goes, with one of its line breaks
        if line_end < len(text):
            return text[:line_start] + text[line_end + 1 :]
        return text[: max(line_start - 1, 0)]
    return text[:start] + text[end:]
