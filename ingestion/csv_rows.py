"""Records of a CSV file with the line each starts on, for errors a person can find."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _csv import Reader


def numbered_rows(
    reader: Reader, name: str, width: int, errors: list[str]
) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of each non-empty record of `width` cells; an unreadable record or one
    of another width is reported in `errors` (« name ligne N : … ») and skipped."""
    while True:
        line = reader.line_num + 1  # where the next record starts
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(f"{name} ligne {line} : CSV illisible ({exc})")
            continue
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != width:
            errors.append(f"{name} ligne {line} : {len(cells)} colonnes au lieu de {width}")
            continue
        yield line, cells
