"""Thumbnail files cached in the project's ``cache/thumbnails`` folder."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from workbench.ingest.images import load_rgb


def thumbnail_path(cache: Path, sha256: str, size: int) -> Path:
    return cache / "thumbnails" / str(size) / sha256[:2] / f"{sha256}.png"


def thumbnail_png(cache: Path, image_file: Path, sha256: str, size: int) -> bytes:
    """Return PNG bytes of an image scaled to fit ``size`` pixels, cached on disk.

    Images smaller than the thumbnail are scaled up with nearest-neighbour
    sampling so that tiny images (8x8 digits) stay sharp. Raises ImageError
    for an unreadable file.
    """
    cached = thumbnail_path(cache, sha256, size)
    if cached.exists():
        return cached.read_bytes()
    image = load_rgb(image_file)
    scale = size / max(image.width, image.height)
    target = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    resample = Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS
    image = image.resize(target, resample)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    cached.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a reader never sees half a file.
    partial = cached.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, cached)
    return data
