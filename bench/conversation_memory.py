"""What a chat turn pays for its memory in the records database (issue 22: stateless
replicas): `Conversations.open` (the last turns read) plus `remember` (the turn written),
on SQLite and on PostgreSQL, beside the in-process llama-index memory it replaced.

    .venv/bin/python -m bench.conversation_memory [--turns 200] [--postgres URL]

PostgreSQL: a database created for the run and dropped after, on `--postgres` (default
postgresql://postgres@127.0.0.1:5432/postgres, or PLUME_BENCH_POSTGRES_URL); skipped when
unreachable. Writes bench/results/conversation_memory.{json,md} with the machine and the
commit. One client, conversations of TURNS_PER_CONVERSATION turns; the figures that travel
are the ratios within one run (a shared machine makes absolute times noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from assistant.rag.conversations import Conversations
from assistant.records.redaction import redact
from bench.run import git_revision, machine
from plume.db import Database, normalise_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TURNS_PER_CONVERSATION = 8
QUESTION = "Quelles pièces demander pour un PACS à la mairie ?"
ANSWER = "Pour conclure un PACS en mairie, les partenaires fournissent [1] " + "x" * 600


def timings(turn: Callable[[str, int], None], turns: int) -> dict[str, float]:
    """Milliseconds per turn (median, p95, mean) over `turns` turns."""
    for i in range(10):  # warm-up: connections opened, statements prepared
        turn(f"warm-{uuid.uuid4().hex[:8]}", i)
    spent: list[float] = []
    cid = ""
    for i in range(turns):
        if i % TURNS_PER_CONVERSATION == 0:
            cid = f"commun_{uuid.uuid4().hex[:20]}"
        started = time.perf_counter()
        turn(cid, i)
        spent.append((time.perf_counter() - started) * 1000)
    spent.sort()
    return {
        "median_ms": round(statistics.median(spent), 3),
        "p95_ms": round(spent[int(len(spent) * 0.95) - 1], 3),
        "mean_ms": round(statistics.fmean(spent), 3),
    }


def database_turn(conversations: Conversations) -> Callable[[str, int], None]:
    def turn(cid: str, i: int) -> None:
        _, memory, _ = conversations.open(cid)
        Conversations.history(memory)
        Conversations.last_searched(memory)
        conversations.remember(memory, f"{QUESTION} ({i})", ANSWER, QUESTION)

    return turn


def in_process_turn() -> Callable[[str, int], None]:
    """The memory before issue 22: a ChatMemoryBuffer per conversation, in a dict."""
    from llama_index.core.llms import ChatMessage, MessageRole
    from llama_index.core.memory import ChatMemoryBuffer

    memories: dict[str, ChatMemoryBuffer] = {}

    def turn(cid: str, i: int) -> None:
        memory = memories.setdefault(cid, ChatMemoryBuffer.from_defaults(token_limit=2000))
        memory.get()
        memory.put(ChatMessage(role=MessageRole.USER, content=f"{QUESTION} ({i})"))
        memory.put(ChatMessage(role=MessageRole.ASSISTANT, content=ANSWER))

    return turn


@contextmanager
def postgres(url: str) -> Iterator[str | None]:
    admin = create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    name = f"plume_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        print(f"PostgreSQL injoignable ({type(exc).__name__}) : mesure omise.", file=sys.stderr)
        admin.dispose()
        yield None
        return
    try:
        yield make_url(normalise_url(url)).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(url: str, turns: int) -> dict[str, Any]:
    """The turn's cost, and beside it one write transaction of the same database (a row
    rewritten, committed): what every recorded answer already pays once."""
    db = Database(url)
    db.upgrade()

    def commit(_: str, __: int) -> None:
        with db.session() as s:
            s.execute(text("UPDATE alembic_version SET version_num = version_num"))

    try:
        result: dict[str, Any] = timings(database_turn(Conversations(db, clean=redact)), turns)
        result["one_commit"] = timings(commit, turns)
        return result
    finally:
        db.close()


def report(results: dict[str, Any]) -> str:
    base = results["backends"]["in_process"]["median_ms"]
    lines = [
        "# Conversation memory in the records database: cost per chat turn",
        "",
        f"{results['date']}, commit {results['commit']}, {results['machine']['nproc']} cores "
        f"({results['machine']['cpu']}), {results['turns']} turns, one client, conversations "
        f"of {TURNS_PER_CONVERSATION} turns. Re-run: `python -m bench.conversation_memory`.",
        "",
        "A turn = the conversation's last turns read (`open`), its history built, the turn "
        "written (`remember`, redacted).",
        "",
        "| memory | median ms | p95 ms | mean ms | median / in process | one commit, median ms "
        "| turn / commit |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["backends"].items():
        ratio = r["median_ms"] / base if base else float("nan")
        commit = r.get("one_commit", {}).get("median_ms")
        per_commit = f"{r['median_ms'] / commit:.1f}" if commit else "—"
        lines.append(
            f"| {name} | {r['median_ms']:.2f} | {r['p95_ms']:.2f} | {r['mean_ms']:.2f} "
            f"| {ratio:.0f}× | {commit if commit is not None else '—'} | {per_commit} |"
        )
    lines += [
        "",
        "One commit: a row rewritten in one transaction of the same database — what each "
        "recorded answer already pays (`Records.record_answer`). The memory adds one read "
        "and one write transaction per turn.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "PLUME_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    backends = {"in_process": timings(in_process_turn(), args.turns)}
    with tempfile.TemporaryDirectory() as folder:
        backends["sqlite"] = measure(f"sqlite:///{folder}/records.db", args.turns)
    with postgres(args.postgres) as url:
        if url is not None:
            backends["postgresql"] = measure(url, args.turns)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git_revision(),
        "machine": machine(),
        "turns": args.turns,
        "backends": backends,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "conversation_memory.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "conversation_memory.md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
