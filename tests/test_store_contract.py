"""One contract, two backends: qdrant-edge (embedded) and qdrant-client (server path)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from plume.documents import SHARED_TENANT, point_id
from plume.errors import StoreLocked
from plume.store import LOCAL_DIM, Search, SearchFilter, SourceStats, Store, StoredPoint
from plume.store.cache import SourceStatsCache
from plume.store.edge import EdgeStore
from plume.store.layout import Layout
from plume.store.server import ServerStore
from plume.text import Bm25Encoder

enc = Bm25Encoder(avg_len=8)


def chunk(
    doc_id: str, i: int, text: str, dense: list[float] | None = None, **payload: object
) -> StoredPoint:
    base = {
        "doc_id": doc_id,
        "text": text,
        "source": "service-public",
        "source_version": "1.0",
        "kind": "fiche",
        "audience": ["Particuliers"],
        "tenant": SHARED_TENANT,
        "content_hash": f"h-{doc_id}-{i}-{len(text)}",
    }
    base.update(payload)
    return StoredPoint(point_id(doc_id, i), base, enc.encode_document(text), dense)


CORPUS = [
    chunk("vdd/F1", 0, "Acte de naissance : copie intégrale demandée en mairie", [1, 0, 0, 0]),
    chunk("vdd/F1", 1, "La copie intégrale est gratuite", [0.9, 0.1, 0, 0]),
    chunk("vdd/F2", 0, "Concession funéraire au cimetière communal", [0, 1, 0, 0]),
    chunk(
        "vdd/F3", 0, "Création d'une association loi 1901", [0, 0, 1, 0], audience=["Associations"]
    ),
    chunk(
        "aide/toit",
        0,
        "Subvention pour la rénovation du toit de l'école",
        None,
        source="aides",
        source_version="2",
    ),
    chunk(
        "doc/a/0123456789abcdef",
        0,
        "Délibération du conseil municipal sur le cimetière",
        [0, 1, 0, 0],
        tenant="commune-a",
        kind="document",
    ),
    chunk(
        "doc/b/0123456789abcdef",
        0,
        "Délibération secrète du conseil sur le cimetière",
        [0, 1, 0, 0],
        tenant="commune-b",
        kind="document",
    ),
]


def ids(hits: list) -> list[str]:
    return [h.doc_id for h in hits]


@pytest.fixture
def filled(store: Store) -> Store:
    store.upsert(CORPUS)
    return store


def test_ensure_collection_is_idempotent(store: Store) -> None:
    store.ensure_collection()
    store.ensure_collection()
    assert store.count() == 0


def test_upsert_count_and_overwrite(filled: Store) -> None:
    assert filled.count() == len(CORPUS)
    filled.upsert([chunk("vdd/F1", 0, "Acte de naissance modifié", [1, 0, 0, 0])])
    assert filled.count() == len(CORPUS)  # same id: overwritten, not added
    hit = filled.query(
        sparse=enc.encode_query("modifié"), dense=None, where=SearchFilter(), limit=1
    )
    assert hit[0].payload["text"] == "Acte de naissance modifié"


def test_sparse_query_ranks_the_matching_chunk_first(filled: Store) -> None:
    hits = filled.query(
        sparse=enc.encode_query("concession cimetière"), dense=None, where=SearchFilter(), limit=3
    )
    assert hits[0].doc_id == "vdd/F2"
    assert "text" in hits[0].payload


def test_idf_favours_rare_terms(filled: Store) -> None:
    # "copie" is in two chunks, "gratuite" in one: the chunk with the rare term wins.
    hits = filled.query(
        sparse=enc.encode_query("copie gratuite"), dense=None, where=SearchFilter(), limit=2
    )
    assert hits[0].payload["text"] == "La copie intégrale est gratuite"


def test_dense_only_and_hybrid_rrf(filled: Store) -> None:
    dense = filled.query(sparse=None, dense=[0, 0, 1, 0], where=SearchFilter(), limit=1)
    assert ids(dense) == ["vdd/F3"]
    hybrid = filled.query(
        sparse=enc.encode_query("concession funéraire"),
        dense=[0, 0, 1, 0],
        where=SearchFilter(),
        limit=4,
    )
    # RRF: the best of each list come first, both present
    assert set(ids(hybrid)[:2]) == {"vdd/F2", "vdd/F3"}
    # scores are reciprocal ranks (k=60) summed over the two lists, not raw similarities
    assert all(1 / 120 < h.score <= 2 / 60 + 1e-6 for h in hybrid)


def test_points_without_dense_vector_are_found_by_sparse(filled: Store) -> None:
    hits = filled.query(
        sparse=enc.encode_query("subvention toit école"),
        dense=[1, 0, 0, 0],
        where=SearchFilter(),
        limit=3,
    )
    assert "aide/toit" in ids(hits)


def test_no_vector_no_result(filled: Store) -> None:
    assert filled.query(sparse=None, dense=None, where=SearchFilter(), limit=5) == []
    assert (
        filled.query(sparse=enc.encode_query("le la"), dense=None, where=SearchFilter(), limit=5)
        == []
    )


def test_a_batch_answers_each_search_as_query_does(filled: Store) -> None:
    searches = [
        Search(enc.encode_query("concession cimetière"), SearchFilter(), 3),
        Search(None, SearchFilter(), 5),  # no vector: no result, the others still answered
        Search(enc.encode_query("copie"), SearchFilter(doc_ids=["vdd/F1"]), 5, fields=["doc_id"]),
        Search(enc.encode_query("funéraire"), SearchFilter(), 4, dense=[0, 0, 1, 0]),
    ]
    batch = filled.query_batch(searches)
    alone = [
        filled.query(sparse=s.sparse, dense=s.dense, where=s.where, limit=s.limit, fields=s.fields)
        for s in searches
    ]
    assert [[(h.id, h.score, h.payload) for h in hits] for hits in batch] == [
        [(h.id, h.score, h.payload) for h in hits] for hits in alone
    ]
    assert ids(batch[0])[0] == "vdd/F2" and batch[1] == [] and len(batch[3]) == 4
    # the payload selector: only the fields asked come back
    assert batch[2] and all(h.payload == {"doc_id": "vdd/F1"} for h in batch[2])
    assert filled.query_batch([]) == []


def test_filters_by_source_audience_kind_and_doc(filled: Store) -> None:
    q = enc.encode_query("copie cimetière association subvention délibération")
    assert set(
        ids(filled.query(sparse=q, dense=None, where=SearchFilter(sources=["aides"]), limit=10))
    ) == {"aide/toit"}
    assert ids(
        filled.query(sparse=q, dense=None, where=SearchFilter(audiences=["Associations"]), limit=10)
    ) == ["vdd/F3"]
    assert set(
        ids(filled.query(sparse=q, dense=None, where=SearchFilter(doc_ids=["vdd/F1"]), limit=10))
    ) == {"vdd/F1"}
    assert filled.count(SearchFilter(kinds=["document"], tenants=["commune-a"])) == 1


def test_tenants_see_the_shared_corpus_and_their_own_only(filled: Store) -> None:
    q = enc.encode_query("délibération conseil cimetière")
    nobody = ids(filled.query(sparse=q, dense=None, where=SearchFilter(), limit=10))
    assert not any(d.startswith("doc/") for d in nobody)
    a = ids(filled.query(sparse=q, dense=None, where=SearchFilter(tenants=["commune-a"]), limit=10))
    assert "doc/a/0123456789abcdef" in a and "doc/b/0123456789abcdef" not in a
    assert "vdd/F2" in a  # the shared corpus stays visible
    assert filled.count(SearchFilter(tenants=["commune-b"])) == len(CORPUS) - 1


def test_delete_by_filter_and_by_id(filled: Store) -> None:
    assert filled.delete(SearchFilter(doc_ids=["vdd/F1"])) == 2
    assert filled.count() == len(CORPUS) - 2
    assert filled.delete(SearchFilter(doc_ids=["vdd/absent"])) == 0
    filled.delete_ids([point_id("vdd/F2", 0)])
    assert filled.count() == len(CORPUS) - 3
    filled.delete_ids([])


def test_scan_returns_every_point_with_the_fields_asked(store: Store) -> None:
    many = [chunk(f"vdd/F{i}", 0, f"texte numéro {i}") for i in range(2500)]
    store.upsert(many)
    seen = dict(store.scan(SearchFilter(sources=["service-public"]), ["doc_id", "content_hash"]))
    assert len(seen) == 2500
    payload = seen[point_id("vdd/F7", 0)]
    assert payload == {"doc_id": "vdd/F7", "content_hash": many[7].payload["content_hash"]}


def test_list_sources(filled: Store) -> None:
    stats = {s.source: s for s in filled.list_sources()}
    assert set(stats) == {"service-public", "aides"}
    sp = stats["service-public"]
    assert (sp.documents, sp.chunks, sp.versions) == (5, 6, {"1.0": 6})
    # documents per part of their ids (per code for `legi/<code>/<num>`; here per commune)
    assert sp.parts == {"doc/a": 1, "doc/b": 1}


def test_list_sources_is_kept_until_a_write_changes_it(filled: Store) -> None:
    cache = filled.source_stats  # type: ignore[attr-defined]

    def figures() -> dict[str, tuple[int, int, dict[str, int]]]:
        return {s.source: (s.documents, s.chunks, s.versions) for s in filled.list_sources()}

    before = figures()
    assert figures() == before and cache.computations == 1  # read again: not recomputed
    filled.set_local({point_id("vdd/F1", 0): [1.0] * LOCAL_DIM})  # e5 vectors: no count moves
    assert figures() == before and cache.computations == 1
    filled.upsert([chunk("vdd/F9", 0, "Recensement citoyen"), chunk("vdd/F9", 1, "à 16 ans")])
    assert figures()["service-public"] == (6, 8, {"1.0": 8})
    filled.set_payload([point_id("vdd/F9", 1)], {"source_version": "1.1"})
    assert figures()["service-public"][2] == {"1.0": 7, "1.1": 1}
    filled.delete(SearchFilter(doc_ids=["vdd/F9"]))
    assert figures() == before
    filled.delete_ids([point_id("aide/toit", 0)])
    assert set(figures()) == {"service-public"}
    assert cache.computations == 5  # once per write


def test_source_figures_are_computed_by_one_reader_at_a_time() -> None:
    cache = SourceStatsCache()
    started, release = threading.Event(), threading.Event()
    old, new = [SourceStats("a", 1, 1)], [SourceStats("a", 2, 2)]

    def slow() -> list[SourceStats]:
        started.set()
        release.wait(5)
        return new

    assert cache.get(lambda: old) == old
    cache.stale()
    first = threading.Thread(target=cache.get, args=(slow,))
    first.start()
    assert started.wait(5)
    # while one reader computes, the others get the previous figures at once
    assert cache.get(lambda: pytest.fail("a second scan")) == old
    release.set()
    first.join(5)
    assert cache.get(lambda: pytest.fail("figures still fresh")) == new
    assert cache.computations == 2


def test_a_costly_computation_waits_while_writes_keep_coming() -> None:
    now = [0.0]
    cache = SourceStatsCache(clock=lambda: now[0])
    counts = iter(range(1, 10))

    def costly() -> list[SourceStats]:  # the scan of a large index: 2 s
        now[0] += 2.0
        n = next(counts)
        return [SourceStats("a", n, n)]

    assert cache.get(costly)[0].documents == 1  # from 0 to 2 s
    cache.stale()  # an ingestion writes on
    now[0] = 9.0  # less than 5 × 2 s after the last scan began: the previous figures
    assert cache.get(costly)[0].documents == 1
    now[0] = 10.0
    assert cache.get(costly)[0].documents == 2
    cache.stale()
    now[0] = 30.0  # the ingestion is over: the next reader gets exact figures
    assert cache.get(costly)[0].documents == 3
    assert cache.get(costly)[0].documents == 3 and cache.computations == 3
    quick = SourceStatsCache(clock=lambda: now[0])  # a small index is always exact
    assert quick.get(lambda: [SourceStats("a", 1, 1)])[0].documents == 1
    quick.stale()
    assert quick.get(lambda: [SourceStats("a", 2, 2)])[0].documents == 2


def test_edge_store_persists_across_reopen(tmp_path: Path) -> None:
    s = EdgeStore(tmp_path / "s", dense_dim=4)
    s.ensure_collection()
    s.upsert(CORPUS)
    s.close()
    again = EdgeStore(tmp_path / "s", dense_dim=4)
    again.ensure_collection()
    assert again.count() == len(CORPUS)
    again.close()


def test_edge_store_is_owned_by_one_process(tmp_path: Path) -> None:
    s = EdgeStore(tmp_path / "s", dense_dim=4)
    s.ensure_collection()
    try:
        code = (
            "from pathlib import Path; from plume.store.edge import EdgeStore\n"
            "from plume.errors import StoreLocked\n"
            f"try:\n    EdgeStore(Path({str(tmp_path / 's')!r}), dense_dim=4)\n"
            "except StoreLocked as e:\n    print('LOCKED', e.message)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
        )
        assert "LOCKED" in out.stdout
        assert "arrêtez-le, ou passez par son API" in out.stdout  # the CLI adds its remedy
    finally:
        s.close()
    assert issubclass(StoreLocked, Exception)


def test_as_of_keeps_the_versions_in_force_that_day(store: Store) -> None:
    from datetime import date

    from plume.documents import ALWAYS_TO, day_number

    def version(doc: str, i: int, start: str, end: str | None) -> StoredPoint:
        days = {
            "in_force_from_day": day_number(start, 0),
            "in_force_to_day": day_number(end, ALWAYS_TO),
        }
        return chunk(doc, i, "quorum du conseil municipal", kind="article", **days)

    store.upsert(
        [
            version("legi/LEGITEXT000006070633/L1", 0, "2016-01-01", "2020-01-01"),
            version("legi/LEGITEXT000006070633/L1", 1, "2020-01-01", None),
            version("legi/LEGITEXT000006070633/L2", 0, "2000-01-01", "2010-01-01"),  # repealed
            version("legi/LEGITEXT000006070633/L3", 0, "2030-01-01", None),  # not yet in force
            chunk("vdd/F1", 0, "quorum du conseil municipal"),  # no dates: always visible
        ]
    )
    q = enc.encode_query("quorum conseil municipal")

    def seen(day: date | None) -> set[tuple[str, str]]:
        hits = store.query(sparse=q, dense=None, where=SearchFilter(as_of=day), limit=10)
        return {(h.doc_id, str(h.payload.get("in_force_from_day", "-"))) for h in hits}

    v1, v2 = str(day_number("2016-01-01", 0)), str(day_number("2020-01-01", 0))
    assert seen(date(2018, 6, 1)) == {("legi/LEGITEXT000006070633/L1", v1), ("vdd/F1", "-")}
    assert seen(date(2020, 1, 1)) == {("legi/LEGITEXT000006070633/L1", v2), ("vdd/F1", "-")}
    assert ("legi/LEGITEXT000006070633/L2", str(day_number("2000-01-01", 0))) in seen(
        date(2005, 1, 1)
    )
    assert len(seen(None)) == 5  # no date: every version
    assert store.count(SearchFilter(as_of=date(2031, 1, 1))) == 3  # L1 v2, L3, F1


def test_set_payload_changes_only_the_fields_given(filled: Store) -> None:
    pid = point_id("vdd/F2", 0)
    filled.set_payload([pid], {"in_force_to": "2020-01-01", "state": "MODIFIE"})
    filled.set_payload([], {"x": 1})  # nothing to do
    [(_, payload)] = [
        (i, p)
        for i, p in filled.scan(SearchFilter(doc_ids=["vdd/F2"]), ["in_force_to", "state", "text"])
    ]
    assert payload == {
        "in_force_to": "2020-01-01",
        "state": "MODIFIE",
        "text": "Concession funéraire au cimetière communal",
    }


def test_grant_fields_and_closing_window(store: Store) -> None:
    """Aids filtered by beneficiary, type and perimeter (lists match any value), and by
    the end of their validity: `ends_by` keeps those ending by that day, never the
    open-ended ones."""
    from datetime import date

    from plume.documents import ALWAYS_TO, day_number

    def aid(slug: str, beneficiaries: list[str], perimeter: str, ends: str | None) -> StoredPoint:
        return chunk(
            f"aide/{slug}",
            0,
            "subvention pour la toiture de l'école",
            kind="aide",
            beneficiaries=beneficiaries,
            aid_types=["Subvention"],
            perimeter_key=perimeter,
            in_force_to_day=day_number(ends, ALWAYS_TO),
        )

    store.upsert(
        [
            aid("a", ["Communes", "Intercommunalités / Pays"], "yvelines", "2026-12-01"),
            aid("b", ["Départements"], "france", "2026-12-10"),
            aid("c", ["Communes"], "inconnu", None),
            aid("d", ["Communes"], "manche", "2027-03-01"),
        ]
    )
    q = enc.encode_query("toiture école")

    def seen(where: SearchFilter) -> set[str]:
        return {h.doc_id for h in store.query(sparse=q, dense=None, where=where, limit=10)}

    communes = {"beneficiaries": ["Communes"]}
    assert seen(SearchFilter(fields=communes)) == {"aide/a", "aide/c", "aide/d"}
    here = {**communes, "perimeter_key": ["yvelines", "ile de france", "france", "inconnu"]}
    assert seen(SearchFilter(fields=here)) == {"aide/a", "aide/c"}
    assert seen(SearchFilter(fields=here, ends_by=date(2026, 12, 31))) == {"aide/a"}
    assert seen(SearchFilter(fields={"aid_types": ["Prêt"]})) == set()
    assert store.count(SearchFilter(ends_by=date(2026, 12, 10))) == 2
    with pytest.raises(ValueError):
        SearchFilter(fields={"not_indexed": ["x"]}).conditions()


# --- the local e5 vectors, filled after BM25 indexing ---------------------------------------------


def e5(*hot: int) -> list[float]:
    """A unit vector of the e5 size with weight on the given axes."""
    v = [0.0] * LOCAL_DIM
    for axis in hot:
        v[axis] = 1.0
    norm = sum(x * x for x in v) ** 0.5
    return [x / norm for x in v]


def test_local_vectors_are_set_counted_and_searched(filled: Store) -> None:
    total = filled.count()
    every = SearchFilter(every_tenant=True)
    assert filled.count(every) == total and filled.count(SearchFilter()) < total
    assert filled.count(SearchFilter(has_local=True, every_tenant=True)) == 0
    assert filled.count(SearchFilter(has_local=False, every_tenant=True)) == total
    f2, f3 = point_id("vdd/F2", 0), point_id("vdd/F3", 0)
    filled.set_local({f2: e5(1), f3: e5(2)})
    assert filled.count(SearchFilter(has_local=True)) == 2
    missing = {
        i for i, _ in filled.scan(SearchFilter(has_local=False, every_tenant=True), ["doc_id"])
    }
    assert f2 not in missing and len(missing) == total - 2
    # the payload and the other vectors are unchanged
    hit = filled.query(
        sparse=enc.encode_query("concession"), dense=None, where=SearchFilter(), limit=1
    )
    assert ids(hit) == ["vdd/F2"] and hit[0].payload["content_hash"].startswith("h-vdd/F2")
    near = filled.query(sparse=None, dense=None, local=e5(2), where=SearchFilter(), limit=1)
    assert ids(near) == ["vdd/F3"]
    stored = {p.id: p for p in filled.points()}
    assert stored[f3].local is not None and abs(stored[f3].local[2] - 1.0) < 1e-5
    assert stored[f3].dense == [0, 0, 1, 0] and stored[point_id("vdd/F1", 0)].local is None


def test_fusion_weights_decide_between_the_lists(filled: Store) -> None:
    # vdd/F2 only in the sparse list, vdd/F3 first of the e5 list: the weights decide
    filled.set_local({point_id("vdd/F3", 0): e5(2), point_id("vdd/F1", 0): e5(1)})
    sparse = enc.encode_query("concession funéraire")

    def first(weights: dict[str, float]) -> str:
        hits = filled.query(
            sparse=sparse, dense=None, local=e5(2), weights=weights, where=SearchFilter(), limit=2
        )
        return hits[0].doc_id

    assert first({"bm25": 3.0}) == "vdd/F2"
    assert first({"e5": 3.0}) == "vdd/F3"


def test_a_local_vector_comes_with_the_point_it_was_upserted_with(store: Store) -> None:
    point = chunk("vdd/F9", 0, "Recensement citoyen à seize ans", [0, 0, 0, 1])
    store.upsert([StoredPoint(point.id, point.payload, point.sparse, point.dense, e5(5))])
    assert store.count(SearchFilter(has_local=True)) == 1
    # an upsert without one (changed text) drops it: the point is embedded again
    store.upsert([point])
    assert store.count(SearchFilter(has_local=False)) == 1


def test_an_edge_store_made_before_e5_is_migrated_by_the_command(tmp_path: Path) -> None:
    import qdrant_edge as q

    old = q.EdgeConfig(
        vectors={"dense": q.EdgeVectorParams(size=4, distance=q.Distance.Cosine)},
        sparse_vectors={"bm25": q.EdgeSparseVectorParams(modifier=q.Modifier.Idf)},
    )
    folder = tmp_path / "old"
    shard = q.EdgeShard.create(str(folder), old)
    for p in CORPUS[:3]:
        vector: dict[str, object] = {
            "bm25": q.SparseVector(indices=p.sparse.indices, values=p.sparse.values)
        }
        if p.dense:
            vector["dense"] = p.dense
        shard.update(
            q.UpdateOperation.upsert_points([q.Point(id=p.id, vector=vector, payload=p.payload)])
        )
    shard.flush()
    shard.close()
    store = EdgeStore(folder, dense_dim=4)
    assert not store.layout.local  # opened as it is; the command adds the vector
    store.migrate(Layout(dense_dim=4, local=True))
    try:
        assert store.count() == 3 and store.count(SearchFilter(has_local=False)) == 3
        store.set_local({CORPUS[0].id: e5(3)})
        assert ids(
            store.query(sparse=None, dense=None, local=e5(3), where=SearchFilter(), limit=1)
        ) == ["vdd/F1"]
        assert ids(
            store.query(
                sparse=enc.encode_query("concession"), dense=None, where=SearchFilter(), limit=1
            )
        ) == ["vdd/F2"]
    finally:
        store.close()
    assert not (tmp_path / "old.new").exists() and not (tmp_path / "old.old").exists()
    again = EdgeStore(folder, dense_dim=4)  # opens at once: nothing left to migrate
    assert again.count(SearchFilter(has_local=True)) == 1
    again.close()


def test_a_server_collection_made_before_e5_gets_the_vector() -> None:
    from qdrant_client import models

    store = ServerStore(":memory:", collection="old", dense_dim=4)
    store._client.create_collection(
        "old",
        vectors_config={"dense": models.VectorParams(size=4, distance=models.Distance.COSINE)},
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    store.ensure_collection()
    store.migrate(Layout(dense_dim=4, local=True))
    store.upsert(CORPUS[:2])
    store.set_local({CORPUS[1].id: e5(4)})
    assert store.count(SearchFilter(has_local=True)) == 1
    store.close()
