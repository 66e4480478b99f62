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


def limit_torch_threads(count: int) -> int:
    """Set torch's CPU thread pool to ``count`` threads; return the count torch reports."""
    import torch

    torch.set_num_threads(count)
    return torch.get_num_threads()


def autocast(device):
    """Return a float16 autocast context on CUDA (mixed precision), else a no-op one."""
    import contextlib

    import torch

    if torch.device(device).type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def with_oom_retry(step, batch_size: int, state=None):
    """Call ``step(batch_size)``; on CUDA out-of-memory, halve the batch and call it again.

    ``step`` must be safe to repeat from its start (one epoch, one pass of
    embedding). Raises the last out-of-memory error once the batch is one.
    """
    import torch

    while True:
        try:
            return step(batch_size)
        except torch.cuda.OutOfMemoryError:
            if batch_size <= 1:
                raise
            batch_size //= 2
            torch.cuda.empty_cache()
            if state is not None:
                state.log(f"CUDA out of memory; batch size halved to {batch_size}",
                          level="warning")
