"""Tables that read at 80 columns.

Squeezed into a narrow terminal, rich shares the width out evenly and shortens headers
to « Co… » and figures to « 0.… ». `fit` gives each column of a table at least its
longest word (its header's included) and wraps the rest; `split_columns` deals a table
whose columns cannot all fit (a column per group of questions, per commune) into
several, each repeating the row labels, so every header and every figure shows in full.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

BORDER = 3  # a column's padding and the rule on its right
FOLD_AT = 8  # a column of long paths or addresses (overflow="fold") may narrow to this


def minute(iso: str | None) -> str:
    """« 2026-12-07 16:48 » (UTC) for an ISO time: short, and it wraps at its space."""
    return iso.replace("T", " ")[:16] if iso else "—"


def fit(table: Table, console: Console) -> Table:
    """`table`, its columns' widths set when it is wider than `console`. Each column gets
    its longest word, headers included (a column with overflow="fold", of paths or
    addresses: FOLD_AT), then the width left goes first to the folded columns' longest
    words, then to the columns that need the least more to show whole; the others wrap
    at their spaces. Unchanged when it fits, or when even that is too wide."""
    options = console.options
    lows, words, highs = [], [], []
    for column in table.columns:
        header = Measurement.get(console, options, column.header)
        cells = [header, *(Measurement.get(console, options, c) for c in column.cells)]
        word, high = max(m.minimum for m in cells), max(m.maximum for m in cells)
        folded = column.overflow == "fold"
        lows.append(min(word, max(header.minimum, FOLD_AT)) if folded else word)
        words.append(word)
        highs.append(high)
    room = console.width - 1 - BORDER * len(table.columns)
    if sum(highs) <= room or sum(lows) > room:
        return table
    widths, spare = list(lows), room - sum(lows)
    for goal in (words, highs):  # whole words in the folded columns, then whole values
        for i in sorted(range(len(goal)), key=lambda j: goal[j] - widths[j]):
            more = min(goal[i] - widths[i], spare)
            widths[i] += more
            spare -= more
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    return table


def _longest_word(texts: Sequence[str]) -> int:
    return max((cell_len(word) for text in texts for word in text.split()), default=1)


def _deal(needs: list[int], room: int, most: int) -> list[list[int]]:
    """The columns in order, at most `most` and as many as fit in `room` per table."""
    chunks: list[list[int]] = [[]]
    used = 0
    for i, need in enumerate(needs):
        if chunks[-1] and (used + need > room or len(chunks[-1]) == most):
            chunks.append([])
            used = 0
        chunks[-1].append(i)
        used += need
    return chunks


def split_columns(
    title: str,
    label: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int,
) -> list[Table]:
    """`rows`: a label then a value per header. One table if it fits in `width`, else the
    headers in order, as evenly as they fit, the later tables titled « (suite) »."""
    labels = [label, *(row[0] for row in rows)]
    room = width - 1 - max(cell_len(t) for t in labels) - BORDER
    # a header is one word (a group, a code), a value may wrap at its spaces (a name)
    needs = [
        max(cell_len(header), _longest_word([row[i + 1] for row in rows])) + BORDER
        for i, header in enumerate(headers)
    ]
    chunks = _deal(needs, room, len(headers))
    evened = _deal(needs, room, -(-len(headers) // len(chunks)))  # 4 + 3, not 6 + 1
    chunks = evened if len(evened) == len(chunks) else chunks
    tables = []
    for n, chunk in enumerate(chunks):
        table = Table(title=title if n == 0 else f"{title} (suite)")
        table.add_column(label, no_wrap=True)
        for i in chunk:
            table.add_column(Text(headers[i]), justify="right", overflow="fold")
        for row in rows:
            table.add_row(Text(row[0]), *(Text(row[i + 1]) for i in chunk))
        tables.append(table)
    return tables
