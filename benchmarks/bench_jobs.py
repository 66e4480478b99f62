"""Every job kind through ``workbench job run`` on the Fashion-MNIST training images.

Builds a project of the 60,000 training images with ``workbench import
idx``, keeping N labels per class (picked with the seed). The ``embed``
job computes and caches the ``pixels-pca`` and ``pixels`` vectors (and
FixMatch's 28 x 28 pixels), and is recorded apart from the other jobs. After adding two path rules, the
script runs each job as a user would: ``python -m workbench job run KIND
PROJECT --json --param NAME=VALUE`` in a child process, which starts the
trainer process as its own child. Per job it records the wall time, and
the CPU time and peak RSS of the command and its trainer. Both come from
``os.wait4``, which folds in the children a process waited for. It also
records the job's state, error and metrics, the proposals it stored, and
their precision against the withheld labels in the project's truth.csv.

    python benchmarks/bench_jobs.py [--quick] [--project DIR] [--runs NAME ...]
        [--json docs/bench/jobs.json] [--merge]

``--project DIR`` builds the project there on the first run and reuses it
afterwards: the import is skipped when the folder contains a project, and the
embed jobs compute only vectors that are missing. Without Debian's
dataset-fashion-mnist package the script prints why it skipped and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_methods import DATASET, machine  # noqa: E402
from bench_throughput import code_version, load_average  # noqa: E402

TARGET_SECONDS = 600.0
QUICK_SIZE = 6_000
# Metric values whose JSON is longer than this are recorded as their length
# only (FixMatch's per-step history, the active-learning queue).
MAX_METRIC_CHARS = 2_000

# The cached spaces: pixels-pca is the default space of most jobs, pixels
# is co-training's default second view, and FixMatch reads its images as
# pixels at 28 x 28, cached under their own key.
EMBED_RUNS = (
    ("embed pixels-pca", "embed", {"space": "pixels-pca"}),
    ("embed pixels", "embed", {"space": "pixels"}),
    ("embed pixels@28", "embed", {"space": "pixels", "image_size": 28}),
)
# Name, job kind and the parameters that differ from the job's defaults.
JOB_RUNS = (
    ("self-training, logistic", "self-training", {"space": "pixels-pca", "head": "logistic"}),
    ("self-training, mlp", "self-training", {"space": "pixels-pca", "head": "mlp"}),
    ("self-training, logistic, pixels", "self-training", {"head": "logistic"}),
    ("co-training", "co-training", {}),
    ("label-propagation", "label-propagation", {}),
    ("noise", "noise", {}),
    ("few-shot", "few-shot", {}),
    ("active-learning", "active-learning", {}),
    ("active-learning, diversity", "active-learning", {"diversity": "true"}),
    ("projection, pca", "projection", {"method": "pca"}),
    ("projection, umap", "projection", {"method": "umap"}),
    ("projection, tsne", "projection", {"method": "tsne"}),
    ("rules", "rules", {}),
    ("fixmatch", "fixmatch", {}),
    ("fixmatch, 240 s budget", "fixmatch", {"time_budget": 240}),
    ("zero-shot", "zero-shot", {}),
    # The self-supervised spaces pretrain in the embed job itself, so these
    # are job rows rather than cached-vector set-up.
    ("embed simclr", "embed", {"space": "simclr"}),
    ("embed rotation", "embed", {"space": "rotation"}),
    ("self-training, logistic, simclr", "self-training", {"space": "simclr",
                                                          "head": "logistic"}),
    ("label-propagation, simclr", "label-propagation", {"space": "simclr"}),
)
# Two path rules on the file name. IDX images have no metadata and their
# paths carry no class, so these rules are wrong most of the time. They
# exist to time the rules job and its label model, not to label well.
RULES = (
    ("names ending in 0", {"pattern": r"0\.png$", "class": "Trouser",
                           "match": "regex", "field": "name"}),
    ("names ending in 5", {"pattern": "*5.png", "class": "Bag",
                           "match": "glob", "field": "name"}),
)


def _run_command(command: list[str], log_folder: Path, name: str,
                 timeout: float) -> dict:
    """Run ``command`` to its end or ``timeout``; return times, peak RSS and output files.

    On timeout the command gets SIGINT, which ``workbench job run`` turns
    into a cancel of its trainer, then SIGKILL to its process group after
    10 s more.
    """
    safe = "".join(c if c.isalnum() else "-" for c in name)
    stdout_path, stderr_path = log_folder / f"{safe}.jsonl", log_folder / f"{safe}.err"
    load_before = load_average()
    with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=ROOT,
                                   start_new_session=True)
        status, usage, timed_out = _wait(process, start + timeout)
        seconds = time.perf_counter() - start
    # os.wait4 reaped the process, so Popen must not wait for it again.
    process.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        # On Linux ru_maxrss is in KiB and covers the largest waited-for child.
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "exit_code": process.returncode,
        "timed_out": timed_out,
        "load_before": load_before,
        "load_after": load_average(),
        "stdout": stdout_path,
        "stderr": stderr_path,
    }


def _wait(process: subprocess.Popen, deadline: float):
    interrupted_at = None
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            return status, usage, interrupted_at is not None
        now = time.perf_counter()
        if interrupted_at is None and now > deadline:
            process.send_signal(signal.SIGINT)
            interrupted_at = now
        elif interrupted_at is not None and now > interrupted_at + 10.0:
            os.killpg(process.pid, signal.SIGKILL)
        time.sleep(0.2)


def _messages(stdout_path: Path) -> list[dict]:
    messages = []
    for line in stdout_path.read_text(errors="replace").splitlines():
        try:
            messages.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return messages


def _short_metrics(metrics: dict | None) -> dict:
    kept = {}
    for key, value in (metrics or {}).items():
        text = json.dumps(value, default=str)
        kept[key] = value if len(text) <= MAX_METRIC_CHARS else f"({len(text)} characters)"
    return kept


def _proposal_summary(project_folder: Path, job_id: int | None, truth: dict) -> dict:
    """Count a job's stored proposals and score them against the withheld labels."""
    from sqlalchemy import select

    from workbench.store import open_project
    from workbench.store.schema import Item, LabelClass, Proposal

    if job_id is None:
        return {"proposals": 0}
    with open_project(project_folder) as project, project.read() as session:
        rows = session.execute(
            select(Proposal.kind, Item.path, LabelClass.name)
            .join(Item, Item.id == Proposal.item_id)
            .join(LabelClass, LabelClass.id == Proposal.class_id)
            .where(Proposal.job_id == job_id)).all()
    summary: dict = {"proposals": len(rows)}
    judged = [(path, name) for kind, path, name in rows
              if kind != "noise" and path in truth]
    if judged:
        correct = sum(truth[path] == name for path, name in judged)
        summary["precision"] = round(correct / len(judged), 4)
    return summary


