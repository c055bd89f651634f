"""What the README walk reads in an outcome: HTTP statuses, server-sent events, French
dates, the README's own figures, the aids a list names."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from plume.documents import MONTHS
from tests.walk.readme import blocks
from tests.walk.shell import Done, Shell

CURL_STATUS = " -sS -w '\\nHTTP %{http_code}'"  # appended to the README's curl lines


def curl(shell: Shell, text: str) -> Done:
    """A README curl line, its HTTP status printed last (`status`, `body`)."""
    return shell.sh(text + CURL_STATUS)


def status(done: Done) -> int:
    return int(done.out.rsplit("HTTP ", 1)[1])


def body(done: Done) -> Any:
    return json.loads(done.out.rsplit("\nHTTP ", 1)[0])


def without_token(shell: Shell, done: Done) -> int:
    """The same admin request without its token: its HTTP status."""
    bare = done.command.replace('-H "Authorization: Bearer $PLUME_ADMIN_TOKEN"', "")
    assert "Authorization" not in bare, bare
    return status(shell.sh(bare))


def events(done: Done) -> list[tuple[str, Any]]:
    """The server-sent events of a streamed answer: (event, decoded data)."""
    found = []
    for chunk in done.out.rsplit("\nHTTP ", 1)[0].split("\n\n"):
        fields = dict(line.split(": ", 1) for line in chunk.strip().splitlines() if ": " in line)
        if "event" in fields:
            found.append((fields["event"], json.loads(fields.get("data", "null"))))
    return found


def wait_for_run(shell: Shell, run_id: str, timeout: float = 120) -> dict[str, Any]:
    """An admin ingestion run, polled as the README does, until it is over."""
    import time

    deadline = time.monotonic() + timeout
    poll = f'curl localhost:8000/v1/admin/ingest/{run_id} -H "Authorization: Bearer $PLUME_ADMIN_TOKEN"'
    while True:
        done = curl(shell, shell.rewrite(poll))
        assert status(done) == 200, done
        run: dict[str, Any] = body(done)
        if run["status"] != "en_cours" or time.monotonic() > deadline:
            return run
        time.sleep(0.5)


def french_day(text: str) -> date:
    """« 1er janvier 2016 » → 2016-01-01."""
    day, month, year = text.replace("1er", "1").split()
    return date(int(year), MONTHS.index(month) + 1, int(day))


_DAY = r"(\d{1,2}(?:er)? \w+ \d{4})"


def in_force_on(done: Done, day: date) -> list[str]:
    """The « en vigueur … » lines of a search's output that do not hold on `day`."""
    wrong = []
    for line in done.out.splitlines():
        if span := re.search(rf"en vigueur du {_DAY} au {_DAY}", line):
            start, end = french_day(span[1]), french_day(span[2])
            ok = start <= day < end
        elif span := re.search(rf"en vigueur depuis le {_DAY}", line):
            ok = french_day(span[1]) <= day
        else:
            continue
        if not ok:
            wrong.append(line.strip())
    return wrong


def number(text: str) -> int:
    """« 1,734 » or « 4983 » → the integer."""
    return int(text.replace(",", "").replace("\u202f", "").replace(" ", ""))


def readme_figure(readme: str, pattern: str) -> re.Match[str]:
    """A figure the README states, found in its prose (blanks and line breaks made one
    space): the walk checks the product says the same."""
    found = re.search(pattern, " ".join(readme.split()))
    assert found, f"the README no longer says /{pattern}/: update the walk's check"
    return found


def json_example(readme: str) -> dict[str, Any]:
    """The chat answer the README shows after its first curl (the first ```json block)."""
    example = next(b for b in blocks(readme) if b.lang == "json")
    found: dict[str, Any] = json.loads(example.body)
    return found


def aid_names(text: str) -> list[str]:
    """The aids an answer or `plume aides` lists (« - Name [n] — financeur … »)."""
    return re.findall(r"^- (?:\*\*)?(.+?)(?:\*\*)? \[\d+\] — financeur", text, re.M)


def table_rows(text: str) -> list[list[str]]:
    """The body rows of a table `rich` drew, as lists of cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.strip().startswith("│")
    ]
