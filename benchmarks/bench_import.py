"""Time the Fashion-MNIST import: IDX to 60,000 PNG files plus their rows.

Runs ``workbench import idx`` as a user would, in a fresh project, and
reports the wall time and the peak memory of that process. A second run
times an incremental import that finds every image already there.
Every label is kept, so the run also writes 60,000 label events (the
largest write an IDX import does).

    python benchmarks/bench_import.py [--split train] [--keep DIR] [--json]

The files come from Debian's dataset-fashion-mnist package; without them
the script prints why it skipped and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATASET = Path("/usr/share/datasets/fashion-mnist")
TARGET_SECONDS = 60.0
TARGET_PEAK_MB = 1024.0


def _run_import(project: Path, images: Path, split: str) -> tuple[float, float, dict]:
    """Run one import in a child process; return seconds, peak MiB and the report."""
    command = [sys.executable, "-m", "workbench", "import", "idx", str(project), str(images),
               "--split", split, "--labeled-fraction", "1.0", "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"import failed ({result.returncode}):\n{result.stderr}")
    # ru_maxrss of the children is the largest child's peak, in KiB on Linux.
    peak_kib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before)
    return seconds, peak_kib / 1024.0, json.loads(result.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=DATASET,
                        help=f"Folder with the IDX files. Default: {DATASET}.")
    parser.add_argument("--split", choices=("train", "test"), default="train")
    parser.add_argument("--keep", type=Path, help="Build the project here and keep it.")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON.")
    args = parser.parse_args(argv)

    prefix = "train" if args.split == "train" else "t10k"
    if not any((args.images / f"{prefix}-images-idx3-ubyte{gz}").exists() for gz in ("", ".gz")):
        print(f"skipped: no {prefix}-images-idx3-ubyte[.gz] in {args.images}; install it with "
              "'apt-get install dataset-fashion-mnist'")
        return 0
    scratch = None
    if args.keep is None:
        scratch = Path(tempfile.mkdtemp(prefix="bench-import-"))
        project = scratch / "project"
    else:
        project = args.keep
        if project.exists():
            sys.exit(f"{project} exists; give a new folder to --keep.")
    try:
        seconds, peak_mb, report = _run_import(project, args.images, args.split)
        again_s, _, again = _run_import(project, args.images, args.split)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    results = {
        "images": report["added"], "labeled": report["labeled"],
        "seconds": round(seconds, 1), "peak_mb": round(peak_mb),
        "reimport_seconds": round(again_s, 1), "reimport_skipped": len(again["skipped"]),
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "within_target": seconds < TARGET_SECONDS and peak_mb < TARGET_PEAK_MB,
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{results['images']:,} images ({results['labeled']:,} labeled) in "
              f"{results['seconds']} s, peak {results['peak_mb']} MiB on {results['cpus']} "
              f"CPUs; re-import skipped {results['reimport_skipped']:,} in "
              f"{results['reimport_seconds']} s. Target: under {TARGET_SECONDS:.0f} s and "
              f"{TARGET_PEAK_MB:.0f} MiB: {'met' if results['within_target'] else 'MISSED'}.")
    return 0 if results["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
