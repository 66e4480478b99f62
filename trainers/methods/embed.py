"""The embed job: compute and cache the vectors of every item in one space."""

from __future__ import annotations

import numpy as np

from trainers.data import load_dataset
from trainers.features.spaces import load_features, parse_space
from trainers.results import MethodResult
from trainers.state import TaskState
from workbench.store.engine import Project


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    options = {"download": params["download"], "epochs": params["pretrain_epochs"],
               "batch_size": params["batch_size"], "seed": params["seed"],
               "pretrain_items": params["pretrain_items"]}
    space = parse_space(params["space"], weights=params["weights"],
                        image_size=params["image_size"], options=options)
    data = load_dataset(project)
    if len(data.item_ids) == 0:
        raise ValueError("The project has no items. Import images first.")
    features = load_features(project, data, space, state, device, span=(0.0, 0.9),
                             recompute=params["recompute"])
    metrics = {
        "space": space.key,
        "items": len(data.item_ids),
        "computed": features.computed,
        "cached": int(len(data.item_ids) - features.computed),
        "unreadable": int((~features.usable).sum()),
        "dim": int(features.vectors.shape[1]),
        "mean_norm": float(np.linalg.norm(features.vectors[features.usable], axis=1).mean()),
    }
    return MethodResult(None, [], metrics, [features.store])
