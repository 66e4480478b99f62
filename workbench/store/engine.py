"""Open, create and upgrade project databases.

A project is a folder with ``project.sqlite`` and ``cache/``. Each process
opens one :class:`Project`, which owns one engine. Read work runs in
:meth:`Project.read`; every write runs in :meth:`Project.write`, a single
``BEGIN IMMEDIATE`` transaction, so two writers queue on SQLite's busy timeout
instead of failing half-way.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import closing, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

DB_NAME = "project.sqlite"
BUSY_TIMEOUT_MS = 10_000
BEGIN_ATTEMPTS = 3
MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration's revision; tests/store/test_migrations.py checks it
# against the scripts. A project already at it opens without Alembic.
HEAD_REVISION = "0001"


class ProjectError(Exception):
    """A project folder or database that cannot be opened as asked."""


class StoreWriteError(ProjectError):
    """A write the database rejected (disk full, read-only, locked); nothing was written."""


def _write_error(exc: OperationalError, db_path: Path) -> StoreWriteError | None:
    text = str(exc.orig)
    if "full" in text:
        return StoreWriteError(
            f"The disk holding {db_path} is full; nothing was saved. "
            "Free some space and try again."
        )
    if "readonly" in text or "read-only" in text:
        return StoreWriteError(
            f"{db_path} is read-only; nothing was saved. "
            "Copy the project to a folder you can write to."
        )
    if "locked" in text:
        return StoreWriteError(
            f"{db_path} stayed locked by another program for more than "
            f"{BUSY_TIMEOUT_MS * BEGIN_ATTEMPTS // 1000} s; nothing was saved. Try again."
        )
    return None


def _alembic_config(connection=None):
    # Alembic is imported only to migrate or inspect the scripts: it adds a
    # few hundred milliseconds to the window's start, and opening a project
    # whose schema is at HEAD_REVISION does not need it.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """Return the newest revision among the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

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
    """Start a transaction, retrying when another writer holds the lock.

    SQLite already waits up to BUSY_TIMEOUT_MS inside each attempt. A write
    transaction takes its lock here (BEGIN IMMEDIATE), so later statements in
    it do not meet a locked database.
    """
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    for attempt in range(1, BEGIN_ATTEMPTS + 1):
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
            return
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == BEGIN_ATTEMPTS:
                raise
            log.warning("Database busy at BEGIN %s (attempt %d of %d): %s; retrying",
                        mode, attempt, BEGIN_ATTEMPTS, exc.orig)
            time.sleep(0.05 * attempt)


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
        # closing(): a sqlite3 connection used as a context manager only ends
        # its transaction, and an unclosed one keeps the file open until the
        # garbage collector frees it.
        with closing(sqlite3.connect(uri, uri=True)) as conn:
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
        """Run one write transaction, committed on success and rolled back on error.

        A full disk, a read-only file or a lock held too long raises
        StoreWriteError with a message for the user. The transaction is rolled
        back first, so no row of it remains.
        """
        try:
            with Session(self._write_engine, expire_on_commit=False) as session:
                with session.begin():
                    yield session
        except OperationalError as exc:
            error = _write_error(exc, self.db_path)
            if error is None:
                raise
            log.error("Write to %s failed: %s", self.db_path, exc.orig)
            raise error from exc

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _backup(db_path: Path, revision: str) -> Path:
    """Copy the database (WAL content included) beside it and check the copy.

    Raises ProjectError, and leaves no partial copy, when the copy cannot be
    written or does not read back as the same schema revision.
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = db_path.with_name(f"{db_path.stem}.backup-{revision}-{stamp}.sqlite")
    try:
        with closing(sqlite3.connect(db_path)) as source, \
                closing(sqlite3.connect(target)) as copy:
            source.backup(copy)
        with closing(sqlite3.connect(f"file:{target}?mode=ro", uri=True)) as check:
            copied = check.execute("SELECT version_num FROM alembic_version").fetchone()
            verdict = check.execute("PRAGMA quick_check").fetchone()[0]
        if copied != (revision,) or verdict != "ok":
            raise sqlite3.DatabaseError(f"the copy reads back as {copied}, check {verdict!r}")
    except sqlite3.Error as exc:
        target.unlink(missing_ok=True)
        raise ProjectError(
            f"Could not write a backup of {db_path} before upgrading its schema ({exc}); "
            "the project was not changed. Free some disk space and open it again."
        ) from exc
    return target


def _upgrade(engine: Engine) -> None:
    """Run the migrations to head in one transaction, with foreign keys off.

    Alembic's batch mode rebuilds a SQLite table by copying it and dropping
    the old one; with foreign keys on, that drop would delete every row that
    cascades from the table (label events, proposals). A reference left
    dangling at the end rolls the whole upgrade back.
    """
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        # PRAGMA foreign_keys is ignored inside a transaction, so it is set
        # on the driver connection before the upgrade's BEGIN.
        driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                from alembic import command

                command.upgrade(_alembic_config(connection), "head")
                dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if dangling:
                    raise ProjectError(f"the upgraded schema leaves {len(dangling)} rows "
                                       f"pointing at missing rows, first {dangling[0]}")
        finally:
            driver.execute("PRAGMA foreign_keys=ON")


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
    if db_path.exists() and not os.access(folder, os.W_OK):
        raise ProjectError(
            f"Project folder {folder} is read-only, and SQLite needs to write beside "
            f"{DB_NAME}. Copy the project to a folder you can write to."
        )
    revision = _read_revision(db_path) if db_path.exists() else None
    head = HEAD_REVISION if revision == HEAD_REVISION else head_revision()
    if revision not in (None, head) and revision not in known_revisions():
        raise ProjectError(
            f"{db_path} was written by a newer workbench (schema {revision}); "
            f"this version knows schema up to {head}. Update the workbench to open it."
        )
    if revision is not None and revision != head:
        backup = _backup(db_path, revision)
        log.info("Upgrading %s from schema %s to %s; backup at %s", db_path, revision, head, backup)
    engine = make_engine(db_path)
    if revision != head:
        try:
            _upgrade(engine)
        except Exception as exc:
            # Any failure of a migration script: its transaction was rolled back.
            engine.dispose()
            if revision is None:
                raise
            raise ProjectError(
                f"Upgrading {db_path} from schema {revision} to {head} failed: {exc}. "
                f"The project was not changed; its copy from before is {backup}."
            ) from exc
    (folder / "cache").mkdir(exist_ok=True)
    return Project(folder, engine)


def schema_tables(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def integrity_check(engine: Engine) -> str:
    with engine.connect() as connection:
        return connection.execute(text("PRAGMA integrity_check")).scalar_one()
