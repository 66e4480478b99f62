"""Pretrained image encoders: torchvision backbones and open_clip models.

Weights come from ``--weights`` (a local file) or from the usual caches
(torch hub for torchvision, Hugging Face for open_clip). Nothing is
downloaded unless the job allows it, so a machine without the weights and
without network fails at once with a message instead of waiting on a
connection.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from trainers.device import autocast, with_oom_retry
from trainers.state import TaskState
from workbench.ingest.images import ImageError, load_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _load_state_dict(path: str) -> dict:
    """Read tensors from a checkpoint file without running code stored in it.

    ``weights_only=True`` makes torch's unpickler accept tensors and plain
    containers only, so a crafted file raises instead of executing. Every
    failure becomes a ValueError naming the file.
    """
    import torch

    file = Path(path).expanduser()
    if not file.is_file():
        raise ValueError(f"Weights file {file} not found. Check the --weights path.")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch's unpickler raises many types on junk
        detail = (str(exc).splitlines() or [""])[0][:200]
        raise ValueError(
            f"Weights file {file} is not a plain PyTorch state dict and was not loaded "
            f"({type(exc).__name__}: {detail}). Save the weights "
            "with torch.save(model.state_dict(), PATH)."
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"Weights file {file} contains a {type(state).__name__}, not a state dict.")
    return state


def torchvision_model(arch: str, weights: str | None, download: bool):
    """Return a torchvision backbone without its classifier, and its transform."""
    import torch
    import torchvision
    from torch import nn
    from torchvision import transforms

    model = getattr(torchvision.models, arch)(weights=None)
    if weights:
        try:
            model.load_state_dict(_load_state_dict(weights))
        except RuntimeError as exc:
            detail = (str(exc).splitlines() or [""])[0]
            raise ValueError(f"Weights file {weights} does not fit {arch}: {detail}") from None
    else:
        default = torchvision.models.get_model_weights(arch).DEFAULT
        file = Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(default.url).path).name
        if not file.exists() and not download:
            raise ValueError(
                f"ImageNet weights for {arch} not found at {file}. Pass --weights PATH "
                f"to a local state-dict file, or --download true to fetch them."
            )
        model.load_state_dict(default.get_state_dict(progress=False))
    if arch.startswith("vit"):
        model.heads = nn.Identity()
    else:
        model.fc = nn.Identity()
    transform = transforms.Compose([
        transforms.Resize(224), transforms.CenterCrop(224), transforms.ToTensor(),
        transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    return model, transform


def _register_config(weights: str | None) -> None:
    """Register ``NAME.json`` model configs next to a checkpoint with open_clip."""
    import open_clip

    if weights:
        for config in Path(weights).expanduser().parent.glob("*.json"):
            open_clip.add_model_config(config)


def clip_model(arch: str, pretrained: str | None, weights: str | None, download: bool):
    """Return an open_clip model, its image transform and its tokenizer."""
    if not download:
        # Set before open_clip imports huggingface_hub, which reads it once.
        os.environ["HF_HUB_OFFLINE"] = "1"
    import open_clip

    _register_config(weights)
    if arch not in open_clip.list_models():
        raise ValueError(f"Unknown open_clip model {arch!r}; see open_clip.list_models().")
    if not weights:
        _check_clip_cache(open_clip, arch, pretrained, download)
    model, _, transform = open_clip.create_model_and_transforms(
        arch, pretrained=str(Path(weights).expanduser()) if weights else pretrained,
        weights_only=True)
    return model, transform, open_clip.get_tokenizer(arch)


def _hub_caches() -> list[Path]:
    """Return the folders Hugging Face and open_clip cache weights in, as they resolve them."""
    home = Path(os.environ.get("HF_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface")
    hub = Path(os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
               or home / "hub")
    return [hub.expanduser(), Path.home() / ".cache" / "clip"]


def require_clip_weights(space) -> None:
    """Raise ValueError at once when a clip space's weights cannot be on this machine.

    Importing open_clip imports torch, which takes several seconds, so this
    check looks at the files alone. With no ``--weights`` file, downloads off
    and no CLIP checkpoint in any cache folder, the exact check after the
    import would fail too. With such a checkpoint present, that exact check
    decides.
    """
    if space.family != "clip":
        return
    if space.weights:
        file = Path(space.weights).expanduser()
        if not file.is_file():
            raise ValueError(f"Weights file {file} not found. Check the --weights path.")
        return
    if space.options.get("download"):
        return
    for folder in _hub_caches():
        if folder.is_dir() and any("clip" in entry.name.lower() for entry in folder.iterdir()):
            return
    raise ValueError(
        f"Weights {space.arch}/{space.pretrained} are not in the local cache and downloads "
        f"are off. Pass --weights PATH to a local open_clip checkpoint, or --download true "
        f"to fetch them."
    )


def _check_clip_cache(open_clip, arch: str, tag: str, download: bool) -> None:
    config = open_clip.pretrained.get_pretrained_cfg(arch, tag)
    if not config:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch)) or "none"
        raise ValueError(f"Unknown pretrained tag {tag!r} for {arch}; known: {tags}.")
    if download:
        return
    hub = config.get("hf_hub", "").rstrip("/")
    cached = False
    if hub:
        from huggingface_hub import try_to_load_from_cache

        cached = any(isinstance(try_to_load_from_cache(hub, name), str) for name in
                     ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"))
    if not cached:
        raise ValueError(
            f"Weights {arch}/{tag} are not in the local cache and downloads are off. "
            f"Pass --weights PATH to a local open_clip checkpoint, or --download true "
            f"to fetch them."
        )


def encoder(space, device: str):
    """Return ``(encode, transform)`` for a torchvision or clip space on ``device``."""
    download = bool(space.options.get("download"))
    if space.family == "clip":
        model, transform, _ = clip_model(space.arch, space.pretrained, space.weights, download)
        encode = model.encode_image
    else:
        model, transform = torchvision_model(space.arch, space.weights, download)
        encode = model
    model.to(device).eval()
    return encode, transform


def embed(space, paths: list[str], state: TaskState, device: str, span=(0.0, 1.0)):
    """Return an (n, dim) float32 matrix of image vectors and unreadable indices."""
    import torch

    encode, transform = encoder(space, device)
    start, end = span
    batch_size = int(space.options.get("batch_size", 64))

    def one_pass(size: int):
        rows, unreadable = [], []
        for first in range(0, len(paths), size):
            state.progress(start + (end - start) * first / max(len(paths), 1),
                           f"embedding {first} of {len(paths)}")
            batch, kept = [], []
            for i in range(first, min(first + size, len(paths))):
                try:
                    batch.append(transform(load_rgb(paths[i])))
                    kept.append(i)
                except ImageError as exc:
                    state.log(f"Skipping unreadable image {paths[i]}: {exc}", "warning")
                    unreadable.append(i)
            if batch:
                with torch.no_grad(), autocast(device):
                    out = encode(torch.stack(batch).to(device)).float()
                rows.append((kept, torch.nn.functional.normalize(out, dim=1).cpu().numpy()))
        return rows, unreadable

    rows, unreadable = with_oom_retry(one_pass, batch_size, state)
    dim = rows[0][1].shape[1] if rows else 1
    vectors = np.zeros((len(paths), dim), dtype=np.float32)
    for kept, block in rows:
        vectors[kept] = block
    return vectors, unreadable
