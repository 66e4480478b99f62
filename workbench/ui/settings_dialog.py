"""Settings dialog: device, threads per job, thumbnail size and default thresholds."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
)

from workbench.jobs.threads import AUTOMATIC, MAX_THREADS
from workbench.settings import DEVICES, THUMBNAIL_SIZES, Settings, SettingsError
from workbench.ui.widgets import unit_spin_box


class SettingsDialog(QDialog):
    """Edits a copy of the settings; :meth:`result_settings` returns it after OK."""

    def __init__(self, settings: Settings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._settings = settings
        self.device_box = QComboBox()
        self.device_box.addItems(list(DEVICES))
        self.device_box.setCurrentText(settings.device)
        self.threads_box = QSpinBox()
        self.threads_box.setRange(AUTOMATIC, MAX_THREADS)
        # The lowest value, AUTOMATIC, shows as a word in place of its number.
        self.threads_box.setSpecialValueText("Automatic")
        self.threads_box.setValue(settings.job_threads)
        self.threads_box.setToolTip(
            "Threads of each BLAS, OpenMP and torch pool in a job's process. Automatic "
            "leaves one core free and shares the rest among the jobs running at once. "
            "The WORKBENCH_JOB_THREADS environment variable overrides this setting.")
        self.thumbnail_box = QComboBox()
        for size in THUMBNAIL_SIZES:
            self.thumbnail_box.addItem(f"{size} px", size)
        self.thumbnail_box.setCurrentIndex(self.thumbnail_box.findData(settings.thumbnail_size))
        self.accept_box = unit_spin_box(settings.accept_threshold)
        self.job_box = unit_spin_box(settings.job_threshold)
        self.error = QLabel()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Compute device for jobs", self.device_box)
        form.addRow("Threads per job", self.threads_box)
        form.addRow("Thumbnail size", self.thumbnail_box)
        form.addRow("Review: accept all above", self.accept_box)
        form.addRow("Jobs: proposal threshold", self.job_box)
        form.addRow(self.error)
        form.addRow(buttons)

    def result_settings(self) -> Settings:
        return Settings(
            device=self.device_box.currentText(),
            thumbnail_size=self.thumbnail_box.currentData(),
            accept_threshold=self.accept_box.value(),
            job_threshold=self.job_box.value(),
            job_threads=self.threads_box.value(),
            recent_projects=list(self._settings.recent_projects),
        )

    def _accept(self) -> None:
        try:
            self.result_settings().validate()
        except SettingsError as exc:
            self.error.setText(str(exc))
            return
        self.accept()
