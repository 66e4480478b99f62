"""The ``workbench`` command line; it runs the same code paths as the window."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from workbench.logs import setup_logging
from workbench.paths import prepare_bundle_environment
from workbench.smoke import FLAG as SMOKE_TEST_FLAG

log = logging.getLogger(__name__)


def default_demo_folder() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("workbench")) / "demo-digits"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def cmd_demo(args) -> int:
    from workbench.ingest.demo import build_demo

    folder = args.project or default_demo_folder()
    project, report = build_demo(folder, labels_per_class=args.labels_per_class, seed=args.seed)
    if report is None:
        print(f"Reopened the demo project in {project.folder}")
    else:
        print(f"Built the demo project in {project.folder}: {report.summary()}")
    project.close()
    if args.no_gui:
        return 0
    return _open_window(project.folder)


def _print_report(report, as_json: bool) -> None:
    if as_json:
        _print_json(report.as_dict())
    else:
        print(report.summary())


def _first_missing_folder(folder: Path) -> Path | None:
    """Return the highest folder on the way to ``folder`` that does not exist yet."""
    missing = None
    while not folder.exists():
        missing, folder = folder, folder.parent
    return missing


def _remove_created(folder: Path, new_root: Path | None, before: set[str]) -> str:
    """Delete what creating the project added and return a sentence that lists it."""
    if new_root is not None:
        shutil.rmtree(new_root, ignore_errors=True)
        return f"Removed {new_root}, which this command created."
    added = sorted(set(os.listdir(folder)) - before)
    for name in added:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return f"Removed what this command created in {folder}: {', '.join(added)}."


@contextmanager
def _import_target(folder: Path) -> Iterator:
    """Open the project to import into, creating it when missing.

    When this command created the project and the import raises (an error,
    a cancel or Ctrl+C) with no item in the project, everything the command
    created is removed and the exception gets a ``cleanup_note`` saying so.
    A folder or project that existed before is never removed.
    """
    from workbench.store import open_project, queries
    from workbench.store.engine import DB_NAME

    folder = folder.expanduser().resolve()
    new_root = _first_missing_folder(folder)
    created = not (folder / DB_NAME).exists()
    before = set() if new_root is not None or not folder.is_dir() else set(os.listdir(folder))
    project = open_project(folder, create=True)
    try:
        yield project
    except BaseException as exc:
        empty = False
        if created:
            try:
                with project.read() as session:
                    empty = queries.item_count(session) == 0
            except Exception:  # noqa: BLE001 - an unreadable project is left as it is
                log.exception("Cannot count the items of %s; keeping it", folder)
        project.close()
        if empty:
            exc.cleanup_note = _remove_created(folder, new_root, before)
        raise
    project.close()


def cmd_import_folder(args) -> int:
    from workbench.ingest.folder import import_folder
    from workbench.ingest.progress import tqdm_progress

    if not args.path.is_dir():
        raise FileNotFoundError(f"Image folder {args.path} not found or not a folder.")
    with _import_target(args.project) as project:
        report = import_folder(project, args.path, progress=tqdm_progress())
    _print_report(report, args.json)
    return 0


def cmd_import_csv(args) -> int:
    from workbench.ingest.csv_manifest import import_manifest
    from workbench.ingest.progress import tqdm_progress

    if not args.manifest.is_file():
        raise FileNotFoundError(f"Manifest {args.manifest} not found or not a file.")
    with _import_target(args.project) as project:
        report = import_manifest(project, args.manifest, progress=tqdm_progress())
    _print_report(report, args.json)
    return 0


def cmd_import_idx(args) -> int:
    from workbench.ingest.idx import find_source, import_idx
    from workbench.ingest.progress import tqdm_progress

    find_source(args.path, args.split, args.labels)  # a missing file fails before any project
    names = args.class_names.split(",") if args.class_names else None
    with _import_target(args.project) as project:
        report = import_idx(
            project, args.path, labels=args.labels, split=args.split,
            labels_per_class=args.labels_per_class, labeled_fraction=args.labeled_fraction,
            seed=args.seed, class_names=names, limit=args.limit, progress=tqdm_progress())
    _print_report(report, args.json)
    return 0


def cmd_export(args) -> int:
    from workbench.ingest.export import export_project
    from workbench.ingest.progress import tqdm_progress
    from workbench.store import open_project

    with open_project(args.project) as project:
        report = export_project(project, args.format, args.out, mode=args.mode,
                                labeled_only=args.labeled_only, overwrite=args.overwrite,
                                progress=tqdm_progress())
    _print_report(report, args.json)
    return 0


def cmd_status(args) -> int:
    from workbench.store import open_project, queries

    with open_project(args.project) as project, project.read() as session:
        summary = queries.status(session)
    if args.json:
        _print_json(summary)
        return 0
    from workbench.ingest.progress import format_count

    print(f"{format_count(summary['items'], 'item')}, {summary['labeled']} labeled, "
          f"{summary['unlabeled']} unlabeled")
    for name, by_source in summary["per_class"].items():
        counts = ", ".join(f"{source} {n}" for source, n in sorted(by_source.items())) or "none"
        print(f"  class {name}: {counts}")
    for kind, by_state in summary["proposals"].items():
        print(f"  {kind}: " + ", ".join(f"{s} {n}" for s, n in sorted(by_state.items())))
    jobs = ", ".join(f"{state} {n}" for state, n in sorted(summary["jobs"].items()))
    print(f"  jobs: {jobs or 'none'}")
    return 0


def cmd_proposals(args) -> int:
    from workbench.store import open_project, queries

    with open_project(args.project) as project, project.read() as session:
        rows = queries.pending_proposals(session, kind=args.kind)
    if args.json:
        _print_json([
            {"id": r["id"], "item_id": r["item_id"], "path": r["path"], "kind": r["kind"],
             "class": r["class_name"], "score": r["score"], "job_id": r["job_id"]}
            for r in rows
        ])
    else:
        for r in rows:
            print(f"{r['id']}\t{r['kind']}\t{r['class_name']}\t{r['score']:.3f}\t{r['path']}")
    return 0


PARAM_TYPE_NAMES = {bool: "true or false", int: "integer", float: "number", str: "text"}


def _param_help(param) -> str:
    """Return a parameter's help with its type, default, choices and range."""
    default = param.default if param.default != "" else "empty"
    if isinstance(default, bool):
        default = str(default).lower()
    parts = [param.help]
    if param.choices is not None:
        parts.append(f"Choices: {', '.join(param.choices)}.")
    else:
        parts.append(f"Type: {PARAM_TYPE_NAMES.get(param.type, param.type.__name__)}.")
    parts.append(f"Default: {default}.")
    if param.minimum is not None and param.maximum is not None:
        parts.append(f"Range: {param.minimum} to {param.maximum}.")
    elif param.minimum is not None:
        parts.append(f"Range: at least {param.minimum}.")
    elif param.maximum is not None:
        parts.append(f"Range: at most {param.maximum}.")
    # argparse formats help strings with %, so a literal % must be doubled.
    return " ".join(parts).replace("%", "%%")


