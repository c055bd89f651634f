"""The store holds exactly the vectors configured; its layout is recorded and migrated by a
command (issue 23); the server backend's cluster layout (issue 22)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from plume.documents import SHARED_TENANT, point_id
from plume.errors import StoreUnavailable
from plume.store import LOCAL_DIM, SearchFilter, StoredPoint
from plume.store.edge import EdgeStore
from plume.store.layout import Cluster, Layout, changes, read_file
from plume.store.server import ServerStore
from plume.text import Bm25Encoder

enc = Bm25Encoder(avg_len=8)
WORDS = ["mairie", "conseil", "municipal", "délibération", "cimetière", "concession"]
WORDS += ["état", "civil", "urbanisme"]


def passages(n: int, dense: int | None = None, tenant: str = SHARED_TENANT) -> list[StoredPoint]:
    out = []
    for i in range(n):
        text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(6)) + f" numéro {i}"
        payload = {"doc_id": f"vdd/F{i}", "text": text, "tenant": tenant, "source": "sp"}
        vector = [1.0] + [0.0] * (dense - 1) if dense else None
        out.append(
            StoredPoint(point_id(f"vdd/F{i}", 0), payload, enc.encode_document(text), vector)
        )
    return out


def unit(axis: int) -> list[float]:
    v = [0.0] * LOCAL_DIM
    v[axis] = 1.0
    return v


def vector_bytes(folder: Path) -> dict[str, int]:
    """Bytes on disk of each named vector's storage, summed over the segments."""
    out: dict[str, int] = {}
    for d in folder.glob("segments/*/vector_storage-*"):
        name = d.name.removeprefix("vector_storage-")
        out[name] = out.get(name, 0) + sum(f.stat().st_blocks * 512 for f in d.rglob("*"))
    return out


def test_a_sparse_only_store_has_no_dense_slot(tmp_path: Path) -> None:
    n = 2000
    lean = EdgeStore(tmp_path / "lean", layout=Layout(local=False))
    before = EdgeStore(tmp_path / "before", layout=Layout(dense_dim=1024, local=True))
    for store in (lean, before):
        store.ensure_collection()
        store.upsert(passages(n))  # no dense nor e5 vector given, as without a model
        store.close()
    assert json.loads((tmp_path / "lean/edge_config.json").read_text()).get("vectors") in (None, {})
    lean_bytes, before_bytes = vector_bytes(tmp_path / "lean"), vector_bytes(tmp_path / "before")
    assert set(lean_bytes) == {"bm25"}
    # the empty slots: 1024 + 384 floats a passage before, none now
    slots = before_bytes["dense"] + before_bytes["e5"]
    assert slots >= n * (1024 + 384) * 4
    per_passage = (sum(before_bytes.values()) - sum(lean_bytes.values())) / n
    assert per_passage > 5_000  # bytes a passage the lean store does not spend
    again = EdgeStore(tmp_path / "lean")
    assert again.layout == Layout(local=False) and again.count() == n
    assert again.count(SearchFilter(has_local=True)) == 0
    again.close()


def test_vectors_the_store_lacks_are_left_out_and_e5_needs_a_migration(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path / "s", layout=Layout(local=False))
    store.ensure_collection()
    store.upsert(passages(3, dense=4))  # a dense vector given: dropped, the point kept
    assert store.count() == 3
    with pytest.raises(StoreUnavailable, match="plume store migrate"):
        store.set_local({passages(1)[0].id: unit(1)})
    store.close()


@pytest.mark.parametrize("backend", ["edge", "server"])
def test_a_vector_the_store_lacks_is_not_searched(backend: str, tmp_path: Path) -> None:
    """A model configured before `plume store migrate`: its vectors are dropped from the
    writes and from the searches, which BM25 answers."""
    lean = Layout(local=False)
    store = (
        EdgeStore(tmp_path / "s", layout=lean)
        if backend == "edge"
        else ServerStore(":memory:", collection="lean", layout=lean)
    )
    store.ensure_collection()
    store.upsert(passages(5, dense=4))
    hits = store.query(
        sparse=enc.encode_query("cimetière"),
        dense=[1.0, 0, 0, 0],
        local=unit(1),
        where=SearchFilter(),
        limit=3,
    )
    assert len(hits) == 3
    store.close()


