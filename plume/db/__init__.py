"""The records database: SQLite by default, PostgreSQL in production, Alembic migrations.

`Database` is built once at start-up (the runtime) and closed at shutdown; `upgrade()`
applies the migrations under `plume/db/migrations/` (idempotent).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from plume.errors import DatabaseUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
LOCK = 0x706C756D65  # « plume »: the advisory lock the migrations are applied under


def normalise_url(url: str) -> str:
    """`postgresql://…` → the psycopg 3 driver (SQLAlchemy's default would be psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _refuse_an_emptied_file(path: Path) -> None:
    """A SQLite file of 0 bytes is a database emptied by accident (a disk full, a copy cut
    short, `> plume.db`), not a new one: SQLite would start it afresh, silently, and every
    record would be gone. A new instance has no file at all."""
    wal = path.with_name(path.name + "-wal")
    if path.is_file() and path.stat().st_size == 0 and not (wal.is_file() and wal.stat().st_size):
        raise DatabaseUnavailable(
            f"La base des enregistrements {path} est vide (0 octet) : elle a été tronquée, "
            "et Plume ne repart pas de zéro sans vous. Restaurez-la depuis une sauvegarde "
            "(plume import <dossier>, dans un dossier de données vide), ou, pour une instance "
            "neuve, supprimez ce fichier puis relancez."
        )


class Database:
    def __init__(self, url: str) -> None:
        try:
            self.url = make_url(normalise_url(url))
            self.engine: Engine = create_engine(self.url, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ImportError):
            raise DatabaseUnavailable(
                "PLUME_DATABASE_URL invalide : attendu sqlite:///chemin/plume.db ou "
                "postgresql://utilisateur@hôte:5432/base."
            ) from None
        if self.url.get_backend_name() == "sqlite" and self.url.database:
            _refuse_an_emptied_file(Path(self.url.database))
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        if self.url.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.url.get_backend_name()

    def describe(self) -> str:
        """The URL with any password hidden, for display."""
        return self.url.render_as_string(hide_password=True)

    def upgrade(self) -> None:
        """Apply the migrations up to the latest (idempotent)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self.engine.begin() as connection:
                if self.backend == "postgresql":  # replicas starting together: one at a time
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK})
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(
                f"Base des enregistrements injoignable ({self.describe()}) : {type(exc).__name__}."
            ) from None

    def tables(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(
                f"Erreur de la base des enregistrements : {type(exc).__name__}."
            ) from exc

    def close(self) -> None:
        self.engine.dispose()
