"""The README's « Measured here » figures, rewritten from bench/results (`make bench`).

    python -m bench.readme --header   # the machine and the commit, printed (make bench starts so)
    python -m bench.readme            # the README's generated rows, from the latest results

`make bench` runs `bench.run` (ingestion, search, serve → first 200, imports),
`bench.pipeline` (search against the raw store query on the product index, when there is
one) and `bench.workers` (one HTTP worker against two), then this: the rows between the
README's `bench:begin` and `bench:end` markers are rewritten from their results, and the
line above the table says on which machine, at which commit and on which day they were
measured. The other rows come from the benchmarks they name (each result file gives its
own commit and date).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.run import git_revision, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README = ROOT / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
STAMP = re.compile(r"^Rows between the markers: `make bench`.*$", re.MULTILINE)


def describe(m: dict[str, Any]) -> str:
    return f"{m.get('cpu') or '?'}, {m.get('nproc', '?')} cores, {m.get('memory_gb', '?')} GB RAM"


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _from(result: dict[str, Any], name: str) -> str:
    commit = result.get("commit") or result.get("machine", {}).get("commit", "?")
    return f"`bench/results/{name}.md`, {commit}"


def pipeline_rows(p: dict[str, Any]) -> list[str]:
    """bench.pipeline's figures (its own result format), on the product index."""
    s, imports = p.get("search", {}), p.get("imports", {})
    try:
        return [
            f"| search on the product index ({s['passages']:,} passages), {s['queries']} "
            f"questions × {s['rounds']} | p50 {s['search_p50_ms']:.1f} ms, p95 "
            f"{s['search_p95_ms']:.1f} ms; the raw store query p50 {s['raw_p50_ms']:.1f} ms "
            f"({s['p50_ratio']:.2f}×; {_from(p, 'pipeline_latest')}) |",
            f"| `plume serve` → first 200 on the product index; `import api.main`; "
            f"`plume --help`'s imports | {p['serve_first_200_s']:.2f} s; "
            f"{imports['api_main_s']:.2f} s; {imports['cli_main_s']:.2f} s |",
        ]
    except (KeyError, TypeError):  # another version of its format: point at its report
        return [f"| search against the raw store query, start-up | {_from(p, 'pipeline_latest')} |"]


def run_rows(r: dict[str, Any]) -> list[str]:
    first, rerun = r["ingestion"]["first"], r["ingestion"]["rerun"]
    search, server = r["search"], r["server"]["installed"]
    passages = sum(int(c.get("chunks", 0)) for c in search.get("corpus", []))
    imports = {(i["statement"], i["mode"]): i["median_s"] for i in r.get("imports", [])}
    api = imports.get(("import api.main", "installed"))
    src = _from(r, "latest")
    return [
        f"| index the fiches (fresh, {passages:,} passages) | {first['wall_s']:.0f} s wall, "
        f"{first['peak_rss_mb']:.0f} MB peak ({src}) |",
        f"| re-run with nothing changed | {rerun['wall_s']:.0f} s wall (every passage skipped "
        "by hash) |",
        f"| search, {search['queries']} varied questions × {search['rounds']}, in process | "
        f"p50 {search['search_ms']['p50']} ms, p95 {search['search_ms']['p95']} ms (the raw "
        f"store query: p50 {search['store_query_ms']['p50']} ms) |",
        f"| `plume serve` start → first 200 on the fiches (median, worst of "
        f"{len(server['runs'])}) | {server['median_s']:.2f} s, {server['max_s']:.2f} s"
        + (f" (`import api.main` {api:.2f} s)" if api is not None else "")
        + " |",
    ]


def workers_rows(w: dict[str, Any]) -> list[str]:
    rows = []
    for route in ("search", "chat"):
        for clients in sorted({t["clients"] for t in w["turns"]}):
            rate = {
                n: [
                    t["per_s"]
                    for t in w["turns"]
                    if (t["route"], t["clients"], t["workers"]) == (route, clients, n)
                ]
                for n in (1, 2)
            }
            if not (rate[1] and rate[2] and sum(rate[1])):
                continue
            one, two = sum(rate[1]) / len(rate[1]), sum(rate[2]) / len(rate[2])
            turns = [t for t in w["turns"] if (t["route"], t["clients"]) == (route, clients)]
            cost = {
                n: [t["cpu_ms_per_request"] for t in turns if t["workers"] == n] for n in (1, 2)
            }
            busy = [t["cores_busy"] for t in turns if "cores_busy" in t]
            costs = (
                f"; CPU per request {sum(cost[1]) / len(cost[1]):.0f} → "
                f"{sum(cost[2]) / len(cost[2]):.0f} ms, the server given "
                f"{sum(busy) / len(busy):.1f} cores"
                if cost[1] and cost[2] and busy
                else ""
            )
            rows.append(
                f"| {route}, {clients} clients, `plume serve --workers 1` → `--workers 2` | "
                f"{one:.0f} → {two:.0f} req/s ({two / one:.2f}×{costs}; "
                f"{_from(w, 'workers')}) |"
            )
    return rows


def generated() -> list[str]:
    rows: list[str] = []
    if (r := _load("latest")) is not None:
        rows += run_rows(r)
    if (p := _load("pipeline_latest")) is not None:
        rows += pipeline_rows(p)  # bench/results/pipeline.md: its before/after
    if (w := _load("workers")) is not None:
        rows += workers_rows(w)
    return rows


def rewrite(text: str, rows: list[str], stamp: str) -> str:
    if BEGIN not in text or END not in text:
        sys.exit(f"README.md : marqueurs {BEGIN} … {END} absents de « Measured here »")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    head = STAMP.sub(stamp, head, count=1) if STAMP.search(head) else head
    return head + BEGIN + "\n" + "\n".join(rows) + "\n" + END + tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--header", action="store_true", help="print the machine and commit")
    args = parser.parse_args()
    m, commit = machine(), git_revision()
    print(f"machine: {describe(m)}; Python {m.get('python')}; commit {commit}", flush=True)
    if args.header:
        return
    latest = _load("latest") or {}  # the run the rows come from, rather than this moment
    day = str(latest.get("date") or datetime.now(UTC).strftime("%Y-%m-%d"))[:10]
    commit = str(latest.get("commit") or commit)
    load = os.getloadavg()[1]
    stamp = (
        f"Rows between the markers: `make bench` on {day}, commit {commit}, {describe(m)}, "
        f"load average {load:.1f} as the rows were written (a shared machine gives noisy "
        "absolute figures; ratios are measured within one run). "
        "The other rows come from the benchmarks they name, each result file giving its "
        "commit and date."
    )
    README.write_text(rewrite(README.read_text(), generated(), stamp))
    print(stamp)


if __name__ == "__main__":
    main()
