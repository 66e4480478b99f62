"""Weak labels from user rules, optionally with zero-shot votes, through a label model.

A rule is a ``path_rule`` weak source whose definition is::

    {"pattern": "boots/", "class": "Ankle boot",
     "match": "regex" | "glob",        # default "regex"
     "field": "path" | "name" | "meta", # default "path"
     "key": "camera"}                   # the metadata key, for field "meta"

A regex is searched anywhere in the value; a glob must match the whole
value (``fnmatch`` rules, case-sensitive). ``path`` is the item's path as
stored in the project, ``name`` its file name, and ``meta`` one value of its
metadata as text. Each rule votes its class on the items it matches and
abstains elsewhere; each CLIP prompt set votes on every item when zero-shot
votes are on.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from sqlalchemy import select

from trainers.data import load_dataset
from trainers.methods.common import MIN_ITEMS
from trainers.methods.label_model import ABSTAIN, DawidSkene, majority_vote
from trainers.results import MethodResult, ProposalRow
from trainers.state import TaskState
from workbench.store.engine import Project
from workbench.store.schema import KIND_WEAK, Item, WeakSource

RULE_KIND = "path_rule"
FIELDS = ("path", "name", "meta")


@dataclass(frozen=True)
class Rule:
    name: str
    class_index: int
    pattern: str
    match: str = "regex"
    field: str = "path"
    key: str = ""

    def value(self, path: str, meta: dict) -> str | None:
        if self.field == "path":
            return path
        if self.field == "name":
            return PurePosixPath(path).name
        found = (meta or {}).get(self.key)
        return None if found is None else str(found)

    def matches(self, values: list[str | None]) -> np.ndarray:
        if self.match == "glob":
            return np.array([v is not None and fnmatch.fnmatchcase(v, self.pattern)
                             for v in values])
        compiled = re.compile(self.pattern)
        return np.array([v is not None and compiled.search(v) is not None for v in values])


def parse_rule(name: str, definition: dict, class_names: list[str]) -> Rule:
    """Return the rule of one weak source, or raise ValueError naming the bad field."""
    definition = definition or {}
    pattern, class_name = definition.get("pattern", ""), definition.get("class")
    if not pattern:
        raise ValueError(f"Rule {name!r} has no pattern. Edit it in the Weak sources panel.")
    if class_name not in class_names:
        raise ValueError(f"Rule {name!r} maps to unknown class {class_name!r}; use one of "
                         f"{', '.join(class_names)}.")
    match, field = definition.get("match", "regex"), definition.get("field", "path")
    if match not in ("regex", "glob"):
        raise ValueError(f"Rule {name!r} has match {match!r}; use 'regex' or 'glob'.")
    if field not in FIELDS:
        raise ValueError(f"Rule {name!r} has field {field!r}; use one of {', '.join(FIELDS)}.")
    if field == "meta" and not definition.get("key"):
        raise ValueError(f"Rule {name!r} matches metadata but names no key; set 'key'.")
    if match == "regex":
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"Rule {name!r} has an invalid regular expression "
                             f"{pattern!r}: {exc}.") from None
    return Rule(name, class_names.index(class_name), pattern, match, field,
                str(definition.get("key", "")))


def load_rules(project: Project, class_names: list[str]) -> list[Rule]:
    with project.read() as session:
        rows = session.execute(
            select(WeakSource.name, WeakSource.definition)
            .where(WeakSource.kind == RULE_KIND, WeakSource.enabled.is_(True))
            .order_by(WeakSource.id)).all()
    return [parse_rule(name, definition, class_names) for name, definition in rows]


def rule_votes(rules: list[Rule], paths: list[str], metas: list[dict]) -> np.ndarray:
    """Return the (n_items, n_rules) vote matrix, -1 where a rule does not match."""
    votes = np.full((len(paths), len(rules)), ABSTAIN, dtype=np.int64)
    for j, rule in enumerate(rules):
        values = [rule.value(path, meta) for path, meta in zip(paths, metas)]
        votes[rule.matches(values), j] = rule.class_index
    return votes


def _stored_paths(project: Project, item_ids: np.ndarray) -> tuple[list[str], list[dict]]:
    with project.read() as session:
        rows = dict((row.id, (row.path, row.meta)) for row in session.execute(
            select(Item.id, Item.path, Item.meta)))
    return ([rows[int(i)][0] for i in item_ids], [rows[int(i)][1] or {} for i in item_ids])


def _zero_shot_votes(project, data, params, state, device):
    """Return each prompt set's argmax votes over all items (-1 for unreadable ones)."""
    from trainers.methods import zero_shot
    from trainers.methods.common import prepare

    space = zero_shot.clip_space(params)
    prepared = prepare(project, params, state, device, space=space, span=(0.05, 0.6),
                       data=data)
    per_source = zero_shot.source_probabilities(project, prepared, space, device, state)
    votes = np.full((len(data.item_ids), len(per_source)), ABSTAIN, dtype=np.int64)
    for j, p in enumerate(per_source.values()):
        votes[prepared.rows, j] = p.argmax(axis=1)
    return list(per_source), votes, prepared.features.store


