"""Thumbnails for the grid, the scatter's hover and the previews, decoded in worker processes.

A decoding thread holds the GIL through Pillow's Python code, so each call
Qt makes into the item model while painting could wait for it. Scrolling
through 70,000 items on 2 cores, the worst stall was 58 ms with one decoding
thread and 36 ms with one worker process (one run each at load average 2, with
the scroll loop of benchmarks/bench_ui.py). Only PNG bytes cross back, and
the GUI thread turns them into pixmaps.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage, QPixmap

from workbench.ingest.images import ImageError
from workbench.ingest.thumbnails import thumbnail_png

log = logging.getLogger(__name__)

# How often a worker process checks that the window process still exists.
PARENT_POLL_S = 1.0


def _exit_with_parent(parent_pid: int) -> None:
    """Start a thread that ends this worker process once the window process is gone.

    A spawned worker gets both ends of its task queue's pipe, because Python
    3.11's multiprocessing.Queue pickles both. So when the window dies without
    shutting the pool down (a crash, SIGKILL), the worker never reads end of
    file and would wait for tasks forever.
    NOTE: on Windows os.getppid() keeps returning the dead parent's id, so
    this check never fires there.
    """
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _thumbnail_task(cache: Path, file: Path, sha256: str,
                    size: int) -> tuple[bytes | None, str | None]:
    """Return ``(png_bytes, None)``, or ``(None, reason)`` for an unreadable image.

    Runs in a worker process.
    """
    try:
        return thumbnail_png(cache, file, sha256, size), None
    except (ImageError, OSError) as exc:
        return None, str(exc)


class ThumbnailWorkers:
    """Spawn-started process pool shared by the window's thumbnail caches.

    It has one process per core beyond the first, at most two, so the window
    keeps a core. The processes start on the first request, so a window that
    shows no image starts none. ``shutdown`` ends them, and a later request
    starts new ones.
    Where no process can start (a script that opens the window at import
    time, without the ``if __name__ == "__main__"`` guard that spawned
    processes need), decoding falls back to threads.
    """

    def __init__(self, max_workers: int | None = None):
        self.max_workers = max_workers or max(1, min(2, (os.cpu_count() or 1) - 1))
        self._pool: Executor | None = None
        self._use_threads = False

    def submit(self, *args) -> Future:
        try:
            if self._pool is None:
                self._pool = self._new_pool()
            return self._pool.submit(_thumbnail_task, *args)
        except (RuntimeError, OSError) as exc:
            if self._use_threads:
                raise
            log.warning("Failed to start thumbnail worker processes (%s); "
                        "decoding in threads instead", exc)
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self._use_threads = True
            self._pool = self._new_pool()
            return self._pool.submit(_thumbnail_task, *args)

    def _new_pool(self) -> Executor:
        if self._use_threads:
            return ThreadPoolExecutor(max_workers=self.max_workers,
                                      thread_name_prefix="thumbnails")
        # Never fork: the window process runs Qt's threads.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=self.max_workers, mp_context=context,
                                   initializer=_exit_with_parent, initargs=(os.getpid(),))

    def discard_broken(self) -> None:
        """Drop a pool whose worker died; the next request starts a new one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class _Signals(QObject):
    # sha256, generation, PNG bytes or None, failure reason or None, and
    # whether the pool broke (a worker process died).
    done = Signal(str, int, object, object, bool)


