"""Window speed: event-loop stalls, scatter draw and recolor, review keypress, cold start.

Stalls are measured while the grid scrolls, while an import runs from
File > Import and while a trainer job reports.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_ui.py [--items N]``.
It builds a synthetic project of N items (default 70,000) with one pending
proposal and one projection point per item, in a temporary folder, and
prints one JSON object of medians and maxima. Each number has a peer
measured in the same process, so a loaded machine shows in both.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PROBE_INTERVAL_MS = 5


def build_project(folder: Path, count: int) -> None:
    """Write ``count`` small PNG files and their items, proposals and projection."""
    from sklearn.datasets import load_digits
    from PIL import Image
    from sqlalchemy import insert

    from workbench.store import open_project
    from workbench.store.actions import ensure_classes
    from workbench.store.schema import Job, Item, Projection, Proposal

    digits = load_digits()
    images = folder / "images"
    images.mkdir(parents=True)
    templates = []
    for pixels in digits.images[:200]:
        array = np.clip(pixels * 16, 0, 255).astype(np.uint8)
        path = folder / "template.png"
        Image.fromarray(array, mode="L").save(path)
        templates.append(path.read_bytes())
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=8, size=(10, 2))
    project = open_project(folder, create=True)
    with project.write() as session:
        class_ids = list(ensure_classes(session, [str(d) for d in range(10)],
                                        {str(d): str(d) for d in range(10)}).values())
        job = Job(kind="self-training", params={}, state="succeeded", progress=1.0)
        session.add(job)
        session.flush()
        item_rows, proposal_rows, projection_rows = [], [], []
        for i in range(count):
            name = f"images/item_{i:06d}.png"
            (folder / name).write_bytes(templates[i % len(templates)])
            item_rows.append({"id": i + 1, "path": name, "width": 8, "height": 8, "meta": {},
                              "sha256": hashlib.sha256(name.encode()).hexdigest()})
            label = i % 10
            proposal_rows.append({"job_id": job.id, "item_id": i + 1, "kind": "pseudo_label",
                                  "class_id": class_ids[label], "state": "pending",
                                  "score": float(rng.uniform(0.3, 1.0)), "evidence": {}})
            x, y = centres[label] + rng.normal(size=2)
            projection_rows.append({"item_id": i + 1, "space": "pixels", "method": "pca",
                                    "x": float(x), "y": float(y)})
        session.execute(insert(Item), item_rows)
        session.execute(insert(Proposal), proposal_rows)
        session.execute(insert(Projection), projection_rows)
    project.close()


class StallProbe:
    """A QTimer that records how late each of its ticks fires."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(PROBE_INTERVAL_MS)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[float] = []
        self._last = None

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append((now - self._last) * 1000 - PROBE_INTERVAL_MS)
        self._last = now

    def start(self) -> None:
        self.gaps, self._last = [], None
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        gaps = sorted(self.gaps) or [0.0]
        return {"max_stall_ms": round(gaps[-1], 1),
                "p99_stall_ms": round(gaps[int(0.99 * (len(gaps) - 1))], 1),
                "ticks": len(gaps)}


def wait(app, seconds: float, until=None) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and not (until and until()):
        app.processEvents()
        time.sleep(0.001)


