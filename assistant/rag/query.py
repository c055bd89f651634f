"""A secretary's question → what to search: the law's words and the articles it names.

- The town-hall lexicon (`corpus/lexique.toml`) adds the legal terms of the trade's words
  and abbreviations (« délib » → délibération, « CU » → certificat d'urbanisme) to the
  question's own words.
- Direct references: « L2121-17 », « article L. 52-1 du code électoral » are detected and
  the articles they name fetched directly (in the named code, or in every known code).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path

import ahocorasick

from ingestion.references import CODE_NAMES, normalize_number
from plume.store import Hit, Search, SearchFilter, Store
from plume.text import Bm25Encoder, FrenchAnalyzer, SparseVec, fold_accents

LEXICON_FILE = "lexique.toml"
# an added legal term weighs as much as a word of the question (0.5 and 0.75 measured worse)
EXPANSION_WEIGHT = 1.0
# a fiche's linked articles are ranked by the question and, at this weight, by the words of
# the fiche's passage that matched it: the fiche explains the article (0.1–0.3 measured)
CONTEXT_WEIGHT = 0.2

# « L2121-17 », « L. 2121-17 », « R* 41 »; a bare number only after « article(s) »
_PREFIXED = r"[LRDA]\*?\s?\.?\s?\d+(?:-\d+)+|[LRDA]\*?\.?\s?\d{2,}"
_ARTICLE = re.compile(
    rf"(?i:\barticles?\s+|\bart\.\s*)({_PREFIXED}|\d+(?:-\d+)*)|\b({_PREFIXED})\b"
)


_QUANTITY = re.compile(r"(?<![\w.,-])\d+(?:[.,]\d+)*(?![\w-])")


def _fold(text: str) -> str:
    return fold_accents(text.replace("’", "'")).lower()


@dataclass(frozen=True)
class Term:
    """One lexicon entry: the words a secretary writes, the law's words for them."""

    words: str
    meaning: str

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        if self.words.isupper():  # an abbreviation: as written, in capitals
            return re.compile(rf"(?<!\w){re.escape(self.words)}s?(?!\w)")
        return re.compile(rf"(?<!\w){re.escape(_fold(self.words))}[sx]?(?!\w)")

    def found_in(self, question: str, folded: str) -> bool:
        text = question if self.words.isupper() else folded
        return self.pattern.search(text) is not None


_WORD = re.compile(r"\w")


def _word_char(char: str) -> bool:
    return _WORD.match(char) is not None


class TermMatcher:
    """Every lexicon entry found in a question in one pass: an Aho-Corasick automaton over
    the entries' words (folded; abbreviations as written, on the question itself), each
    occurrence kept when it stands as a word — what `Term.pattern` matches, plural
    included — instead of one regular expression per entry."""

    def __init__(self, terms: Sequence[Term]) -> None:
        self._automata: list[tuple[bool, ahocorasick.Automaton]] = []
        for upper in (True, False):
            automaton = ahocorasick.Automaton()
            for n, term in enumerate(terms):
                if term.words.isupper() is upper:
                    key = term.words if upper else _fold(term.words)
                    known = automaton.get(key, ())
                    automaton.add_word(key, (*known, (n, len(key), "s" if upper else "sx")))
            if len(automaton):
                automaton.make_automaton()
                self._automata.append((upper, automaton))

    def found(self, question: str, folded: str) -> list[int]:
        """The positions, in the lexicon's order, of the entries found."""
        out: set[int] = set()
        for upper, automaton in self._automata:
            text = question if upper else folded
            for end, entries in automaton.iter(text):
                after = text[end + 1 : end + 3]
                plural_ends = after[:1] != "" and not _word_char(after[1:2] or " ")
                free_end = not _word_char(after[:1] or " ")
                for n, size, plurals in entries:
                    start = end + 1 - size
                    if start > 0 and _word_char(text[start - 1]):
                        continue
                    if free_end or (plural_ends and after[0] in plurals):
                        out.add(n)
        return sorted(out)


