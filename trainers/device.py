"""Pick the torch device a job runs on."""

from __future__ import annotations


def select_device(requested: str = "auto"):
    """Return a torch.device: CUDA when present, else Apple MPS, else CPU.

    A named device that is not available raises ValueError with the devices
    that are.
    """
    import torch

    available = ["cpu"]
    if torch.cuda.is_available():
        available.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        available.append("mps")
    if requested == "auto":
        return torch.device(available[1] if len(available) > 1 else "cpu")
    if requested not in available:
        raise ValueError(
            f"Device {requested!r} is not available on this machine; "
            f"available: {', '.join(available)}. Use --device auto."
        )
    return torch.device(requested)