def bench_scroll(app, window, probe) -> dict:
    bar = window.grid.verticalScrollBar()
    bar.setValue(0)
    wait(app, 0.5)
    step = max(1, bar.maximum() // 400)
    probe.start()
    while bar.value() < bar.maximum():
        bar.setValue(bar.value() + step)
        wait(app, 0.016)
    result = probe.stop()
    result["scroll_steps"] = bar.maximum() // step
    return result


def bench_review(app, window) -> dict:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    review = window.review
    review.list.setFocus()
    times = []
    for i in range(40):
        key = Qt.Key.Key_A if i % 2 else Qt.Key.Key_X
        before = review.current_id()
        start = time.perf_counter()
        QTest.keyClick(review.list, key)
        app.processEvents()
        assert review.current_id() != before
        times.append((time.perf_counter() - start) * 1000)
        wait(app, 0.02)
    start = time.perf_counter()
    review.reload()
    reload_ms = (time.perf_counter() - start) * 1000
    return {"keypress_median_ms": round(statistics.median(times), 1),
            "keypress_max_ms": round(max(times), 1),
            "peer_full_reload_ms": round(reload_ms, 1),
            "pending": review.model.rowCount()}


def _paint(app, view) -> None:
    view.plot.viewport().repaint()
    app.processEvents()


def bench_scatter(app, window) -> dict:
    import pyqtgraph as pg

    view = window.embedding
    window.docks["embedding"].raise_()
    draws, recolors, peers = [], [], []
    for _ in range(5):
        start = time.perf_counter()
        view.load_projection()
        _paint(app, view)
        draws.append((time.perf_counter() - start) * 1000)
        for mode in ("source", "state", "noise", "class"):
            start = time.perf_counter()
            view.color_box.setCurrentIndex(view.color_box.findData(mode))
            _paint(app, view)
            recolors.append((time.perf_counter() - start) * 1000)
    # Peer: pyqtgraph's own ScatterPlotItem, one item per class, recolored by setData.
    xy, groups = view.points.xy, view.points.color_index
    items = [pg.ScatterPlotItem(pen=None, brush=pg.intColor(k), size=5) for k in range(12)]
    for item in items:
        view.plot.addItem(item)
    view.points.hide()
    for _ in range(3):
        groups = np.roll(groups, 1)
        start = time.perf_counter()
        for k, item in enumerate(items):
            mask = groups == k
            item.setData(x=xy[mask, 0], y=xy[mask, 1])
        _paint(app, view)
        peers.append((time.perf_counter() - start) * 1000)
    for item in items:
        view.plot.removeItem(item)
    view.points.show()
    return {"points": len(xy), "draw_median_ms": round(statistics.median(draws), 1),
            "recolor_median_ms": round(statistics.median(recolors), 1),
            "recolor_max_ms": round(max(recolors), 1),
            "peer_scatterplotitem_recolor_ms": round(statistics.median(peers), 1)}


def bench_job(app, demo_folder: Path, probe) -> dict:
    from workbench.ui.main_window import MainWindow

    window = MainWindow(actor="bench")
    window.show()
    window.open_project(demo_folder)
    job_id = window.start_job("self-training", {"head": "mlp", "epochs": 100_000})
    messages = []
    window.supervisor.message.connect(lambda _job, message: messages.append(message))
    wait(app, 120, until=lambda: any(m.get("event") == "metric" for m in messages))
    probe.start()
    wait(app, 8)
    result = probe.stop()
    result["messages"] = len(messages)
    window.supervisor.cancel(job_id)
    wait(app, 10, until=lambda: not window.supervisor.busy)
    window.shutdown()
    window.deleteLater()
    return result


def bench_import(app, window, folder: Path, count: int, probe, *, seed: int = 1,
                 on_thread: bool = False) -> dict:
    """Stalls while File > Import runs a folder import of ``count`` new PNG files.

    The import's worker process and the window's reload of every view after
    it are measured apart, because the reload runs on the GUI thread. With
    ``on_thread`` the import runs on the watching thread itself, as it did
    before imports moved to a worker process: the peer for the stall. Each
    call needs its own ``seed``, or the import skips its files as duplicates.
    """
    from PIL import Image

    from workbench.ingest.folder import import_folder

    rng = np.random.default_rng(seed)
    for i in range(count):
        target = folder / str(i % 10) / f"new_{i:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8), mode="L").save(target)
    runner = window.import_export
    start = time.perf_counter()
    probe.start()
    if on_thread:
        project = window.project
        runner.start("Importing", lambda progress: import_folder(project, folder,
                                                                 progress=progress),
                     changes_items=True)
    else:
        runner.start_task("Importing", "import-folder", {"root": str(folder)},
                          changes_items=True)
    result = {"imported_files": count}
    refresh = window.refresh_after_import

    def timed_refresh(first_new_id):
        # The probe stops when the import's report arrives, so the grid's
        # update after it is timed on its own.
        result["during_import"] = probe.stop()
        result["import_s"] = round(time.perf_counter() - start, 1)
        began = time.perf_counter()
        refresh(first_new_id)
        result["reload_after_import_ms"] = round((time.perf_counter() - began) * 1000, 1)

    window.refresh_after_import = timed_refresh
    try:
        wait(app, 600, until=lambda: not runner.busy)
    finally:
        window.refresh_after_import = refresh
    return result


COLD_START = """
import sys, time
start = time.perf_counter()
from workbench.ui.app import make_application
from workbench.ui.main_window import MainWindow
app = make_application()
window = MainWindow(actor="bench")
window.show()
window.open_project(sys.argv[1])
app.processEvents()
assert window.item_model.rowCount() > 0
print(time.perf_counter() - start, "torch" in sys.modules)
"""

PEER_START = """
import time
start = time.perf_counter()
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication([])
window = QMainWindow()
window.show()
app.processEvents()
print(time.perf_counter() - start)
"""


def bench_cold_start(folder: Path, runs: int = 5) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    starts, peers, torch_loaded = [], [], False
    for _ in range(runs):
        output = subprocess.run([sys.executable, "-c", COLD_START, str(folder)], env=env,
                                capture_output=True, text=True, check=True).stdout.split()
        starts.append(float(output[0]))
        torch_loaded |= output[1] == "True"
        peers.append(float(subprocess.run([sys.executable, "-c", PEER_START], env=env,
                                          capture_output=True, text=True,
                                          check=True).stdout))
    return {"cold_start_median_s": round(statistics.median(starts), 2),
            "peer_bare_qt_window_s": round(statistics.median(peers), 2),
            "torch_imported": torch_loaded}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=70_000)
    parser.add_argument("--import-files", type=int, default=3_000,
                        help="PNG files the import-stall part imports while the window runs")
    args = parser.parse_args()
    from workbench.ingest.demo import build_demo
    from workbench.ui.app import make_application
    from workbench.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")
        folder = Path(tmp) / "large"
        start = time.perf_counter()
        build_project(folder, args.items)
        results = {"items": args.items, "build_s": round(time.perf_counter() - start, 1)}
        demo, _ = build_demo(Path(tmp) / "digits")
        demo.close()
        results["cold_start"] = bench_cold_start(folder)
        app = make_application()
        probe = StallProbe()
        window = MainWindow(actor="bench")
        window.resize(1500, 950)
        window.show()
        start = time.perf_counter()
        window.open_project(folder)
        results["open_project_s"] = round(time.perf_counter() - start, 2)
        wait(app, 1)
        results["scroll"] = bench_scroll(app, window, probe)
        results["review"] = bench_review(app, window)
        results["scatter"] = bench_scatter(app, window)
        # The first progress dialog of a session costs Qt a few hundred ms
        # to build, so a small first import shows that cost apart.
        results["first_import"] = bench_import(app, window, Path(tmp) / "first-images",
                                               100, probe)
        results["import_running"] = bench_import(app, window, Path(tmp) / "new-images",
                                                 args.import_files, probe)
        results["import_running_on_thread_peer"] = bench_import(
            app, window, Path(tmp) / "peer-images", args.import_files, probe, seed=2,
            on_thread=True)
        window.shutdown()
        window.deleteLater()
        results["job_running"] = bench_job(app, Path(tmp) / "digits", probe)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
