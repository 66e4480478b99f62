"""Start trainer processes with QProcess and show their progress."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Qt, QTimer, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from workbench.jobs import protocol, runner, specs, threads
from workbench.jobs.specs import JobKind, Param, ParamError
from workbench.store import queries
from workbench.store.engine import Project
from workbench.store.schema import CANCELLED, Job

log = logging.getLogger(__name__)
STDERR_TAIL_CHARS = 8000
INT_LIMIT = 2**31 - 1
CURVE_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
# Metrics of different scales get plots of their own, stacked: losses,
# fractions in [0, 1] (accuracy, mask rate) and counts. Their steps differ
# too (epochs, rounds), so the step axes are not linked.
METRIC_GROUPS = {"loss": "loss", "fraction": "fraction", "count": "count"}
FRACTION_WORDS = ("accuracy", "precision", "recall", "rate", "mask", "f1", "error",
                  "calibration", "coverage", "agreement")


def metric_group(name: str) -> str:
    """Return the plot group of a metric from its name."""
    lowered = name.lower()
    if "loss" in lowered:
        return "loss"
    if any(word in lowered for word in FRACTION_WORDS):
        return "fraction"
    return "count"


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

    queued = Signal(int)

    def __init__(self, parent=None, max_running: int = 1,
                 threads_per_job: int = threads.AUTOMATIC):
        super().__init__(parent)
        self.project: Project | None = None
        self.running: dict[int, RunningJob] = {}
        # Jobs created but waiting for a free slot, oldest first.
        self.queue: list[tuple[int, str]] = []
        self.max_running = max_running
        # The "Threads per job" setting, read when each trainer starts.
        self.threads_per_job = threads_per_job

    @property
    def busy(self) -> bool:
        return bool(self.running or self.queue)

    def start(self, kind: str, params: dict | None = None) -> int:
        """Create a job and start it, or queue it while ``max_running`` jobs run.

        Raises JobError or ParamError before anything is written.
        """
        assert self.project is not None
        job_id = runner.create_job(self.project, kind, params)
        if len(self.running) >= self.max_running:
            self.queue.append((job_id, kind))
            self.queued.emit(job_id)
            log.info("Queued job %s (%s) behind %s running", job_id, kind, len(self.running))
            return job_id
        self._launch(job_id, kind)
        return job_id

    def _launch(self, job_id: int, kind: str) -> None:
        process = QProcess(self)
        command = runner.trainer_command(self.project, job_id)
        environment = QProcessEnvironment()
        variables = runner.trainer_environment(self.project, self.threads_per_job)
        for key, value in variables.items():
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

    def _start_next(self) -> None:
        while self.queue and len(self.running) < self.max_running and self.project is not None:
            job_id, kind = self.queue.pop(0)
            self._launch(job_id, kind)

    def cancel(self, job_id: int) -> None:
        """Ask a job's process to stop; it is killed if it has not exited in time."""
        waiting = [entry for entry in self.queue if entry[0] == job_id]
        if waiting:
            self.queue.remove(waiting[0])
            state = runner.finalize_job(self.project, job_id, exit_code=None,
                                        cancel_requested=True)
            self.finished.emit(job_id, state)
            return
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
        """Cancel queued and running jobs; with ``wait_ms``, wait for each process to exit."""
        for job_id, _kind in list(self.queue):
            self.cancel(job_id)
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
        self._start_next()


class JobForm(QWidget):
    """A form built from a job kind's declared parameters, filled with their defaults."""

    def __init__(self, kind: JobKind, overrides: dict[str, Any] | None = None, parent=None):
        super().__init__(parent)
        self.kind = kind
        self.editors: dict[str, QWidget] = {}
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        overrides = overrides or {}
        for param in kind.params:
            value = overrides.get(param.name, param.default)
            try:
                value = param.parse(value)
            except ParamError:
                value = param.default
            editor = _editor_for(param, value)
            editor.setToolTip(param.help)
            self.editors[param.name] = editor
            layout.addRow(param.name.replace("_", " "), editor)

    def values(self) -> dict[str, Any]:
        return {name: _editor_value(editor) for name, editor in self.editors.items()}