def _source_accuracy(votes: np.ndarray, labels: np.ndarray) -> float | None:
    judged = (votes >= 0) & (labels >= 0)
    return round(float((votes[judged] == labels[judged]).mean()), 4) if judged.any() else None


def run(project: Project, params: dict, state: TaskState, device: str) -> MethodResult:
    data = load_dataset(project, include_accepted=params["include_accepted"])
    names = data.class_names
    if len(data.item_ids) < MIN_ITEMS or len(names) < 2:
        raise ValueError(f"Rules need at least {MIN_ITEMS} items and two classes, got "
                         f"{len(data.item_ids)} items and {len(names)} classes.")
    rules = load_rules(project, names)
    if not rules and not params["zero_shot"]:
        raise ValueError("No enabled path rules in this project. Add a rule in the Weak "
                         "sources panel, or pass --zero-shot true to vote with CLIP prompts.")
    if not data.unlabeled.any():
        raise ValueError("Rules have nothing to propose: every item is labeled.")
    state.progress(0.05, "matching rules")
    paths, metas = _stored_paths(project, data.item_ids)
    votes = rule_votes(rules, paths, metas)
    sources = [rule.name for rule in rules]
    writes = []
    if params["zero_shot"]:
        clip_sources, clip_votes, store = _zero_shot_votes(project, data, params, state, device)
        sources += clip_sources
        votes = np.hstack([votes, clip_votes])
        writes.append(store)
    if not (votes >= 0).any():
        raise ValueError(f"No source voted on any item ({', '.join(sources)}). Check the "
                         f"rule patterns against the item paths.")
    state.progress(0.7, "fitting the label model")
    return _result(data, sources, votes, params, writes)


def _result(data, sources, votes, params, writes) -> MethodResult:
    n_classes = len(data.class_names)
    majority, share = majority_vote(votes, n_classes)
    model = DawidSkene(max_iter=params["max_iter"]).fit(votes, n_classes)
    model_class = model.predict()
    use_model = params["aggregation"] == "label-model"
    chosen = model_class if use_model else majority
    score = model.posteriors_.max(axis=1) if use_model else share
    proposals, classes = [], []
    for i in np.flatnonzero(data.unlabeled & (chosen >= 0) & (score >= params["threshold"])):
        item_votes = {name: (data.class_names[v] if v >= 0 else None)
                      for name, v in zip(sources, votes[i])}
        evidence = {"votes": item_votes, "aggregation": params["aggregation"],
                    "majority": data.class_names[majority[i]],
                    "majority_share": round(float(share[i]), 4),
                    "label_model": data.class_names[model_class[i]],
                    "label_model_p": round(float(model.posteriors_[i].max()), 4)}
        proposals.append(ProposalRow(int(data.item_ids[i]), data.class_ids[chosen[i]],
                                     float(score[i]), evidence))
        classes.append(int(chosen[i]))
    labels = np.where(data.trusted, data.labels, -1)
    counts = np.bincount(classes, minlength=n_classes)
    metrics = {
        "sources": sources,
        "coverage": {name: round(float((votes[:, j] >= 0).mean()), 4)
                     for j, name in enumerate(sources)},
        "estimated_accuracy": {name: (None if np.isnan(a) else round(float(a), 4))
                               for name, a in zip(sources, model.accuracies_)},
        "accuracy_on_labels": {name: _source_accuracy(votes[:, j], labels)
                               for j, name in enumerate(sources)},
        "majority_accuracy_on_labels": _source_accuracy(majority, labels),
        "label_model_accuracy_on_labels": _source_accuracy(model_class, labels),
        "label_model_iterations": model.n_iter_,
        "covered": int((votes >= 0).any(axis=1).sum()),
        "proposed": len(proposals),
        "proposals_per_class": {data.class_names[k]: int(n) for k, n in enumerate(counts) if n},
    }
    return MethodResult(KIND_WEAK, proposals, metrics, writes)
