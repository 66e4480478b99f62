"""Schema creation, upgrades and refusal of files that are not projects."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from workbench.store.engine import (
    DB_NAME,
    HEAD_REVISION,
    ProjectError,
    head_revision,
    open_project,
)
from workbench.store.schema import Base, Item


def test_migrations_match_orm_schema(tmp_path):
    project = open_project(tmp_path / "p", create=True)
    with project.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, Base.metadata)
    project.close()
    assert differences == []


def test_new_project_is_at_head_revision(tmp_path):
    open_project(tmp_path / "p", create=True).close()
    with sqlite3.connect(tmp_path / "p" / DB_NAME) as connection:
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert revision == head_revision()


def test_head_revision_constant_matches_scripts():
    assert HEAD_REVISION == head_revision()


def test_project_at_head_opens_without_alembic(tmp_path):
    open_project(tmp_path / "p", create=True).close()
    script = ("import sys; from workbench.store.engine import open_project; "
              f"open_project({str(tmp_path / 'p')!r}).close(); "
              "print('alembic' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_missing_project_names_the_folder(tmp_path):
    with pytest.raises(ProjectError, match="No workbench project in"):
        open_project(tmp_path / "nothing-here")


def test_foreign_sqlite_file_is_refused_and_unchanged(tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    db = folder / DB_NAME
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
        connection.execute("INSERT INTO notes VALUES ('keep me')")
    before = db.read_bytes()
    with pytest.raises(ProjectError, match="not a workbench project"):
        open_project(folder)
    assert db.read_bytes() == before


def test_garbage_file_is_refused_and_unchanged(tmp_path):
    folder = tmp_path / "garbage"
    folder.mkdir()
    db = folder / DB_NAME
    db.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ProjectError, match="not a workbench project"):
        open_project(folder)
    assert db.read_bytes() == b"this is not a database at all" * 100


def test_newer_schema_is_refused_and_unchanged(tmp_path):
    open_project(tmp_path / "p", create=True).close()
    db = tmp_path / "p" / DB_NAME
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    before = db.read_bytes()
    with pytest.raises(ProjectError, match="newer workbench"):
        open_project(tmp_path / "p")
    assert db.read_bytes() == before


# Upgrades ---------------------------------------------------------------------

FIRST_REVISION = "0001"
ROWS = {
    "classes": "INSERT INTO classes VALUES (1, 'cat', '#1f77b4', '1', 0)",
    "items": "INSERT INTO items VALUES (1, 'images/ä b.png', '{sha}', 8, 8, 'train', "
             "'{{\"source\": \"x\"}}', 1, 'human', 1.0, 'user:a', '2026-01-01 00:00:00', "
             "'2026-01-01 00:00:00')",
    "jobs": "INSERT INTO jobs (id, kind, params, state, progress, created_at, metrics) "
            "VALUES (1, 'self-training', '{{}}', 'succeeded', 1.0, '2026-01-01', '{{}}')",
    "proposals": "INSERT INTO proposals VALUES (1, 1, 1, 'pseudo_label', 1, 0.9, '{{}}', "
                 "'accepted', 'user:a', '2026-01-01', '2026-01-01')",
    "label_events": "INSERT INTO label_events (id, item_id, decision, action, new_class_id, "
                    "new_source, new_confidence, actor, proposal_id, created_at) VALUES "
                    "(1, 1, 1, 'accept', 1, 'pseudo', 0.9, 'user:a', 1, '2026-01-01')",
}


def _first_version_project(folder):
    """A project as the first schema version wrote it, with one row in each main table."""
    from alembic import command

    from workbench.store.engine import _alembic_config, make_engine

    folder.mkdir(parents=True)
    engine = make_engine(folder / DB_NAME)
    with engine.begin() as connection:
        command.upgrade(_alembic_config(connection), FIRST_REVISION)
    engine.dispose()
    with closing(sqlite3.connect(folder / DB_NAME)) as connection:
        for statement in ROWS.values():
            connection.execute(statement.format(sha="a" * 64))
        connection.commit()
    return folder


def _contents(db):
    with closing(sqlite3.connect(db)) as connection:
        return {table: connection.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
                for table in ROWS}


def _revision(db):
    with closing(sqlite3.connect(db)) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]


def test_upgrade_from_first_version(tmp_path):
    folder = _first_version_project(tmp_path / "old")
    before = _contents(folder / DB_NAME)
    project = open_project(folder)
    with project.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    project.close()
    assert differences == []
    assert _revision(folder / DB_NAME) == head_revision()
    after = _contents(folder / DB_NAME)
    for table, rows in before.items():
        assert [row[: len(rows[0])] for row in after[table]] == rows, table
    backups = sorted(folder.glob("project.backup-*.sqlite"))
    if head_revision() == FIRST_REVISION:
        assert backups == []
    else:
        assert len(backups) == 1
        assert _contents(backups[0]) == before


def _migrations_with(tmp_path, monkeypatch, body: str):
    """The project's migrations plus a revision 0002 with ``body`` as its upgrade."""
    from workbench.store import engine

    copy = tmp_path / "migrations"
    shutil.copytree(engine.MIGRATIONS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    parent = engine.head_revision()
    (copy / "versions" / "0002_test.py").write_text(
        "from alembic import op\nimport sqlalchemy as sa\n\n"
        f"revision = '0002'\ndown_revision = {parent!r}\nbranch_labels = None\n"
        "depends_on = None\n\n\ndef upgrade():\n" + body + "\n\ndef downgrade():\n    pass\n")
    monkeypatch.setattr(engine, "MIGRATIONS", copy)
    monkeypatch.setattr(engine, "HEAD_REVISION", "0002")


def test_upgrade_backs_up_keeps_rows(tmp_path, monkeypatch):
    folder = _first_version_project(tmp_path / "old")
    before = _contents(folder / DB_NAME)
    # Rebuilding items in batch mode drops the old table: with foreign keys
    # on, that would delete the label events and proposals of every item.
    _migrations_with(tmp_path, monkeypatch,
                     "    with op.batch_alter_table('items', recreate='always') as batch:\n"
                     "        batch.add_column(sa.Column('note', sa.Text(), nullable=True))\n")
    open_project(folder).close()
    assert _revision(folder / DB_NAME) == "0002"
    after = _contents(folder / DB_NAME)
    assert after["label_events"] == before["label_events"]
    assert after["proposals"] == before["proposals"]
    assert [row[:-1] for row in after["items"]] == before["items"]
    (backup,) = folder.glob("project.backup-0001-*.sqlite")
    assert _revision(backup) == "0001"
    assert _contents(backup) == before


def test_failed_upgrade_changes_nothing(tmp_path, monkeypatch):
    folder = _first_version_project(tmp_path / "old")
    before = _contents(folder / DB_NAME)
    _migrations_with(tmp_path, monkeypatch,
                     "    op.add_column('classes', sa.Column('note', sa.Text()))\n"
                     "    raise RuntimeError('migration script fails half-way')\n")
    with pytest.raises(ProjectError, match="half-way.*copy from before is") as caught:
        open_project(folder)
    assert _revision(folder / DB_NAME) == "0001"
    assert _contents(folder / DB_NAME) == before
    with closing(sqlite3.connect(folder / DB_NAME)) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(classes)")]
    assert "note" not in columns
    (backup,) = folder.glob("project.backup-0001-*.sqlite")
    assert str(backup) in str(caught.value)


def test_open_and_close_release_the_file(tmp_path):
    import gc
    import os

    folder = tmp_path / "p"
    open_project(folder, create=True).close()
    gc.disable()
    try:
        with open_project(folder) as project, project.read() as session:
            session.execute(select(Item.id)).all()
        open_paths = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                open_paths.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                continue
    finally:
        gc.enable()
    # Nothing may wait for the garbage collector to close the database: a
    # held file keeps a read-only remount busy and, on Windows, the folder.
    assert [path for path in open_paths if path.startswith(str(folder))] == []
