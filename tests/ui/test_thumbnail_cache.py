"""Thumbnail cache: worker processes, unreadable files, backlog, threads as fallback."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

from workbench.ui.thumbnail_cache import ThumbnailCache, ThumbnailWorkers


def _write_images(folder, count):
    """Write ``count`` distinct 16x16 gray PNG files; return ``(path, sha256)`` pairs."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = []
    for i in range(count):
        path = folder / f"image_{i}.png"
        Image.fromarray(rng.integers(0, 255, (16, 16), dtype=np.uint8), mode="L").save(path)
        files.append((path, hashlib.sha256(path.read_bytes()).hexdigest()))
    return files


def test_thumbnails_arrive_in_one_batch(qtbot, tmp_path):
    files = _write_images(tmp_path / "images", 5)
    cache = ThumbnailCache(size=32)
    try:
        with qtbot.waitSignal(cache.batch_ready, timeout=60_000) as batch:
            for path, sha256 in files:
                assert cache.get(tmp_path / "cache", path, sha256) is None
        qtbot.waitUntil(lambda: all(cache.get(tmp_path / "cache", path, sha256)
                                    for path, sha256 in files), timeout=60_000)
    finally:
        cache.clear()
    assert set(batch.args[0]) <= {sha256 for _path, sha256 in files}
    assert not cache._images


def test_thumbnail_size_and_disk_copy(qtbot, tmp_path):
    (path, sha256), = _write_images(tmp_path / "images", 1)
    cache = ThumbnailCache(size=48)
    try:
        cache.get(tmp_path / "cache", path, sha256)
        qtbot.waitUntil(lambda: cache.get(tmp_path / "cache", path, sha256) is not None,
                        timeout=60_000)
        pixmap = cache.get(tmp_path / "cache", path, sha256)
    finally:
        cache.clear()
    assert pixmap.width() == 48
    assert list((tmp_path / "cache" / "thumbnails" / "48").rglob("*.png"))


def test_unreadable_file_reports_reason(qtbot, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    sha256 = hashlib.sha256(broken.read_bytes()).hexdigest()
    cache = ThumbnailCache(size=32)
    try:
        with qtbot.waitSignal(cache.ready, timeout=60_000):
            cache.get(tmp_path / "cache", broken, sha256)
        reason = cache.error(sha256)
        # A failed image is not requested again on every repaint.
        assert cache.get(tmp_path / "cache", broken, sha256) is None
        pending = set(cache._pending)
    finally:
        cache.clear()
    assert "truncated" in reason
    assert pending == set()


def test_backlog_keeps_newest_requests(qtbot, tmp_path):
    files = _write_images(tmp_path / "images", 12)
    workers = ThumbnailWorkers(max_workers=1)
    cache = ThumbnailCache(size=32, backlog=3, workers=workers)
    try:
        for path, sha256 in files:
            cache.get(tmp_path / "cache", path, sha256)
        waiting = [sha256 for _cache, _path, sha256 in cache._requests]
        newest = [sha256 for _path, sha256 in files[-3:]]
        qtbot.waitUntil(lambda: not cache._pending, timeout=60_000)
    finally:
        cache.clear()
        workers.shutdown()
    assert waiting == newest
    assert not cache._failed


def test_threads_when_processes_cannot_start(qtbot, tmp_path, monkeypatch):
    files = _write_images(tmp_path / "images", 2)
    workers = ThumbnailWorkers(max_workers=1)

    def fail_without_threads(self):
        if not self._use_threads:
            raise RuntimeError("no processes here")
        return original(self)

    original = ThumbnailWorkers._new_pool
    monkeypatch.setattr(ThumbnailWorkers, "_new_pool", fail_without_threads)
    cache = ThumbnailCache(size=32, workers=workers)
    try:
        for path, sha256 in files:
            cache.get(tmp_path / "cache", path, sha256)
        qtbot.waitUntil(lambda: all(cache.get(tmp_path / "cache", path, sha256)
                                    for path, sha256 in files), timeout=60_000)
    finally:
        cache.clear()
        workers.shutdown()
    assert workers._use_threads