def job_command(kind: str, project: Path, params: dict) -> list[str]:
    """Return the `workbench job run ... --json` command line of one job."""
    command = [sys.executable, "-m", "workbench", "job", "run", kind, str(project), "--json"]
    for key, value in params.items():
        command += ["--param", f"{key}={value}"]
    return command


def run_job(project: Path, name: str, kind: str, params: dict, log_folder: Path,
            truth: dict, timeout: float) -> dict:
    command = job_command(kind, project, params)
    print(f"{name}: {' '.join(command[1:])}", flush=True)
    measured = _run_command(command, log_folder, name, timeout)
    messages = _messages(measured.pop("stdout"))
    stderr = measured.pop("stderr").read_text(errors="replace")
    started = next((m for m in messages if m.get("event") == "started"), {})
    finished = next((m for m in reversed(messages) if m.get("event") == "finished"), {})
    warnings = [m.get("message") for m in messages
                if m.get("event") == "log" and m.get("level") in ("warning", "error")]
    row = {
        "name": name, "kind": kind, "params": params, **measured,
        "state": finished.get("state", "no result"),
        "message": finished.get("error") or (stderr.strip().splitlines() or [""])[-1],
        "warnings": warnings[:5],
        "device": started.get("device"),
        **_proposal_summary(project, started.get("job"), truth),
        "metrics": _short_metrics(finished.get("metrics")),
        "date": date.today().isoformat(),
        "commit": code_version()["commit"],
        "under_target": (measured["seconds"] < TARGET_SECONDS
                         and finished.get("state") == "succeeded"),
    }
    print(f"  {row['state']} in {row['seconds']} s (CPU {row['cpu_seconds']} s), "
          f"peak {row['peak_rss_mb']} MiB, {row['proposals']} proposals"
          f"{', precision ' + str(row['precision']) if 'precision' in row else ''}"
          f"{': ' + row['message'][:200] if row['state'] != 'succeeded' else ''}",
          flush=True)
    return row


def merge_rows(earlier: list[dict], new: list[dict]) -> list[dict]:
    """Return ``earlier`` with the rows of ``new`` replacing those of the same name."""
    replaced = {row["name"]: row for row in new}
    merged = [replaced.pop(row["name"], row) for row in earlier]
    return merged + [row for row in new if row["name"] in replaced]