def _editor_for(param: Param, value: Any) -> QWidget:
    if param.choices is not None:
        editor = QComboBox()
        for choice in param.choices:
            # An empty choice (such as FixMatch's init) would show as a blank row.
            editor.addItem(str(choice) or "(none)", choice)
        editor.setCurrentIndex(max(0, editor.findData(value)))
    elif param.type is bool:
        editor = QCheckBox()
        editor.setChecked(bool(value))
    elif param.type is int:
        editor = QSpinBox()
        editor.setRange(int(param.minimum if param.minimum is not None else -INT_LIMIT),
                        int(param.maximum if param.maximum is not None else INT_LIMIT))
        editor.setValue(int(value))
    elif param.type is float:
        editor = QDoubleSpinBox()
        editor.setDecimals(4)
        editor.setRange(param.minimum if param.minimum is not None else -1e12,
                        param.maximum if param.maximum is not None else 1e12)
        editor.setSingleStep(0.01 if (param.maximum or 2) <= 1 else 1.0)
        editor.setValue(float(value))
    else:
        editor = QLineEdit(str(value))
    return editor


def _editor_value(editor: QWidget) -> Any:
    if isinstance(editor, QComboBox):
        return editor.currentData()
    if isinstance(editor, QCheckBox):
        return editor.isChecked()
    if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
        return editor.value()
    return editor.text()


class LaunchPanel(QWidget):
    """Pick a job kind, edit its parameters and start it.

    The kinds are read from ``JOB_KINDS`` each time the list is rebuilt, so
    a kind registered after the window started appears on :meth:`refresh`.
    """

    launch_requested = Signal(str, dict)

    def __init__(self, defaults: dict[str, Any] | None = None, parent=None):
        super().__init__(parent)
        self.defaults = dict(defaults or {})
        self.kind_box = QComboBox()
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.form_holder = QVBoxLayout()
        self.form: JobForm | None = None
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self._request)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind_box)
        layout.addWidget(self.description)
        layout.addLayout(self.form_holder)
        layout.addWidget(self.start_button)
        layout.addStretch(1)
        self.kind_box.currentIndexChanged.connect(lambda _: self._build_form())
        self.refresh()

    def refresh(self) -> None:
        current = self.kind_box.currentData()
        self.kind_box.blockSignals(True)
        self.kind_box.clear()
        for kind in specs.JOB_KINDS.values():
            self.kind_box.addItem(kind.title, kind.name)
        self.kind_box.setCurrentIndex(max(0, self.kind_box.findData(current)))
        self.kind_box.blockSignals(False)
        self._build_form()

    def select_kind(self, name: str) -> None:
        self.kind_box.setCurrentIndex(self.kind_box.findData(name))

    def _build_form(self) -> None:
        if self.form is not None:
            self.form.setParent(None)
            self.form.deleteLater()
            self.form = None
        name = self.kind_box.currentData()
        if name is None:
            return
        kind = specs.JOB_KINDS[name]
        self.description.setText(kind.description)
        self.form = JobForm(kind, self.defaults)
        self.form_holder.addWidget(self.form)

    def _request(self) -> None:
        if self.form is not None:
            self.launch_requested.emit(self.form.kind.name, self.form.values())


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


@dataclass
class JobView:
    """Per-job state of the panel: log lines, metric curves and progress timing."""

    log: list[str] = field(default_factory=list)
    metrics: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)
    started: float | None = None
    progress: float = 0.0

    def eta(self, now: float) -> float | None:
        if self.started is None or not 0.02 <= self.progress < 1.0:
            return None
        elapsed = now - self.started
        return elapsed * (1.0 - self.progress) / self.progress


