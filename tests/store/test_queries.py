"""Grid queries on the digits demo project."""

from __future__ import annotations

import pytest

from workbench.store import queries
from workbench.store.queries import ItemFilter


def test_filtered_items_from_id(demo_project):
    with demo_project.read() as session:
        every = queries.filtered_items(session, ItemFilter())
        tail = queries.filtered_items(session, ItemFilter(), first_id=1700)
        labeled_tail = queries.filtered_items(session, ItemFilter(label="human"), first_id=1700)
        labeled = queries.filtered_items(session, ItemFilter(label="human"))
    assert [row.id for row in tail] == [row.id for row in every if row.id >= 1700]
    assert tail == [row for row in every if row.id >= 1700]
    assert labeled_tail == [row for row in labeled if row.id >= 1700]


def test_filtered_items_invalid_filter(demo_project):
    with demo_project.read() as session, pytest.raises(ValueError, match="'tagged'"):
        queries.filtered_items(session, ItemFilter(label="tagged"), first_id=1)
