"""Schema creation, upgrades and refusal of files that are not projects."""

from __future__ import annotations

import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from workbench.store.engine import DB_NAME, ProjectError, head_revision, open_project
from workbench.store.schema import Base


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
