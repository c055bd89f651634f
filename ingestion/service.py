"""Ingestion use cases, shared by the CLI and the admin API: fetch, ingest, delete."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ingestion import lexhub, npm, sync_log
from ingestion.journal import ChangeJournal, history_changes, journal_packages, opening_changes
from ingestion.legi import CodeText, listed_codes
from plume import packages, term_stats
from plume.documents import SOURCES, french_date, payload_index_text
from plume.embedding import Embedder
from plume.errors import PlumeError, SourcePathRequired, SourceUnauthorized, UnknownSource, shown
from plume.settings import Settings
from plume.store import SearchFilter, SourceStats, Store
from plume.text import Bm25Encoder, FrenchAnalyzer, term_index

if TYPE_CHECKING:
    from ingestion.pipeline import IngestSummary, SourceItem

_Reader = Callable[[Settings, Path, str, bool, bool], "tuple[Iterable[SourceItem], int | None]"]


def check_source(name: str) -> str:
    if name not in SOURCES:
        raise UnknownSource(
            f"Source inconnue : « {shown(name)} ». Sources disponibles : {', '.join(SOURCES)}."
        )
    return name


def fetch(
    settings: Settings,
    names: list[str] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> dict[str, Path]:
    """Fetch the pinned npm packages and the LexHub history; name → where it is.

    Without `names`, a LexHub history that cannot be had (no bundle beside the project and
    no network) is skipped with its reason (`on_skip`): the other sources still come."""
    manifest = packages.load_manifest(settings.corpus_dir)
    pin = lexhub.load_pin(settings.corpus_dir)
    wanted = names or [*manifest, *([lexhub.NAME] if pin else [])]
    fetched = {}
    for name in wanted:
        if name == lexhub.NAME and pin is not None:
            try:
                fetched[name] = lexhub.fetch(pin, settings.packages_dir, url=settings.lexhub_url)
            except PlumeError as exc:
                if names or on_skip is None:
                    raise
                on_skip(name, exc.message)
            continue
        pkg = packages.pinned(settings.corpus_dir, name)
        fetched[name] = npm.fetch_package(pkg, settings.packages_dir, settings.npm_registry)
    return fetched


def _service_public(
    settings: Settings, root: Path, version: str, everything: bool, local: bool
) -> tuple[Iterable[SourceItem], int | None]:
    from ingestion.sources import service_public

    selection = service_public.Selection.load(settings.corpus_dir, everything=everything)
    items = service_public.items(root, version=version, selection=selection)
    return items, service_public.count_items(root)


def _legi(
    settings: Settings, root: Path, version: str, everything: bool, local: bool
) -> tuple[Iterable[SourceItem], int | None]:
    from ingestion.sources import legi

    pin = lexhub.load_pin(settings.corpus_dir)
    since = settings.legi_history_since
    if local and pin is not None and lexhub.is_repository(root):  # --path: a LexHub history
        journal = _journal_history(settings, pin)
        return legi.lexhub_items(root, pin, since=since, on_code=journal), None
    # the package: the codes of corpus/legi.toml (--all: every code it has); --path: all
    codes = None if local or everything else legi.default_codes(settings.corpus_dir)
    first_reading = _journal_opening(settings, version)
    items = legi.items(root, version=version, codes=codes, on_code=first_reading)
    history = lexhub.fetched(settings.packages_dir, pin) if pin and not local else None
    if pin is not None and history is not None:  # and the LexHub codes, when fetched
        journal = _journal_history(settings, pin)
        more = legi.lexhub_items(history, pin, since=since, on_code=journal)
        items = itertools.chain(items, more)
    return items, None  # no total: counting = parsing


def _journal_opening(settings: Settings, version: str) -> Callable[[CodeText], None]:
    """Fill the change journal from a code read from one snapshot (legi-data, or a file of
    that shape) as it is read for indexing, when the journal holds nothing of that code
    yet (its first ingestion): the versions in force since `veille_window_months` before
    the snapshot's date, so `plume veille --since …` lists real changes right after
    `make run`. A later snapshot is compared with the previous one (`journal_upgrade`)."""
    journal = ChangeJournal(settings.data_dir)
    held = set(journal.codes())
    months = settings.veille_window_months

    def record(code: CodeText) -> None:
        if code.code.id not in held:
            journal.append(opening_changes(code, version, months))

    return record


def _journal_history(settings: Settings, pin: lexhub.Pin) -> Callable[[lexhub.CodeHistory], None]:
    """Fill the change journal from a code's history as it is read for indexing: the
    versions in force since `veille_history_since`, so `plume veille --since …` is never
    silently empty on the codes read from LexHub. Idempotent (the journal keeps one of each)."""
    since = date.fromisoformat(settings.veille_history_since)

    def record(history: lexhub.CodeHistory) -> None:
        ChangeJournal(settings.data_dir).append(history_changes(history.code, since, pin.version))

    return record


def _aides(
    settings: Settings, root: Path, version: str, everything: bool, local: bool
) -> tuple[Iterable[SourceItem], int | None]:
    from ingestion.sources import aides

    return aides.items(root, version=version), None


def _programmes(
    settings: Settings, root: Path, version: str, everything: bool, local: bool
) -> tuple[Iterable[SourceItem], int | None]:
    from ingestion.sources import programmes

    return programmes.items(root, version=version), None


def _precedents(
    settings: Settings, root: Path, version: str, everything: bool, local: bool
) -> tuple[Iterable[SourceItem], int | None]:
    from ingestion.sources import precedents

    return precedents.items(root, version=version), None


def programmes_catalogue(settings: Settings) -> tuple[Path, str]:
    """`plume ingest programmes` without --path: the team's catalogue in the corpus folder,
    versioned by its review date."""
    from ingestion.sources import programmes

    path = settings.corpus_dir / programmes.FILE
    return path, programmes.catalogue_version(path)


def sync_aides(settings: Settings) -> Path:
    """`plume ingest aides-territoires` without --path: fetch the catalogue from the API into
    `<data_dir>/aides-territoires/aids.json` (PLUME_AIDES_TERRITOIRES_TOKEN needed), or,
    without a token, read the file a previous sync left there."""
    from ingestion.aides_territoires.client import AidesTerritoiresClient
    from ingestion.sources import aides

    folder = settings.data_dir / aides.NAME
    if settings.aides_territoires_token is None:
        if (folder / aides.SYNC_FILE).is_file():
            return folder / aides.SYNC_FILE
        raise SourceUnauthorized(
            "Aucun jeton aides-territoires : définissez PLUME_AIDES_TERRITOIRES_TOKEN (jeton "
            "d'API de votre compte aides-territoires) ou indiquez un export CSV avec --path."
        )
    with AidesTerritoiresClient(
        settings.aides_territoires_url, settings.aides_territoires_token
    ) as client:
        return aides.sync(client, folder)


# How each source reads its files into items (and how many, for progress, when cheap).
_READERS: dict[str, _Reader] = {
    "service-public": _service_public,
    "legi": _legi,
    "aides-territoires": _aides,
    "programmes": _programmes,
    "precedents": _precedents,
}
# Sources read part by part (one code per file): a run only mirrors the parts it read.
# aides-territoires: a partial API sync yields unscoped items, and deletes nothing.
_SCOPED = {"legi", "aides-territoires", "programmes", "precedents"}
# Sources that are not npm packages, read without --path from their API (`sync_aides`)
# or from the corpus folder (`programmes_catalogue`); precedents only with --path.
API_SOURCES = {"aides-territoires", "programmes", "precedents"}


def ingest_source(
    settings: Settings,
    store: Store,
    embedder: Embedder | None,
    source: str,
    *,
    everything: bool = False,
    path: Path | None = None,
    on_total: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
    on_written: Callable[[int], None] | None = None,
    rebuild: bool = False,
) -> IngestSummary:
    """Bring the store in line with `source` (the pinned package, or the files at `path`);
    `rebuild`: its passages are dropped first, and all written anew. The run is noted as
    begun before it writes, and complete only at its end (`sync_log`)."""
    # imported here: llama-index (behind chunking) costs seconds, and the server only
    # needs it when an administrator starts a run
    from ingestion.pipeline import ingest

    check_source(source)
    previous = sync_log.read(settings.data_dir).get(source, {}).get("version")
    journal = ChangeJournal(settings.data_dir)
    journaled = journal.size() if source == "legi" else 0
    if path is not None:
        root, version = path, f"local:{path.name}"
    elif source == "programmes":
        root, version = programmes_catalogue(settings)
    elif source == "precedents":
        raise SourcePathRequired(
            "Source « precedents » : indiquez la liste des projets avec --path "
            "(fichier CSV de projets financés, DETR/DSIL ou Fonds vert)."
        )
    elif source in API_SOURCES:
        root, version = sync_aides(settings), "api"
    else:
        pkg = packages.pinned(settings.corpus_dir, source)
        root, version = packages.package_dir(settings.packages_dir, pkg), pkg.version
    items, total = _READERS[source](settings, root, version, everything, path is not None)
    if on_total and total is not None:
        on_total(total)
    sync_log.begin(settings.data_dir, source)
    if rebuild:
        store.delete(SearchFilter(sources=[source], every_tenant=True))
    summary = ingest(
        items,
        store=store,
        source=source,
        version=version,
        encoder=Bm25Encoder.from_settings(settings),
        embedder=embedder,
        progress=progress,
        on_written=on_written,
        scoped=source in _SCOPED,
        history=source == "legi",  # codes: past versions stay searchable by date
    )
    term_stats.save(settings.data_dir, source, source_term_stats(store, source, FrenchAnalyzer()))
    if source == "legi":
        if path is None and previous and previous != version:
            journal_upgrade(settings, str(previous), root, version)
        # from the codes' reading (a first ingestion, a history) and the snapshots compared
        summary.journal_changes = journal.size() - journaled
    sync_log.record(settings.data_dir, summary)
    return summary


def journal_upgrade(
    settings: Settings,
    previous_version: str,
    current_root: Path,
    current_version: str,
    codes: list[str] | None = None,
) -> int:
    """A newer legi-data snapshot was ingested: record what changed in the change journal,
    code by code, if the previous snapshot is still on disk. Returns the new entries."""
    from ingestion.sources import legi

    pkg = packages.pinned(settings.corpus_dir, "legi")
    old = packages.PinnedPackage("legi", pkg.package, previous_version, integrity="")
    old_root = settings.packages_dir / old.folder_name / "package"
    if not old_root.is_dir():
        return 0  # the previous snapshot was removed: nothing to compare with
    codes = codes if codes is not None else sorted(legi.default_codes(settings.corpus_dir))
    added = journal_packages(
        settings.data_dir, (old_root, previous_version), (current_root, current_version), codes
    )
    return sum(added.values())


def source_term_stats(store: Store, source: str, analyzer: FrenchAnalyzer) -> term_stats.TermStats:
    """Document frequencies over the chunks of `source` in force today (the past versions
    of articles, kept for questions on a past day, are not what is asked by default)."""
    fields = ["title", "breadcrumb", "section", "lead", "text"]
    today = SearchFilter(sources=[source], as_of=date.today())
    texts = (payload_index_text(p, str(p.get("text", ""))) for _, p in store.scan(today, fields))
    return term_stats.TermStats.count(
        {term_index(t) for t in analyzer.terms(text)} for text in texts
    )


def delete_document(store: Store, doc_id: str) -> int:
    # a commune's document (doc/<tenant>/<hash>) is only visible within its tenant
    tenant = doc_id.split("/")[1] if doc_id.startswith("doc/") and doc_id.count("/") == 2 else ""
    return store.delete(SearchFilter(doc_ids=[doc_id], tenants=[tenant] if tenant else []))


@dataclass(frozen=True)
class CodeRow:
    """One code as indexed: its articles (every version counted once) and where it comes from."""

    code_id: str
    title: str
    articles: int
    origin: str  # « LexHub, texte à jour au … » or « legi-data 2.513.0 »


def expected_codes(settings: Settings) -> dict[str, str]:
    """The codes `plume ingest legi` indexes here: id → title (LexHub's only when fetched)."""
    codes = listed_codes(settings.corpus_dir)
    pin = lexhub.load_pin(settings.corpus_dir)
    if pin is not None and lexhub.fetched(settings.packages_dir, pin) is not None:
        codes |= {c.id: c.title for c in pin.codes}
    return codes


def code_inventory(settings: Settings, stats: list[SourceStats]) -> list[CodeRow]:
    """The codes of the `legi` source, from the store's counts per document-id part."""
    legi = next((s for s in stats if s.source == "legi"), None)
    if legi is None:
        return []
    pin = lexhub.load_pin(settings.corpus_dir)
    from_lexhub = {c.id for c in pin.codes} if pin else set()
    titles = expected_codes(settings)
    legi_data = packages.pinned(settings.corpus_dir, "legi").version
    rows = []
    for part, articles in sorted(legi.parts.items()):
        code_id = part.removeprefix("legi/")
        if pin is not None and code_id in from_lexhub:
            origin = f"LexHub, texte à jour au {french_date(pin.text_date)}"
        else:
            origin = f"legi-data {legi_data}"
        rows.append(CodeRow(code_id, titles.get(code_id, code_id), articles, origin))
    return rows


def indexed_codes(settings: Settings, stats: list[SourceStats]) -> dict[str, str]:
    """The codes the index holds: id → title."""
    return {row.code_id: row.title for row in code_inventory(settings, stats)}


def missing_codes(settings: Settings, stats: list[SourceStats]) -> list[str]:
    """The codes `plume ingest legi` would index that the store does not hold yet."""
    legi = next((s for s in stats if s.source == "legi"), None)
    held = {p.removeprefix("legi/") for p in legi.parts} if legi else set()
    return sorted(set(expected_codes(settings)) - held)
