"""Which gold ids exist in the real corpora, read from the files (no index needed).

Fiches: the fiche's file in the pinned service-public package. Articles: parsed with
Plume's own readers from the pinned legi-data package and the LexHub history (the
articles in force today), else the shared 2015 code trees.
Aids: the shared aides-territoires export, and the national programmes catalogue
(corpus/programmes.toml). `plume eval check` checks the same ids against the index.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from pathlib import Path

from eval.index import SHARED_DATA
from ingestion import lexhub
from plume import packages
from plume.settings import Settings

AIDES_CSV = SHARED_DATA / "aides_territoires" / "aides-territoires_periurbain.csv"


def _fiches(settings: Settings, ids: set[str]) -> set[str]:
    root = packages.package_dir(
        settings.packages_dir, packages.pinned(settings.corpus_dir, "service-public")
    )
    return {i for i in ids if any((root / "data").glob(f"*/{i.removeprefix('vdd/')}.json"))}


@lru_cache(maxsize=8)
def _in_force_today(history: Path, pin: lexhub.Pin, code: str) -> frozenset[str]:
    today = date.today().isoformat()
    (read,) = lexhub.read_codes(history, pin, since=today, codes=[code])
    return frozenset(a.doc_id for a in read.code.articles)


def _articles(settings: Settings, ids: set[str], shared: Path) -> set[str]:
    from ingestion.legi import load_code_tree, parse_code

    package = packages.package_dir(
        settings.packages_dir, packages.pinned(settings.corpus_dir, "legi")
    )
    found: set[str] = set()
    codes = {i.split("/")[1] for i in ids}
    pin = lexhub.load_pin(settings.corpus_dir)
    history = lexhub.fetched(settings.packages_dir, pin) if pin else None
    if pin is not None and history is not None:  # the LexHub codes, in force today
        mirrored = codes & {c.id for c in pin.codes}
        for code in mirrored:
            found |= _in_force_today(history, pin, code) & ids
        codes -= mirrored
    for code in sorted(codes):
        candidates = [package / "data" / f"{code}.json", shared / "legi" / f"{code}.json"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            continue
        parsed = parse_code(load_code_tree(path.read_bytes(), path.name))
        found |= {a.doc_id for a in parsed.articles} & ids
    return found


def _aids(settings: Settings, ids: set[str], shared: Path) -> set[str]:
    from ingestion.aides_territoires.records import from_csv

    known: set[str] = set()
    csv = shared / "aides_territoires" / AIDES_CSV.name
    if csv.is_file():
        known |= {a.doc_id for a in from_csv(csv)[0]}
    catalogue = settings.corpus_dir / "programmes.toml"
    if catalogue.is_file():
        from ingestion.sources import programmes

        known |= {p.aide.doc_id for p in programmes.load(catalogue)[1]}
    return ids & known


def missing_gold_ids(
    ids: Iterable[str], settings: Settings, shared: Path = SHARED_DATA
) -> set[str]:
    """The ids (vdd/…, legi/…, aide/…) that none of the real corpora holds."""
    wanted = set(ids)
    by_prefix = {p: {i for i in wanted if i.startswith(p)} for p in ("vdd/", "legi/", "aide/")}
    found = _fiches(settings, by_prefix["vdd/"]) if by_prefix["vdd/"] else set()
    if by_prefix["legi/"]:
        found |= _articles(settings, by_prefix["legi/"], shared)
    if by_prefix["aide/"]:
        found |= _aids(settings, by_prefix["aide/"], shared)
    return wanted - found