@dataclass(frozen=True, eq=False)  # hashed by identity: `found`'s cache keys on it cheaply
class Lexicon:
    version: str
    terms: tuple[Term, ...]

    @cached_property
    def matcher(self) -> TermMatcher:
        return TermMatcher(self.terms)

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        terms = tuple(Term(k, str(v)) for k, v in raw.get("termes", {}).items())
        return cls(str(raw.get("version", "")), terms)

    @lru_cache(maxsize=256)  # noqa: B019 - one lexicon per process; a question is scanned
    def found(self, question: str) -> tuple[Term, ...]:  # for retrieval, then for confidence
        """The lexicon's entries whose words are in the question."""
        return tuple(self.terms[n] for n in self.matcher.found(question, _fold(question)))

    def meanings(self, question: str) -> list[str]:
        """The legal terms of the lexicon's words found in the question."""
        return list(dict.fromkeys(t.meaning for t in self.found(question)))

    def equivalents(self, question: str, analyzer: FrenchAnalyzer) -> dict[str, frozenset[str]]:
        """For each index term of the lexicon's words in the question, the terms of their
        legal meaning: a passage that says « délibération » answers a question's « délib »."""
        out: dict[str, set[str]] = {}
        for term in self.found(question):
            meaning = set(analyzer.terms(term.meaning))
            for word in analyzer.terms(term.words):
                out.setdefault(word, set()).update(meaning - {word})
        return {word: frozenset(terms) for word, terms in out.items() if terms}


@dataclass(frozen=True)
class ArticleRef:
    """An article a question names; `code_id` None when no code is named."""

    number: str
    code_id: str | None = None


# the codes' names, longest first: at each place the longest name there is found, and the
# question's code is the name found that comes first in this order (« code général des
# collectivités territoriales » rather than a shorter name that it holds)
_CODE_ORDER = sorted(CODE_NAMES, key=len, reverse=True)
_CODE_NAMES = re.compile(rf"(?=(?<!\w)({'|'.join(re.escape(name) for name in _CODE_ORDER)})(?!\w))")


def _named_code(folded: str) -> str | None:
    found = {m.group(1) for m in _CODE_NAMES.finditer(folded)}
    return next((CODE_NAMES[name] for name in _CODE_ORDER if name in found), None)


def find_references(question: str) -> list[ArticleRef]:
    """The articles a question names, with the code when it names one."""
    code = _named_code(_fold(question))
    refs = []
    for match in _ARTICLE.finditer(question):
        number = normalize_number(match.group(1) or match.group(2)).replace(" ", "")
        refs.append(ArticleRef(number, code))
    return list(dict.fromkeys(refs))


@dataclass(frozen=True)
class Query:
    """A question ready to search: its words, the added legal terms, the named articles."""

    question: str
    additions: tuple[str, ...] = ()
    references: tuple[ArticleRef, ...] = ()
    codes: tuple[str, ...] = field(default=(), repr=False)  # where unqualified refs are sought
    # its weighted texts analysed (term index → weight): once per search (`analysed_by`),
    # then every store query of the search starts from them
    analysed: Mapping[int, float] | None = field(default=None, compare=False, repr=False)

    def analysed_by(self, encoder: Bm25Encoder) -> Query:
        """This query with its texts analysed by `encoder`, once."""
        if self.analysed is not None:
            return self
        return replace(self, analysed=encoder.term_weights(self.weighted_texts()))

    def sparse(self, encoder: Bm25Encoder, more: Sequence[tuple[str, float]] = ()) -> SparseVec:
        """The query's sparse vector, with `more` weighted texts after its own."""
        return encoder.encode_weighted(more, analysed=self.analysed_by(encoder).analysed)

    def weighted_texts(self) -> list[tuple[str, float]]:
        # a bare number in a question is a quantity (« 4 conseillers sur 11 », « 800
        # habitants »), not a reference: those are detected and added on their own
        parts = [(_QUANTITY.sub(" ", self.question), 1.0)]
        parts += [(a, EXPANSION_WEIGHT) for a in self.additions]
        parts += [(r.number, 1.0) for r in self.references]
        return parts

    def referenced_ids(self) -> list[str]:
        """Doc ids of the named articles (in each known code when none is named)."""
        ids = []
        for ref in self.references:
            for code in [ref.code_id] if ref.code_id else self.codes:
                ids.append(f"legi/{code}/{ref.number}")
        return list(dict.fromkeys(ids))


class QueryExpander:
    """Builds the `Query` of a question (lexicon, direct references)."""

    def __init__(self, lexicon: Lexicon | None, *, references: bool = True) -> None:
        self.lexicon = lexicon
        self.references = references
        self.codes = tuple(dict.fromkeys(CODE_NAMES.values()))

    @classmethod
    def load(
        cls, corpus_dir: Path, *, lexicon: bool = True, references: bool = True
    ) -> QueryExpander:
        path = corpus_dir / LEXICON_FILE
        return cls(
            Lexicon.load(path) if lexicon and path.is_file() else None, references=references
        )

    def expand(self, question: str) -> Query:
        additions = self.lexicon.meanings(question) if self.lexicon else []
        refs = find_references(question) if self.references else []
        return Query(question, tuple(additions), tuple(refs), self.codes)


def _with_links(hit: Hit, links: list[str]) -> Hit:
    known = [str(x) for x in hit.payload.get("links") or []]
    return Hit(hit.id, hit.score, {**hit.payload, "links": list(dict.fromkeys([*known, *links]))})


