"""The window started as ``workbench open`` quits on signals, and its workers do not outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

START_TIMEOUT_S = 120
EXIT_TIMEOUT_S = 30


def _children(pid: int) -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    return children


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc for child processes")
@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_window_quits_on_signal(demo_folder, number):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    process = subprocess.Popen([sys.executable, "-m", "workbench", "open", str(demo_folder)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: set[int] = set()
    try:
        # The thumbnail workers start once the grid paints, after the handlers are set.
        deadline = time.monotonic() + START_TIMEOUT_S
        while not workers and time.monotonic() < deadline and process.poll() is None:
            workers = _children(process.pid)
            time.sleep(0.2)
        assert workers, "the window started no worker process"
        time.sleep(1.0)
        workers = _children(process.pid)
        process.send_signal(number)
        _, stderr = process.communicate(timeout=EXIT_TIMEOUT_S)
        # A killed window shuts nothing down, so its workers must notice on their own.
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in workers if _alive(pid)]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        # Workers of a window that did not shut down outlive it, orphaned.
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert left == []
    if number != signal.SIGKILL:
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr
