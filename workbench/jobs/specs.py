"""Job kinds and their declared parameters.

The window builds its launch form and the command line builds its options
from these declarations; the trainer validates what it receives against
them. Plain data only, so this module imports neither Qt nor torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ParamError(ValueError):
    """A job parameter value that is missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def parse(self, value: Any) -> Any:
        """Convert a value (often a command-line string) to this parameter's type."""
        try:
            if self.type is bool and isinstance(value, str):
                lowered = value.strip().lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(value)
                parsed: Any = lowered in ("1", "true", "yes")
            else:
                parsed = self.type(value)
        except (TypeError, ValueError):
            raise ParamError(
                f"Invalid value {value!r} for {self.name}: expected {self.type.__name__}. "
                f"{self.help}"
            ) from None
        if self.choices is not None and parsed not in self.choices:
            raise ParamError(
                f"Invalid value {parsed!r} for {self.name}: use one of {', '.join(self.choices)}."
            )
        if self.minimum is not None and parsed < self.minimum:
            raise ParamError(f"{self.name} must be at least {self.minimum}, got {parsed}.")
        if self.maximum is not None and parsed > self.maximum:
            raise ParamError(f"{self.name} must be at most {self.maximum}, got {parsed}.")
        return parsed


@dataclass(frozen=True)
class JobKind:
    name: str
    title: str
    description: str
    params: tuple[Param, ...] = field(default_factory=tuple)

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        known = ", ".join(p.name for p in self.params)
        raise ParamError(f"Unknown parameter {name!r} for {self.name}; known: {known}.")

    def resolve(self, values: dict[str, Any]) -> dict[str, Any]:
        """Return every parameter's value: the given ones parsed, the rest defaulted."""
        for name in values:
            self.param(name)
        return {
            p.name: p.parse(values[p.name]) if p.name in values else p.default
            for p in self.params
        }


DEVICE = Param("device", str, "auto", "Compute device: auto picks CUDA, then Apple MPS, then CPU.",
               choices=("auto", "cpu", "cuda", "mps"))

SELF_TRAINING = JobKind(
    name="self-training",
    title="Self-training",
    description=(
        "Train a classifier head on the given labels over pixel features, label the "
        "unlabeled items it is most confident about, retrain, and propose pseudo labels "
        "above the threshold."
    ),
    params=(
        Param("threshold", float, 0.9, "Propose only predictions with at least this "
              "probability (0 to 1).", minimum=0.0, maximum=1.0),
        Param("rounds", int, 3, "Self-training rounds: each adds the confident "
              "predictions to the training set and retrains.", minimum=1, maximum=50),
        Param("head", str, "logistic", "Classifier head: logistic regression "
              "(scikit-learn) or a small MLP (torch).", choices=("logistic", "mlp")),
        Param("epochs", int, 200, "MLP training epochs per round (mlp head only).",
              minimum=1, maximum=100_000),
        Param("image_size", int, 0, "Side in pixels that images are resized to for "
              "pixel features; 0 uses the most common image size.", minimum=0, maximum=256),
        Param("include_accepted", bool, True, "Also train on accepted pseudo and weak labels."),
        Param("seed", int, 0, "Random seed."),
        DEVICE,
    ),
)

JOB_KINDS: dict[str, JobKind] = {kind.name: kind for kind in (SELF_TRAINING,)}


def job_kind(name: str) -> JobKind:
    try:
        return JOB_KINDS[name]
    except KeyError:
        raise ParamError(
            f"Unknown job kind {name!r}; available: {', '.join(JOB_KINDS)}."
        ) from None
