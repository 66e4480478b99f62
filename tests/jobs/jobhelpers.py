"""Run jobs through the real command line and read what they stored."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from sqlalchemy import select

from workbench.ingest.demo import read_truth
from workbench.store import open_project
from workbench.store.schema import Embedding, Item, Job, Proposal


def workbench(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


def run_job(folder, kind, *options) -> subprocess.CompletedProcess:
    result = workbench("job", "run", kind, folder, "--json", *options)
    return result


def messages(result: subprocess.CompletedProcess) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def last_job(folder) -> Job:
    with open_project(folder) as project, project.read() as session:
        job = session.scalars(select(Job).order_by(Job.id.desc())).first()
        session.expunge(job)
        return job


def job_proposals(folder, job_id) -> list[dict]:
    """Return the job's proposals with the item path, class name and truth."""
    truth = read_truth(folder)
    with open_project(folder) as project, project.read() as session:
        from workbench.store.schema import LabelClass

        rows = session.execute(
            select(Proposal, Item.path, LabelClass.name)
            .join(Item, Item.id == Proposal.item_id)
            .join(LabelClass, LabelClass.id == Proposal.class_id)
            .where(Proposal.job_id == job_id)
        ).all()
        return [{"item_id": p.item_id, "path": path, "class": name, "score": p.score,
                 "evidence": p.evidence, "kind": p.kind, "state": p.state,
                 "truth": truth[path]} for p, path, name in rows]


def space_vectors(folder, space) -> dict[int, np.ndarray]:
    with open_project(folder) as project, project.read() as session:
        rows = session.execute(select(Embedding.item_id, Embedding.vector)
                               .where(Embedding.space == space)).all()
    return {item_id: np.frombuffer(vector, dtype="<f4") for item_id, vector in rows}


def items_with_truth(folder) -> list[tuple[int, str, str | None]]:
    """Return ``(item_id, true class, given class or None)`` for every item."""
    truth = read_truth(folder)
    with open_project(folder) as project, project.read() as session:
        from workbench.store.schema import LabelClass

        rows = session.execute(
            select(Item.id, Item.path, LabelClass.name)
            .join(LabelClass, LabelClass.id == Item.label_class_id, isouter=True)
            .order_by(Item.id)
        ).all()
    return [(item_id, truth[path], name) for item_id, path, name in rows]
