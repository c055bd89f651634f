"""An ingestion's progress: a bar on a terminal, a few lines in a log (cron, CI, a pipe).

On a terminal, `plume ingest` draws one rich progress bar, left on screen when it ends.
Elsewhere a bar cannot redraw itself, so `IngestLog` writes a line each time the run
passes another tenth of the source (or, when its size is unknown, another
`UNKNOWN_STEP` passages), always after a batch was written to the store, then one
final line: about ten lines, whatever the size of the source.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import ProgressColumn, Task
from rich.text import Text

UNKNOWN_STEP = 10_000  # passages between two lines when the source's size is unknown


class DoneColumn(ProgressColumn):
    """« 120/1171 » when the source's size is known, else « 29112 documents » (not « /? »)."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        return Text(f"{done}/{int(task.total)}" if task.total else f"{done} documents")


class IngestLog:
    """A line at each tenth of the source read, written after a batch reached the store:
    « Indexation legi : 40 % (120/300 documents), 2048 passages écrits »."""

    def __init__(self, console: Console, source: str) -> None:
        self.console, self.source = console, source
        self.total: int | None = None
        self.documents = self.passages = 0
        self.step = 0  # tenths (or UNKNOWN_STEP passages) already said

    def on_total(self, total: int) -> None:
        self.total = total

    def progress(self, n: int) -> None:
        self.documents += n

    def written(self, n: int) -> None:
        self.passages += n
        if self.total:
            step = 10 * self.documents // self.total
            if self.step < step < 10:  # the last batch is said by `finish`
                self.step = step
                self._say(f"{100 * self.documents // self.total} % ({self._read()})")
        elif self.passages // UNKNOWN_STEP > self.step:
            self.step = self.passages // UNKNOWN_STEP
            self._say(self._read())

    def finish(self) -> None:
        self._say(f"terminée ({self._read()})")

    def _read(self) -> str:
        read = f"{self.documents}/{self.total}" if self.total else str(self.documents)
        return f"{read} documents, {self.passages} passages écrits"

    def _say(self, what: str) -> None:
        self.console.print(
            f"Indexation {self.source} : {what}", highlight=False, markup=False, soft_wrap=True
        )
