"""Search throughput while `/v1/sources` is polled (issue 21: the load test).

A real `plume serve` on a temporary data folder (never `.plume/`): by default the fiches of
the pinned service-public package (read from `.plume/packages`, not written), or a copy of
an index given with `--data-dir`. 20 clients search back to back (the questions of the dev
set, with the admin token: never limited, they measure what the server gives); in turns:

- `seuls`: the 20 searchers alone;
- `sondeurs`: plus 10 clients polling `/v1/sources`, each from its own address (through a
  trusted proxy: `X-Forwarded-For`), as fast as its per-address limit allows (one call
  every 60 × cost / PLUME_RATE_LIMIT_IP_PER_MINUTE seconds: 1 s by default);
- `inondation`: plus 10 clients polling `/v1/sources` back to back, never limited (the
  admin token): what the kept figures alone withstand.

Turns alternate (`--rounds`) so that another load on the machine weighs on both alike.
Target: search under `sondeurs` keeps 80 % of its throughput alone.

    .venv/bin/python -m bench.sources_load [--seconds 15] [--rounds 2] [--codes]
    .venv/bin/python -m bench.sources_load --data-dir /tmp/copie-de-plume
    .venv/bin/python -m bench.sources_load --code /tmp/avant   # another checkout's server

Results: bench/results/sources_load.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.run import git_revision, machine, percentiles
from eval.dataset import load_dataset
from plume import REPO_ROOT, packages
from plume.settings import Settings

RESULTS = REPO_ROOT / "bench" / "results"
TOKEN = "bench-sources-load-0123456789abcdef"
SEARCHERS, POLLERS = 20, 10
TARGET = 0.80


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CLI = [sys.executable, "-c", "from cli.main import app; app()"]  # the checkout on PYTHONPATH


def _env(data_dir: Path, code: Path, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUME_")}
    env.update(
        PLUME_DATA_DIR=str(data_dir),
        PLUME_ADMIN_TOKEN=TOKEN,
        PLUME_LOCAL_FILL="false",  # no e5 worker competing for the processors
        PLUME_TRUSTED_PROXIES="127.0.0.1",  # the pollers' X-Forwarded-For: 10 addresses
        PYTHONPATH=str(code),
        **more,
    )
    return env


def prepare(folder: Path, codes: bool) -> Path:
    """A data folder whose packages are links to the pinned ones, then indexed."""
    default = Settings()
    data = folder / "data"
    (data / "packages").mkdir(parents=True)
    for source in ["service-public", *(["legi"] if codes else [])]:
        pkg = packages.pinned(default.corpus_dir, source)
        found = default.packages_dir / pkg.folder_name
        if not found.exists():
            sys.exit(f"{found} manque : `plume corpus fetch` d'abord")
        (data / "packages" / pkg.folder_name).symlink_to(found, target_is_directory=True)
    for source in ["service-public", *(["legi"] if codes else [])]:
        started = time.monotonic()
        subprocess.run(
            [*CLI, "ingest", source],
            env=_env(data, REPO_ROOT),
            cwd=REPO_ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"{source} indexé en {time.monotonic() - started:.0f} s", flush=True)
    return data


@contextmanager
def serving(data: Path, code: Path) -> Iterator[str]:
    port = _free_port()
    log = open(data / "bench-serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=_env(data, code),
        cwd=code,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if server.poll() is not None:
                sys.exit(f"plume serve s'est arrêté : voir {data / 'bench-serve.log'}")
            try:
                if httpx.get(f"{url}/healthz", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(60)
        log.close()


def _searcher(url: str, questions: list[str], start: int, out: dict[str, Any]) -> None:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    i = start
    with httpx.Client(base_url=url, timeout=120, headers=admin) as client:
        while not out["stop"].is_set():
            began = time.perf_counter()
            r = client.post("/v1/search", json={"query": questions[i % len(questions)]})
            if out["measuring"].is_set():
                out["search"].append(((time.perf_counter() - began) * 1000, r.status_code))
            i += 1


def _poller(url: str, n: int, interval: float | None, out: dict[str, Any]) -> None:
    # a client of its own behind the trusted proxy, or (interval None) the admin, unlimited
    headers = (
        {"X-Forwarded-For": f"198.51.100.{n + 1}"}
        if interval is not None
        else {"Authorization": f"Bearer {TOKEN}"}
    )
    with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
        next_at = time.monotonic() + (interval or 0) * n / POLLERS  # spread over the interval
        while not out["stop"].is_set():
            if interval is not None:
                out["stop"].wait(max(0.0, next_at - time.monotonic()))
                next_at += interval
                if out["stop"].is_set():
                    return
            began = time.perf_counter()
            r = client.get("/v1/sources")
            if out["measuring"].is_set():
                out["sources"].append(((time.perf_counter() - began) * 1000, r.status_code))


def turn(
    url: str, questions: list[str], pollers: str, seconds: float, interval: float
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "stop": threading.Event(),
        "measuring": threading.Event(),
        "search": [],
        "sources": [],
    }
    threads = [
        threading.Thread(target=_searcher, args=(url, questions, i * 7, out))
        for i in range(SEARCHERS)
    ]
    if pollers != "seuls":
        pace = interval if pollers == "sondeurs" else None
        threads += [
            threading.Thread(target=_poller, args=(url, n, pace, out)) for n in range(POLLERS)
        ]
    for t in threads:
        t.start()
    time.sleep(3)  # warm-up: connections, pages
    out["measuring"].set()
    began = time.monotonic()
    time.sleep(seconds)
    out["measuring"].clear()
    elapsed = time.monotonic() - began
    out["stop"].set()
    for t in threads:
        t.join(180)
    ok = [ms for ms, status in out["search"] if status == 200]
    sources_ok = [ms for ms, status in out["sources"] if status == 200]
    return {
        "pollers": pollers,
        "seconds": round(elapsed, 1),
        "search_per_s": round(len(ok) / elapsed, 1),
        "search_errors": len(out["search"]) - len(ok),
        "search_ms": percentiles(ok),
        "sources_per_s": round(len(sources_ok) / elapsed, 1),
        "sources_429": sum(1 for _, status in out["sources"] if status == 429),
        "sources_ms": percentiles(sources_ok),
    }


def _passages(url: str) -> int:
    return int(httpx.get(f"{url}/healthz", timeout=60).json()["chunks"])


def render(report: dict[str, Any]) -> str:
    rows = report["turns"]

    def mean_rate(kind: str) -> float:
        rates = [t["search_per_s"] for t in rows if t["pollers"] == kind]
        return sum(rates) / len(rates) if rates else 0.0

    alone = mean_rate("seuls")
    lines = [
        "# Search under `/v1/sources` polling (issue 21)",
        "",
        f"{report['date']}, commit {report['commit']}, {report['server_code']}, "
        f"{report['machine'].get('cpu', '')} ({report['machine'].get('nproc', '?')} "
        f"processors), a real `plume serve` on {report['passages']:,} passages "
        f"({report['corpus']}); {SEARCHERS} searchers, {POLLERS} pollers, "
        f"{report['seconds']:.0f} s per turn (`python -m bench.sources_load`).",
        "",
        "| turn | pollers | search req/s | search p50 / p95 | `/v1/sources` 200/s | 429 "
        "| `/v1/sources` p50 / p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, t in enumerate(rows, 1):
        s, p = t["search_ms"], t["sources_ms"]
        lines.append(
            f"| {i} | {t['pollers']} | {t['search_per_s']} | {s.get('p50', '–')} / "
            f"{s.get('p95', '–')} ms | {t['sources_per_s']} | {t['sources_429']} | "
            f"{p.get('p50', '–')} / {p.get('p95', '–')} ms |"
        )
    lines += [""]
    for kind, what in (
        ("sondeurs", f"10 pollers at their limit's pace (every {report['interval']:g} s each)"),
        ("inondation", "10 pollers back to back, unlimited"),
    ):
        if alone and mean_rate(kind):
            share = mean_rate(kind) / alone
            lines.append(
                f"- {what}: search at {share:.0%} of its {alone:.1f} req/s alone"
                + (f" (target ≥ {TARGET:.0%})" if kind == "sondeurs" else "")
                + "."
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured per turn")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each kind")
    parser.add_argument("--codes", action="store_true", help="index the codes too (~80 s)")
    parser.add_argument("--data-dir", type=Path, help="a copy of an index to serve (not .plume)")
    parser.add_argument("--code", type=Path, default=REPO_ROOT, help="checkout to serve")
    parser.add_argument("--label", help="what that checkout is, for the report")
    parser.add_argument("--interval", type=float, help="seconds between one poller's calls")
    parser.add_argument("--no-flood", action="store_true", help="without the `inondation` turns")
    parser.add_argument("--out", default="sources_load", help="results' file name")
    args = parser.parse_args()
    if args.data_dir and args.data_dir.resolve() == Settings().data_dir.resolve():
        sys.exit("pas sur le dossier de données du produit : passez-en une copie")
    settings = Settings()
    cost = settings.rate_limit_costs.get("/v1/sources", 1)
    interval = args.interval or 60 * cost / settings.rate_limit_ip_per_minute
    folder = Path(tempfile.mkdtemp(prefix="plume-sources-load-"))
    try:
        data = args.data_dir or prepare(folder, args.codes)
        questions = [i.question for i in load_dataset(REPO_ROOT / "eval/datasets/dev.jsonl").items]
        kinds = ["seuls", "sondeurs", *([] if args.no_flood else ["inondation"])]
        with serving(data, args.code.resolve()) as url:
            passages = _passages(url)
            turns = []
            for _ in range(args.rounds):
                for kind in kinds:
                    turns.append(turn(url, questions, kind, args.seconds, interval))
                    t = turns[-1]
                    print(
                        f"{kind}: search {t['search_per_s']} req/s, sources "
                        f"{t['sources_per_s']}/s ({t['sources_429']} × 429)",
                        flush=True,
                    )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_revision(),
        "server_code": args.label
        or ("this checkout" if args.code.resolve() == REPO_ROOT else str(args.code)),
        "machine": machine(),
        "corpus": "a copy given"
        if args.data_dir
        else "fiches" + (" + codes" if args.codes else ""),
        "passages": passages,
        "seconds": args.seconds,
        "interval": interval,
        "turns": turns,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{args.out}.md").write_text(render(report))
    print(render(report))


if __name__ == "__main__":
    main()
