"""Device choice and the out-of-memory retry around a pass."""

from __future__ import annotations

import pytest


def test_oom_retry_halves_batch():
    import torch

    from trainers.device import with_oom_retry

    sizes = []

    def step(batch_size):
        sizes.append(batch_size)
        if batch_size > 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return batch_size

    assert with_oom_retry(step, 64) == 8
    assert sizes == [64, 32, 16, 8]


def test_oom_retry_gives_up_at_one():
    import torch

    from trainers.device import with_oom_retry

    def step(batch_size):
        raise torch.cuda.OutOfMemoryError(f"CUDA out of memory at batch {batch_size}.")

    with pytest.raises(torch.cuda.OutOfMemoryError, match="batch 1"):
        with_oom_retry(step, 4)


def test_oom_retry_passes_other_errors():
    from trainers.device import with_oom_retry

    def step(batch_size):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        with_oom_retry(step, 4)


def test_missing_device_names_choices():
    import torch

    from trainers.device import select_device

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ValueError, match="'cuda' is not available.*available: cpu"):
        select_device("cuda")


def test_auto_device_prefers_cuda():
    import torch

    from trainers.device import select_device

    device = select_device("auto")
    if torch.cuda.is_available():
        assert device.type == "cuda"
    else:
        assert device.type in ("cpu", "mps")