class LawBridge:
    """Fetches the articles a question names, and lets each of the first `depth` results
    bring the documents it is linked to: a fiche the articles it rests on, an article the
    fiches that cite it (`per_doc` each, best matching first). They come right after those
    first results; the link is recorded both ways in the hits' `links`. Its lookups for
    the linked documents are one batch of store queries."""

    def __init__(
        self,
        store: Store,
        encoder: Bm25Encoder,
        *,
        depth: int = 3,
        per_doc: int = 2,
        reverse: bool = True,
        fields: Sequence[str] | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.depth = depth  # documents of the first results whose links are followed
        self.per_doc = per_doc  # documents each of them may bring
        self.reverse = reverse  # also article → the fiches that cite it
        self.fields = fields  # the payload fields the hits bring (None: all)
        # a passage's terms at CONTEXT_WEIGHT: the first results of many questions repeat
        self._context = lru_cache(maxsize=4096)(self._analyse)

    def _analyse(self, text: str) -> dict[int, float]:
        return self.encoder.term_weights([(text, CONTEXT_WEIGHT)])

    def _search(
        self, query: Query, where: SearchFilter, limit: int, context: str | None = None
    ) -> Search:
        weights = query.analysed_by(self.encoder).analysed or {}
        if context is not None:  # after the query's own terms, each term's highest weight
            weights = dict(weights)
            for idx, weight in self._context(context).items():
                weights[idx] = max(weights.get(idx, 0.0), weight)
        # « article » is in every article's title: every linked article matches at least that
        sparse = self.encoder.encode_weighted([("article", 0.01)], analysed=weights)
        return Search(sparse, where, limit, fields=self.fields)

    def direct_search(self, query: Query, where: SearchFilter) -> Search | None:
        """The store query of the articles the question names (None: it names none)."""
        ids = query.referenced_ids()
        if where.doc_ids is not None:
            ids = [i for i in ids if i in where.doc_ids]
        if not ids:
            return None
        return self._search(query, replace(where, doc_ids=ids), limit=2 * len(ids) + 4)

    def direct(self, query: Query, where: SearchFilter) -> list[Hit]:
        search = self.direct_search(query, where)
        return self.store.query_batch([search])[0] if search else []

    def augment(
        self,
        hits: list[Hit],
        query: Query,
        where: SearchFilter,
        direct: list[Hit] | None = None,
    ) -> list[Hit]:
        """`hits` with the named articles first (`direct`: already fetched, with the
        search's own query) and the linked documents inserted."""
        query = query.analysed_by(self.encoder)
        hits = [*(self.direct(query, where) if direct is None else direct), *hits]
        top = list(dict.fromkeys(h.doc_id for h in hits))[: self.depth]
        first: dict[str, Hit] = {}
        for hit in hits:
            first.setdefault(hit.doc_id, hit)
        brought: dict[str, list[Hit]] = {d: [] for d in top}

        def bring(by: str, hit: Hit) -> None:
            taken = brought[by]
            if len(taken) < self.per_doc and hit.doc_id not in {h.doc_id for h in taken}:
                taken.append(_with_links(hit, [by]))

        searches: list[tuple[str | None, Search]] = []
        for d in top:  # fiche → the articles it rests on, best matching first
            wanted = [str(i) for i in first[d].payload.get("law") or [] if i not in top]
            if wanted:
                context = first[d].text if CONTEXT_WEIGHT else None
                searches.append(
                    (d, self._search(query, replace(where, doc_ids=wanted), 10, context))
                )
        articles = [d for d in top if first[d].payload.get("kind") == "article"]
        if articles and self.reverse:  # article → the fiches that explain it
            flt = replace(where, fields={**where.fields, "law": articles})
            searches.append((None, Search(query.sparse(self.encoder), flt, 10, fields=self.fields)))
        found = self.store.query_batch([s for _, s in searches]) if searches else []
        for (by, _), linked in zip(searches, found, strict=True):
            for hit in linked:
                if by is not None:
                    bring(by, hit)
                    continue
                for a in articles:
                    if a in (hit.payload.get("law") or []) and hit.doc_id not in top:
                        bring(a, hit)
        # the linked documents come after the documents that brought them: the first
        # results stay those that match the question's own words best
        out: list[Hit] = []
        seen: set[str] = set()
        for hit in hits:
            if len(seen) == len(top) and hit.doc_id not in seen:
                out.extend(h for d in top for h in brought[d])
                brought.clear()
            seen.add(hit.doc_id)
            extra = brought.get(hit.doc_id, [])
            out.append(_with_links(hit, [h.doc_id for h in extra]) if extra else hit)
        out.extend(h for d in brought for h in brought[d])
        return out
