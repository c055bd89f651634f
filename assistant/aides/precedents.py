"""Precedents: "what similar projects were funded, and how much?", with real figures.

Ranking always returns a top-k, so the count cannot come from it. A funded project
counts as *similar* when its title and measure hold most of what the request says,
weighted by rarity: the share of the request's IDF mass (BM25's IDF, over every
indexed project) found among the project's words must reach `MIN_COVERAGE`. The
rare, telling words of a request ("toiture", "vidéoprotection", "city") must then be
there; a common one ("public", "rénovation") may be missing. A word no project has
weighs the most, so an unknown word yields no match rather than a loose one.

The figures (count, median subsidy, median rate over the projects whose cost is
known, total) are computed over every similar project; the examples are the closest
ones by the search engine's ranking (BM25, with dense vectors when configured).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from assistant.rag.retrieval import check_question
from ingestion.precedents import FONDS_VERT, departement_code
from plume.embedding import Embedder
from plume.errors import EmbeddingFailed, MalformedDocument, UnknownFilterValue, shown
from plume.store import SearchFilter, Store
from plume.text import Bm25Encoder, FrenchAnalyzer

SOURCE = "precedents"
KIND = "projet"
PROGRAMMES = ("DETR", "DSIL", "DPV", "DSID", FONDS_VERT)
MIN_COVERAGE = 0.75
_FIELDS = (
    *("doc_id", "title", "dataset", "dataset_title", "programme", "measure", "year"),
    *("beneficiary", "departement", "cost", "subsidy", "rate", "match_terms"),
)
_WORD = re.compile(r"\w+(?:-\w+)*")


@dataclass(frozen=True)
class Example:
    doc_id: str
    project: str
    beneficiary: str
    year: int | None
    programme: str
    measure: str
    departement: str
    cost: Decimal | None
    subsidy: Decimal
    rate: Decimal | None


@dataclass(frozen=True)
class DatasetCitation:
    dataset: str
    title: str
    first_year: int | None
    last_year: int | None
    projects: int  # similar projects taken from this list

    @property
    def label(self) -> str:
        years = sorted({y for y in (self.first_year, self.last_year) if y})
        return ", ".join([self.title, "–".join(map(str, years))] if years else [self.title])


@dataclass(frozen=True)
class PrecedentReport:
    query: str
    count: int
    median_subsidy: Decimal | None
    median_rate: Decimal | None  # over the `rated` projects whose cost is known
    rated: int
    total_subsidy: Decimal
    by_programme: dict[str, int]
    examples: list[Example] = field(default_factory=list)
    datasets: list[DatasetCitation] = field(default_factory=list)
    message: str = ""  # why nothing was found, in French
    unknown_words: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def num(value: Decimal | None) -> float | None:
            return None if value is None else float(value)

        return {
            "query": self.query,
            "count": self.count,
            "median_subsidy": num(self.median_subsidy),
            "median_rate": num(self.median_rate),
            "rated": self.rated,
            "total_subsidy": float(self.total_subsidy),
            "by_programme": dict(self.by_programme),
            "examples": [
                {
                    "doc_id": e.doc_id,
                    "project": e.project,
                    "beneficiary": e.beneficiary,
                    "year": e.year,
                    "programme": e.programme,
                    "measure": e.measure,
                    "departement": e.departement,
                    "cost": num(e.cost),
                    "subsidy": float(e.subsidy),
                    "rate": num(e.rate),
                }
                for e in self.examples
            ],
            "datasets": [
                {
                    "dataset": d.dataset,
                    "title": d.title,
                    "first_year": d.first_year,
                    "last_year": d.last_year,
                    "projects": d.projects,
                    "label": d.label,
                }
                for d in self.datasets
            ],
            "message": self.message,
            "unknown_words": list(self.unknown_words),
        }


def check_programme(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    wanted = " ".join(value.replace("-", " ").split()).casefold()
    for programme in PROGRAMMES:
        if programme.casefold() == wanted:
            return programme
    raise UnknownFilterValue(
        f"Programme inconnu : « {shown(value)} ». Programmes possibles : {', '.join(PROGRAMMES)}."
    )


def check_departement(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return departement_code(value)
    except MalformedDocument:
        raise UnknownFilterValue(
            f"Département invalide : « {shown(value)} ». Indiquez son code : 01, 78, 2A, 971…"
        ) from None


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _example(doc_id: str, p: dict[str, Any]) -> Example:
    year = p.get("year")
    return Example(
        doc_id=doc_id,
        project=str(p.get("title", "")),
        beneficiary=str(p.get("beneficiary", "")),
        year=int(year) if year is not None else None,
        programme=str(p.get("programme", "")),
        measure=str(p.get("measure", "")),
        departement=str(p.get("departement", "")),
        cost=_decimal(p.get("cost")),
        subsidy=_decimal(p.get("subsidy")) or Decimal(0),
        rate=_decimal(p.get("rate")),
    )


class _Idf:
    """BM25's IDF of words over every indexed project (as Qdrant computes it)."""

    def __init__(self, projects: Iterable[dict[str, Any]]) -> None:
        self.df: Counter[str] = Counter()
        self.n = 0
        for p in projects:
            self.n += 1
            self.df.update(set(p.get("match_terms") or ()))

    def __call__(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))


