"""Job kind to method implementation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from trainers.methods import self_training


@dataclass(frozen=True)
class Method:
    run: Callable
    # Whether the given parameters need torch (and so a device).
    needs_torch: Callable[[dict], bool]


METHODS: dict[str, Method] = {
    "self-training": Method(
        run=self_training.run, needs_torch=lambda params: params["head"] == "mlp"
    ),
}
