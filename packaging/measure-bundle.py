"""Measure the built bundle: size, archive size, build time and start times.

Usage: ``.venv/bin/python packaging/measure-bundle.py [--runs N]`` after
``make bundle``. It unpacks the archive into a temporary folder, starts the
unpacked ``workbench --smoke-test`` N times with empty user folders, and
prints a Markdown table for the Bundle section of BENCHMARKS.md (and the
raw numbers as JSON to build/bundle-measure.json).

The start time is the wall time from starting the executable to the smoke
test's "window shown" line. The first run after unpacking is reported as the
cold start. The operating system's file cache is not dropped, so the files
were read from memory if they were still cached from unpacking.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
MIB = 1024 * 1024
WINDOW_LINE = "smoke test: window shown"
# Files that only the CUDA build of torch has; the CPU-only build lacks them.
CUDA_ONLY = ("nvidia/", "cuda/", "torch/lib/libtorch_cuda", "torch/lib/libc10_cuda",
             "torch/lib/libtorch_nvshmem", "torch/lib/libcaffe2_nvrtc")


def folder_sizes(folder: Path) -> tuple[int, int, dict[str, int], int]:
    """Return total bytes, file count, bytes per top entry of _internal, CUDA-only bytes."""
    total = count = cuda = 0
    parts: dict[str, int] = {}
    internal = folder / "_internal"
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        total += size
        count += 1
        if internal in path.parents:
            relative = path.relative_to(internal).as_posix()
            top = relative.split("/", 1)[0]
            parts[top] = parts.get(top, 0) + size
            if relative.startswith(CUDA_ONLY):
                cuda += size
    return total, count, parts, cuda


def time_start(executable: Path, home: Path) -> dict:
    """Run the smoke test once; return seconds to the window and to exit, and its report."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("XDG_", "PYTHON", "WORKBENCH_"))}
    env.update(HOME=str(home), QT_QPA_PLATFORM="offscreen")
    started = time.perf_counter()
    process = subprocess.Popen([str(executable), "--smoke-test", "--json"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    window_s = None
    lines = []
    for line in process.stdout:
        if window_s is None and line.startswith(WINDOW_LINE):
            window_s = time.perf_counter() - started
        lines.append(line)
    code = process.wait()
    total_s = time.perf_counter() - started
    text = "".join(lines)
    report = json.loads(text[text.index("{"):]) if "{" in text else {}
    if code != 0 or window_s is None:
        raise SystemExit(f"The bundle's smoke test failed (exit code {code}):\n{text}")
    return {"window_s": window_s, "total_s": total_s, "report": report}


def newest_archive() -> Path:
    archives = sorted(DIST.glob("workbench-*-linux-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not archives:
        raise SystemExit("No bundle archive in dist/; run 'make bundle' first.")
    return archives[-1]


def measure(runs: int) -> dict:
    total, count, parts, cuda = folder_sizes(DIST / "workbench")
    archive = newest_archive()
    timings_file = ROOT / "build" / "bundle-timings.json"
    build = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    with tempfile.TemporaryDirectory(prefix="workbench-measure-") as scratch:
        scratch_path = Path(scratch)
        unpack_started = time.perf_counter()
        with tarfile.open(archive) as tar:
            tar.extractall(scratch_path, filter="tar")
        unpack_s = time.perf_counter() - unpack_started
        executable = scratch_path / "workbench" / "workbench"
        starts = [time_start(executable, scratch_path / f"home-{i}") for i in range(runs)]
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "bundle_mib": total / MIB, "files": count, "cuda_only_mib": cuda / MIB,
        "parts_mib": {name: size / MIB for name, size in sorted(
            parts.items(), key=lambda item: -item[1])[:8]},
        "archive": archive.name, "archive_mib": archive.stat().st_size / MIB,
        "unpack_s": unpack_s, "build": build, "starts": starts,
    }


def markdown(result: dict) -> str:
    starts = result["starts"]
    warm = starts[1:] or starts
    report = starts[0]["report"]
    job_s = report.get("job_finished_s", 0) - report.get("project_opened_s", 0)
    build = result["build"]
    rows = [
        ("Bundle folder (dist/workbench)", f"{result['bundle_mib']:,.0f} MiB in {result['files']:,} files"),
        ("of which CUDA libraries", f"{result['cuda_only_mib']:,.0f} MiB"),
        ("Without them (estimate for a CPU-only torch)",
         f"{result['bundle_mib'] - result['cuda_only_mib']:,.0f} MiB"),
        (f"Archive ({result['archive']})", f"{result['archive_mib']:,.0f} MiB"),
        ("Build: PyInstaller", f"{build.get('pyinstaller_s', '?')} s"),
        ("Build: archive", f"{build.get('archive_s', '?')} s"),
        ("Unpack the archive", f"{result['unpack_s']:.0f} s"),
        ("Cold start to window (first run after unpacking)", f"{starts[0]['window_s']:.2f} s"),
        ("Warm start to window (median of later runs)",
         f"{sorted(r['window_s'] for r in warm)[len(warm) // 2]:.2f} s"),
        ("Smoke test, whole run (first run)", f"{starts[0]['total_s']:.1f} s"),
        ("Smoke-test job in the bundle (torch import included)", f"{job_s:.1f} s"),
    ]
    lines = ["| what | measured |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines.append("")
    lines.append("Largest parts of `_internal/`: " + ", ".join(
        f"{name} {size:,.0f} MiB" for name, size in result["parts_mib"].items()) + ".")
    lines.append(f"Machine: {result['machine']}; {len(starts)} smoke-test runs.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3,
                        help="Smoke-test runs; the first is the cold start. Default: 3.")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be 1 or more, got {args.runs}")
    if not (DIST / "workbench" / "workbench").exists():
        raise SystemExit("dist/workbench/workbench not found; run 'make bundle' first.")
    result = measure(args.runs)
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "bundle-measure.json").write_text(json.dumps(result, indent=2, default=str))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
