"""The one image reader for every read path: import, thumbnails, trainers, export.

It applies EXIF orientation, converts every mode to RGB the same way
(16-bit scaled to 8 bits, alpha composited on white) and turns every
failure into :class:`ImageError` with a reason a person can act on.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
# Pillow's own default bomb limit is about 89 million pixels; images this
# tool labels are far smaller, so a lower limit rejects crafted files early.
MAX_PIXELS = 64_000_000
BACKGROUND = (255, 255, 255)


class ImageError(Exception):
    """An image file that cannot be used; the message gives the reason."""


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    width: int
    height: int


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(array.max()), 1.0)
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(array, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image file into an upright RGB image, or raise ImageError."""
    path = Path(path)
    try:
        if path.stat().st_size == 0:
            raise ImageError("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise ImageError(
                        f"too large: {image.width}x{image.height} pixels, "
                        f"limit {MAX_PIXELS:,}"
                    )
                image.load()
                upright = ImageOps.exif_transpose(image)
                return _to_rgb(upright)
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except UnidentifiedImageError:
        raise ImageError("not an image file Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"rejected as a decompression bomb: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"corrupt or truncated image: {exc}") from None


def inspect_image(path: str | Path) -> ImageInfo:
    """Decode a file fully (so truncation is caught) and return its hash and size."""
    image = load_rgb(path)
    return ImageInfo(sha256_file(Path(path)), image.width, image.height)


def load_gray_array(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """Return an image as float32 gray values in [0, 1], resized to ``size``."""
    image = load_rgb(path).convert("L")
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0
