"""Zero-shot weak labels: CLIP image vectors against text prompts per class.

Each prompt set is a weak source. A set maps every class to templates such
as "a photo of a {}." ('{}' is replaced by the class name); the text
vectors of a class's templates are averaged into one class vector (a
template ensemble), and the image's cosine similarity to the class vectors,
times the model's logit scale, goes through a softmax. The default set is
``resources/prompts/templates.json``; a project's enabled ``clip_prompts``
weak sources replace it.
"""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select

from trainers.features.backbones import require_clip_weights
from trainers.features.spaces import parse_space
from trainers.methods.common import Prepared, per_class_counts, prepare, top_classes
from trainers.methods.evaluation import accuracy
from trainers.results import MethodResult, ProposalRow
from trainers.state import TaskState
from workbench.paths import resource_path
from workbench.store.engine import Project
from workbench.store.schema import KIND_WEAK, WeakSource

DEFAULT_SOURCE = "default prompts"
PROMPT_KIND = "clip_prompts"


def default_templates() -> list[str]:
    with open(resource_path("prompts/templates.json"), encoding="utf-8") as handle:
        return list(json.load(handle)["templates"])


def prompt_sets(project: Project, class_names: list[str]) -> dict[str, dict[str, list[str]]]:
    """Return ``{source name: {class name: prompts}}`` from the project or the defaults.

    A class that a source gives no templates gets the default templates.
    """
    defaults = default_templates()
    with project.read() as session:
        rows = session.execute(
            select(WeakSource.name, WeakSource.definition)
            .where(WeakSource.kind == PROMPT_KIND, WeakSource.enabled.is_(True))
            .order_by(WeakSource.id)).all()
    sources = {name: (definition or {}).get("templates", {}) for name, definition in rows}
    if not sources:
        sources = {DEFAULT_SOURCE: {}}
    sets = {}
    for name, templates in sources.items():
        unknown = sorted(set(templates) - set(class_names))
        if unknown:
            raise ValueError(f"Prompt set {name!r} has templates for unknown classes: "
                             f"{', '.join(unknown)}. Rename them to project classes.")
        sets[name] = {cls: [_fill(t, cls) for t in templates.get(cls) or defaults]
                      for cls in class_names}
    return sets


def _fill(template: str, class_name: str) -> str:
    return template.replace("{}", class_name) if "{}" in template else template


def clip_space(params: dict):
    options = {"download": params["download"], "batch_size": params["batch_size"]}
    return parse_space(params["space"], weights=params["weights"], options=options)


def class_vectors(space, prompts: dict[str, list[str]], class_names: list[str], device: str):
    """Return the (n_classes, dim) unit text vectors and the model's logit scale."""
    import torch

    from trainers.features.backbones import clip_model

    model, _, tokenizer = clip_model(space.arch, space.pretrained, space.weights,
                                     bool(space.options.get("download")))
    model.to(device).eval()
    rows = []
    with torch.no_grad():
        for name in class_names:
            text = model.encode_text(tokenizer(prompts[name]).to(device)).float()
            mean = torch.nn.functional.normalize(text, dim=1).mean(dim=0)
            rows.append(torch.nn.functional.normalize(mean, dim=0))
        scale = float(model.logit_scale.exp()) if hasattr(model, "logit_scale") else 100.0
    return torch.stack(rows).cpu().numpy().astype(np.float64), scale


def probabilities(image_vectors: np.ndarray, text_vectors: np.ndarray, scale: float):
    norms = np.linalg.norm(image_vectors, axis=1, keepdims=True)
    unit = image_vectors / np.where(norms > 0, norms, 1.0)
    logits = scale * unit @ text_vectors.T
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def source_probabilities(project: Project, prepared: Prepared, space, device: str,
                         state: TaskState) -> dict[str, np.ndarray]:
    """Return each prompt set's (n_usable, n_classes) probabilities."""
    names = prepared.data.class_names
    result = {}
    for source, prompts in prompt_sets(project, names).items():
        state.check()
        text, scale = class_vectors(space, prompts, names, device)
        result[source] = probabilities(prepared.X, text, scale)
    return result


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    space = clip_space(params)
    if space.family != "clip":
        raise ValueError(f"Zero-shot needs a clip space, got {params['space']!r}; use "
                         f"clip or clip:MODEL/TAG.")
    # The prompts need the text encoder even when every image vector is cached.
    require_clip_weights(space)
    prepared = prepare(project, params, state, device, space=space, span=(0.0, 0.7))
    if not len(prepared.unlabeled):
        raise ValueError("Zero-shot has nothing to propose: every readable item is labeled.")
    state.progress(0.75, "encoding the prompts")
    per_source = source_probabilities(project, prepared, space, device, state)
    ensemble = np.mean(list(per_source.values()), axis=0)
    proposals, classes = [], []
    for i in prepared.unlabeled:
        best = int(ensemble[i].argmax())
        if ensemble[i, best] < params["threshold"]:
            continue
        votes = {name: prepared.class_name(int(p[i].argmax())) for name, p in per_source.items()}
        evidence = {"votes": votes, "space": space.key, "top": top_classes(prepared, ensemble[i])}
        proposals.append(ProposalRow(int(prepared.item_ids[i]), prepared.class_id(best),
                                     float(ensemble[i, best]), evidence))
        classes.append(best)
    metrics = {"space": space.key, "sources": list(per_source),
               "unlabeled": len(prepared.unlabeled), "proposed": len(proposals),
               "proposals_per_class": per_class_counts(prepared, classes),
               "vectors_computed": prepared.features.computed}
    labeled = prepared.labels >= 0
    if labeled.any():
        metrics["accuracy_on_labels"] = round(accuracy(ensemble[labeled],
                                                       prepared.labels[labeled]), 4)
    return MethodResult(KIND_WEAK, proposals, metrics, [prepared.features.store])
