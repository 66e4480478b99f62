"""Start trainer processes with QProcess and show their progress."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.jobs import protocol, runner
from workbench.store import queries
from workbench.store.engine import Project
from workbench.store.schema import CANCELLED, Job

log = logging.getLogger(__name__)
STDERR_TAIL_CHARS = 8000


@dataclass
class RunningJob:
    job_id: int
    kind: str
    process: QProcess
    cancel_requested: bool = False
    buffer: bytes = b""
    stderr: str = ""
    messages: list[str] = field(default_factory=list)


class JobSupervisor(QObject):
    """Runs each job as its own trainer process and settles it when it exits.

    Signals carry job ids and plain data only.
    """

    message = Signal(int, dict)
    finished = Signal(int, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.project: Project | None = None
        self.running: dict[int, RunningJob] = {}

    def start(self, kind: str, params: dict | None = None) -> int:
        """Create a job and start its process; raises JobError or ParamError."""
        assert self.project is not None
        job_id = runner.create_job(self.project, kind, params)
        process = QProcess(self)
        command = runner.trainer_command(self.project, job_id)
        environment = QProcessEnvironment()
        for key, value in runner.trainer_environment().items():
            environment.insert(key, value)
        process.setProcessEnvironment(environment)
        job = RunningJob(job_id, kind, process)
        self.running[job_id] = job
        process.readyReadStandardOutput.connect(lambda: self._read_stdout(job))
        process.readyReadStandardError.connect(lambda: self._read_stderr(job))
        process.finished.connect(lambda code, status: self._on_finished(job, code, status))
        process.errorOccurred.connect(lambda error: self._on_error(job, error))
        process.start(command[0], command[1:])
        log.info("Started job %s (%s): %s", job_id, kind, " ".join(command))
        return job_id

    def cancel(self, job_id: int) -> None:
        """Ask a job's process to stop; it is killed if it has not exited in time."""
        job = self.running.get(job_id)
        if job is None or job.cancel_requested:
            return
        job.cancel_requested = True
        self.message.emit(job_id, {"event": "progress", "value": -1, "message": "cancelling"})
        if job.process.state() == QProcess.ProcessState.NotRunning:
            self._settle(job, exit_code=None)
            return
        job.process.terminate()
        # The timer belongs to the process, so it dies with it.
        timer = QTimer(job.process)
        timer.setSingleShot(True)
        timer.timeout.connect(lambda: self._kill_if_running(job))
        timer.start(int(runner.CANCEL_GRACE_S * 1000))

    def cancel_all(self, wait_ms: int = 0) -> None:
        for job_id in list(self.running):
            self.cancel(job_id)
        for job in list(self.running.values()):
            if wait_ms and not job.process.waitForFinished(wait_ms):
                job.process.kill()
                job.process.waitForFinished(1000)

    def _kill_if_running(self, job: RunningJob) -> None:
        if job.job_id in self.running and job.process.state() != QProcess.ProcessState.NotRunning:
            log.warning("Job %s did not stop within %.0f s; killing it", job.job_id,
                        runner.CANCEL_GRACE_S)
            job.process.kill()

    def _read_stdout(self, job: RunningJob) -> None:
        job.buffer += bytes(job.process.readAllStandardOutput().data())
        *lines, job.buffer = job.buffer.split(b"\n")
        for raw in lines:
            if raw.strip():
                self.message.emit(job.job_id, protocol.decode(raw.decode("utf-8", "replace")))

    def _read_stderr(self, job: RunningJob) -> None:
        text = bytes(job.process.readAllStandardError().data()).decode("utf-8", "replace")
        job.stderr = (job.stderr + text)[-STDERR_TAIL_CHARS:]

    def _on_error(self, job: RunningJob, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            log.error("Job %s: trainer process failed to start: %s", job.job_id,
                      job.process.errorString())
            self._settle(job, exit_code=None)

    def _on_finished(self, job: RunningJob, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout(job)
        self._read_stderr(job)
        crashed = status == QProcess.ExitStatus.CrashExit
        reason = "The trainer process crashed or was killed." if crashed else None
        self._settle(job, exit_code=code, reason=reason)

    def _settle(self, job: RunningJob, exit_code: int | None, reason: str | None = None) -> None:
        if self.running.pop(job.job_id, None) is None:
            return
        state = runner.finalize_job(self.project, job.job_id, exit_code=exit_code,
                                    cancel_requested=job.cancel_requested,
                                    stderr_tail=job.stderr, reason=reason)
        log.info("Job %s ended %s", job.job_id, state)
        job.process.deleteLater()
        self.finished.emit(job.job_id, state)


class JobsPanel(QWidget):
    """A table of jobs with progress and cancel buttons, and the selected job's log."""

    COLUMNS = ("Job", "Kind", "State", "Progress", "Message", "")

    def __init__(self, supervisor: JobSupervisor, parent=None):
        super().__init__(parent)
        self.supervisor = supervisor
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setColumnWidth(4, 320)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self._rows: dict[int, int] = {}
        self._bars: dict[int, QProgressBar] = {}
        self._logs: dict[int, list[str]] = {}
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.log_view)
        splitter.setSizes([700, 400])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        supervisor.message.connect(self.on_message)
        self.table.itemSelectionChanged.connect(self._show_selected_log)

    def load(self, jobs: list[dict]) -> None:
        self.table.setRowCount(0)
        self._rows.clear()
        self._bars.clear()
        for job in reversed(jobs):
            self.add_job(job["id"], job["kind"], job["state"], job["progress"],
                         (job["error"] or "").splitlines()[0] if job["error"] else "")

    def add_job(self, job_id: int, kind: str, state: str, progress: float = 0.0,
                message: str = "") -> None:
        row = 0
        self.table.insertRow(row)
        self._rows = {jid: r + 1 for jid, r in self._rows.items()}
        self._rows[job_id] = row
        for column, value in ((0, str(job_id)), (1, kind), (2, state), (4, message)):
            self.table.setItem(row, column, QTableWidgetItem(value))
        bar = QProgressBar()
        bar.setRange(0, 1000)
        bar.setValue(int(progress * 1000))
        self._bars[job_id] = bar
        self.table.setCellWidget(row, 3, bar)
        if state in ("queued", "running"):
            self._add_cancel_button(row, job_id)

    def _add_cancel_button(self, row: int, job_id: int) -> None:
        button = QPushButton("Cancel")
        button.clicked.connect(lambda: self.supervisor.cancel(job_id))
        holder = QWidget()
        box = QHBoxLayout(holder)
        box.setContentsMargins(2, 0, 2, 0)
        box.addWidget(button)
        self.table.setCellWidget(row, 5, holder)

    def state_of(self, job_id: int) -> str:
        return self.table.item(self._rows[job_id], 2).text()

    def message_of(self, job_id: int) -> str:
        return self.table.item(self._rows[job_id], 4).text()

    def on_message(self, job_id: int, message: dict) -> None:
        if job_id not in self._rows:
            return
        row = self._rows[job_id]
        event = message.get("event")
        text = ""
        if event == "progress":
            if message.get("value", 0) >= 0:
                self._bars[job_id].setValue(int(message["value"] * 1000))
                self.table.item(row, 2).setText("running")
            else:
                self.table.item(row, 2).setText("cancelling")
            text = message.get("message", "")
        elif event == "started":
            self.table.item(row, 2).setText("running")
            text = f"running on {message.get('device')}"
        elif event == "metric":
            text = f"{message['name']} {message['value']:.4g} at step {message['step']}"
        elif event in ("log", "finished"):
            text = message.get("error") or message.get("message") or ""
        if text:
            self.table.item(row, 4).setText(text)
            self._logs.setdefault(job_id, []).append(f"[{event}] {text}")
            if self._selected_job() == job_id:
                self.log_view.appendPlainText(f"[{event}] {text}")

    def on_finished(self, job_id: int, state: str, error: str | None, summary: str) -> None:
        row = self._rows[job_id]
        self.table.item(row, 2).setText(state)
        self.table.removeCellWidget(row, 5)
        message = (error or "").splitlines()[0] if error else summary
        self.table.item(row, 4).setText(message)
        self.table.item(row, 4).setToolTip(error or summary)
        if state == "succeeded":
            self._bars[job_id].setValue(1000)
        self._logs.setdefault(job_id, []).append(f"[{state}] {error or summary}")

    def _selected_job(self) -> int | None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        for job_id, row in self._rows.items():
            if row in rows:
                return job_id
        return None

    def _show_selected_log(self) -> None:
        job_id = self._selected_job()
        self.log_view.setPlainText("\n".join(self._logs.get(job_id, [])))


def job_summary(project: Project, job_id: int) -> tuple[str, str | None, str]:
    """Return a finished job's state, error and a one-line summary of its metrics."""
    with project.read() as session:
        job = queries.job_dict(session.get(Job, job_id))
    metrics = job["metrics"]
    if job["state"] == CANCELLED:
        summary = "cancelled; nothing was written"
    elif "stored" in metrics:
        summary = f"{metrics['stored']} proposals"
    else:
        summary = job["state"]
    return job["state"], job["error"], summary
