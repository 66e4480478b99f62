"""The project database: schema, engine, user actions and queries (no Qt, no torch)."""

from workbench.store.engine import Project, ProjectError, open_project

__all__ = ["Project", "ProjectError", "open_project"]
