"""Ingestion runs started from the admin API, executed in the server's own process.

With the embedded store the server owns the shard, so writes go through it. One run at
a time; a failed run leaves the previous index in place (see `ingestion.pipeline`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plume.errors import PlumeError

if TYPE_CHECKING:  # keep llama-index (behind the pipeline) out of the server's start-up
    from ingestion.pipeline import IngestSummary

log = logging.getLogger(__name__)


class RunInProgress(PlumeError):
    code = "ingestion_en_cours"


@dataclass
class Run:
    id: str
    source: str
    status: str = "en_cours"
    summary: dict[str, Any] | None = None
    error: str | None = None


class IngestRuns:
    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._busy = threading.Lock()

    def start(self, source: str, job: Callable[[], IngestSummary]) -> Run:
        if not self._busy.acquire(blocking=False):
            raise RunInProgress(
                "Une ingestion est déjà en cours ; réessayez quand elle sera finie."
            )
        run = Run(id=uuid.uuid4().hex[:12], source=source)
        with self._lock:
            self._runs[run.id] = run

        def work() -> None:
            try:
                run.summary = job().as_dict()
                run.status = "termine"
            except PlumeError as exc:
                run.status, run.error = "echec", exc.message
            except Exception as exc:  # keep the server up whatever happens in a run
                log.exception("ingestion run %s failed", run.id)
                run.status, run.error = "echec", f"Erreur inattendue : {type(exc).__name__}"
            finally:
                self._busy.release()

        threading.Thread(target=work, name=f"ingest-{run.id}", daemon=True).start()
        return run

    def get(self, run_id: str) -> Run | None:
        with self._lock:
            return self._runs.get(run_id)

    def wait_idle(self, timeout: float = 600) -> bool:
        if self._busy.acquire(timeout=timeout):
            self._busy.release()
            return True
        return False
