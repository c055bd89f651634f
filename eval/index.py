"""The evaluation index: the default corpora plus the shared test data, in its own folder.

`<data_dir>/eval-index` holds a store of its own (the serving index is never touched) and
a link to the fetched packages; `eval-index-e5` the same with the passages' e5 vectors,
computed once (about an hour and a half on 2 cores), then only for new passages. Each part
is ingested once, then again only when its package version or file changed
(`parts.json`): a rerun opens the index in a second.
Parts whose shared file is absent are skipped and named; their questions then show up as
unknown gold ids. A part with a `tenant` is a commune's uploaded documents (text PDFs only:
OCR would make the index slow to build), ingested as `plume ingest files` does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assistant.runtime import Runtime
from ingestion import lexhub
from plume import REPO_ROOT, packages
from plume.documents import SOURCES
from plume.errors import UnknownSource
from plume.settings import Settings
from plume.store import SearchFilter

SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
STAMPS = "parts.json"
MUNICIPAL = "municipal_documents"
# the communes whose documents the index holds (INSEE codes): Couthenans, Montpellier
TENANTS = ("70184", "34172")


@dataclass(frozen=True)
class IndexPart:
    source: str
    path: Path | None = None  # None: the pinned package (or the source's own reader)
    everything: bool = False  # service-public: every fiche, not the town-hall selection
    tenant: str | None = None  # a commune's documents (source "documents"), not a corpus
    glob: str = "*.json"  # the files of a folder `path`

    @property
    def label(self) -> str:
        label = f"{self.source} ({self.path.name})" if self.path else self.source
        label = f"{label} {self.tenant}" if self.tenant else label
        return f"{label} --all" if self.everything else label

    def files(self) -> list[Path]:
        """The part's files: `path` itself, or those of the folder matching `glob`."""
        if self.path is None:
            return []
        return [self.path] if self.path.is_file() else sorted(self.path.rglob(self.glob))


def default_parts(shared: Path = SHARED_DATA, all_fiches: bool = False) -> list[IndexPart]:
    """The default corpora and the shared files; `all_fiches`: every fiche of the package
    (external sets such as PIAF's cover every theme, not only the town hall's)."""
    parts = [
        IndexPart("service-public", everything=all_fiches),
        IndexPart("legi"),  # legi-data's four codes and LexHub's four (CGCT, électoral…)
        IndexPart(
            "aides-territoires", shared / "aides_territoires/aides-territoires_periurbain.csv"
        ),
    ]
    if "programmes" in SOURCES:  # the national programmes catalogue, when Plume has it
        parts.append(IndexPart("programmes"))
    documents = shared / MUNICIPAL
    return [
        *parts,
        # council minutes 2021-2023 (the scanned prefectoral order aside)
        IndexPart(
            "documents", documents / "couthenans_haute_saone", tenant="70184", glob="CR_*.pdf"
        ),
        # the délibérations of the council of 24 April 2014 (40 files)
        IndexPart(
            "documents",
            documents / "montpellier_deliberations_2014" / "pdf",
            tenant="34172",
            glob="2014-04-24-*.pdf",
        ),
    ]


def eval_settings(
    settings: Settings, folder: Path | None = None, all_fiches: bool = False
) -> Settings:
    """The same settings on the evaluation folder, which shares the fetched packages."""
    # dense or not, e5 or not, selection or every fiche: separate indexes, never mixed
    name = (
        "eval-index"
        + ("-hybrid" if settings.use_dense else "")
        + ("-e5" if settings.local_dense else "")
        + ("-all" if all_fiches else "")
    )
    folder = folder or settings.data_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "packages"
    if not link.exists() and not link.is_symlink():
        link.symlink_to(settings.packages_dir.resolve(), target_is_directory=True)
    return settings.model_copy(update={"data_dir": folder})


def _fingerprint(settings: Settings, part: IndexPart) -> str:
    if part.path is not None:
        files = part.files()
        return ";".join(f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in files)
    try:
        version = packages.pinned(settings.corpus_dir, part.source).version
    except UnknownSource:  # not an npm package: its catalogue in corpus/, if any
        catalogue = settings.corpus_dir / f"{part.source}.toml"
        if catalogue.is_file():
            return f"{catalogue.name}:{catalogue.stat().st_size}:{int(catalogue.stat().st_mtime)}"
        return ""  # else always brought up to date (incremental)
    if part.source == "legi":  # and the LexHub history read with it, when fetched
        pin = lexhub.load_pin(settings.corpus_dir)
        history = lexhub.fetched(settings.packages_dir, pin) if pin else None
        if history is not None:
            version += f"+{history.name}"
    return version