def test_edge_migration_adds_and_removes_e5_in_place(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    store = EdgeStore(folder, layout=Layout(local=False))
    store.ensure_collection()
    store.upsert(passages(50))
    store.close()
    wanted = Layout(local=True)
    store = EdgeStore(folder, layout=wanted)  # opened as it is: BM25 answers meanwhile
    assert not store.layout.local and changes(store.layout, wanted)[0].in_place
    store.migrate(wanted)
    first = passages(1)[0].id
    store.set_local({first: unit(3)})
    near = store.query(sparse=None, dense=None, local=unit(3), where=SearchFilter(), limit=1)
    assert [h.id for h in near] == [first] and store.count() == 50
    store.close()
    assert read_file(folder) == wanted
    store = EdgeStore(folder, layout=Layout(local=False))
    assert store.count(SearchFilter(has_local=True)) == 1
    store.migrate(Layout(local=False))
    assert store.count(SearchFilter(has_local=True)) == 0 and store.count() == 50
    store.close()
    assert "e5" not in json.loads((folder / "edge_config.json").read_text()).get("vectors", {})


def test_edge_migration_to_int8_copies_every_point_and_keeps_the_answers(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    store = EdgeStore(folder, layout=Layout(local=True))
    store.ensure_collection()
    points = passages(300)
    store.upsert(points)
    store.set_local({p.id: unit(i % LOCAL_DIM) for i, p in enumerate(points)})
    query = enc.encode_query("cimetière concession numéro 7")

    def ranked() -> tuple[list[float], dict[str, dict[str, object]]]:
        # the scores (equal ones may come in another order) and every point's payload
        hits = store.query(sparse=query, dense=None, where=SearchFilter(), limit=5)
        return [round(h.score, 4) for h in hits], dict(store.scan(SearchFilter(), ["text"]))

    before = ranked()
    target = Layout(local=True, quantized=True)
    assert not changes(store.layout, target)[0].in_place
    store.migrate(target)
    assert ranked() == before and store.count(SearchFilter(has_local=True)) == 300
    near = store.query(sparse=None, dense=None, local=unit(7), where=SearchFilter(), limit=1)
    assert near[0].id == points[7].id
    store.close()
    assert not (tmp_path / "s.new").exists() and not (tmp_path / "s.old").exists()
    config = json.loads((folder / "edge_config.json").read_text())
    assert config["quantization_config"]["scalar"]["type"] == "int8"
    assert EdgeStore(folder).layout == target


def test_server_collection_made_with_the_vectors_configured_and_migrated() -> None:
    store = ServerStore(":memory:", collection="lean", layout=Layout(local=False, quantized=True))
    store.ensure_collection()
    info = store._client.get_collection("lean")
    assert info.config.params.vectors == {}  # bm25 only
    assert info.config.metadata["plume_layout"]["vectors"] == {"bm25": "sparse"}
    store.upsert(passages(5, dense=4))
    target = Layout(local=True, quantized=True)
    store.migrate(target)
    params = store._client.get_collection("lean").config.params.vectors["e5"]
    assert params.size == LOCAL_DIM
    store.set_local({passages(1)[0].id: unit(2)})
    assert store.count(SearchFilter(has_local=True)) == 1 and store.layout == target
    with pytest.raises(StoreUnavailable, match="nouvelle collection"):
        store.migrate(Layout(local=True, quantized=True, cluster=Cluster(shards=6)))
    assert store.layout == target  # nothing written
    store.close()


def test_the_store_commands(tmp_path: Path) -> None:
    from cli.main import app

    runner = CliRunner()
    env = {"PLUME_DATA_DIR": str(tmp_path / "data"), "PLUME_LOCAL_DENSE": "false"}
    made = runner.invoke(app, ["store", "init", "--json"], env=env)
    assert made.exit_code == 0, made.output
    state = json.loads(made.output)
    assert state["layout"]["vectors"] == {"bm25": "sparse"} and state["changes"] == []
    env["PLUME_LOCAL_DENSE"] = "true"
    shown = runner.invoke(app, ["store", "etat"], env=env)
    assert "ajouter le vecteur e5 (384 dimensions)" in shown.output
    assert "plume store migrate" in shown.output
    done = runner.invoke(app, ["store", "migrate", "--json"], env=env)
    assert done.exit_code == 0, done.output
    state = json.loads(done.output)
    assert "e5" in state["layout"]["vectors"] and state["changes"] == []


# --- the server backend on a Qdrant cluster ----------------------------------------------


def test_the_cluster_layout_is_what_qdrant_is_asked_for() -> None:
    """Through qdrant-client's REST calls to a loopback fake (local mode drops sharding):
    the collection's shards, replicas, write consistency and custom sharding; a shard key
    per group, the shared corpus under its own; the tenant index; each point written to
    its tenant's key; a commune's search reading its key and the shared one only."""
    from tests.fakes.qdrant import FakeQdrant

    keys = {"commune-21231": "bourgogne", "commune-25176": "bourgogne"}
    layout = Layout(local=True, quantized=True, cluster=Cluster(2, 3, 2, keys))
    with FakeQdrant() as fake:
        store = ServerStore(fake.url, collection="plume", layout=layout)
        store.ensure_collection()
        store.upsert(passages(2) + passages(1, tenant="commune-21231"))
        store.query(
            sparse=enc.encode_query("cimetière"),
            dense=None,
            where=SearchFilter(tenants=["commune-21231"]),
            limit=5,
        )
        store.close()
        [created] = fake.bodies("PUT", "/collections/plume")
        shard_keys = fake.bodies("PUT", "/collections/plume/shards")
        indexes = fake.bodies("PUT", "/collections/plume/index")
        upserts = fake.bodies("PUT", "/collections/plume/points")
        [batch] = fake.bodies("POST", "/collections/plume/points/query/batch")
    assert (created["shard_number"], created["replication_factor"]) == (2, 3)
    assert created["write_consistency_factor"] == 2 and created["sharding_method"] == "custom"
    assert set(created["vectors"]) == {"e5"} and set(created["sparse_vectors"]) == {"bm25"}
    assert created["vectors"]["e5"]["quantization_config"]["scalar"]["type"] == "int8"
    assert created["metadata"]["plume_layout"]["cluster"]["shard_keys"] == keys
    assert {(k["shard_key"], k["shards_number"], k["replication_factor"]) for k in shard_keys} == {
        ("bourgogne", 2, 3),
        ("commun", 2, 3),
        ("communes", 2, 3),
    }
    tenant = [i for i in indexes if i["field_name"] == "tenant"]
    assert tenant == [
        {"field_name": "tenant", "field_schema": {"type": "keyword", "is_tenant": True}}
    ]
    written = {u["shard_key"]: len(u["points"]) for u in upserts}
    assert written == {"commun": 2, "bourgogne": 1}
    assert sorted(batch["searches"][0]["shard_key"]) == ["bourgogne", "commun"]


def test_the_layout_comes_from_the_settings() -> None:
    from plume.settings import Settings
    from plume.store.cluster import create_args
    from plume.store.layout import from_settings

    settings = Settings(
        local_dense=False,
        mistral_api_key="k",
        qdrant_shards=4,
        qdrant_replication=2,
        qdrant_write_consistency=2,
        store_vector_datatype="float16",
    )
    layout = from_settings(settings)
    assert layout.vectors() == {"dense": 1024} and layout.datatype == "float16"
    args = create_args(layout)
    assert (args["shard_number"], args["replication_factor"], args["write_consistency_factor"]) == (
        4,
        2,
        2,
    )
    assert args["sharding_method"] is None  # no shard keys: Qdrant's automatic sharding
    with pytest.raises(ValueError, match="WRITE_CONSISTENCY"):
        Settings(qdrant_replication=1, qdrant_write_consistency=2)
