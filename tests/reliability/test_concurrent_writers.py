"""Decisions every 50 ms while trainers write thousands of proposals and a reader reads."""

from __future__ import annotations

import random
import threading
import time

import pytest
from sqlalchemy import func, select

from workbench.ingest.demo import read_truth
from workbench.jobs import runner
from workbench.store import actions, open_project, queries
from workbench.store.schema import Item, LabelEvent

pytestmark = pytest.mark.slow
DECISION_INTERVAL_S = 0.05


def test_no_decision_lost_while_trainers_write(demo_folder):
    project = open_project(demo_folder)
    reader_project = open_project(demo_folder)
    truth = read_truth(demo_folder)
    with project.read() as session:
        unlabeled = list(session.execute(
            select(Item.id, Item.path).where(Item.label_class_id.is_(None))).all())
        class_of_name = {c.name: c.id for c in queries.classes(session)}
    rng = random.Random(7)
    stop = threading.Event()
    errors: list[BaseException] = []
    decided: dict[int, int] = {}
    reads = [0]
    changes = [0]

    def annotator():
        try:
            while not stop.is_set():
                # A careful annotator: the true class, so training stays sound.
                item, path = rng.choice(unlabeled)
                class_id = class_of_name[truth[path]]
                decision = actions.label_items(project, [item], class_id, actor="user:test")
                decided[item] = class_id
                changes[0] += decision.changed
                time.sleep(DECISION_INTERVAL_S)
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    def reader():
        try:
            while not stop.is_set():
                with reader_project.read() as session:
                    queries.status(session)
                    queries.pending_proposals(session)
                reads[0] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=annotator), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    states = []
    try:
        for _ in range(3):
            job_id = runner.create_job(project, "self-training",
                                       {"rounds": 1, "threshold": 0.3})
            states.append(runner.run_job(project, job_id))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert errors == []
    assert states == ["succeeded"] * 3
    assert reads[0] > 10
    with project.read() as session:
        labels = dict(session.execute(
            select(Item.id, Item.label_class_id).where(Item.id.in_(list(decided)))).all())
        sources = set(session.scalars(
            select(Item.label_source).where(Item.id.in_(list(decided)))))
        label_events = session.scalar(
            select(func.count(LabelEvent.id)).where(LabelEvent.action == "label"))
        job_metrics = [job["metrics"]["stored"] for job in queries.jobs(session)]
    assert labels == decided
    assert sources == {"human"}
    assert label_events == changes[0]
    assert min(job_metrics) > 1000
    project.close()
    reader_project.close()