def _job_param_parser(kind_name: str) -> argparse.ArgumentParser:
    from workbench.jobs.specs import job_kind

    kind = job_kind(kind_name)
    parser = argparse.ArgumentParser(prog=f"workbench job run {kind_name} PROJECT",
                                     description=kind.description)
    for param in kind.params:
        if param.choices:
            metavar = "{" + ",".join(param.choices) + "}"
        elif param.type is bool:
            metavar = "{true,false}"
        else:
            metavar = param.name.upper()
        parser.add_argument(f"--{param.name.replace('_', '-')}", dest=param.name,
                            metavar=metavar, help=_param_help(param))
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="Set a parameter by name; may be repeated.")
    return parser


def _job_params(kind_name: str, rest: list[str]) -> dict[str, Any]:
    from workbench.jobs.specs import ParamError

    parsed = _job_param_parser(kind_name).parse_args(rest)
    values = {k: v for k, v in vars(parsed).items() if k != "param" and v is not None}
    for pair in parsed.param:
        name, sep, value = pair.partition("=")
        if not sep:
            raise ParamError(f"Invalid --param {pair!r}: write NAME=VALUE, as in threshold=0.95.")
        values[name.strip().replace("-", "_")] = value
    return values


def cmd_job_run(args) -> int:
    from workbench.jobs import runner
    from workbench.settings import load_settings
    from workbench.store import open_project

    if "--json" in args.rest:
        args.rest.remove("--json")
        args.json = True
    params = _job_params(args.kind, args.rest)
    with open_project(args.project) as project:
        job_id = runner.create_job(project, args.kind, params)
        print(f"Job {job_id} ({args.kind}) started", file=sys.stderr)

        def show(message: dict) -> None:
            if args.json:
                print(json.dumps(message, default=str), flush=True)
            elif message["event"] == "progress":
                print(f"  {message['value']:6.1%}  {message.get('message', '')}", file=sys.stderr)
            elif message["event"] in ("log", "finished") and message.get("error"):
                print(f"  {message['error']}", file=sys.stderr)

        # The window's "Threads per job" setting applies here too.
        state = runner.run_job(project, job_id, show,
                               threads_per_job=load_settings().job_threads)
        with project.read() as session:
            from workbench.store.schema import Job

            job = session.get(Job, job_id)
            error, metrics = job.error, job.metrics
    print(f"Job {job_id} {state}", file=sys.stderr)
    if error:
        print(error, file=sys.stderr)
    if metrics and not args.json:
        _print_json(metrics)
    return 0 if state == "succeeded" else 1


