"""Serving on both cores (issue 23): one HTTP worker against two, in one run.

Three measures, each a ratio taken within one run (the machine may be shared):

1. In process: does qdrant-edge let other threads run during a query (the interpreter's
   lock)? Raw store queries and whole searches from 1 and 2 threads, and how fast a pure
   Python counter thread still runs while queries run beside it (100 %: the lock is let go).
2. Can a second process open the same embedded store? (`EdgeShard.load` on a held shard.)
3. A real `plume serve --workers 1` against `--workers 2` (each worker searching its own
   copy of the store, its writes sent to the serving process: plume.store_replica), in
   alternating turns (`--rounds`): `--clients` clients (8 by default) searching, then
   asking (chat without a model: extractive), back to back,
   with the admin token (never rate limited). Throughput, p50/p95/p99.

A temporary data folder is indexed with the pinned fiches (never `.plume/`), or a copy of
an index is given with `--data-dir`. Target: ≥ 1.8× the throughput of one worker at 8
clients, search and chat.

    .venv/bin/python -m bench.workers [--seconds 15] [--rounds 2] [--clients 8]
    .venv/bin/python -m bench.workers --data-dir /tmp/copie-de-plume --clients 8 32

Results: bench/results/workers.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.run import free_port, git_revision, machine, percentiles
from bench.sources_load import CLI, TOKEN, _env, prepare
from eval.dataset import load_dataset
from plume import REPO_ROOT
from plume.settings import Settings

RESULTS = REPO_ROOT / "bench" / "results"
TARGET = 1.8
ROUTES = {"search": ("/v1/search", "query"), "chat": ("/v1/chat", "question")}


def _rate(fn: Callable[[int], object], threads: int, seconds: float) -> float:
    done, stop = [0] * threads, time.monotonic() + seconds

    def loop(k: int) -> None:
        i = k * 13
        while time.monotonic() < stop:
            fn(i)
            i, done[k] = i + 1, done[k] + 1

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(threads)]
    began = time.monotonic()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sum(done) / (time.monotonic() - began)


def _kept(fn: Callable[[int], object], seconds: float) -> float:
    """A pure-Python counter's rate while `fn` runs in a loop beside it, over its rate alone."""

    def count() -> float:
        n, stop = 0, time.monotonic() + seconds
        while time.monotonic() < stop:
            n += 1
        return n / seconds

    alone, quit_ = count(), threading.Event()

    def load() -> None:
        i = 0
        while not quit_.is_set():
            fn(i)
            i += 1

    beside = threading.Thread(target=load)
    beside.start()
    during = count()
    quit_.set()
    beside.join()
    return during / alone


def in_process(data: Path, scratch: Path, questions: list[str], seconds: float) -> dict[str, Any]:
    from assistant.rag.retrieval import build_filter
    from assistant.runtime import Runtime

    settings = Settings(
        data_dir=data,
        database_url=f"sqlite:///{scratch / 'threads.db'}",
        mistral_api_key=None,
        dense_enabled=False,
        local_dense=False,
        local_fill=False,
    )
    runtime = Runtime.build(settings)
    try:
        where = build_filter()
        sparse = [runtime.encoder.encode_query(q) for q in questions]
        store = runtime.store  # the benchmark measures the engine beneath the service

        def raw(i: int) -> object:
            return store.query(sparse=sparse[i % len(sparse)], dense=None, where=where, limit=10)

        def search(i: int) -> object:
            return runtime.assistant.search(questions[i % len(questions)], where, 10)

        for i in range(30):  # warm-up
            raw(i), search(i)
        out: dict[str, Any] = {}
        for name, fn in (("raw_query", raw), ("search", search)):
            one = two = 0.0
            for _ in range(2):  # alternated: another load on the machine weighs on both
                one, two = one + _rate(fn, 1, seconds), two + _rate(fn, 2, seconds)
            out[name] = {
                "one_thread_per_s": round(one / 2, 1),
                "two_threads_per_s": round(two / 2, 1),
                "ratio": round(two / one, 2),
                "counter_kept": round(_kept(fn, seconds / 2), 2),
            }
        return out
    finally:
        runtime.close()


def second_opener(store: Path) -> str:
    """What a second process gets when it opens a shard this process holds."""
    import qdrant_edge as q

    held = q.EdgeShard.load(str(store))
    try:
        code = f"import qdrant_edge as q; q.EdgeShard.load({str(store)!r}); print('ouvert')"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        said = (r.stdout.strip() or r.stderr.strip().splitlines()[-1])[:200]
        return said
    finally:
        held.close()


