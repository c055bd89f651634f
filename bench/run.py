"""Plume benchmarks: ingestion, search latency, server start with data.

    .venv/bin/python -m bench.run        (or `make bench`)

Writes bench/results/latest.md and bench/results/latest.json. Everything runs against a
fresh temporary data dir (edge backend, sparse only) whose `packages` folder is a symlink
to the already fetched corpus in .plume/packages; the real .plume is never written to.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VENV_BIN = ROOT / ".venv" / "bin"
PLUME = VENV_BIN / "plume"
PYTHON = VENV_BIN / "python" if (VENV_BIN / "python").exists() else Path(sys.executable)
SOURCE_PACKAGES = ROOT / ".plume" / "packages"
GNU_TIME = Path("/usr/bin/time")

SOURCE = "service-public"
SEARCH_LIMIT = 8
SEARCH_ROUNDS = 3  # each query is searched this many times (more samples for p99)
WARMUP_QUERIES = 30
SERVER_RUNS = 3
IMPORT_RUNS = 3
POLL_SECONDS = 0.02
SERVER_TIMEOUT = 120.0

TARGET_SEARCH_P95_MS = 50.0
TARGET_RESTART_S = 3.0


# --- helpers -------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def bench_env(data_dir: Path | None, pycache: Path | None = None) -> dict[str, str]:
    """The environment for subprocesses: our data dir, edge backend, sparse only.

    With `pycache`, bytecode is read from and written to that folder (PYTHONPYCACHEPREFIX),
    never into the venv: the "bytecode cached" mode. Without it, the environment's own
    bytecode behaviour applies (the "as installed" mode).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    if data_dir is not None:
        env.update(
            PLUME_DATA_DIR=str(data_dir), PLUME_STORE_BACKEND="edge", PLUME_DENSE_ENABLED="false"
        )
    env["PYTHONUNBUFFERED"] = "1"
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def bytecode_situation() -> dict[str, Any]:
    """Whether the installed packages have compiled bytecode, and whether Python may write it."""
    from importlib.util import find_spec

    spec = find_spec("llama_index.core")  # the heaviest import of the API; not imported here
    locations = list(spec.submodule_search_locations or []) if spec else []
    return {
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        "PYTHONPYCACHEPREFIX": os.environ.get("PYTHONPYCACHEPREFIX", ""),
        "llama_index_core_has_pyc": any(any(Path(p).rglob("*.pyc")) for p in locations),
    }


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    if not samples_ms:
        return {}
    ordered = sorted(samples_ms)

    def pct(p: float) -> float:
        # nearest-rank percentile: the smallest sample with at least p% at or below it
        rank = max(1, -(-len(ordered) * p // 100))
        return ordered[int(rank) - 1]

    return {
        "n": len(ordered),
        "mean": round(statistics.fmean(ordered), 2),
        "p50": round(pct(50), 2),
        "p95": round(pct(95), 2),
        "p99": round(pct(99), 2),
        "max": round(ordered[-1], 2),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def git_revision() -> str:
    """The commit measured, `+dirty` when the working tree has changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}+dirty" if head and dirty else head or "unknown"


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(len(os.sched_getaffinity(0)))
    versions = {}
    for dist in ("qdrant-edge-py", "qdrant-client", "fastapi", "uvicorn"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "nproc": int(nproc),
        "cpu": cpu,
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }


# --- 1. ingestion -----------------------------------------------------------------------------


def _parse_gnu_time(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        out["peak_rss_mb"] = round(int(m.group(1)) / 1024, 1)
    m = re.search(r"User time \(seconds\): ([\d.]+)", text)
    if m:
        out["user_s"] = float(m.group(1))
    m = re.search(r"System time \(seconds\): ([\d.]+)", text)
    if m:
        out["system_s"] = float(m.group(1))
    m = re.search(r"Percent of CPU this job got: (\d+)%", text)
    if m:
        out["cpu_percent"] = int(m.group(1))
    return out


def run_ingest(data_dir: Path, label: str) -> dict[str, Any]:
    log(f"ingestion ({label}) …")
    cmd = [str(PLUME), "ingest", SOURCE]
    time_file = data_dir.parent / f"time-{label}.txt"
    use_gnu_time = GNU_TIME.exists()
    if use_gnu_time:
        cmd = [str(GNU_TIME), "-v", "-o", str(time_file), *cmd]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, env=bench_env(data_dir), cwd=ROOT, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    result: dict[str, Any] = {"wall_s": round(wall, 2), "exit_code": proc.returncode}
    if use_gnu_time and time_file.exists():
        result.update(_parse_gnu_time(time_file.read_text()))
        result["rss_method"] = "/usr/bin/time -v"
    else:
        # Peak over all children waited for so far: exact for the first run, an upper
        # bound afterwards. ru_maxrss is in KiB on Linux.
        kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result["peak_rss_mb"] = round(kib / 1024, 1)
        result["rss_method"] = "getrusage(RUSAGE_CHILDREN)"
    if proc.returncode not in (0, 3):  # 3: finished, some documents rejected
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise RuntimeError(f"`plume ingest` failed ({proc.returncode}):\n{tail}")
    sync = json.loads((data_dir / "sync.json").read_text()).get(SOURCE, {})
    result["summary"] = {
        k: sync.get(k) for k in ("version", "documents", "added", "updated", "deleted", "skipped")
    }
    result["summary"]["errors"] = len(sync.get("errors", []))
    result["summary"]["pipeline_s"] = sync.get("seconds")
    log(f"ingestion ({label}): {wall:.1f} s, peak RSS {result.get('peak_rss_mb')} MB")
    return result


# --- 2. search latency ------------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return (time.perf_counter() - t0) * 1000.0, value


def search_latency(
    data_dir: Path, queries: Sequence[str], off_topic: Sequence[str]
) -> dict[str, Any]:
    from assistant.rag.retrieval import build_filter
    from assistant.runtime import Runtime
    from plume.settings import Settings, StoreBackend

    settings = Settings(data_dir=data_dir, store_backend=StoreBackend.edge, dense_enabled=False)
    log("search: opening the runtime in process …")
    build_ms, runtime = _timed(lambda: Runtime.build(settings))
    try:
        stats = runtime.store.list_sources()
        corpus = [
            {
                "source": s.source,
                "documents": s.documents,
                "chunks": s.chunks,
                "versions": s.versions,
            }
            for s in stats
        ]
        where = build_filter()
        assistant = runtime.assistant
        store = runtime.store
        encoder = runtime.encoder
        prefetch = max(settings.prefetch_limit, SEARCH_LIMIT * 3)

        for q in queries[:WARMUP_QUERIES]:
            with contextlib.suppress(Exception):
                assistant.search(q, where, SEARCH_LIMIT)
                assistant.ask(q, where)

        errors: list[dict[str, str]] = []
        search_ms: list[float] = []
        per_query_search: dict[str, float] = {}
        empty: list[str] = []
        log(f"search: {len(queries)} queries × {SEARCH_ROUNDS} rounds …")
        for round_no in range(SEARCH_ROUNDS):
            for q in queries:
                try:
                    ms, passages = _timed(lambda q=q: assistant.search(q, where, SEARCH_LIMIT))
                except Exception as exc:
                    if round_no == 0:
                        errors.append({"call": "search", "query": q, "error": repr(exc)})
                    continue
                search_ms.append(ms)
                per_query_search[q] = max(ms, per_query_search.get(q, 0.0))
                if round_no == 0 and not passages:
                    empty.append(q)

        log("ask …")
        ask_ms: list[float] = []
        per_query_ask: dict[str, float] = {}
        modes: dict[str, int] = {}
        refused: list[str] = []
        for q in queries:
            try:
                ms, answer = _timed(lambda q=q: assistant.ask(q, where))
            except Exception as exc:
                errors.append({"call": "ask", "query": q, "error": repr(exc)})
                continue
            ask_ms.append(ms)
            per_query_ask[q] = ms
            modes[answer.mode] = modes.get(answer.mode, 0) + 1
            if answer.mode == "refusal":
                refused.append(q)

        log("raw store query (sparse only) …")
        encode_ms: list[float] = []
        store_ms: list[float] = []
        for q in queries:
            e_ms, sparse = _timed(lambda q=q: encoder.encode_query(q))
            encode_ms.append(e_ms)
            if not sparse:
                continue  # nothing to search: the retriever returns [] without a query
            s_ms, _ = _timed(
                lambda sparse=sparse: store.query(
                    sparse=sparse,
                    dense=None,
                    where=where,
                    limit=SEARCH_LIMIT * 3,
                    prefetch_limit=prefetch,
                )
            )
            store_ms.append(s_ms)

        def slowest(per_query: dict[str, float]) -> list[dict[str, Any]]:
            top = sorted(per_query.items(), key=lambda kv: kv[1], reverse=True)[:5]
            return [{"query": q, "ms": round(ms, 2)} for q, ms in top]

        return {
            "runtime_build_ms": round(build_ms, 1),
            "corpus": corpus,
            "queries": len(queries),
            "rounds": SEARCH_ROUNDS,
            "limit": SEARCH_LIMIT,
            "search_ms": percentiles(search_ms),
            "ask_ms": percentiles(ask_ms),
            "encode_query_ms": percentiles(encode_ms),
            "store_query_ms": percentiles(store_ms),
            "search_empty_results": empty,
            "ask_modes": modes,
            "off_topic": len(off_topic),
            "off_topic_refused": sum(q in refused for q in off_topic),
            "off_topic_answered": [q for q in off_topic if q not in refused],
            "on_topic_refused": [q for q in refused if q not in off_topic],
            "slowest_search": slowest(per_query_search),
            "slowest_ask": slowest(per_query_ask),
            "errors": errors,
        }
    finally:
        runtime.close()


# --- 3. server start ----------------------------------------------------------------------------


def server_start(data_dir: Path, label: str, pycache: Path | None = None) -> dict[str, Any]:
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"
    log_path = data_dir.parent / f"serve-{label}.log"
    with log_path.open("w") as log_file:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(PLUME), "serve", "--port", str(port)],
            env=bench_env(data_dir, pycache),
            cwd=ROOT,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        ready: float | None = None
        body: dict[str, Any] = {}
        try:
            with httpx.Client(timeout=1.0) as client:
                while time.perf_counter() - started < SERVER_TIMEOUT:
                    if proc.poll() is not None:
                        break
                    try:
                        resp = client.get(url)
                        if resp.status_code == 200:
                            ready = time.perf_counter() - started
                            body = resp.json()
                            break
                    except httpx.TransportError:
                        pass
                    time.sleep(POLL_SECONDS)
        finally:
            stop_started = time.perf_counter()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            stopped = time.perf_counter() - stop_started
    if ready is None:
        tail = log_path.read_text()[-2000:]
        raise RuntimeError(
            f"`plume serve` never answered /healthz (exit {proc.returncode}):\n{tail}"
        )
    log(f"server start {label}: {ready:.2f} s to first 200, stopped in {stopped:.2f} s")
    return {
        "ready_s": round(ready, 3),
        "stop_s": round(stopped, 3),
        "exit_code": proc.returncode,
        "healthz": body,
    }


def server_series(data_dir: Path, mode: str, pycache: Path | None) -> dict[str, Any]:
    runs = [server_start(data_dir, f"{mode}-{i}", pycache) for i in range(1, SERVER_RUNS + 1)]
    ready = [run["ready_s"] for run in runs]
    return {
        "runs": runs,
        "min_s": min(ready),
        "median_s": statistics.median(ready),
        "max_s": max(ready),
    }


def import_cost(statement: str, mode: str, pycache: Path | None) -> dict[str, Any]:
    env = bench_env(None, pycache)
    times = []
    for _ in range(IMPORT_RUNS):
        t0 = time.perf_counter()
        subprocess.run([str(PYTHON), "-c", statement], cwd=ROOT, env=env, check=True)
        times.append(time.perf_counter() - t0)
    return {
        "statement": statement,
        "mode": mode,
        "min_s": round(min(times), 3),
        "median_s": round(statistics.median(times), 3),
    }


# --- report ---------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


MODES = {
    "installed": "as installed here",
    "cached": "bytecode cached",
}


def _ms_row(label: str, p: dict[str, Any]) -> str:
    return (
        f"| {label} | {p['n']} | {p['mean']} | {p['p50']} | {p['p95']} | {p['p99']} | {p['max']} |"
    )


def _quoted(queries: Sequence[str]) -> str:
    return "; ".join(f"« {q[:70]} »" for q in queries) if queries else "none"


def _bytecode_note(bc: dict[str, Any]) -> str:
    if not bc["llama_index_core_has_pyc"] and bc["PYTHONDONTWRITEBYTECODE"]:
        return (
            "here the dependencies have no compiled bytecode and PYTHONDONTWRITEBYTECODE is "
            "set, so every start compiles them again"
        )
    if not bc["llama_index_core_has_pyc"]:
        return "no bytecode shipped; Python writes it on first import"
    return "compiled bytecode present"


def render_markdown(r: dict[str, Any]) -> str:
    m, ing, s, srv = r["machine"], r["ingestion"], r["search"], r["server"]
    first, rerun = ing["first"], ing["rerun"]
    bc = r["bytecode"]
    lines = [
        "# Plume benchmarks",
        "",
        f"Run {r['date']} at commit `{r['commit']}` with `python -m bench.run` "
        f"({r['total_s']:.0f} s in all). "
        "Edge backend (Qdrant engine in process), sparse BM25 only (no Mistral key), "
        "fresh temporary data dir.",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    for t in r["targets"]:
        lines.append(f"| {t['name']} | {t['measured']} | **{t['result']}** |")
    lines += [
        "",
        "## Machine and corpus",
        "",
        f"- CPUs (`nproc`): {m['nproc']} — {m['cpu'] or 'unknown CPU'}; memory {m['memory_gb']} GB",
        f"- Python {m['python']} on {m['platform']}",
        "- " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        f"- Bytecode: PYTHONDONTWRITEBYTECODE=`{bc['PYTHONDONTWRITEBYTECODE'] or 'unset'}`, "
        f"compiled `.pyc` shipped for llama_index.core: {bc['llama_index_core_has_pyc']}",
    ]
    for c in s["corpus"]:
        versions = ", ".join(c["versions"])
        lines.append(
            f"- Corpus `{c['source']}` {versions}: {c['documents']:,} documents, "
            f"{c['chunks']:,} chunks (passages)"
        )
    lines += [
        "",
        "## 1. Ingestion (`plume ingest service-public`, subprocess)",
        "",
        "| run | wall time | peak RSS | CPU | added | updated | deleted | unchanged | rejected |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, run in (("fresh store", first), ("rerun, no change", rerun)):
        sm = run["summary"]
        cpu = f"{run['cpu_percent']} %" if "cpu_percent" in run else "—"
        lines.append(
            f"| {label} | {run['wall_s']:.1f} s | {run['peak_rss_mb']} MB | {cpu} | "
            f"{sm['added']} | {sm['updated']} | {sm['deleted']} | {sm['skipped']} | "
            f"{sm['errors']} |"
        )
    lines += [
        "",
        f"Peak RSS measured with {first['rss_method']}. Wall time includes interpreter "
        f"start and imports (environment as installed); the pipeline itself reported "
        f"{first['summary']['pipeline_s']} s (fresh) and {rerun['summary']['pipeline_s']} s "
        "(rerun).",
        "",
        "## 2. Search latency (in process, `Runtime.build`, edge)",
        "",
        f"{s['queries']} queries from `bench/queries.py` (short and long, accents or not, "
        f"typos, {s['off_topic']} off-topic), after {WARMUP_QUERIES} warm-up queries. "
        f"`search` runs each query {s['rounds']} times (limit {s['limit']}); `ask` and the raw "
        "store query once each. Times in milliseconds.",
        "",
        "| call | n | mean | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, key in (
        ("`assistant.search(q, build_filter(), 8)`", "search_ms"),
        ("`assistant.ask(q, build_filter())`", "ask_ms"),
        ("`store.query` alone (sparse only, limit 24)", "store_query_ms"),
        ("`encoder.encode_query` alone", "encode_query_ms"),
    ):
        if s[key]:
            lines.append(_ms_row(label, s[key]))
    modes = ", ".join(f"{k}: {v}" for k, v in sorted(s["ask_modes"].items()))
    lines += [
        "",
        f"- Runtime build (open the store) in process: {s['runtime_build_ms']:.0f} ms.",
        f"- Errors: {len(s['errors'])}. `ask` answers by mode: {modes}.",
        f"- Off-topic refused: {s['off_topic_refused']} of {s['off_topic']}; answered anyway: "
        f"{_quoted(s['off_topic_answered'])}.",
        f"- On-topic refused: {_quoted(s['on_topic_refused'])}.",
        f"- Searches returning no passage: {_quoted(s['search_empty_results'])}.",
        "- Slowest `search` calls (worst of the rounds): "
        + "; ".join(f"{x['ms']} ms « {x['query'][:60]} »" for x in s["slowest_search"]),
        "- Slowest `ask` calls: "
        + "; ".join(f"{x['ms']} ms « {x['query'][:60]} »" for x in s["slowest_ask"]),
    ]
    for e in s["errors"][:10]:
        lines.append(f"- error in `{e['call']}` for « {e['query'][:60]} »: `{e['error'][:200]}`")
    lines += [
        "",
        "The `server` backend is not measured: without a Qdrant server on this machine it "
        "would run through qdrant-client's local mode, pure Python scoring every one of the "
        "~16,000 sparse points per query, which is far slower and says nothing about a real "
        "Qdrant server's latency.",
        "",
        "## 3. Server start with data (`plume serve`, spawn → first 200 on `/healthz`)",
        "",
        f"Polling every {int(POLL_SECONDS * 1000)} ms; SIGTERM and wait between runs. "
        f"*As installed here*: the environment as given ({_bytecode_note(bc)}). "
        "*Bytecode cached*: PYTHONPYCACHEPREFIX points to a temporary folder primed by one "
        "untimed start, as on a normal install where `.pyc` files exist.",
        "",
        "| mode | run | time to first 200 | SIGTERM → exit |",
        "|---|---|---|---|",
    ]
    for mode, series in srv.items():
        for i, run in enumerate(series["runs"], 1):
            lines.append(
                f"| {MODES[mode]} | {i} | {run['ready_s']:.2f} s | {run['stop_s']:.2f} s |"
            )
    lines.append("")
    for mode, series in srv.items():
        lines.append(
            f"- {MODES[mode]}: min {series['min_s']:.2f} s, median {series['median_s']:.2f} s, "
            f"max {series['max_s']:.2f} s"
        )
    lines += [
        "",
        f"For context, import cost alone (fresh interpreter, min / median of {IMPORT_RUNS}):",
        "",
        "| statement | mode | min | median |",
        "|---|---|---|---|",
    ]
    for imp in r["imports"]:
        lines.append(
            f'| `python -c "{imp["statement"]}"` | {MODES[imp["mode"]]} | '
            f"{imp['min_s']:.2f} s | {imp['median_s']:.2f} s |"
        )
    lines.append("")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    from bench.queries import OFF_TOPIC, QUERIES

    if not (SOURCE_PACKAGES.is_dir() and any(SOURCE_PACKAGES.iterdir())):
        sys.exit(f"No fetched corpus in {SOURCE_PACKAGES}: run `.venv/bin/plume corpus fetch`.")
    if not PLUME.exists():
        sys.exit(f"{PLUME} not found: run `make dev` first.")

    began = time.perf_counter()
    commit = git_revision()
    workdir = Path(tempfile.mkdtemp(prefix="plume-bench-"))
    data_dir = workdir / "data"
    data_dir.mkdir()
    pycache = workdir / "pycache"
    (data_dir / "packages").symlink_to(SOURCE_PACKAGES, target_is_directory=True)
    log(f"temporary data dir: {data_dir}")
    try:
        ingestion = {
            "first": run_ingest(data_dir, "fresh"),
            "rerun": run_ingest(data_dir, "rerun"),
        }
        search = search_latency(data_dir, QUERIES, OFF_TOPIC)
        server = {"installed": server_series(data_dir, "installed", None)}
        log("priming the bytecode cache (one untimed start) …")
        server_start(data_dir, "prime", pycache)
        server["cached"] = server_series(data_dir, "cached", pycache)
        log("import cost …")
        imports = [
            import_cost(statement, mode, cache)
            for mode, cache in (("installed", None), ("cached", pycache))
            for statement in ("pass", "import api.main")
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    p95 = search["search_ms"]["p95"]
    targets = [
        {
            "name": f"search p95 ≤ {TARGET_SEARCH_P95_MS:.0f} ms",
            "measured": f"{p95} ms",
            "result": verdict(p95 <= TARGET_SEARCH_P95_MS),
        }
    ]
    for mode, series in server.items():
        targets.append(
            {
                "name": f"restart ≤ {TARGET_RESTART_S:.0f} s, {MODES[mode]} "
                f"(worst of {SERVER_RUNS})",
                "measured": f"{series['max_s']:.2f} s (median {series['median_s']:.2f} s)",
                "result": verdict(series["max_s"] <= TARGET_RESTART_S),
            }
        )
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "total_s": round(time.perf_counter() - began, 1),
        "machine": machine(),
        "bytecode": bytecode_situation(),
        "targets": targets,
        "ingestion": ingestion,
        "search": search,
        "server": server,
        "imports": imports,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(render_markdown(report))
    log(f"done in {report['total_s']:.0f} s → {RESULTS / 'latest.md'}")
    for t in targets:
        log(f"{t['result']}: {t['name']} — {t['measured']}")


if __name__ == "__main__":
    main()
