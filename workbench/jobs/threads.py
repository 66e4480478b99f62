"""Thread limits of the BLAS, OpenMP and torch pools in trainer processes.

OpenBLAS and OpenMP threads spin while they wait for each other. On two
cores, a self-training job with two threads per pool took 13 times as long
as with one beside one busy process (BENCHMARKS.md, "Thread limits of
jobs"). The runner therefore starts every trainer with its pools limited
through the environment variables below, and the trainer limits torch to
the same count.

The limit comes from, in this order: the ``WORKBENCH_JOB_THREADS``
environment variable, the "Threads per job" setting, and the automatic
choice of :func:`automatic_threads`. A pool variable that is already set in
the environment keeps its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Overrides the setting and the automatic choice: a whole number, or "auto".
THREADS_VARIABLE = "WORKBENCH_JOB_THREADS"
# The setting's value for the automatic choice.
AUTOMATIC = 0
# Upper bound of a configured limit, there to catch typing errors.
MAX_THREADS = 1024
# Variables that size the thread pools of the libraries trainers load:
# OpenMP (torch's CPU pool, scikit-learn), OpenBLAS, MKL, BLIS, Apple
# Accelerate, numexpr and numba (UMAP).
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


class ThreadLimitError(ValueError):
    """An invalid thread limit; the message names the value and where it came from."""


@dataclass(frozen=True)
class ThreadLimit:
    """The threads per pool a trainer gets, and where that number came from."""

    count: int
    source: str

    def describe(self) -> str:
        unit = "thread" if self.count == 1 else "threads"
        return f"{self.count} {unit} per pool ({self.source})"


def usable_cores() -> int:
    """Return the CPU cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        # macOS and Windows have no sched_getaffinity.
        return max(1, os.cpu_count() or 1)


def automatic_threads(cores: int, running_jobs: int) -> int:
    """Return the automatic threads per pool for a job among ``running_jobs``.

    One core stays free for the window, its thumbnail workers and the rest
    of the machine, and the jobs running at once share the others. So a
    machine with one or two cores always gets one thread per pool.
    NOTE: only two cores were measured, where one thread per pool was never
    slower than two. The rule for more cores is an estimate.
    """
    return max(1, (cores - 1) // max(1, running_jobs))


def parse_threads(text: str, source: str) -> int:
    """Parse a thread limit: a whole number from 1 to MAX_THREADS, or "auto" (AUTOMATIC)."""
    value = text.strip().lower()
    if value == "auto":
        return AUTOMATIC
    try:
        count = int(value)
    except ValueError:
        count = None
    if count is None or not 1 <= count <= MAX_THREADS:
        raise ThreadLimitError(
            f"Invalid {source} {text!r}: use a whole number of threads from 1 to "
            f"{MAX_THREADS}, or 'auto' to let each job choose from the cores it may use.")
    return count


def choose_thread_limit(setting: int = AUTOMATIC, running_jobs: int = 1,
                        environ: Mapping[str, str] | None = None,
                        cores: int | None = None) -> ThreadLimit:
    """Return the thread limit of a job that starts beside ``running_jobs - 1`` others.

    ``setting`` is the "Threads per job" setting, AUTOMATIC or a count.
    Raises ThreadLimitError for an invalid ``WORKBENCH_JOB_THREADS``.
    """
    environ = os.environ if environ is None else environ
    text = environ.get(THREADS_VARIABLE, "").strip()
    if text:
        count = parse_threads(text, THREADS_VARIABLE)
        if count != AUTOMATIC:
            return ThreadLimit(count, f"set by {THREADS_VARIABLE}")
    elif setting != AUTOMATIC:
        return ThreadLimit(setting, "set in Settings")
    cores = usable_cores() if cores is None else cores
    count = automatic_threads(cores, running_jobs)
    jobs = "job" if running_jobs == 1 else "jobs"
    return ThreadLimit(count, f"automatic: {cores} usable cores, {running_jobs} {jobs} running")


def thread_environment(limit: ThreadLimit,
                       environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the variables that apply ``limit`` to a trainer started from ``environ``.

    A pool variable already set in ``environ`` is left out, so it keeps its
    value. ``WORKBENCH_JOB_THREADS`` always carries the resolved count, for
    the trainer's torch pool and its log.
    """
    environ = os.environ if environ is None else environ
    variables = {name: str(limit.count) for name in THREAD_VARIABLES if not environ.get(name)}
    variables[THREADS_VARIABLE] = str(limit.count)
    return variables
