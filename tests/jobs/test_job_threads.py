"""Thread limits of trainer processes: the choice, its overrides and what the trainer ran under."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from sqlalchemy import func, select

from tests.jobs.jobhelpers import workbench
from workbench.jobs import runner
from workbench.jobs.threads import (
    THREAD_VARIABLES,
    THREADS_VARIABLE,
    ThreadLimitError,
    automatic_threads,
    choose_thread_limit,
    parse_threads,
    thread_environment,
    usable_cores,
)
from workbench.settings import Settings, SettingsError, load_settings, save_settings
from workbench.store.schema import Job

# Projection with PCA loads OpenBLAS and OpenMP through scikit-learn and
# ends in about 2 s on the digits demo; the MLP head also loads torch.
PCA_JOB = ("projection", {"method": "pca"})
TORCH_JOB = ("self-training", {"head": "mlp", "epochs": 1, "rounds": 1,
                               "space": "pixels-pca"})


@pytest.fixture
def clean_environment(monkeypatch):
    """Remove every thread variable a developer may have set in the test's environment."""
    for name in (*THREAD_VARIABLES, THREADS_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run_with_messages(project, kind, params, threads_per_job=0) -> list[dict]:
    job_id = runner.create_job(project, kind, params)
    messages: list[dict] = []
    state = runner.run_job(project, job_id, messages.append, threads_per_job=threads_per_job)
    assert state == "succeeded", messages
    return messages


def started_threads(messages: list[dict]) -> int | None:
    return next(m for m in messages if m["event"] == "started")["threads"]


def log_lines(messages: list[dict]) -> list[str]:
    return [m["message"] for m in messages if m["event"] == "log"]


def end_pools(messages: list[dict]) -> dict[str, int]:
    """Return the pool sizes the trainer reported at its end, such as {"openblas": 1}."""
    line = next(text for text in log_lines(messages)
                if text.startswith("Thread pools at the end: "))
    pools: dict[str, int] = {}
    for name, count in re.findall(r"(\w+) (\d+)", line.split(": ", 1)[1]):
        pools[name] = max(pools.get(name, 0), int(count))
    return pools


@pytest.mark.parametrize(("cores", "running", "expected"), [
    (1, 1, 1), (2, 1, 1), (2, 2, 1), (4, 1, 3), (16, 1, 15), (16, 3, 5), (16, 40, 1),
])
def test_automatic_threads_table(cores, running, expected):
    assert automatic_threads(cores, running) == expected


def test_limit_precedence():
    automatic = choose_thread_limit(4, 1, environ={THREADS_VARIABLE: "auto"}, cores=8)
    assert automatic.count == 7
    assert automatic.source == "automatic: 8 usable cores, 1 job running"
    from_setting = choose_thread_limit(4, 1, environ={}, cores=8)
    assert (from_setting.count, from_setting.source) == (4, "set in Settings")
    from_variable = choose_thread_limit(4, 1, environ={THREADS_VARIABLE: " 3 "}, cores=8)
    assert (from_variable.count, from_variable.source) == (3, f"set by {THREADS_VARIABLE}")
    shared = choose_thread_limit(0, 2, environ={}, cores=8)
    assert shared.count == 3


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5", "", "1025"])
def test_parse_rejects_invalid_values(text):
    with pytest.raises(ThreadLimitError) as error:
        parse_threads(text, THREADS_VARIABLE)
    assert f"Invalid {THREADS_VARIABLE} {text!r}" in str(error.value)
    assert "from 1 to 1024, or 'auto'" in str(error.value)


def test_environment_keeps_user_variables():
    limit = choose_thread_limit(2, 1, environ={})
    variables = thread_environment(limit, {"OMP_NUM_THREADS": "3", "PATH": "/bin"})
    assert "OMP_NUM_THREADS" not in variables
    assert variables["OPENBLAS_NUM_THREADS"] == "2"
    assert variables["MKL_NUM_THREADS"] == "2"
    assert variables[THREADS_VARIABLE] == "2"
    assert "PATH" not in variables


def test_settings_threads_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    save_settings(Settings(job_threads=3), path)
    assert load_settings(path).job_threads == 3
    assert Settings().job_threads == 0


@pytest.mark.parametrize("value", [-1, 1025, "4", 2.0, True])
def test_settings_reject_invalid_threads(value):
    with pytest.raises(SettingsError) as error:
        Settings(job_threads=value).validate()
    assert f"Invalid threads per job {value!r}" in str(error.value)
    assert ": use 0 for automatic or a whole number from 1 to 1024" in str(error.value)


@pytest.mark.slow
def test_trainer_runs_under_automatic_limit(demo_project, clean_environment):
    messages = run_with_messages(demo_project, *PCA_JOB)
    expected = automatic_threads(usable_cores(), 1)
    assert started_threads(messages) == expected
    assert f"Thread pools limited to {expected} thread" in log_lines(messages)[0]
    pools = end_pools(messages)
    assert pools["openblas"] == expected
    assert pools["openmp"] == expected
    with demo_project.read() as session:
        log_path = session.scalars(select(Job.log_path).order_by(Job.id.desc())).first()
    assert f"{expected} threads per pool" in open(log_path, encoding="utf-8").read()


@pytest.mark.slow
def test_setting_sets_pool_sizes(demo_project, clean_environment):
    messages = run_with_messages(demo_project, *PCA_JOB, threads_per_job=2)
    assert started_threads(messages) == 2
    # OpenBLAS caps its pool at the core count (seen with 0.3.30 and 0.3.31).
    assert end_pools(messages)["openblas"] == min(2, usable_cores())
    assert end_pools(messages)["openmp"] == 2


@pytest.mark.slow
def test_override_keeps_user_pool_variable(demo_project, clean_environment):
    clean_environment.setenv(THREADS_VARIABLE, "2")
    clean_environment.setenv("OMP_NUM_THREADS", "1")
    messages = run_with_messages(demo_project, *PCA_JOB, threads_per_job=5)
    assert started_threads(messages) == 2
    assert log_lines(messages)[0] == ("Thread pools limited to 2 threads each; "
                                      "kept from the environment: OMP_NUM_THREADS=1")
    assert end_pools(messages)["openmp"] == 1


@pytest.mark.slow
def test_torch_pool_follows_limit(demo_project, clean_environment):
    clean_environment.setenv(THREADS_VARIABLE, "1")
    messages = run_with_messages(demo_project, *TORCH_JOB)
    assert "torch uses 1 CPU thread" in log_lines(messages)
    assert end_pools(messages)["torch"] == 1


@pytest.mark.slow
def test_trainer_without_count_reports_it(demo_project, clean_environment):
    job_id = runner.create_job(demo_project, *PCA_JOB)
    env = runner.trainer_environment()
    del env[THREADS_VARIABLE]
    result = subprocess.run(runner.trainer_command(demo_project, job_id),
                            capture_output=True, text=True, env=env, timeout=120)
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    assert started_threads(messages) is None
    assert log_lines(messages)[0].startswith("Thread pools not limited")


def test_invalid_variable_creates_no_job(demo_project, clean_environment):
    clean_environment.setenv(THREADS_VARIABLE, "many")
    with pytest.raises(runner.JobError, match=f"Invalid {THREADS_VARIABLE} 'many'"):
        runner.create_job(demo_project, *PCA_JOB)
    with demo_project.read() as session:
        assert session.scalar(select(func.count(Job.id))) == 0


def test_invalid_variable_message_on_command_line(demo_folder, clean_environment):
    clean_environment.setenv(THREADS_VARIABLE, "0")
    result = workbench("job", "run", "projection", demo_folder, "--method", "pca")
    assert result.returncode == 2
    assert f"workbench: Invalid {THREADS_VARIABLE} '0'" in result.stderr
