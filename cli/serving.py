"""`plume serve` with several HTTP worker processes (`PLUME_WORKERS`, `--workers`).

This process keeps the runtime it built (the embedded store, the e5 filler) and starts
uvicorn's workers, each building its own runtime from the environment: with the embedded
store, its `PLUME_STORE_HOST` names the socket through which this process shares the store
(plume.shared_store); with a Qdrant server, each worker connects to it. uvicorn's
supervisor restarts a worker that dies, and stops them all on SIGINT/SIGTERM.

What each worker keeps to itself: its rate-limit counts in memory (PLUME_REDIS_URL shares
them), the ingestions it started (`/v1/admin/ingest/{id}` answers on that worker: a client
polling on one connection reaches it), and the term statistics it reloads after an ingestion
it ran. Without PLUME_SESSION_SECRET, one random key for agents' sessions is drawn here for
all the workers (a session signed by one is read by the others; lost on restart, as with
one process).
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assistant.runtime import Runtime
    from plume.settings import Settings


def serve_workers(settings: Settings, runtime: Runtime, host: str, port: int, workers: int) -> None:
    import uvicorn

    from api.ratelimit import server_options

    shared = runtime.share_store()
    os.environ["PLUME_LOCAL_FILL"] = "false"  # the e5 vectors are this process' to fill
    # one OpenMP thread per worker for the e5 model: the workers are the parallelism, and
    # OpenMP threads spinning while they wait would take the other workers' processor
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("PLUME_SESSION_SECRET", secrets.token_urlsafe(32))
    if shared is not None:
        os.environ["PLUME_STORE_HOST"] = str(shared.folder)
    try:
        uvicorn.run(
            "api.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            access_log=False,  # no personal data in logs: client addresses, query strings
            **server_options(settings),  # X-Forwarded-For only from PLUME_TRUSTED_PROXIES
        )
    finally:
        if shared is not None:
            shared.close()
