"""Time trainer jobs with one thread per pool and one per core, idle and beside a busy peer.

Builds (or reuses) a project of the first N Fashion-MNIST training images
with 10 labels per class and caches their ``pixels-pca`` vectors. Then it
runs each job as a user would, ``python -m workbench job run KIND PROJECT
--json``, with every BLAS, OpenMP and torch thread pool of the trainer set
to one thread or to the usable cores' count through the environment
(``WORKBENCH_JOB_THREADS``, ``OMP_NUM_THREADS`` and the others in
``workbench.jobs.threads``). Each of those runs once with no peer and once
beside a peer process that keeps one core busy with a pure-Python loop, at
the same ``nice`` level as the job. The order is interleaved, so every
repeat measures all the combinations at about the same time. With
``--wait-idle`` each repeat starts only once the machine is idle, and the
JSON records how many cores were busy before each repeat.

    python benchmarks/bench_job_threads.py [--size 6000] [--project DIR]
        [--jobs NAME ...] [--repeats 3] [--peers 0 1] [--timeout 60]
        [--wait-idle SECONDS] [--json docs/bench/job-threads.json]

Wall time is the whole command, from Python's start to the results
written. CPU time is the command's and its trainer's, from
``getrusage(RUSAGE_CHILDREN)``.
A run that passes ``--timeout`` seconds is cancelled (SIGINT, which the
command line turns into a cancel of its trainer) and counted at the
timeout, so its median is a lower bound. Without Debian's
dataset-fashion-mnist package the script prints why it skipped and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_jobs import _messages as read_messages  # noqa: E402
from bench_jobs import build_project, job_command  # noqa: E402
from bench_methods import DATASET, machine  # noqa: E402
from bench_throughput import code_version, load_average  # noqa: E402

from workbench.jobs.threads import (  # noqa: E402
    THREAD_VARIABLES,
    THREADS_VARIABLE,
    usable_cores,
)

# Name, job kind and the parameters that differ from the job's defaults.
# The logistic head and noise run on scikit-learn and OpenBLAS, while the
# MLP head trains with torch (one round of 50 epochs, to keep the run short).
JOBS = {
    "self-training, logistic": ("self-training", {"space": "pixels-pca", "head": "logistic"}),
    "noise": ("noise", {}),
    "self-training, mlp": ("self-training", {"space": "pixels-pca", "head": "mlp",
                                             "rounds": 1, "epochs": 50}),
}
BUSY_LOOP = "while True:\n    pass\n"


def busy_cores(seconds: float = 5.0) -> float | None:
    """Return how many cores were busy on average over ``seconds``, from /proc/stat.

    Returns None where /proc/stat is missing (not Linux).
    """
    def read() -> tuple[int, int]:
        # The first line sums every core: user, nice, system, idle, iowait, ...
        counters = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return counters[3] + counters[4], sum(counters)

    try:
        idle_before, total_before = read()
        time.sleep(seconds)
        idle_after, total_after = read()
    except OSError:
        return None
    share = 1 - (idle_after - idle_before) / max(1, total_after - total_before)
    return round(share * (os.cpu_count() or 1), 2)


def wait_until_idle(timeout: float, threshold: float = 0.2) -> float | None:
    """Wait up to ``timeout`` seconds for a 5 s sample with under ``threshold`` busy cores.

    Returns the last sample, so a caller can tell whether the wait ended idle.
    """
    deadline = time.monotonic() + timeout
    sample = busy_cores()
    while sample is not None and sample >= threshold and time.monotonic() < deadline:
        print(f"waiting for an idle machine: {sample} cores busy", flush=True)
        time.sleep(10.0)
        sample = busy_cores()
    return sample


def thread_environment(threads: int) -> dict[str, str]:
    """Return this process's environment with every trainer thread pool set to ``threads``."""
    env = dict(os.environ)
    for name in (*THREAD_VARIABLES, THREADS_VARIABLE):
        env[name] = str(threads)
    return env


def start_busy_peers(count: int) -> list[subprocess.Popen]:
    peers = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    # Let the scheduler see the peers as running before the job starts.
    time.sleep(0.5)
    return peers


def stop_busy_peers(peers: list[subprocess.Popen]) -> None:
    for peer in peers:
        peer.kill()
        peer.wait()


def wait_or_cancel(process: subprocess.Popen, timeout: float) -> bool:
    """Wait for ``process``; past ``timeout`` send SIGINT, and SIGKILL 10 s later.

    Returns whether the timeout passed.
    """
    try:
        process.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(10.0)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return True


