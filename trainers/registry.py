"""Job kind to method implementation.

Method modules are imported when a job runs, not here, so a job that needs
neither torch nor open_clip never loads them and reports within 2 s.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

TORCH_FAMILIES = ("resnet18", "resnet50", "vit_b_16", "clip", "simclr", "rotation")


def space_needs_torch(name: str) -> bool:
    return name.split(":")[0] in TORCH_FAMILIES


def _spaces_need_torch(params: dict) -> bool:
    return any(space_needs_torch(params[key]) for key in ("space", "second_space")
               if key in params)


def _heads_need_torch(params: dict) -> bool:
    heads = (params.get("head"), params.get("second_head"))
    return "mlp" in heads or _spaces_need_torch(params)


@dataclass(frozen=True)
class Method:
    module: str
    # Whether the given parameters need torch (and so a device).
    needs_torch: Callable[[dict], bool]

    @property
    def run(self) -> Callable:
        return importlib.import_module(f"trainers.methods.{self.module}").run


METHODS: dict[str, Method] = {
    "embed": Method("embed", _spaces_need_torch),
    "self-training": Method("self_training", _heads_need_torch),
    "label-propagation": Method("label_propagation", _spaces_need_torch),
    "noise": Method("noise", _spaces_need_torch),
    "co-training": Method("co_training", _heads_need_torch),
    "projection": Method("projection", _spaces_need_torch),
    "active-learning": Method("active_learning", _heads_need_torch),
    "fixmatch": Method("fixmatch", lambda params: True),
    "zero-shot": Method("zero_shot", lambda params: True),
    "few-shot": Method("few_shot", _spaces_need_torch),
    "rules": Method("rules", lambda params: bool(params.get("zero_shot"))),
}
