"""A folder with every kind of file people bring: each is imported upright in RGB, or
rejected with its reason and recorded; nothing stops the import."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from workbench.ingest.folder import import_folder
from workbench.ingest.images import MAX_PIXELS, load_gray_array, load_rgb
from workbench.ingest.thumbnails import thumbnail_png
from workbench.store import open_project, queries
from workbench.store.schema import ImportIssue, Item

RED, WHITE = (255, 0, 0), (255, 255, 255)
ORIENTATION_TAG = 0x0112
# Stored 40x20 with a red block at the top left; where the block is once upright.
ORIENTATIONS = {3: ((40, 20), "bottom-right"), 6: ((20, 40), "top-right"),
                8: ((20, 40), "bottom-left")}


def _save(image: Image.Image, path, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)


def _oriented_jpeg(path, orientation: int) -> None:
    image = Image.new("RGB", (40, 20), WHITE)
    image.paste(RED, (0, 0, 10, 10))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    _save(image, path, format="JPEG", quality=95, exif=exif.tobytes())


def _png_claiming(path, width: int, height: int) -> None:
    """A valid PNG header and a tiny body: a decompression bomb in miniature."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _noise(seed: int, size=(16, 16)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "images"
    good = root / "good"
    for orientation in ORIENTATIONS:
        _oriented_jpeg(good / f"orientation-{orientation}.jpg", orientation)
    _save(Image.new("CMYK", (12, 10), (0, 255, 255, 0)), good / "cmyk.jpg", format="JPEG",
          quality=95)
    sixteen = np.array([[0, 65535, 257 * 100, 65535]] * 3, dtype=np.uint16)
    _save(Image.fromarray(sixteen), good / "gray-16-bit.png")
    palette = Image.new("P", (6, 4), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    _save(palette, good / "palette.png")
    transparent = palette.copy()
    transparent.info["transparency"] = 1
    _save(transparent, good / "palette-transparent.png", transparency=1)
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 0)       # fully transparent red: white
    rgba[0, 1] = (0, 0, 255, 255)     # opaque blue
    rgba[0, 2] = (0, 0, 0, 128)       # half-transparent black: mid gray
    _save(Image.fromarray(rgba), good / "rgba.png")
    _save(Image.new("1", (5, 5), 1), good / "one-bit.png")
    _save(Image.new("LA", (4, 4), (0, 0)), good / "gray-alpha.png")

    bad = root / "bad"
    _save(_noise(1, (64, 64)), bad / "whole.jpg", format="JPEG")
    data = (bad / "whole.jpg").read_bytes()
    (bad / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (bad / "whole.jpg").unlink()
    (bad / "zero-bytes.png").write_bytes(b"")
    (bad / "text.jpg").write_text("This is a shopping list, not a photo.\n")
    _png_claiming(bad / "bomb.png", 100_000, 100_000)
    _png_claiming(bad / "over-limit.png", 9_000, 9_000)
    (bad / "notes.txt").write_text("ignored by suffix")

    _save(_noise(2), root / "Ünïcödé class" / "日本 語 file.png")
    _save(_noise(3), root / "cat" / "same name.png")
    _save(_noise(4), root / "dog" / "same name.png")
    (root / "dog" / "copy of cat.png").write_bytes((root / "cat" / "same name.png").read_bytes())
    _save(_noise(5), root / " Cat " / "spaced.png")
    return root


@pytest.fixture(scope="module")
def imported(corpus, tmp_path_factory):
    project = open_project(tmp_path_factory.mktemp("project") / "p", create=True)
    report = import_folder(project, corpus)
    with project.read() as session:
        names = {c.id: c.name for c in queries.classes(session)}
        items = {
            item.path.split("images/", 1)[1]: (item, names.get(item.label_class_id))
            for item in session.scalars(select(Item))
        }
        issues = {path: reason for path, reason in session.execute(
            select(ImportIssue.path, ImportIssue.reason))}
    yield project, report, items, issues
    project.close()


def _reasons(report) -> dict[str, str]:
    return {path.split("images/", 1)[1]: reason for path, reason in report.unreadable}


def _corner_color(image: Image.Image, corner: str) -> tuple[int, int, int]:
    x = 3 if "left" in corner else image.width - 4
    y = 3 if "top" in corner else image.height - 4
    return image.getpixel((x, y))


@pytest.mark.parametrize("orientation", sorted(ORIENTATIONS))
def test_exif_orientation_on_every_read_path(imported, orientation):
    project, _, items, _ = imported
    (size, corner) = ORIENTATIONS[orientation]
    item, label = items[f"good/orientation-{orientation}.jpg"]
    file = project.resolve(item.path)
    image = load_rgb(file)
    assert (item.width, item.height) == size == image.size
    assert label == "good"
    red = _corner_color(image, corner)
    assert red[0] > 200, red
    assert max(red[1:]) < 60, red
    assert _corner_color(image, "top-left" if corner != "top-left" else "bottom-right") > (200,) * 3
    thumbnail = Image.open(io.BytesIO(thumbnail_png(project.cache, file, item.sha256, 64)))
    assert thumbnail.size == (size[0] * 64 // max(size), size[1] * 64 // max(size))
    assert load_gray_array(file, (8, 8)).shape == (8, 8)


def test_every_mode_becomes_rgb(imported):
    project, _, items, _ = imported

    def pixels(name):
        item, _ = items[f"good/{name}"]
        image = load_rgb(project.resolve(item.path))
        assert image.mode == "RGB"
        assert image.size == (item.width, item.height)
        return image

    cmyk = pixels("cmyk.jpg").getpixel((5, 5))
    assert cmyk[0] > 240, cmyk
    assert max(cmyk[1:]) < 15, cmyk
    assert [pixels("gray-16-bit.png").getpixel((x, 0)) for x in range(3)] == [
        (0, 0, 0), (255, 255, 255), (100, 100, 100)]
    assert pixels("palette.png").getpixel((0, 0)) == (10, 200, 30)
    assert pixels("palette-transparent.png").getpixel((0, 0)) == WHITE
    rgba = pixels("rgba.png")
    assert rgba.getpixel((0, 0)) == WHITE
    assert rgba.getpixel((1, 0)) == (0, 0, 255)
    assert all(abs(v - 127) <= 1 for v in rgba.getpixel((2, 0)))
    assert pixels("one-bit.png").getpixel((0, 0)) == WHITE
    assert pixels("gray-alpha.png").getpixel((0, 0)) == WHITE
    assert load_rgb(project.resolve(items["good/rgba.png"][0].path)).tobytes() == rgba.tobytes()


def test_bad_files_rejected_with_reason(imported):
    _, report, items, issues = imported
    reasons = _reasons(report)
    assert set(reasons) == {"bad/truncated.jpg", "bad/zero-bytes.png", "bad/text.jpg",
                            "bad/bomb.png", "bad/over-limit.png", "bad/notes.txt"}
    assert "truncated" in reasons["bad/truncated.jpg"]
    assert reasons["bad/zero-bytes.png"] == "empty file (0 bytes)"
    assert reasons["bad/text.jpg"] == "not an image file Pillow can read"
    assert reasons["bad/bomb.png"].startswith("too large")
    assert "decompression bomb" in reasons["bad/bomb.png"]
    assert reasons["bad/over-limit.png"] == (
        f"too large: 9000x9000 pixels, limit {MAX_PIXELS:,} (possible decompression bomb)")
    assert "suffix" in reasons["bad/notes.txt"]
    assert not any(path.startswith("bad/") for path in items)
    assert {path.split("images/", 1)[1]: r for path, r in issues.items()} == reasons
    summary = report.summary()
    assert all(path in summary for path in reasons)


def test_good_files_all_imported(imported):
    _, report, items, _ = imported
    assert sorted(path for path in items if path.startswith("good/")) == sorted(
        f"good/{name}" for name in (
            "orientation-3.jpg", "orientation-6.jpg", "orientation-8.jpg", "cmyk.jpg",
            "gray-16-bit.png", "palette.png", "palette-transparent.png", "rgba.png",
            "one-bit.png", "gray-alpha.png"))
    assert report.added == len(items) == 14


def test_unicode_names_round_trip(imported):
    _, _, items, _ = imported
    item, label = items["Ünïcödé class/日本 語 file.png"]
    assert label == "Ünïcödé class"
    assert item.path.endswith("images/Ünïcödé class/日本 語 file.png")


def test_same_name_two_folders(imported):
    _, _, items, _ = imported
    cat, dog = items["cat/same name.png"], items["dog/same name.png"]
    assert (cat[1], dog[1]) == ("cat", "dog")
    assert cat[0].sha256 != dog[0].sha256


def test_identical_copy_is_duplicate(imported):
    _, report, items, _ = imported
    assert "dog/copy of cat.png" not in items
    (path, reason), = report.duplicates
    assert path.endswith("dog/copy of cat.png")
    assert reason.startswith("duplicate: same content as")
    assert reason.endswith("cat/same name.png")


def test_class_names_trimmed_and_compared(imported):
    _, report, items, _ = imported
    assert items[" Cat /spaced.png"][1] == "Cat"
    assert "Class name ' Cat ' trimmed to 'Cat'." in report.warnings
    near = [w for w in report.warnings if w.startswith("Near-duplicate")]
    assert near == ["Near-duplicate class names ' Cat ', 'cat' differ only in case, spaces "
                    "or Unicode form; they are kept apart. Rename one if they are the "
                    "same class."]


def test_reimport_skips_known_files(imported, corpus):
    project, first, items, _ = imported
    again = import_folder(project, corpus)
    assert again.added == 0
    assert sorted(again.skipped) == sorted(
        [(item.path, "already in the project") for item, _ in items.values()]
        + first.duplicates)
    with project.read() as session:
        assert len(session.scalars(select(ImportIssue)).all()) == len(first.unreadable)
