"""`workbench job run KIND PROJECT --help`: every parameter with its type, default, choices and range."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench.jobs.specs import JOB_KINDS


def _help_lines(kind: str, tmp_path) -> dict[str, str]:
    """Return the help text of each --option, its wrapped lines joined into one."""
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "job", "run", kind, str(tmp_path / "p"), "--help"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    entries: dict[str, str] = {}
    option = None
    for line in result.stdout.split("options:", 1)[1].splitlines():
        stripped = line.strip()
        if stripped.startswith("--"):
            option = stripped.split()[0]
            entries[option] = stripped
        elif option is not None and stripped:
            entries[option] += " " + stripped
    return entries


@pytest.mark.parametrize("kind", ["self-training", "noise", "embed"])
def test_job_help_lists_param_limits(kind, tmp_path):
    lines = _help_lines(kind, tmp_path)
    for param in JOB_KINDS[kind].params:
        line = lines[f"--{param.name.replace('_', '-')}"]
        assert "Default:" in line, line
        if param.choices is not None:
            assert f"Choices: {', '.join(param.choices)}." in line, line
        else:
            assert "Type: " in line, line
        if param.minimum is not None:
            assert str(param.minimum) in line.split("Range:")[1], line
        if param.maximum is not None:
            assert str(param.maximum) in line.split("Range:")[1], line


def test_job_help_threshold_range(tmp_path):
    line = _help_lines("self-training", tmp_path)["--threshold"]
    assert "Type: number." in line
    assert "Default: 0.9." in line
    assert "Range: 0.0 to 1.0." in line
