"""The database: engine, sessions and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from kudos_service.core.files import private_file, sqlite_file

__all__ = ["Database", "alembic_config"]


def alembic_config(url: str) -> Config:
    """The Alembic configuration of the service's migrations, for ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("kudos_service") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Database:
    """An engine and its session factory. SQLite runs in WAL mode with a busy timeout.

    Each commit is synced to disk (``synchronous=FULL``). ``NORMAL`` would be about 10 % faster under load, but
    in WAL mode it can lose the last commits on a power loss or an OS crash (not on a crash of this process), and
    the delivery worker's exactly-once needs a signed transaction to be on disk before it is broadcast.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        path = sqlite_file(url)
        if path is not None and path.parent.is_dir():  # a missing directory is SQLite's error to report, as before
            private_file(path)  # 0600 before SQLite creates it with the umask's mode (see kudos_service.core.files)
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        cfg = alembic_config(self.url)
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends without error, and rolls back otherwise."""
        with self.sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
