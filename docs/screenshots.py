"""Render a screenshot of each view of the window on the digits demo.

Run under Xvfb with ``bash docs/screenshots.sh``. It builds the demo in a
temporary folder, runs real jobs (self-training with the MLP head for the
curves, projection for the scatter, noise detection for the inbox) and saves
``docs/grid.png``, ``docs/review.png``, ``docs/jobs.png``,
``docs/embedding.png`` and ``docs/weak-sources.png``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer

from workbench.ingest.demo import build_demo
from workbench.ui.app import make_application
from workbench.ui.main_window import MainWindow

JOBS = [("noise", {}), ("projection", {"method": "pca"}),
        ("self-training", {"head": "mlp", "epochs": 150})]


def main(project_folder: str, output_folder: str) -> int:
    project, _ = build_demo(project_folder)
    project.close()
    output = Path(output_folder)
    app = make_application()
    window = MainWindow(actor="user:demo")
    window.resize(1560, 980)
    window.show()
    window.open_project(Path(project_folder))
    pending = list(JOBS)
    steps = []

    def next_job() -> None:
        if window.supervisor.busy:
            QTimer.singleShot(300, next_job)
            return
        if pending:
            kind, params = pending.pop(0)
            window.start_job(kind, params)
            QTimer.singleShot(300, next_job)
            return
        QTimer.singleShot(500, steps.pop(0))

    def shoot(name: str) -> None:
        window.grab().save(str(output / name))
        print(f"Saved {output / name}")
        if steps:
            QTimer.singleShot(1200, steps.pop(0))
        else:
            window.close()

    def grid_view() -> None:
        window.grid.select_ids(window.item_model.item_ids()[3:4])
        window.docks["review"].raise_()
        window.docks["jobs"].raise_()
        QTimer.singleShot(1500, lambda: shoot("grid.png"))

    def review_view() -> None:
        review = window.review
        review.kind_box.setCurrentIndex(review.kind_box.findData("noise_flag"))
        review.list.setFocus()
        QTimer.singleShot(1200, lambda: shoot("review.png"))

    def jobs_view() -> None:
        window.jobs_panel.select_job(max(window.jobs_panel._rows))
        window.jobs_panel.tabs.setCurrentIndex(1)
        QTimer.singleShot(800, lambda: shoot("jobs.png"))

    def embedding_view() -> None:
        window.docks["embedding"].raise_()
        window.embedding.reload_projections()
        window.grid.select_ids(window.item_model.item_ids()[:40])
        QTimer.singleShot(1200, lambda: shoot("embedding.png"))

    def weak_view() -> None:
        editor = window.weak_sources
        editor.name_edit.setText("clip-digits")
        editor.kind_box.setCurrentIndex(editor.kind_box.findData("clip_prompts"))
        editor.save()
        editor.new_source()
        editor.name_edit.setText("first-files-are-zero")
        editor.kind_box.setCurrentIndex(editor.kind_box.findData("path_rule"))
        editor.pattern_edit.setText("digit_000")
        editor.rule_class.setCurrentText("0")
        editor.save()
        window.docks["weak"].raise_()
        QTimer.singleShot(1000, lambda: shoot("weak-sources.png"))

    steps.extend([grid_view, review_view, jobs_view, embedding_view, weak_view])
    QTimer.singleShot(500, next_job)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