def cmd_open(args) -> int:
    return _open_window(args.project)


def _open_window(folder: Path | None) -> int:
    from workbench.ui.app import run_app

    return run_app(folder)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="Log debug messages.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="Build or reopen the digits demo project.")
    demo.add_argument("--project", type=Path, help="Project folder (default: user data dir).")
    demo.add_argument("--labels-per-class", type=int, default=5,
                      help="Labeled items per digit; the rest are unlabeled. Default: 5.")
    demo.add_argument("--seed", type=int, default=0, help="Seed that picks the labeled items.")
    demo.add_argument("--no-gui", action="store_true", help="Build the project, open no window.")
    demo.set_defaults(func=cmd_demo)

    importer = commands.add_parser("import", help="Import images into a project.")
    sources = importer.add_subparsers(dest="source", required=True)
    folder = sources.add_parser("folder", help="Import a class_name/*.png|jpg folder tree.")
    folder.add_argument("project", type=Path, help="Project folder (created if missing).")
    folder.add_argument("path", type=Path, help="Image folder: one subfolder per class.")
    folder.add_argument("--json", action="store_true", help="Print the import report as JSON.")
    folder.set_defaults(func=cmd_import_folder)
    manifest = sources.add_parser(
        "csv", help="Import the files a CSV manifest (path,label[,split]) lists.",
        description="Import a CSV manifest with a 'path' column, an optional 'label' "
                    "(empty means unlabeled) and 'split'; other columns are kept as item "
                    "metadata. Paths are relative to the CSV. A .jsonl file written by "
                    "'workbench export' is read the same way.")
    manifest.add_argument("project", type=Path, help="Project folder (created if missing).")
    manifest.add_argument("manifest", type=Path, help="CSV (or JSON lines) manifest.")
    manifest.add_argument("--json", action="store_true", help="Print the import report as JSON.")
    manifest.set_defaults(func=cmd_import_csv)
    idx = sources.add_parser(
        "idx", help="Import MNIST-format IDX files as PNG files in the project.",
        description="Import *-images-idx3-ubyte[.gz] and its labels file. Withheld labels "
                    "go to truth.csv in the project folder, never into the labels.")
    idx.add_argument("project", type=Path, help="Project folder (created if missing).")
    idx.add_argument("path", type=Path,
                     help="The images file, or a folder holding train-/t10k-images-idx3-ubyte.")
    idx.add_argument("--labels", type=Path, help="Labels file (default: the images file's "
                                                  "*-labels-idx1-ubyte[.gz] sibling).")
    idx.add_argument("--split", choices=("train", "test"),
                     help="Split to import (default: from the file name; train for a folder).")
    share = idx.add_mutually_exclusive_group()
    share.add_argument("--labels-per-class", type=int, metavar="N",
                       help="Keep N labels per class; the rest are unlabeled.")
    share.add_argument("--labeled-fraction", type=float, metavar="F",
                       help="Keep this fraction (0 to 1) of each class's labels.")
    idx.add_argument("--seed", type=int, default=0, help="Seed that picks the labeled items.")
    idx.add_argument("--class-names", metavar="A,B,...",
                     help="Class names by label number (default: Fashion-MNIST's names for a "
                          "fashion folder, else the numbers).")
    idx.add_argument("--limit", type=int, metavar="N", help="Import only the first N images.")
    idx.add_argument("--json", action="store_true", help="Print the import report as JSON.")
    idx.set_defaults(func=cmd_import_idx)

    export = commands.add_parser(
        "export", help="Export labels as CSV, JSON lines or a class folder tree.",
        description="csv: path,label,source,confidence,actor,time per item. jsonl: one "
                    "object per item with its label history. folders: OUT/<class>/<file>, "
                    "unlabeled items under OUT/unlabeled.")
    export.add_argument("project", type=Path)
    export.add_argument("--format", choices=("csv", "jsonl", "folders"), required=True)
    export.add_argument("out", type=Path, help="Output file (csv, jsonl) or new folder.")
    export.add_argument("--mode", choices=("copy", "hardlink", "symlink"), default="copy",
                        help="How the folder tree gets the image files. Default: copy.")
    export.add_argument("--labeled-only", action="store_true", help="Leave unlabeled items out.")
    export.add_argument("--overwrite", action="store_true",
                        help="Replace an existing csv or jsonl file. A folder tree always "
                             "needs a new or empty folder.")
    export.add_argument("--json", action="store_true", help="Print the export report as JSON.")
    export.set_defaults(func=cmd_export)

    status = commands.add_parser("status", help="Count items, proposals and jobs.")
    status.add_argument("project", type=Path)
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)

    proposals = commands.add_parser("proposals", help="List pending proposals.")
    proposals.add_argument("project", type=Path)
    proposals.add_argument("--kind", choices=("pseudo_label", "weak_label", "noise_flag"))
    proposals.add_argument("--json", action="store_true")
    proposals.set_defaults(func=cmd_proposals)

    job = commands.add_parser("job", help="Run trainer jobs.")
    job_commands = job.add_subparsers(dest="job_command", required=True)
    run = job_commands.add_parser(
        "run", help="Run a job and wait for it; Ctrl+C cancels.",
        description="Run a job. Parameters follow the project, as --NAME VALUE or "
                    "--param NAME=VALUE; 'workbench job run KIND PROJECT --help' lists them.",
    )
    run.add_argument("kind", help="Job kind, such as self-training.")
    run.add_argument("project", type=Path)
    run.add_argument("--json", action="store_true", help="Print each trainer message as JSON.")
    run.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_job_run)

    open_cmd = commands.add_parser("open", help="Open the window, optionally on a project.")
    open_cmd.add_argument("project", type=Path, nargs="?")
    open_cmd.set_defaults(func=cmd_open)
    return parser


