"""Self-supervised features: a small ResNet pretrained on the project's own images.

Two pretext tasks: ``rotation`` predicts which of 0, 90, 180 or 270 degrees
a random view of an image was turned by. ``simclr`` pulls two random views
of one image together and pushes views of other images apart (NT-Xent loss). Views are a
random resized crop, a horizontal flip, brightness and contrast jitter and a
Gaussian blur of the gray image. The vectors are the network's last two
stages, each average-pooled on a 2 x 2 grid and standardized on the
pretraining images (768 values). Images are gray, 28 x 28 unless the space
sets another size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainers.device import autocast, with_oom_retry
from trainers.features import augment
from trainers.features.pixels import pixel_features
from trainers.state import TaskState

DEFAULT_SIZE = 28


def _network(width: int = 32):
    """Return the small ResNet: a stride-2 stem, then stages at 14, 7 and 4 pixels.

    Called as a module, it returns the last stage pooled to ``4 * width``
    values, which the pretext heads and FixMatch train on. Its ``features``
    method returns the vectors the space stores (768 values at width 32).
    """
    import torch
    from torch import nn

    def block(inputs, outputs, stride):
        return nn.Sequential(
            nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs),
            nn.ReLU(inplace=True), nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False),
            nn.BatchNorm2d(outputs))

    class Residual(nn.Module):
        def __init__(self, inputs, outputs, stride):
            super().__init__()
            self.body = block(inputs, outputs, stride)
            self.skip = (nn.Identity() if inputs == outputs and stride == 1 else
                         nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False),
                                       nn.BatchNorm2d(outputs)))

        def forward(self, x):
            return nn.functional.relu(self.body(x) + self.skip(x))

    class SmallResNet(nn.Module):
        def __init__(self):
            super().__init__()
            # A stride-2 stem costs a quarter of the compute of a stride-1 one
            # on 28 x 28 images, and four times the pretraining steps in the
            # same time gave better features (BENCHMARKS.md, "Self-supervised
            # spaces against pixels+PCA").
            self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 2, 1, bias=False),
                                      nn.BatchNorm2d(width), nn.ReLU(inplace=True))
            self.stage1 = Residual(width, width, 1)
            self.stage2 = Residual(width, 2 * width, 2)
            self.stage3 = Residual(2 * width, 4 * width, 2)
            # The stages of 2 and 4 widths, each pooled on a 2 x 2 grid.
            dim = 4 * (2 * width + 4 * width)
            # Set by ``_standardize`` after pretraining and saved with the
            # weights, so every later embedding uses the same scaling.
            self.register_buffer("feature_mean", torch.zeros(dim))
            self.register_buffer("feature_scale", torch.ones(dim))

        def stages(self, x):
            middle = self.stage2(self.stage1(self.stem(x)))
            return middle, self.stage3(middle)

        def forward(self, x):
            return self.stages(x)[1].mean(dim=(2, 3))

        def features(self, x):
            """Return the last two stages, each average-pooled on a 2 x 2 grid.

            The grid keeps where in the image a pattern is, which one global
            pool loses.
            """
            pooled = torch.cat([nn.functional.adaptive_avg_pool2d(stage, 2).flatten(1)
                                for stage in self.stages(x)], dim=1)
            return (pooled - self.feature_mean) / self.feature_scale

    return SmallResNet()


def _nt_xent(first, second, temperature: float = 0.5):
    import torch
    from torch import nn

    z = nn.functional.normalize(torch.cat([first, second]), dim=1)
    similarity = z @ z.T / temperature
    n = len(first)
    similarity.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return nn.functional.cross_entropy(similarity, targets)


def pretrain(images: np.ndarray, pretext: str, *, epochs: int = 20, batch_size: int = 256,
             seed: int = 0, device: str = "cpu", state: TaskState | None = None):
    """Train the small ResNet on (n, h, w) gray images in [0, 1]; return the network."""
    import torch
    from torch import nn

    if pretext not in ("rotation", "simclr"):
        raise ValueError(f"pretext must be 'rotation' or 'simclr', got {pretext!r}.")
    torch.manual_seed(seed)
    network = _network().to(device)
    head = (nn.Linear(128, 4) if pretext == "rotation" else
            nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 64))).to(device)
    parameters = list(network.parameters()) + list(head.parameters())
    optimizer = torch.optim.Adam(parameters, lr=1e-3, weight_decay=1e-5)
    data = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1)
    generator = torch.Generator().manual_seed(seed)

    def epoch_pass(size: int) -> float:
        order = torch.randperm(len(data), generator=generator)
        total = 0.0
        for first in range(0, len(data), size):
            if state:
                state.check()
            batch = data[order[first:first + size]]
            with autocast(device):
                loss = _loss(network, head, batch, pretext, device)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        return total / len(data)

    network.train()
    for epoch in range(epochs):
        loss = with_oom_retry(epoch_pass, batch_size, state)
        if state:
            state.metric(f"{pretext}_loss", loss, epoch + 1)
            state.progress(0.05 + 0.6 * (epoch + 1) / epochs, f"pretraining epoch {epoch + 1}")
    network.eval()
    _standardize(network, images, device)
    return network


def _standardize(network, images: np.ndarray, device: str) -> None:
    """Set the network's feature scaling to zero mean and unit spread on ``images``.

    A dimension that barely varies keeps a floor of 1 % of the median spread,
    so its noise is not blown up to unit variance.
    """
    import torch

    vectors = features(network, images, device)
    mean = vectors.mean(axis=0)
    spread = vectors.std(axis=0)
    spread = np.maximum(spread, 0.01 * float(np.median(spread)) + 1e-12)
    with torch.no_grad():
        network.feature_mean.copy_(torch.as_tensor(mean))
        network.feature_scale.copy_(torch.as_tensor(spread))


def _loss(network, head, batch, pretext, device):
    import torch
    from torch import nn

    if pretext == "rotation":
        # Turning a cropped, jittered view rather than the image itself keeps
        # the task from being solved by a few fixed pixels: on Fashion-MNIST
        # the linear probe at 10 labels per class rose from 0.69 to 0.72.
        views = augment.simclr_view(batch)
        turns = torch.randint(0, 4, (len(batch),))
        rotated = torch.stack([torch.rot90(image, int(k), dims=(1, 2))
                               for image, k in zip(views, turns)])
        logits = head(network(rotated.to(device)))
        return nn.functional.cross_entropy(logits.float(), turns.to(device))
    # Batched views: a per-image torchvision pipeline spent most of each step
    # in Python on 28 x 28 images.
    first = augment.simclr_view(batch).to(device)
    second = augment.simclr_view(batch).to(device)
    return _nt_xent(head(network(first)).float(), head(network(second)).float())


def features(network, images: np.ndarray, device: str, batch_size: int = 512) -> np.ndarray:
    import torch

    data = torch.as_tensor(images, dtype=torch.float32).unsqueeze(1)
    out = []
    with torch.no_grad():
        for first in range(0, len(data), batch_size):
            batch = data[first:first + batch_size].to(device)
            out.append(network.features(batch).float().cpu())
    return torch.cat(out).numpy().astype(np.float32)


def embed(project, space, paths: list[str], state: TaskState, device: str, span,
          model_file: Path):
    """Return vectors of ``paths``, pretraining first when ``model_file`` is missing."""
    import torch

    size = space.image_size or DEFAULT_SIZE
    images, unreadable = pixel_features(paths, (size, size), state, (span[0], span[0] + 0.05))
    images = images.reshape(-1, size, size)
    readable = np.setdiff1d(np.arange(len(paths)), unreadable)
    options = space.options
    if model_file.exists():
        network = _network()
        network.load_state_dict(torch.load(model_file, map_location="cpu", weights_only=True))
        network = network.to(device).eval()
    else:
        if len(readable) < 16:
            raise ValueError(f"Self-supervised pretraining needs at least 16 readable "
                             f"images, got {len(readable)}.")
        # Pretraining on a sample keeps the cost bounded on large projects;
        # every item is still embedded with the pretrained network.
        sample = readable
        limit = int(options.get("pretrain_items", 0))
        if limit and len(readable) > limit:
            rng = np.random.default_rng(int(options.get("seed", 0)))
            sample = np.sort(rng.choice(readable, limit, replace=False))
        network = pretrain(images[sample], space.family,
                           epochs=int(options.get("epochs", 20)),
                           batch_size=int(options.get("batch_size", 256)),
                           seed=int(options.get("seed", 0)), device=device, state=state)
        model_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save(network.state_dict(), model_file)
    vectors = np.zeros((len(paths), network.feature_mean.numel()), dtype=np.float32)
    vectors[readable] = features(network, images[readable], device)
    return vectors, unreadable
