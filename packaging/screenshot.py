"""Take a screenshot of the window on the demo project after one self-training job.

Run under a real X server (``make screenshot`` starts Xvfb); the image goes to
the path given as the second argument.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer

from workbench.ingest.demo import build_demo
from workbench.ui.app import make_application
from workbench.ui.main_window import MainWindow


def main(project_folder: str, output: str) -> int:
    project, _ = build_demo(project_folder)
    project.close()
    app = make_application()
    window = MainWindow()
    window.resize(1500, 950)
    window.show()
    window.open_project(Path(project_folder))
    job_id = window.start_job("self-training")

    def wait_for_job() -> None:
        if window.supervisor.running:
            QTimer.singleShot(200, wait_for_job)
            return
        window.grid.selectionModel().select(
            window.item_model.index(3), window.grid.selectionModel().SelectionFlag.Select)
        window.jobs_panel.table.selectRow(0)
        QTimer.singleShot(1500, save)

    def save() -> None:
        window.grab().save(output)
        print(f"Saved {output} after job {job_id}")
        window.close()

    QTimer.singleShot(500, wait_for_job)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
