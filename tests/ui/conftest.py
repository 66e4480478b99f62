from __future__ import annotations

import pytest

from workbench.ui.main_window import MainWindow

ACTOR = "user:test"


@pytest.fixture
def window(qtbot, demo_folder):
    """The main window, shown offscreen, on a fresh copy of the digits demo."""
    window = MainWindow(actor=ACTOR)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    assert window.open_project(demo_folder)
    yield window
    window.shutdown()


def add_proposals(project, rows, *, job_kind="self-training"):
    """Store a succeeded job and its proposals as a trainer would; return the job id.

    ``rows`` are ``(item_id, class_name, score, kind, evidence)`` tuples.
    """
    from workbench.store.schema import PENDING, SUCCEEDED, Job, LabelClass, Proposal

    with project.write() as session:
        class_ids = {c.name: c.id for c in session.query(LabelClass)}
        job = Job(kind=job_kind, params={}, state=SUCCEEDED, progress=1.0)
        session.add(job)
        session.flush()
        for item_id, class_name, score, kind, evidence in rows:
            session.add(Proposal(job_id=job.id, item_id=item_id, kind=kind,
                                 class_id=class_ids[class_name], score=score,
                                 evidence=evidence, state=PENDING))
        return job.id


def unlabeled_ids(project, count):
    from sqlalchemy import select

    from workbench.store.schema import Item

    with project.read() as session:
        return list(session.scalars(
            select(Item.id).where(Item.label_class_id.is_(None)).order_by(Item.id).limit(count)))