def main(argv: list[str] | None = None) -> int:
    from workbench.ingest.common import IngestError
    from workbench.ingest.export import ExportError
    from workbench.ingest.images import ImageError
    from workbench.ingest.progress import Cancelled
    from workbench.jobs.runner import JobError
    from workbench.jobs.specs import ParamError
    from workbench.store.engine import ProjectError

    argv = sys.argv[1:] if argv is None else argv
    if prepare_bundle_environment() and not argv:
        # A double-clicked bundle (the macOS .app, a Windows shortcut) gets
        # no arguments: open the window.
        argv = ["open"]
    if argv[:1] == ["--trainer"]:
        from trainers.main import main as trainer_main

        return trainer_main(argv[1:])
    if argv[:1] == [SMOKE_TEST_FLAG]:
        from workbench.smoke import main as smoke_main

        return smoke_main(argv[1:])
    args = build_parser().parse_args(argv)
    setup_logging(verbose=args.verbose)
    try:
        return args.func(args)
    except (ProjectError, JobError, ParamError, ImageError, IngestError, ExportError,
            Cancelled, OSError) as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        if hasattr(exc, "cleanup_note"):
            print(f"workbench: {exc.cleanup_note}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        if not hasattr(exc, "cleanup_note"):
            raise
        print(f"workbench: interrupted; nothing was imported. {exc.cleanup_note}",
              file=sys.stderr)
        return 130