def cpu_seconds(root: int) -> float:
    """User + system CPU time of process `root` and its descendants (Linux /proc)."""
    stats: dict[int, tuple[int, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, (parent, _) in stats.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(stats.get(pid, (0, 0.0))[1] for pid in tree)


@contextmanager
def serving(data: Path, workers: int) -> Iterator[tuple[str, int]]:
    port = free_port()
    log = open(data / f"bench-serve-{workers}.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", str(workers)],
        env=_env(data, REPO_ROOT),
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if server.poll() is not None:
                sys.exit(f"plume serve s'est arrêté : voir {log.name}")
            try:
                if httpx.get(f"{url}/healthz", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield url, server.pid
    finally:
        server.terminate()
        server.wait(60)
        log.close()


def load(
    url: str, pid: int, route: str, clients: int, questions: list[str], seconds: float
) -> dict[str, Any]:
    path, field = ROUTES[route]
    samples: list[tuple[float, int]] = []
    stop, measuring = threading.Event(), threading.Event()

    def client(start: int) -> None:
        admin = {"Authorization": f"Bearer {TOKEN}"}
        i = start
        with httpx.Client(base_url=url, timeout=120, headers=admin) as http:
            while not stop.is_set():
                began = time.perf_counter()
                r = http.post(path, json={field: questions[i % len(questions)]})
                if measuring.is_set():
                    samples.append(((time.perf_counter() - began) * 1000, r.status_code))
                i += 1

    threads = [threading.Thread(target=client, args=(k * 7,)) for k in range(clients)]
    for t in threads:
        t.start()
    time.sleep(2)  # warm-up: connections, pages
    measuring.set()
    began, cpu = time.monotonic(), cpu_seconds(pid)
    time.sleep(seconds)
    measuring.clear()
    elapsed, cpu = time.monotonic() - began, cpu_seconds(pid) - cpu
    stop.set()
    for t in threads:
        t.join(180)
    ok = [ms for ms, status in samples if status == 200]
    return {
        "per_s": round(len(ok) / elapsed, 1),
        # what a request costs the server's processes, and how many processors they kept
        # busy: a shared machine changes the second much more than the first
        "cpu_ms_per_request": round(cpu * 1000 / max(1, len(ok)), 1),
        "cores_busy": round(cpu / elapsed, 2),
        "errors": len(samples) - len(ok),
        "ms": percentiles(ok),
    }


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# Serving on both cores (issue 23)",
        "",
        f"{report['date']}, commit {report['commit']}, {m.get('cpu', '')} "
        f"({m.get('nproc', '?')} processors, {m.get('memory_gb', '?')} GB), "
        f"{report['passages']:,} passages ({report['corpus']}); {report['seconds']:.0f} s "
        "per turn, turns alternated (`python -m bench.workers`). Shared machine: the ratios "
        "hold, the absolute rates do not.",
        "",
    ]
    threads = report.get("threads")
    if threads:
        lines += [
            "## Threads in one process",
            "",
            "| work | 1 thread /s | 2 threads /s | ratio | a Python thread keeps |",
            "|---|---|---|---|---|",
        ]
        for name, t in threads.items():
            lines.append(
                f"| {name} | {t['one_thread_per_s']} | {t['two_threads_per_s']} | "
                f"{t['ratio']}× | {t['counter_kept']:.0%} |"
            )
        lines += ["", f"Second process opening the held store: « {report['second_opener']} »", ""]
    lines += [
        "## `plume serve --workers 1` against `--workers 2`",
        "",
        "| route | clients | workers | req/s | CPU ms / request | cores busy "
        "| p50 / p95 / p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for t in report["turns"]:
        ms = t["ms"]
        lines.append(
            f"| {t['route']} | {t['clients']} | {t['workers']} | {t['per_s']} | "
            f"{t.get('cpu_ms_per_request', '–')} | {t.get('cores_busy', '–')} | "
            f"{ms.get('p50', '–')} / {ms.get('p95', '–')} / {ms.get('p99', '–')} | {t['errors']} |"
        )
    lines.append("")
    for route, clients, ratio in summary(report["turns"]):
        target = f" (target ≥ {TARGET}×)" if clients == 8 else ""
        lines.append(f"- {route}, {clients} clients: 2 workers give {ratio:.2f}× one{target}.")
    lines += [
        "",
        "CPU ms / request: what a request costs the server's processes (the serving process "
        "and its workers), which a shared machine hardly changes; with two workers costing "
        "what one does, two free cores give about twice the throughput. Cores busy: how much "
        "processor the server got during the turn.",
    ]
    return "\n".join(lines) + "\n"


def summary(turns: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    out = []
    for route in ROUTES:
        for clients in sorted({t["clients"] for t in turns}):
            rates = {
                w: [
                    t["per_s"]
                    for t in turns
                    if (t["route"], t["clients"], t["workers"]) == (route, clients, w)
                ]
                for w in (1, 2)
            }
            if rates[1] and rates[2] and sum(rates[1]):
                out.append((route, clients, sum(rates[2]) / sum(rates[1])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per turn")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each kind")
    parser.add_argument("--clients", type=int, nargs="+", default=[8])
    parser.add_argument("--data-dir", type=Path, help="a copy of an index (not .plume)")
    parser.add_argument("--no-threads", action="store_true", help="skip the in-process part")
    args = parser.parse_args()
    if args.data_dir and args.data_dir.resolve() == Settings().data_dir.resolve():
        sys.exit("pas sur le dossier de données du produit : passez-en une copie")
    folder = Path(tempfile.mkdtemp(prefix="plume-workers-"))
    try:
        data = args.data_dir or prepare(folder, False)
        questions = [i.question for i in load_dataset(REPO_ROOT / "eval/datasets/dev.jsonl").items]
        report: dict[str, Any] = {}
        if not args.no_threads:
            report["threads"] = in_process(data, folder, questions, args.seconds / 3)
            report["second_opener"] = second_opener(data / "store")
            print(json.dumps(report, ensure_ascii=False), flush=True)
        turns: list[dict[str, Any]] = []
        passages = 0
        for _ in range(args.rounds):
            for workers in (1, 2):
                with serving(data, workers) as (url, pid):
                    passages = int(httpx.get(f"{url}/healthz", timeout=60).json()["chunks"])
                    for route in ROUTES:
                        for clients in args.clients:
                            t = load(url, pid, route, clients, questions, args.seconds)
                            turns.append(
                                {"route": route, "clients": clients, "workers": workers, **t}
                            )
                            print(
                                f"{route} {clients} clients, {workers} worker(s): "
                                f"{t['per_s']} req/s",
                                flush=True,
                            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report.update(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=git_revision(),
        machine=machine(),
        corpus="a copy given" if args.data_dir else "fiches",
        passages=passages,
        seconds=args.seconds,
        turns=turns,
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "workers.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "workers.md").write_text(render(report))
    print(render(report))


if __name__ == "__main__":
    main()