def run_once(project: Path, kind: str, params: dict, threads: int, peer_count: int,
             timeout: float, scratch: Path) -> dict:
    """Time one job with ``threads`` per pool beside ``peer_count`` busy peers."""
    command = job_command(kind, project, params)
    load_before = load_average()
    peers = start_busy_peers(peer_count)
    stdout_path = scratch / "job.jsonl"
    try:
        # The peers are not reaped yet, so this difference covers only the
        # command and the trainer it waited for.
        usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(stdout_path, "w") as stdout:
            start = time.perf_counter()
            process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.DEVNULL,
                                       cwd=ROOT, env=thread_environment(threads),
                                       start_new_session=True)
            timed_out = wait_or_cancel(process, timeout)
            seconds = time.perf_counter() - start
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        stop_busy_peers(peers)
    cpu_seconds = (usage.ru_utime - usage_before.ru_utime
                   + usage.ru_stime - usage_before.ru_stime)
    messages = read_messages(stdout_path)
    started = next((m for m in messages if m.get("event") == "started"), {})
    finished = next((m for m in reversed(messages) if m.get("event") == "finished"), {})
    return {
        "threads": threads, "peers": peer_count,
        "seconds": round(min(seconds, timeout) if timed_out else seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "timed_out": timed_out,
        "exit_code": process.returncode,
        "state": finished.get("state", "no result"),
        "reported_threads": started.get("threads"),
        "load_before": load_before,
    }


def summarize(runs: list[dict]) -> list[dict]:
    """Return the median wall and CPU time per job, thread count and peer count."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((run["job"], run["threads"], run["peers"]), []).append(run)
    rows = []
    for (job, threads, peers), group in groups.items():
        rows.append({
            "job": job, "threads": threads, "peers": peers, "repeats": len(group),
            "median_seconds": round(statistics.median(r["seconds"] for r in group), 2),
            "median_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in group), 2),
            "timed_out": sum(r["timed_out"] for r in group),
            "states": sorted({r["state"] for r in group}),
        })
    return rows


HEADER = ("| job | threads per pool | busy peers | repeats | median wall | median CPU "
          "| to 1 thread, same peers | to no peer, same threads |")


def markdown(rows: list[dict], timeout: float) -> str:
    """Return a table of medians with ratios to one thread and to no busy peer."""
    one_thread = {(r["job"], r["peers"]): r["median_seconds"]
                  for r in rows if r["threads"] == 1}
    no_peer = {(r["job"], r["threads"]): r["median_seconds"]
               for r in rows if r["peers"] == 0}
    lines = [HEADER, "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        seconds = row["median_seconds"]
        wall = f"{seconds:.1f} s"
        if row["timed_out"]:
            wall += f" ({row['timed_out']} over {timeout:.0f} s)"
        ratios = []
        for base in (one_thread.get((row["job"], row["peers"])),
                     no_peer.get((row["job"], row["threads"]))):
            ratios.append(f"{seconds / base:.2f}" if base else "")
        lines.append(f"| {row['job']} | {row['threads']} | {row['peers']} | {row['repeats']} "
                     f"| {wall} | {row['median_cpu_seconds']:.1f} s | {ratios[0]} "
                     f"| {ratios[1]} |")
    return "\n".join(lines)


def embed_features(project: Path) -> None:
    command = [sys.executable, "-m", "workbench", "job", "run", "embed", str(project),
               "--param", "space=pixels-pca"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"embed job failed ({result.returncode}):\n{result.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASET,
                        help=f"Folder with the Fashion-MNIST IDX files. Default: {DATASET}.")
    parser.add_argument("--size", type=int, default=6_000,
                        help="Training images to import (the first N). Default: 6,000.")
    parser.add_argument("--project", type=Path,
                        help="Build the project here, or reuse the one already there. "
                             "Default: a temporary folder, deleted at the end.")
    parser.add_argument("--jobs", nargs="+", choices=sorted(JOBS), default=list(JOBS)[:1],
                        metavar="NAME",
                        help=f"Jobs to time, of: {', '.join(JOBS)}. "
                             "Default: the first one.")
    parser.add_argument("--threads", nargs="+", type=int,
                        help="Threads per pool to compare. Default: 1 and the usable "
                             "cores' count.")
    parser.add_argument("--peers", nargs="+", type=int, default=[0, 1],
                        help="Busy peer processes to run beside each job; each keeps one "
                             "core busy. Default: 0 1.")
    parser.add_argument("--repeats", type=int, default=3,
                        help="Runs of each combination. Default: 3.")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="Seconds after which a run is cancelled and counted at this "
                             "time. Default: 60.")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="Before each repeat, wait up to this many seconds for the "
                             "cores to be idle (under 0.2 busy over 5 s). Default: 0, no "
                             "wait.")
    parser.add_argument("--json", type=Path, default=ROOT / "docs/bench/job-threads.json",
                        help="Output file. Default: docs/bench/job-threads.json.")
    args = parser.parse_args(argv)

    if not any((args.data / f"train-images-idx3-ubyte{gz}").exists() for gz in ("", ".gz")):
        print(f"skipped: no train-images-idx3-ubyte[.gz] in {args.data}; install it with "
              "'apt-get install dataset-fashion-mnist'")
        return 0
    cores = usable_cores()
    thread_counts = args.threads or sorted({1, cores})
    scratch = Path(tempfile.mkdtemp(prefix="bench-job-threads-"))
    project = args.project or scratch / "project"
    report = {
        "script": "benchmarks/bench_job_threads.py", "argv": sys.argv[1:],
        "machine": machine(), "usable_cores": cores, "date": date.today().isoformat(),
        "code": code_version(), "size": args.size,
        "started": datetime.now().isoformat(timespec="seconds"),
        "load_before": load_average(), "busy_cores_before_repeat": [],
    }
    runs: list[dict] = []
    try:
        report["import"] = build_project(project, args.data, args.size, 10, 0)
        embed_features(project)
        for repeat in range(args.repeats):
            busy_before = wait_until_idle(args.wait_idle) if args.wait_idle else busy_cores()
            report["busy_cores_before_repeat"].append(busy_before)
            print(f"repeat {repeat + 1}: {busy_before} cores busy before it", flush=True)
            for name in args.jobs:
                kind, params = JOBS[name]
                for peers in args.peers:
                    for threads in thread_counts:
                        run = {"job": name, "repeat": repeat,
                               **run_once(project, kind, params, threads, peers,
                                          args.timeout, scratch)}
                        runs.append(run)
                        print(f"{name}, {threads} threads, {peers} peers: {run['state']} in "
                              f"{run['seconds']} s (CPU {run['cpu_seconds']} s), load "
                              f"{run['load_before'][0]}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report["load_after"] = load_average()
    report["runs"] = runs
    report["summary"] = summarize(runs)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(markdown(report["summary"], args.timeout))
    print(f"load average {report['load_before']} before, {report['load_after']} after; "
          f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
