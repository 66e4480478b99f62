"""Batched image augmentations on gray tensors of shape (n, 1, h, w) in [0, 1].

Every transform draws its own random magnitudes per image and runs as a few
tensor operations on the whole batch (one ``affine_grid`` and
``grid_sample`` for the geometry), so augmenting 60,000 small images costs
seconds rather than a Python loop per image.

- :func:`weak`: horizontal flip and a shift of up to 12.5 % of the side, the
  weak view of FixMatch;
- :func:`strong`: a RandAugment-style chain (rotation, shear, shift, scale,
  brightness, contrast, solarize, blur) followed by Cutout, the strong view
  of FixMatch;
- :func:`simclr_view`: random resized crop, flip, brightness and contrast
  jitter and Gaussian blur, the views of SimCLR.
"""

from __future__ import annotations

import math


def _uniform(n, low, high, generator, device):
    import torch

    return low + (high - low) * torch.rand(n, generator=generator).to(device)


def _affine(images, *, angle, shear, scale, shift_x, shift_y, flip):
    """Warp each image by its own rotation (radians), shear, scale, shift and flip."""
    import torch
    from torch.nn import functional

    n = len(images)
    cos, sin = torch.cos(angle), torch.sin(angle)
    mirror = torch.where(flip, -1.0, 1.0).to(images.device)
    theta = torch.zeros(n, 2, 3, device=images.device)
    # affine_grid maps output to input coordinates, so dividing by the scale
    # enlarges the content by that scale.
    theta[:, 0, 0] = mirror * (cos + shear * sin) / scale
    theta[:, 0, 1] = (-sin + shear * cos) / scale
    theta[:, 1, 0] = mirror * sin / scale
    theta[:, 1, 1] = cos / scale
    theta[:, 0, 2] = shift_x
    theta[:, 1, 2] = shift_y
    grid = functional.affine_grid(theta, list(images.shape), align_corners=False)
    return functional.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                                  align_corners=False)


def weak(images, generator=None):
    """Return the batch flipped left-right with probability 0.5 and shifted up to 1/8."""
    import torch

    n, device = len(images), images.device
    zero = torch.zeros(n, device=device)
    # Grid coordinates span [-1, 1], so a shift of 0.25 is one eighth of the side.
    return _affine(images, angle=zero, shear=zero, scale=torch.ones(n, device=device),
                   shift_x=_uniform(n, -0.25, 0.25, generator, device),
                   shift_y=_uniform(n, -0.25, 0.25, generator, device),
                   flip=torch.rand(n, generator=generator).to(device) < 0.5)


def strong(images, generator=None):
    """Return a RandAugment-style distortion of each image, then Cutout."""
    import torch

    n, device = len(images), images.device
    warped = _affine(
        images,
        angle=_uniform(n, -math.pi / 6, math.pi / 6, generator, device),
        shear=_uniform(n, -0.3, 0.3, generator, device),
        scale=_uniform(n, 0.8, 1.2, generator, device),
        shift_x=_uniform(n, -0.3, 0.3, generator, device),
        shift_y=_uniform(n, -0.3, 0.3, generator, device),
        flip=torch.rand(n, generator=generator).to(device) < 0.5)
    warped = _jitter(warped, 0.5, 0.5, generator)
    solarize = (torch.rand(n, generator=generator) < 0.2).to(device).view(n, 1, 1, 1)
    warped = torch.where(solarize & (warped > 0.5), 1.0 - warped, warped)
    warped = _blur(warped, 0.2, generator)
    return cutout(warped, generator)


def simclr_view(images, generator=None):
    """Return one SimCLR view of each image: crop of 60-100 % of the area, flip, jitter, blur."""
    import torch

    n, device = len(images), images.device
    area = _uniform(n, 0.6, 1.0, generator, device)
    scale = 1.0 / torch.sqrt(area)
    # The crop may sit anywhere inside the image: its centre moves by at most
    # the margin that the enlargement leaves.
    margin = 1.0 - 1.0 / scale
    zero = torch.zeros(n, device=device)
    cropped = _affine(images, angle=zero, shear=zero, scale=scale,
                      shift_x=margin * _uniform(n, -1.0, 1.0, generator, device),
                      shift_y=margin * _uniform(n, -1.0, 1.0, generator, device),
                      flip=torch.rand(n, generator=generator).to(device) < 0.5)
    return _blur(_jitter(cropped, 0.4, 0.4, generator), 0.5, generator)


def _jitter(images, brightness, contrast, generator):
    """Scale brightness and contrast of each image by factors in 1 +- the given amounts."""
    n, device = len(images), images.device
    gain = _uniform(n, 1 - brightness, 1 + brightness, generator, device).view(n, 1, 1, 1)
    spread = _uniform(n, 1 - contrast, 1 + contrast, generator, device).view(n, 1, 1, 1)
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return ((images - mean) * spread + mean).mul(gain).clamp(0.0, 1.0)


def _blur(images, probability, generator):
    """Blur a share ``probability`` of the images with a 3 x 3 Gaussian kernel."""
    import torch
    from torch.nn import functional

    n = len(images)
    kernel = torch.tensor([1.0, 2.0, 1.0], device=images.device)
    kernel = (kernel[:, None] * kernel[None, :] / 16.0).view(1, 1, 3, 3)
    blurred = functional.conv2d(functional.pad(images, (1, 1, 1, 1), mode="replicate"),
                                kernel)
    chosen = (torch.rand(n, generator=generator) < probability).to(images.device)
    return torch.where(chosen.view(n, 1, 1, 1), blurred, images)


def cutout(images, generator=None):
    """Zero one square of each image, with a side of a quarter to a half of the image."""
    import torch

    n, _, height, width = images.shape
    side = (_uniform(n, 0.25, 0.5, generator, "cpu") * min(height, width)).long()
    top = (torch.rand(n, generator=generator) * (height - side + 1)).long()
    left = (torch.rand(n, generator=generator) * (width - side + 1)).long()
    rows = torch.arange(height).view(1, height, 1)
    columns = torch.arange(width).view(1, 1, width)
    inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + side).view(n, 1, 1))
              & (columns >= left.view(n, 1, 1)) & (columns < (left + side).view(n, 1, 1)))
    return images.masked_fill(inside.unsqueeze(1).to(images.device), 0.0)