class ThumbnailCache(QObject):
    """Bounded in-memory cache of thumbnails keyed by SHA-256, filled by worker processes.

    Requests are served newest first, and only the newest ``backlog`` wait:
    scrolling quickly through a large grid requests thousands of thumbnails
    that are off screen a moment later, and decoding them would delay the
    ones now in view. A dropped request is made again when its row is
    painted again. ``ready`` fires per thumbnail; ``batch_ready`` fires with
    every thumbnail that arrived within ``BATCH_MS``, so a view repaints
    once per batch instead of once per image.
    """

    ready = Signal(str)
    batch_ready = Signal(list)
    BATCH_MS = 30

    def __init__(self, size: int = 64, capacity: int = 4000, backlog: int = 600,
                 workers: ThumbnailWorkers | None = None, parent=None):
        super().__init__(parent)
        self.size = size
        self.capacity = capacity
        self.backlog = backlog
        self._owns_workers = workers is None
        self._workers = workers or ThumbnailWorkers()
        self._max_in_flight = 2 * self._workers.max_workers
        self._images: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: set[str] = set()
        self._failed: dict[str, str] = {}
        self._requests: deque[tuple[Path, Path, str]] = deque()
        self._in_flight = 0
        # Results of tasks submitted before the last clear() are ignored.
        self._generation = 0
        self._arrived: list[str] = []
        self._batch_timer = QTimer(self)
        self._batch_timer.setSingleShot(True)
        self._batch_timer.setInterval(self.BATCH_MS)
        self._batch_timer.timeout.connect(self._emit_batch)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)

    def get(self, cache: Path, file: Path, sha256: str) -> QPixmap | None:
        """Return the cached pixmap, or None after requesting it in the background."""
        pixmap = self._images.get(sha256)
        if pixmap is not None:
            self._images.move_to_end(sha256)
            return pixmap
        if sha256 not in self._pending and sha256 not in self._failed:
            self._pending.add(sha256)
            self._requests.append((cache, file, sha256))
            while len(self._requests) > self.backlog:
                self._pending.discard(self._requests.popleft()[2])
            self._dispatch()
        return None

    def error(self, sha256: str) -> str | None:
        return self._failed.get(sha256)

    def _dispatch(self) -> None:
        """Hand the newest waiting requests to the workers, a few at a time."""
        while self._requests and self._in_flight < self._max_in_flight:
            cache, file, sha256 = self._requests.pop()
            future = self._workers.submit(cache, file, sha256, self.size)
            self._in_flight += 1
            generation = self._generation
            future.add_done_callback(
                lambda done, key=sha256: self._report(done, key, generation))

    def _report(self, future: Future, sha256: str, generation: int) -> None:
        """Pass a finished task's result to the GUI thread; runs on the pool's thread.

        A cancelled task reports neither bytes nor a reason, so its image is
        requested again the next time it is painted.
        """
        data, reason, broken = None, None, False
        if not future.cancelled():
            try:
                data, reason = future.result()
            except BrokenProcessPool as exc:
                reason, broken = f"the thumbnail worker process stopped: {exc}", True
        try:
            self._signals.done.emit(sha256, generation, data, reason, broken)
        except RuntimeError:
            # The cache was deleted while this task ran (the window closed).
            pass

    def _on_done(self, sha256: str, generation: int, data, reason, broken: bool) -> None:
        if generation != self._generation:
            return
        self._in_flight -= 1
        self._pending.discard(sha256)
        if broken:
            self._workers.discard_broken()
        if data is None and reason is None:
            self._dispatch()
            return
        image = QImage.fromData(data, "PNG") if data is not None else QImage()
        if image.isNull():
            reason = reason or "the thumbnail could not be decoded"
            self._failed[sha256] = reason
            log.warning("Thumbnail for %s failed: %s", sha256, reason)
        else:
            self._images[sha256] = QPixmap.fromImage(image)
            while len(self._images) > self.capacity:
                self._images.popitem(last=False)
        self.ready.emit(sha256)
        self._arrived.append(sha256)
        if not self._batch_timer.isActive():
            self._batch_timer.start()
        self._dispatch()

    def _emit_batch(self) -> None:
        arrived, self._arrived = self._arrived, []
        if arrived:
            self.batch_ready.emit(arrived)

    def clear(self) -> None:
        """Drop waiting requests and empty the cache; with its own workers, end them."""
        self._generation += 1
        self._requests.clear()
        self._in_flight = 0
        if self._owns_workers:
            self._workers.shutdown()
        self._images.clear()
        self._pending.clear()
        self._failed.clear()
        self._arrived.clear()
