"""FixMatch and its batched augmentations on small generated images."""

from __future__ import annotations

import numpy as np
import pytest

from trainers.methods.fixmatch import FixMatch


def _bars(n=120, size=12, seed=0):
    """Return images of a horizontal (class 0) or a vertical (class 1) bar, with labels."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, 0.1, (n, size, size)).astype(np.float32)
    truth = np.arange(n) % 2
    for i, position in enumerate(rng.integers(3, size - 3, n)):
        if truth[i]:
            images[i, :, position - 1:position + 1] = 1.0
        else:
            images[i, position - 1:position + 1, :] = 1.0
    return images, truth


@pytest.mark.parametrize("name", ["weak", "strong", "simclr_view"])
def test_augmentations_keep_shape_and_range(name):
    import torch

    from trainers.features import augment

    images = torch.rand(16, 1, 12, 12)
    out = getattr(augment, name)(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    assert out.min() >= 0.0
    assert out.max() <= 1.0
    assert not torch.equal(out, images)


def test_cutout_zeroes_a_square():
    import torch

    from trainers.features import augment

    out = augment.cutout(torch.ones(8, 1, 12, 12), torch.Generator().manual_seed(0))
    zeroed = (out == 0).sum(dim=(1, 2, 3))
    assert ((zeroed >= 9) & (zeroed <= 36)).all()


def test_learns_bars_from_four_labels():
    images, truth = _bars()
    y = np.full(len(truth), -1)
    y[:4] = truth[:4]
    model = FixMatch(epochs=3, width=8, batch_size=8, threshold=0.8, seed=0).fit(images, y)
    accuracy = (model.predict_proba(images).argmax(axis=1) == truth).mean()
    assert accuracy > 0.9
    assert len(model.history_) == 3
    assert set(model.history_[0]) == {"loss", "supervised_loss", "unsupervised_loss",
                                      "mask_rate", "train_accuracy"}


@pytest.mark.parametrize("options", [
    {"precision": "float32"}, {"precision": "float16"}, {"adaptive_threshold": True}])
def test_variants_learn_bars(options):
    images, truth = _bars()
    y = np.full(len(truth), -1)
    y[:4] = truth[:4]
    model = FixMatch(epochs=3, width=8, batch_size=8, threshold=0.8, seed=0,
                     **options).fit(images, y)
    accuracy = (model.predict_proba(images).argmax(axis=1) == truth).mean()
    assert accuracy > 0.9
    assert model.batch_size_ == 8


@pytest.mark.parametrize(("precision", "device", "expected"), [
    ("auto", "mps", None), ("float32", "cpu", None), ("float16", "cpu", "float16"),
    ("bfloat16", "cuda", "bfloat16"), ("float16", "cuda:0", "float16")])
def test_autocast_type_by_device(precision, device, expected):
    from trainers.methods.fixmatch import _autocast_type

    dtype = _autocast_type(precision, device)
    assert (None if dtype is None else str(dtype).removeprefix("torch.")) == expected


def test_auto_precision_on_cuda_is_half():
    import torch

    from trainers.methods.fixmatch import _autocast_type

    # Mixed precision on every CUDA GPU: bfloat16 where supported, else float16.
    assert _autocast_type("auto", "cuda") in (torch.bfloat16, torch.float16)


def test_time_budget_stops_training():
    import time

    images, truth = _bars()
    y = np.where(np.arange(len(truth)) < 4, truth, -1)
    started = time.monotonic()
    model = FixMatch(epochs=1000, time_budget=1.0, width=8, batch_size=8, seed=0)
    model.fit(images, y)
    # 1,000 epochs of 20 steps take minutes, but the budget stops the run
    # after one second plus one step and the model copy.
    assert time.monotonic() - started < 15.0
    assert 0 < model.steps_ < 1000 * 20
    assert len(model.history_) == -(-model.steps_ // 20)


def test_moving_average_differs_from_weights():
    import torch

    images, truth = _bars()
    y = np.where(np.arange(len(truth)) < 4, truth, -1)
    averaged = FixMatch(epochs=1, width=8, batch_size=8, seed=0).fit(images, y)
    plain = FixMatch(epochs=1, width=8, batch_size=8, ema=0.0, seed=0).fit(images, y)
    first = next(averaged.network_.parameters())
    assert not torch.equal(first, next(plain.network_.parameters()))
    assert not first.requires_grad


@pytest.mark.parametrize("options, labels, message", [
    ({}, [0] * 4 + [-1] * 116, "at least two classes"),
    ({}, [0, 1] * 60, "needs unlabeled images"),
    ({"threshold": 0.0}, None, "threshold"),
    ({"epochs": 0}, None, "epochs"),
    ({"network": "vgg"}, None, "network"),
    ({"backbone_state": {}}, None, "network='resnet'"),
    ({"time_budget": -1.0}, None, "time_budget"),
    ({"ema": 1.0}, None, "ema"),
    ({"precision": "float8"}, None, "precision"),
])
def test_invalid_input_rejected(options, labels, message):
    images, truth = _bars()
    y = np.array(labels) if labels is not None else np.where(np.arange(120) < 4, truth, -1)
    with pytest.raises(ValueError, match=message):
        FixMatch(**options).fit(images, y)