def build_project(project: Path, data: Path, size: int, labels_per_class: int,
                  seed: int) -> dict:
    """Import the training images unless ``project`` contains a project; add the rules."""
    if (project / "project.sqlite").exists():
        print(f"reusing the project in {project}", flush=True)
        return {"imported": False}
    command = [sys.executable, "-m", "workbench", "import", "idx", str(project), str(data),
               "--split", "train", "--labels-per-class", str(labels_per_class),
               "--seed", str(seed), "--json"]
    if size < 60_000:
        command += ["--limit", str(size)]
    print(f"importing {size:,} images into {project}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"import failed ({result.returncode}):\n{result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    return {"imported": True, "seconds": round(time.perf_counter() - start, 1),
            "added": report["added"], "labeled": report["labeled"]}


def add_rules(project_folder: Path) -> None:
    from sqlalchemy import select

    from workbench.store import open_project
    from workbench.store.actions import save_weak_source
    from workbench.store.schema import WeakSource

    with open_project(project_folder) as project:
        with project.read() as session:
            existing = set(session.scalars(select(WeakSource.name)))
        for name, definition in RULES:
            if name not in existing:
                save_weak_source(project, name, "path_rule", definition)


def project_counts(project_folder: Path) -> dict:
    from workbench.store import open_project, queries

    with open_project(project_folder) as project, project.read() as session:
        summary = queries.status(session)
    return {"items": summary["items"], "labeled": summary["labeled"]}


def read_truth(project_folder: Path) -> dict:
    truth_file = project_folder / "truth.csv"
    if not truth_file.exists():
        return {}
    with open(truth_file, newline="", encoding="utf-8") as handle:
        return {row["path"]: row["label"] for row in csv.DictReader(handle)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATASET,
                        help=f"Folder with the Fashion-MNIST IDX files. Default: {DATASET}.")
    parser.add_argument("--quick", action="store_true",
                        help=f"Import only the first {QUICK_SIZE:,} training images.")
    parser.add_argument("--size", type=int, default=60_000,
                        help="Training images to import (the first N). Default: all 60,000.")
    parser.add_argument("--labels-per-class", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0, help="Seed that picks the labels.")
    parser.add_argument("--project", type=Path,
                        help="Build the project here, or reuse the one already there. "
                             "Default: a temporary folder, deleted at the end.")
    parser.add_argument("--runs", nargs="+", metavar="NAME",
                        help="Run only these jobs (names as in the JSON, for example "
                             "'noise' 'projection, tsne'). The embed jobs always run.")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="Seconds after which a job is cancelled and recorded as timed "
                             "out. Default: 1800.")
    parser.add_argument("--json", type=Path,
                        help="Output file. Default: docs/bench/jobs.json, or "
                             "docs/bench/jobs-quick.json with --quick.")
    parser.add_argument("--merge", action="store_true",
                        help="Keep the rows of the output file and replace only those of "
                             "the jobs run now. Each row names the commit it ran.")
    args = parser.parse_args(argv)

    size = QUICK_SIZE if args.quick else args.size
    output = args.json or ROOT / "docs/bench" / ("jobs-quick.json" if args.quick
                                                 else "jobs.json")
    if not any((args.data / f"train-images-idx3-ubyte{gz}").exists() for gz in ("", ".gz")):
        print(f"skipped: no train-images-idx3-ubyte[.gz] in {args.data}; install it with "
              "'apt-get install dataset-fashion-mnist'")
        return 0
    known = {name for name, _, _ in JOB_RUNS}
    unknown = set(args.runs or ()) - known
    if unknown:
        parser.error(f"unknown runs {sorted(unknown)}; use some of {sorted(known)}")
    runs = [run for run in JOB_RUNS if not args.runs or run[0] in args.runs]

    scratch = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    project = args.project or scratch / "project"
    report = {
        "script": "benchmarks/bench_jobs.py", "argv": sys.argv[1:],
        "machine": machine(), "date": date.today().isoformat(),
        "code": code_version(), "target_seconds": TARGET_SECONDS,
        "labels_per_class": args.labels_per_class, "seed": args.seed,
        "started": datetime.now().isoformat(timespec="seconds"),
        "load_before": load_average(),
    }

    previous = json.loads(output.read_text()) if args.merge and output.exists() else {}
    earlier, earlier_embed = previous.get("rows", []), previous.get("embed", [])

    def save(rows: list[dict]) -> None:
        report["rows"] = merge_rows(earlier, rows)
        report["load_after"] = load_average()
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2, default=str) + "\n")

    try:
        report["import"] = build_project(project, args.data, size, args.labels_per_class,
                                         args.seed)
        add_rules(project)
        report["project"] = project_counts(project)
        truth = read_truth(project)
        embed = [run_job(project, name, kind, params, scratch, truth, args.timeout)
                 for name, kind, params in EMBED_RUNS]
        # In a reused project an embed job finds its vectors cached, so the
        # row of the run that computed them is the one worth keeping.
        computed = [row for row in embed if row["metrics"].get("computed")]
        report["embed"] = merge_rows(earlier_embed, computed) if args.merge else embed
        if args.merge and not report["import"]["imported"] and "import" in previous:
            report["import"] = previous["import"]
        rows: list[dict] = []
        for name, kind, params in runs:
            rows.append(run_job(project, name, kind, params, scratch, truth, args.timeout))
            save(rows)
        save(rows)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
