"""Open, create and upgrade project databases.

A project is a folder with ``project.sqlite`` and ``cache/``. Each process
opens one :class:`Project`, which owns one engine. Read work runs in
:meth:`Project.read`; every write runs in :meth:`Project.write`, a single
``BEGIN IMMEDIATE`` transaction, so two writers queue on SQLite's busy timeout
instead of failing half-way.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

DB_NAME = "project.sqlite"
BUSY_TIMEOUT_MS = 10_000
MIGRATIONS = Path(__file__).with_name("migrations")


class ProjectError(Exception):
    """A project folder or database that cannot be opened as asked."""


def _alembic_config(connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(_alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def _set_pragmas(dbapi_connection, _record) -> None:
    # The driver's own transaction handling is switched off so that the
    # "begin" hook below decides how each transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin(connection) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(db_path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{db_path}")
    event.listen(engine, "connect", _set_pragmas)
    event.listen(engine, "begin", _begin)
    return engine


def _read_revision(db_path: Path) -> str | None:
    """Return the Alembic revision of a database file, or None for a new one.

    Raises ProjectError for a file that is not a workbench project. The file is
    opened read-only, so a foreign file is never modified.
    """
    uri = f"file:{db_path}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True) as conn:
            tables = {
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if not tables:
                return None
            if "alembic_version" not in tables or "items" not in tables:
                raise ProjectError(
                    f"{db_path} is an SQLite database but not a workbench project "
                    "(it has no items table). Choose a project folder or create a new one."
                )
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise ProjectError(
            f"{db_path} is not a workbench project: {exc}. "
            "Choose a project folder or create a new one."
        ) from exc
    return row[0] if row else None


class Project:
    """An open project folder: its database engine and its cache folder."""

    def __init__(self, folder: Path, engine: Engine):
        self.folder = folder
        self.engine = engine
        self._write_engine = engine.execution_options(sqlite_begin="IMMEDIATE")

    @property
    def db_path(self) -> Path:
        return self.folder / DB_NAME

    @property
    def cache(self) -> Path:
        return self.folder / "cache"

    def resolve(self, item_path: str) -> Path:
        """Return the file of an item path stored relative to the project."""
        path = Path(item_path)
        return path if path.is_absolute() else self.folder / path

    def relative(self, file: Path) -> str:
        """Return the path to store for a file: relative when inside the project."""
        file = file.resolve()
        try:
            return file.relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            return str(file)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Run one write transaction; it commits on success and rolls back on error."""
        with Session(self._write_engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _backup(db_path: Path, revision: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = db_path.with_name(f"{db_path.stem}.backup-{revision}-{stamp}.sqlite")
    with sqlite3.connect(db_path) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return target


def _upgrade(engine: Engine) -> None:
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "head")


def open_project(folder: str | Path, *, create: bool = False) -> Project:
    """Open the project in ``folder``, upgrading an older schema after a backup.

    With ``create`` a missing folder or database is created. Raises
    ProjectError for a folder without a project, a file that is not a
    workbench project, or a project from a newer version of the workbench.
    """
    folder = Path(folder).expanduser().resolve()
    db_path = folder / DB_NAME
    if folder.exists() and not folder.is_dir():
        raise ProjectError(f"{folder} is a file, not a project folder.")
    if not db_path.exists():
        if not create:
            raise ProjectError(
                f"No workbench project in {folder} (missing {DB_NAME}). "
                "Create one with 'workbench demo --project DIR' or "
                "'workbench import folder DIR IMAGES'."
            )
        folder.mkdir(parents=True, exist_ok=True)
    revision = _read_revision(db_path) if db_path.exists() else None
    head = head_revision()
    if revision is not None and revision not in known_revisions():
        raise ProjectError(
            f"{db_path} was written by a newer workbench (schema {revision}); "
            f"this version knows schema up to {head}. Update the workbench to open it."
        )
    if revision is not None and revision != head:
        backup = _backup(db_path, revision)
        log.info("Upgrading %s from schema %s to %s; backup at %s", db_path, revision, head, backup)
    engine = make_engine(db_path)
    if revision != head:
        _upgrade(engine)
    (folder / "cache").mkdir(exist_ok=True)
    return Project(folder, engine)


def schema_tables(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def integrity_check(engine: Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(text("PRAGMA integrity_check")).scalar_one()