def _part_filter(part: IndexPart) -> SearchFilter:
    if part.tenant:  # this commune's documents only (the shared corpus is always visible)
        return SearchFilter(
            sources=[part.source], tenants=[part.tenant], fields={"tenant": [part.tenant]}
        )
    return SearchFilter(sources=[part.source])


def _ingest_documents(settings: Settings, runtime: Runtime, part: IndexPart) -> None:
    """A commune's files, as uploaded; unchanged files are skipped by their content hash."""
    from ingestion.documents.items import Upload
    from ingestion.documents.library import ingest_files

    assert part.tenant is not None
    uploads = (Upload(name=f.name, data=f.read_bytes()) for f in part.files())
    ingest_files(settings, runtime.store, runtime.embedder, uploads, part.tenant, "eval")


def ensure_index(
    settings: Settings,
    parts: list[IndexPart] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> tuple[Runtime, list[str]]:
    """Open the evaluation index, ingesting the parts that are missing or changed.

    `settings` are already the evaluation settings (`eval_settings`). Returns the runtime
    and the labels of the parts skipped because their files are absent."""
    from ingestion.pipeline import index_signature
    from ingestion.service import ingest_source

    stamps_file = settings.data_dir / STAMPS
    stamps = json.loads(stamps_file.read_text()) if stamps_file.is_file() else {}
    runtime = Runtime.build(settings)
    skipped = []
    wanted = parts if parts is not None else default_parts()
    try:
        # parts no longer wanted (e.g. the 2015 code trees): their source is indexed afresh
        retired = [label for label in stamps if label not in {p.label for p in wanted}]
        for label in retired:
            source = label.split(" ")[0]
            say(f"Évaluation : « {label} » retiré, la source {source} est réindexée.")
            runtime.store.delete(SearchFilter(sources=[source], every_tenant=True))
            stamps = {k: v for k, v in stamps.items() if k.split(" ")[0] != source}
            stamps_file.write_text(json.dumps(stamps, indent=1))
        for part in wanted:
            if part.path is not None and not part.path.exists():
                skipped.append(part.label)
                continue
            # the part's files, and how vectors are computed (analyzer version, embedder):
            # a new analyzer re-indexes the part even when its files are the same
            stamp = _fingerprint(settings, part)
            stamp = f"{index_signature(runtime.embedder)}|{stamp}" if stamp else ""
            indexed = runtime.store.count(_part_filter(part)) > 0
            if stamp and indexed and stamps.get(part.label) == stamp:
                continue
            say(f"Indexation de l'évaluation : {part.label}…")
            if part.tenant:
                _ingest_documents(settings, runtime, part)
            else:
                ingest_source(
                    settings,
                    runtime.store,
                    runtime.embedder,
                    part.source,
                    path=part.path,
                    everything=part.everything,
                )
            stamps[part.label] = stamp
            stamps_file.write_text(json.dumps(stamps, indent=1))
        if settings.local_dense:  # the e5 vectors of what is new (resumable, long the 1st time)
            from ingestion.local_vectors import LocalVectorFiller, coverage

            missing = coverage(runtime.store)
            if missing.done < missing.total:
                say(f"Vecteurs e5 de l'évaluation : {missing.total - missing.done} passages…")
                LocalVectorFiller(
                    runtime.store,
                    threads=settings.local_fill_threads,
                    nice=settings.local_fill_nice,
                ).run()
        runtime.refresh_stats()
    except BaseException:
        runtime.close()
        raise
    return runtime, skipped


def indexed_doc_ids(runtime: Runtime, tenants: Sequence[str] = TENANTS) -> set[str]:
    """Every doc id in the index (all sources, all versions), the communes' included."""
    where = SearchFilter(tenants=list(tenants))
    return {str(p["doc_id"]) for _, p in runtime.store.scan(where, ["doc_id"])}
