"""The one image reader for every read path: import, thumbnails, trainers, export.

It reads a file once, applies EXIF orientation once, converts every mode to
RGB the same way (16-bit scaled to 8 bits, alpha composited on white) and
turns every failure into :class:`ImageError` with a reason a person can act
on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
# Pillow's own default bomb limit is about 89 million pixels; images this
# tool labels are far smaller, so a lower limit rejects crafted files early.
MAX_PIXELS = 64_000_000
# A file this large is refused before it is read into memory.
MAX_FILE_BYTES = 256 * 1024 * 1024
BACKGROUND = (255, 255, 255)
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
ALPHA_MODES = ("RGBA", "RGBa", "LA", "PA")


class ImageError(Exception):
    """An image file that cannot be used; the message gives the reason."""


@dataclass(frozen=True)
class ImageInfo:
    """The hash, upright size and mode that an import keeps of a readable file."""

    sha256: str
    width: int
    height: int
    # The file's own mode before conversion, such as "CMYK" or "I;16".
    mode: str


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_file(path: str | Path) -> bytes:
    """Return a file's bytes, or raise ImageError for a missing or oversized file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImageError(f"too large: {size:,} bytes, limit {MAX_FILE_BYTES:,}")
        return path.read_bytes()
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except IsADirectoryError:
        raise ImageError("a folder, not an image file") from None
    except OSError as exc:
        raise ImageError(f"cannot read the file: {exc.strerror or exc}") from None


def _sixteen_bit_to_rgb(image: Image.Image) -> Image.Image:
    # Integer rounding of v * 255 / 65535, so the result never depends on
    # floating point. 32-bit "I" images are taken as 16-bit data and clipped.
    values = np.clip(np.asarray(image, dtype=np.int64), 0, 65535)
    gray = ((values * 255 + 32767) // 65535).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _composite(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    canvas = Image.new("RGB", rgba.size, BACKGROUND)
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    return canvas


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB, the same way on every read path."""
    if image.mode in SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_rgb(image)
    if image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info):
        return _composite(image)
    return image.convert("RGB")


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError, struct.error) as exc:
        # Broken EXIF does not make the pixels unusable: keep them as stored.
        log.debug("Ignoring unreadable EXIF data: %s", exc)
        return image


def _check_size(image: Image.Image) -> None:
    if image.width * image.height > MAX_PIXELS:
        raise ImageError(
            f"too large: {image.width}x{image.height} pixels, limit {MAX_PIXELS:,} "
            "(possible decompression bomb)"
        )


def _decode(data: bytes) -> tuple[Image.Image, str]:
    """Decode image bytes fully; return the upright RGB image and the file's mode."""
    if not data:
        raise ImageError("empty file (0 bytes)")
    try:
        # catch_warnings is not thread-safe, but every interleaving still ends
        # in a rejection: the size check below catches what a lost filter lets
        # through as a mere warning.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                _check_size(image)
                mode = image.mode
                image.load()
                return to_rgb(_upright(image)), mode
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image file Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"too large: more than {MAX_PIXELS:,} pixels "
                         "(possible decompression bomb)") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageError(f"corrupt or truncated image: {exc}") from None


def decode_rgb(data: bytes) -> Image.Image:
    """Decode image bytes into an upright RGB image, or raise ImageError."""
    return _decode(data)[0]


def load_rgb(path: str | Path) -> Image.Image:
    """Decode an image file into an upright RGB image, or raise ImageError."""
    return decode_rgb(read_file(path))


def inspect_image(path: str | Path) -> ImageInfo:
    """Read a file once, decode it fully (so truncation is caught), hash its bytes."""
    data = read_file(path)
    image, mode = _decode(data)
    return ImageInfo(sha256_bytes(data), image.width, image.height, mode)


def load_gray_array(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """Return an image as float32 gray values in [0, 1], resized to ``size``."""
    image = load_rgb(path).convert("L")
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32) / 255.0
