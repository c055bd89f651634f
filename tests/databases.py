"""Fresh records databases for tests: a SQLite file, or a new PostgreSQL database.

PostgreSQL runs on this machine (127.0.0.1:5432, trust auth; `make test` starts it);
`TEST_POSTGRES_URL` points elsewhere. A test run creates its own database and drops it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from plume.db import normalise_url

KINDS = ["sqlite", "postgresql"]
POSTGRES = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of an empty database of `kind`, dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'records-{uuid.uuid4().hex[:8]}.db'}"
        return
    admin = create_engine(normalise_url(POSTGRES), isolation_level="AUTOCOMMIT")
    name = f"plume_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES} ({type(exc).__name__}): run make test")
    try:
        yield (
            make_url(normalise_url(POSTGRES))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