class JobsPanel(QWidget):
    """Launch form, job table with progress and ETA, the selected job's log and curves."""

    COLUMNS = ("Job", "Kind", "State", "Progress", "ETA", "Message", "")

    def __init__(self, supervisor: JobSupervisor, defaults: dict[str, Any] | None = None,
                 parent=None):
        super().__init__(parent)
        self.supervisor = supervisor
        self.launcher = LaunchPanel(defaults)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setColumnWidth(5, 300)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.plot = pg.GraphicsLayoutWidget()
        self.plot.setBackground("w")
        self._axes: dict[str, pg.PlotItem] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._rows: dict[int, int] = {}
        self._bars: dict[int, QProgressBar] = {}
        self._views: dict[int, JobView] = {}
        tabs = QTabWidget()
        tabs.addTab(self.log_view, "Log")
        tabs.addTab(self.plot, "Curves")
        self.tabs = tabs
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.launcher)
        splitter.addWidget(self.table)
        splitter.addWidget(tabs)
        splitter.setSizes([260, 640, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)
        self._eta_timer = QTimer(self)
        self._eta_timer.setInterval(1000)
        self._eta_timer.timeout.connect(self._update_etas)
        self._eta_timer.start()
        supervisor.message.connect(self.on_message)
        self.table.itemSelectionChanged.connect(self._show_selected)

    # Rows -------------------------------------------------------------------

    def load(self, jobs: list[dict]) -> None:
        self.table.setRowCount(0)
        self._rows.clear()
        self._bars.clear()
        self._views.clear()
        for job in reversed(jobs):
            error = job["error"]
            self.add_job(job["id"], job["kind"], job["state"], job["progress"],
                         error.splitlines()[0] if error else "")
            if error:
                self._views[job["id"]].log.append(f"[{job['state']}] {error}")

    def add_job(self, job_id: int, kind: str, state: str, progress: float = 0.0,
                message: str = "") -> None:
        row = 0
        self.table.insertRow(row)
        self._rows = {jid: r + 1 for jid, r in self._rows.items()}
        self._rows[job_id] = row
        self._views[job_id] = JobView(progress=progress)
        for column, value in ((0, str(job_id)), (1, kind), (2, state), (4, ""), (5, message)):
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
        button.setObjectName(f"cancel-{job_id}")
        button.clicked.connect(lambda: self.supervisor.cancel(job_id))
        holder = QWidget()
        box = QHBoxLayout(holder)
        box.setContentsMargins(2, 0, 2, 0)
        box.addWidget(button)
        self.table.setCellWidget(row, 6, holder)

    def cancel_button(self, job_id: int) -> QPushButton | None:
        holder = self.table.cellWidget(self._rows[job_id], 6)
        return holder.findChild(QPushButton) if holder is not None else None

    def state_of(self, job_id: int) -> str:
        return self.table.item(self._rows[job_id], 2).text()

    def message_of(self, job_id: int) -> str:
        return self.table.item(self._rows[job_id], 5).text()

    def eta_of(self, job_id: int) -> str:
        return self.table.item(self._rows[job_id], 4).text()

    def log_of(self, job_id: int) -> list[str]:
        return list(self._views[job_id].log)

    def metrics_of(self, job_id: int) -> dict[str, tuple[list[float], list[float]]]:
        return self._views[job_id].metrics

    def select_job(self, job_id: int) -> None:
        self.table.selectRow(self._rows[job_id])

    # Messages ---------------------------------------------------------------

    def on_message(self, job_id: int, message: dict) -> None:
        if job_id not in self._rows:
            return
        view = self._views[job_id]
        event = message.get("event")
        text = ""
        if event == "progress":
            text = self._on_progress(job_id, view, message)
        elif event == "started":
            view.started = time.monotonic()
            self._set(job_id, 2, "running")
            text = f"running on {message.get('device')}"
            if message.get("threads"):
                unit = "thread" if message["threads"] == 1 else "threads"
                text += f", {message['threads']} {unit} per pool"
        elif event == "metric":
            text = self._on_metric(job_id, view, message)
        elif event == "log":
            text = message.get("message") or ""
        # A "finished" message's error is shown once, when the supervisor
        # reports the job's end with its stored state.
        if text:
            self._set(job_id, 5, text)
            self._append_log(job_id, f"[{event}] {text}", replace_similar=event == "progress")

    def _on_progress(self, job_id: int, view: JobView, message: dict) -> str:
        value = message.get("value", 0)
        if value >= 0:
            if view.started is None:
                view.started = time.monotonic()
            view.progress = float(value)
            self._bars[job_id].setValue(int(value * 1000))
            self._set(job_id, 2, "running")
            self._set(job_id, 4, format_eta(view.eta(time.monotonic())))
        else:
            self._set(job_id, 2, "cancelling")
        return message.get("message", "")

    def _on_metric(self, job_id: int, view: JobView, message: dict) -> str:
        name, value = str(message.get("name")), message.get("value")
        if not isinstance(value, (int, float)):
            return f"{name} {value}"
        steps, values = view.metrics.setdefault(name, ([], []))
        steps.append(float(message.get("step", len(steps))))
        values.append(float(value))
        if self._selected_job() == job_id:
            self._draw_curve(name, steps, values)
        # Metric lines are many; the log keeps them but the message column
        # shows only the latest value.
        return f"{name} {value:.4g} at step {message.get('step')}"

    def on_finished(self, job_id: int, state: str, error: str | None, summary: str) -> None:
        row = self._rows[job_id]
        self._set(job_id, 2, state)
        self._set(job_id, 4, "")
        self.table.removeCellWidget(row, 6)
        message = error.splitlines()[0] if error else summary
        self._set(job_id, 5, message)
        self.table.item(row, 5).setToolTip(error or summary)
        if state == "succeeded":
            self._bars[job_id].setValue(1000)
        self._append_log(job_id, f"[{state}] {error or summary}")

    def _set(self, job_id: int, column: int, text: str) -> None:
        self.table.item(self._rows[job_id], column).setText(text)

    def _append_log(self, job_id: int, line: str, *, replace_similar: bool = False) -> None:
        """Add a line to the job's log.

        With ``replace_similar``, a line that differs from the last one only
        in its numbers replaces it, so a fit reporting every second keeps one
        updating line ("iteration 250 of 1000, 13 s") in place of hundreds.
        """
        log = self._views[job_id].log
        shown = self._selected_job() == job_id
        if replace_similar and log and _number_pattern(log[-1]) == _number_pattern(line):
            log[-1] = line
            if shown:
                cursor = self.log_view.textCursor()
                cursor.movePosition(QTextCursor.MoveOperation.End)
                cursor.select(QTextCursor.SelectionType.BlockUnderCursor)
                cursor.removeSelectedText()
                self.log_view.appendPlainText(line)
            return
        log.append(line)
        if shown:
            self.log_view.appendPlainText(line)

    def _update_etas(self) -> None:
        now = time.monotonic()
        for job_id in self.supervisor.running:
            if job_id in self._rows:
                self._set(job_id, 4, format_eta(self._views[job_id].eta(now)))

    # Selected job -----------------------------------------------------------

    def _selected_job(self) -> int | None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        for job_id, row in self._rows.items():
            if row in rows:
                return job_id
        return None

    def _show_selected(self) -> None:
        job_id = self._selected_job()
        view = self._views.get(job_id)
        self.log_view.setPlainText("\n".join(view.log) if view else "")
        self.plot.clear()
        self._axes.clear()
        self._curves.clear()
        if view is not None:
            for name, (steps, values) in view.metrics.items():
                self._draw_curve(name, steps, values)

    def curve_groups(self) -> list[str]:
        """Return the metric groups plotted for the selected job, top to bottom."""
        return list(self._axes)

    def _axis_for(self, name: str) -> pg.PlotItem:
        """Return the plot of the metric's group, added below the others when new."""
        group = metric_group(name)
        axis = self._axes.get(group)
        if axis is None:
            axis = self.plot.addPlot(row=len(self._axes), col=0)
            # A translucent white box keeps the names readable over the lines.
            axis.addLegend(offset=(-10, 10), brush=(255, 255, 255, 200),
                           labelTextColor=(40, 40, 40), labelTextSize="8pt", colCount=2)
            axis.setLabel("left", METRIC_GROUPS[group])
            axis.setLabel("bottom", "step")
            axis.showGrid(x=True, y=True, alpha=0.2)
            self._axes[group] = axis
        return axis

    def _draw_curve(self, name: str, steps: list[float], values: list[float]) -> None:
        curve = self._curves.get(name)
        if curve is None:
            color = CURVE_COLORS[len(self._curves) % len(CURVE_COLORS)]
            curve = self._axis_for(name).plot([], [], pen=pg.mkPen(color, width=2), name=name)
            self._curves[name] = curve
        x = np.asarray(steps, dtype=float)
        # A metric whose step goes back starts another run (a new round or
        # fold), so no line joins the end of one run to the next one's start.
        connect = np.ones(len(x), dtype=bool)
        connect[:-1] = np.diff(x) >= 0
        curve.setData(x, np.asarray(values, dtype=float), connect=connect)


def _number_pattern(line: str) -> str:
    return re.sub(r"\d+(\.\d+)?", "#", line)


def job_summary(project: Project, job_id: int) -> tuple[str, str | None, str]:
    """Return a finished job's state, error and a one-line summary of its metrics."""
    with project.read() as session:
        job = queries.job_dict(session.get(Job, job_id))
    metrics = job["metrics"]
    if job["state"] == CANCELLED:
        summary = "cancelled; nothing was written"
    elif "stored" in metrics:
        summary = f"{metrics['stored']} proposals"
    elif "points" in metrics:
        summary = f"{metrics['points']} points projected"
    else:
        summary = job["state"]
    return job["state"], job["error"], summary
