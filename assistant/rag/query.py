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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path

from ingestion.references import CODE_NAMES, normalize_number
from plume.store import Hit, SearchFilter, Store
from plume.text import Bm25Encoder, FrenchAnalyzer, fold_accents

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


@dataclass(frozen=True)
class Lexicon:
    version: str
    terms: tuple[Term, ...]

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        terms = tuple(Term(k, str(v)) for k, v in raw.get("termes", {}).items())
        return cls(str(raw.get("version", "")), terms)

    @lru_cache(maxsize=256)  # noqa: B019 - one lexicon per process; a question is scanned
    def found(self, question: str) -> tuple[Term, ...]:  # for retrieval, then for confidence
        """The lexicon's entries whose words are in the question."""
        folded = _fold(question)
        return tuple(t for t in self.terms if t.found_in(question, folded))

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


def _named_code(folded: str) -> str | None:
    for name in sorted(CODE_NAMES, key=len, reverse=True):
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", folded):
            return CODE_NAMES[name]
    return None


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
    first results; the link is recorded both ways in the hits' `links`."""

    def __init__(
        self,
        store: Store,
        encoder: Bm25Encoder,
        *,
        depth: int = 3,
        per_doc: int = 2,
        reverse: bool = True,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.depth = depth  # documents of the first results whose links are followed
        self.per_doc = per_doc  # documents each of them may bring
        self.reverse = reverse  # also article → the fiches that cite it

    def _query(
        self,
        query: Query,
        where: SearchFilter,
        limit: int,
        context: Sequence[tuple[str, float]] = (),
    ) -> list[Hit]:
        # « article » is in every article's title: every linked article matches at least that
        texts = [*query.weighted_texts(), *context, ("article", 0.01)]
        sparse = self.encoder.encode_weighted(texts)
        return self.store.query(sparse=sparse, dense=None, where=where, limit=limit)

    def direct(self, query: Query, where: SearchFilter) -> list[Hit]:
        ids = query.referenced_ids()
        if where.doc_ids is not None:
            ids = [i for i in ids if i in where.doc_ids]
        if not ids:
            return []
        return self._query(query, replace(where, doc_ids=ids), limit=2 * len(ids) + 4)

    def augment(self, hits: list[Hit], query: Query, where: SearchFilter) -> list[Hit]:
        """`hits` with the named articles first and the linked documents inserted."""
        hits = [*self.direct(query, where), *hits]
        top = list(dict.fromkeys(h.doc_id for h in hits))[: self.depth]
        first: dict[str, Hit] = {}
        for hit in hits:
            first.setdefault(hit.doc_id, hit)
        brought: dict[str, list[Hit]] = {d: [] for d in top}

        def bring(by: str, hit: Hit) -> None:
            taken = brought[by]
            if len(taken) < self.per_doc and hit.doc_id not in {h.doc_id for h in taken}:
                taken.append(_with_links(hit, [by]))

        for d in top:  # fiche → the articles it rests on, best matching first
            wanted = [str(i) for i in first[d].payload.get("law") or [] if i not in top]
            if wanted:
                context = [(first[d].text, CONTEXT_WEIGHT)] if CONTEXT_WEIGHT else []
                for hit in self._query(query, replace(where, doc_ids=wanted), 10, context):
                    bring(d, hit)
        articles = [d for d in top if first[d].payload.get("kind") == "article"]
        if articles and self.reverse:  # article → the fiches that explain it
            sparse = self.encoder.encode_weighted(query.weighted_texts())
            flt = replace(where, fields={**where.fields, "law": articles})
            for hit in self.store.query(sparse=sparse, dense=None, where=flt, limit=10):
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
