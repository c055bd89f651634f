"""Does a lighter storage of the e5 vectors cost recall? Real e5 vectors of real passages.

    python -m bench.scale_recall [--passages 1500] [--queries 100]

Real passages (bench.scale's pool) embedded by the local e5 model as the filler embeds
them; queries: the first words of other passages, embedded as questions. For each storage
(float32, float16, int8 scalar quantization after the shard's optimisation) an edge store
is built and searched the way the retriever searches (e5 list, exact); recall@10 against
the exact cosine ranking computed in numpy. Results merged into bench/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from bench.scale import OUT, real_texts
from ingestion.local_vectors import local_text
from plume.documents import SHARED_TENANT, point_id
from plume.embedding import LocalEmbedder
from plume.settings import Settings
from plume.store import SearchFilter, StoredPoint
from plume.store.edge import EdgeStore
from plume.store.layout import Layout
from plume.text import SparseVec

STORAGES = {
    "float32": Layout(local=True),
    "float16": Layout(local=True, datatype="float16"),
    "int8": Layout(local=True, quantized=True),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=1500)
    parser.add_argument("--queries", type=int, default=100)
    args = parser.parse_args()
    pool = real_texts(Settings().packages_dir, args.passages + args.queries * 50)
    docs, asked = pool[: args.passages], pool[args.passages :: 50][: args.queries]
    model = LocalEmbedder()
    payloads = [
        {"title": t, "text": x, "doc_id": f"d/{i}", "tenant": SHARED_TENANT}
        for i, (t, x) in enumerate(docs)
    ]
    vectors = np.array(model.embed_documents([local_text(p) for p in payloads]), np.float32)
    questions = [" ".join(x.split()[:12]) for _, x in asked]
    qvecs = np.array([model.embed_query(q) for q in questions], np.float32)
    truth = np.argsort(-(qvecs @ vectors.T), axis=1)[:, :10]
    ids = [point_id(p["doc_id"], 0) for p in payloads]
    results = {}
    for name, layout in STORAGES.items():
        folder = Path(tempfile.mkdtemp(prefix="plume-recall-"))
        store = EdgeStore(folder / "s", layout=layout)
        store.upsert(
            [
                StoredPoint(pid, p, SparseVec([1], [1.0]), None, v.tolist())
                for pid, p, v in zip(ids, payloads, vectors, strict=True)
            ]
        )
        if layout.quantized:  # quantized copies are built when segments are optimised
            store._shard.optimize()
        found = 0
        for q, want in zip(qvecs, truth, strict=True):
            hits = store.query(
                sparse=None, dense=None, local=q.tolist(), where=SearchFilter(), limit=10
            )
            found += len({h.id for h in hits} & {ids[i] for i in want})
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
        results[name] = round(found / (10 * len(qvecs)), 4)
        print(name, results[name], flush=True)
    out = OUT / "scale.json"
    data = json.loads(out.read_text()) if out.exists() else {}
    data["e5_recall_at_10"] = {"passages": len(docs), "queries": len(qvecs), **results}
    out.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