class ProjectTable:
    """Every indexed funded project (the fields a report reads) and the words' IDF over
    them: read from the store on first use, then reused — a report no longer scans the
    11,000 projects each time. `clear()` after an ingestion (`Runtime.refresh_stats`)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._loaded: tuple[dict[str, dict[str, Any]], _Idf] | None = None

    def load(self) -> tuple[dict[str, dict[str, Any]], _Idf]:
        loaded = self._loaded
        if loaded is None:
            where = SearchFilter(sources=[SOURCE], kinds=[KIND])
            projects = dict(self.store.scan(where, _FIELDS))
            loaded = self._loaded = (projects, _Idf(projects.values()))
        return loaded

    def clear(self) -> None:
        self._loaded = None


def coverage(query_terms: list[str], project_terms: Iterable[str], idf: _Idf) -> float:
    """Share of the request's IDF mass found among a project's words (0–1)."""
    total = sum(idf(t) for t in query_terms)
    if total <= 0:
        return 0.0
    have = set(project_terms)
    return sum(idf(t) for t in query_terms if t in have) / total


def _median(values: list[Decimal]) -> Decimal | None:
    return Decimal(statistics.median(values)) if values else None


def _datasets(everything: dict[str, dict[str, Any]], similar: list[str]) -> list[DatasetCitation]:
    years: dict[str, list[int]] = {}
    titles: dict[str, str] = {}
    for p in everything.values():
        name = str(p.get("dataset", ""))
        titles.setdefault(name, str(p.get("dataset_title", "")) or name)
        if p.get("year") is not None:
            years.setdefault(name, []).append(int(p["year"]))
    used = Counter(str(everything[pid].get("dataset", "")) for pid in similar)
    return [
        DatasetCitation(
            dataset=name,
            title=titles[name],
            first_year=min(years[name]) if years.get(name) else None,
            last_year=max(years[name]) if years.get(name) else None,
            projects=n,
        )
        for name, n in used.most_common()
    ]


def _closest(
    store: Store,
    encoder: Bm25Encoder,
    embedder: Embedder | None,
    query: str,
    where: SearchFilter,
    similar: dict[str, float],
    limit: int,
) -> list[str]:
    """The similar projects the search engine ranks first, then the best covered."""
    dense = None
    if embedder is not None:
        try:
            dense = embedder.embed_query(query)
        except EmbeddingFailed:
            dense = None  # sparse ranking still orders the examples
    hits = store.query(
        sparse=encoder.encode_query(query), dense=dense, where=where, limit=50, prefetch_limit=50
    )
    chosen = list(dict.fromkeys(h.id for h in hits if h.id in similar))[:limit]
    if len(chosen) < limit:
        rest = sorted((pid for pid in similar if pid not in chosen), key=lambda p: -similar[p])
        chosen += rest[: limit - len(chosen)]
    return chosen


def similar_projects(
    store: Store,
    encoder: Bm25Encoder,
    query: str,
    *,
    embedder: Embedder | None = None,
    programme: str | None = None,
    departement: str | None = None,
    limit: int = 5,
    min_coverage: float = MIN_COVERAGE,
    table: ProjectTable | None = None,
) -> PrecedentReport:
    """Funded projects similar to `query`, their figures and the closest examples; `table`
    keeps the projects read between calls (else they are read from the store now)."""
    query = check_question(query, 500)
    programme = check_programme(programme)
    departement = check_departement(departement)
    fields: dict[str, list[str]] = {}
    if programme:
        fields["programme"] = [programme]
    if departement:
        fields["departement"] = [departement]
    analyzer = encoder.analyzer
    query_terms = list(dict.fromkeys(analyzer.terms(query)))
    everything, idf = (table or ProjectTable(store)).load()
    words = dict.fromkeys(_WORD.findall(query))
    unknown = [w for w in words if _unseen(w, analyzer, idf)]
    similar: dict[str, float] = {}
    for pid, p in everything.items():
        if programme and p.get("programme") != programme:
            continue
        if departement and p.get("departement") != departement:
            continue
        share = coverage(query_terms, p.get("match_terms") or (), idf)
        if share >= min_coverage:
            similar[pid] = share
    projects = [
        _example(str(everything[pid].get("doc_id", "")), everything[pid]) for pid in similar
    ]
    rates = [e.rate for e in projects if e.rate is not None]
    report = PrecedentReport(
        query=query,
        count=len(projects),
        median_subsidy=_median([e.subsidy for e in projects]),
        median_rate=_median(rates),
        rated=len(rates),
        total_subsidy=sum((e.subsidy for e in projects), Decimal(0)),
        by_programme=dict(Counter(e.programme for e in projects).most_common()),
        unknown_words=unknown,
    )
    if not projects:
        return _nothing(report, bool(everything), programme, departement)
    where = SearchFilter(sources=[SOURCE], kinds=[KIND], fields=fields)
    chosen = _closest(store, encoder, embedder, query, where, similar, limit)
    examples = [_example(str(everything[pid].get("doc_id", "")), everything[pid]) for pid in chosen]
    return replace(report, examples=examples, datasets=_datasets(everything, list(similar)))


def _unseen(word: str, analyzer: FrenchAnalyzer, idf: _Idf) -> bool:
    terms = analyzer.terms(word)
    return bool(terms) and all(idf.df.get(t, 0) == 0 for t in terms)


def _nothing(
    report: PrecedentReport, indexed: bool, programme: str | None, departement: str | None
) -> PrecedentReport:
    if not indexed:
        message = (
            "Aucune liste de projets financés n'est indexée : importez-en une avec "
            "« plume ingest precedents --path <fichier.csv> »."
        )
    else:
        scope = [f"programme {programme}" if programme else "", departement or ""]
        within = f" ({', '.join(s for s in scope if s)})" if any(scope) else ""
        message = (
            f"Aucun projet financé comparable à « {report.query} » dans les listes "
            f"indexées{within}. Essayez avec moins de mots ou d'autres termes."
        )
        if report.unknown_words:
            message += f" Mots absents de toutes les listes : {', '.join(report.unknown_words)}."
    return replace(report, message=message)
