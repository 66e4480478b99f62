"""Store throughput: the grid's filter queries and the review panel's batch accept.

Part of ``bench_throughput.py``. A synthetic project of N items in 10
classes is written with bulk inserts through the store's schema. Of the
items, 10 % have imported labels, 2 % human labels and 5 % accepted pseudo
labels, and the rest are unlabeled. A pending pseudo-label proposal sits on
40 % of the unlabeled items, a pending noise flag on 2 % of the labeled ones
and a rejected proposal on 1 % of all items.

Each grid filter runs through ``queries.filtered_items``, the call the grid
makes on the GUI thread. It has two peers in the same run. The first is
the very SQL statement that call sent, read from SQLite's trace callback
with the parameters inlined as literals and replayed on a plain ``sqlite3``
connection, so the ratio is the cost of SQLAlchemy and the row objects. The
second is a plain scan of every item row. The batch accept takes the proposals that "Accept N above
τ" takes (``review_queue`` then ``batch_choice``) and passes them to
``actions.accept_proposals`` as one decision, then ``actions.undo_last``.
Its peer accepts proposals one call each, as the A key does.

Run on its own, it times only the batch accept and its undo:

    python benchmarks/throughput_store.py [--items 70000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import insert

from workbench.store import actions, queries
from workbench.store.engine import Project, open_project
from workbench.store.schema import (
    ACTION_IMPORT,
    KIND_NOISE,
    KIND_PSEUDO,
    PENDING,
    REJECTED,
    SOURCE_HUMAN,
    SOURCE_IMPORTED,
    SOURCE_PSEUDO,
    Item,
    LabelEvent,
    Proposal,
    utcnow,
)

INSERT_BATCH = 20_000
ACTOR = "bench"
# Share of all items per label source; the rest are unlabeled.
SOURCE_SHARES = ((SOURCE_IMPORTED, 0.10), (SOURCE_HUMAN, 0.02), (SOURCE_PSEUDO, 0.05))
PENDING_SHARE_OF_UNLABELED = 0.40
NOISE_SHARE_OF_LABELED = 0.02
REJECTED_SHARE = 0.01
FULL_SCAN_SQL = "SELECT id, path, sha256, label_class_id, label_source FROM items"


def _insert_batches(session, table, rows: list[dict]) -> None:
    for start in range(0, len(rows), INSERT_BATCH):
        session.execute(insert(table), rows[start:start + INSERT_BATCH])


def _item_rows(count: int, class_ids: list[int], rng) -> tuple[list[dict], np.ndarray]:
    classes = rng.integers(0, len(class_ids), count)
    draw = rng.random(count)
    sources = np.full(count, None, dtype=object)
    edge = 0.0
    for source, share in SOURCE_SHARES:
        sources[(draw >= edge) & (draw < edge + share)] = source
        edge += share
    now = utcnow()
    rows = []
    for i in range(count):
        source = sources[i]
        labeled = source is not None
        class_id = class_ids[classes[i]]
        rows.append({
            "path": f"images/synthetic/{classes[i]}/{i + 1:07d}.png",
            "sha256": f"{i + 1:064x}", "width": 28, "height": 28, "split": "train",
            "meta": {}, "label_class_id": class_id if labeled else None,
            "label_source": source, "label_confidence": 1.0 if labeled else None,
            "label_actor": ACTOR if labeled else None,
            "label_updated_at": now if labeled else None, "created_at": now,
        })
    return rows, sources


def _proposal_rows(sources: np.ndarray, class_ids: list[int], rng) -> list[dict]:
    """Return proposal rows for items 1..N (item id = row index + 1)."""
    count = len(sources)
    unlabeled = np.array([source is None for source in sources])
    draw = rng.random(count)
    pending = unlabeled & (draw < PENDING_SHARE_OF_UNLABELED)
    noise = ~unlabeled & (draw < NOISE_SHARE_OF_LABELED)
    rejected = rng.random(count) < REJECTED_SHARE
    scores = rng.uniform(0.3, 1.0, count)
    classes = rng.integers(0, len(class_ids), count)
    now = utcnow()
    rows = []
    for mask, kind, state in ((pending, KIND_PSEUDO, PENDING), (noise, KIND_NOISE, PENDING),
                              (rejected, KIND_PSEUDO, REJECTED)):
        for i in np.flatnonzero(mask):
            rows.append({"job_id": None, "item_id": int(i) + 1, "kind": kind,
                         "class_id": class_ids[classes[i]], "score": float(scores[i]),
                         "evidence": {}, "state": state, "created_at": now})
    return rows


def build_store(folder: Path, count: int, seed: int = 0) -> tuple[Project, dict]:
    """Create a project with ``count`` synthetic items; return it and the build timings."""
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    project = open_project(folder, create=True)
    with project.write() as session:
        names = [f"class {i}" for i in range(10)]
        class_ids = list(actions.ensure_classes(session, names).values())
        items, sources = _item_rows(count, class_ids, rng)
        _insert_batches(session, Item, items)
        proposals = _proposal_rows(sources, class_ids, rng)
        _insert_batches(session, Proposal, proposals)
        now = utcnow()
        events = [{"item_id": i + 1, "decision": 1, "action": ACTION_IMPORT,
                   "new_class_id": row["label_class_id"], "new_source": row["label_source"],
                   "new_confidence": 1.0, "actor": ACTOR, "created_at": now}
                  for i, row in enumerate(items) if row["label_source"] is not None]
        _insert_batches(session, LabelEvent, events)
    seconds = time.perf_counter() - started
    info = {"items": count, "proposals": len(proposals), "label_events": len(events),
            "build_seconds": round(seconds, 1),
            "database_mb": round(project.db_path.stat().st_size / 2**20, 1),
            "class_ids": class_ids}
    return project, info


def grid_filters(class_id: int) -> dict[str, queries.ItemFilter]:
    """Return the filters the grid's filter bar sets, by a short description."""
    spec = queries.ItemFilter
    return {
        "all items, by id": spec(),
        "class": spec(class_id=class_id),
        "source: pseudo": spec(label="pseudo"),
        "unlabeled": spec(label="unlabeled"),
        "proposal state: pending": spec(proposal_state="pending"),
        "noise flag": spec(noise_flag=True),
        "score 0.90 to 0.95": spec(score_min=0.9, score_max=0.95),
        "path text": spec(text="/0012"),
        "all items, by score": spec(sort="score"),
        "unlabeled, pending, score >= 0.9, by score":
            spec(label="unlabeled", proposal_state="pending", score_min=0.9, sort="score"),
    }


def _median_ms(function, runs: int) -> tuple[float, object]:
    """Run ``function`` once to warm the caches, then ``runs`` times; return the median ms."""
    result = function()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def _captured_sql(project: Project, spec: queries.ItemFilter) -> str:
    """Return the SELECT that ``filtered_items`` sends for ``spec``, parameters inlined.

    The statement is read from SQLite's trace callback on the session's own
    connection, so it is caught whether the store runs it through
    SQLAlchemy's execute or straight on the DBAPI cursor.
    """
    sent: list[str] = []
    with project.read() as session:
        driver = session.connection().connection.driver_connection
        driver.set_trace_callback(sent.append)
        try:
            queries.filtered_items(session, spec)
        finally:
            driver.set_trace_callback(None)
    selects = [s for s in sent if s.lstrip().upper().startswith("SELECT")]
    if len(selects) != 1:
        raise RuntimeError(f"filtered_items sent {len(selects)} SELECT statements, expected 1.")
    return selects[0]


def time_filters(project: Project, class_id: int, runs: int) -> list[dict]:
    """Time each grid filter through the store and its plain-sqlite3 peers."""
    results = []
    plain = sqlite3.connect(project.db_path)
    try:
        scan_ms, scan_rows = _median_ms(lambda: plain.execute(FULL_SCAN_SQL).fetchall(), runs)
        for name, spec in grid_filters(class_id).items():
            def through_store(spec=spec):
                with project.read() as session:
                    return queries.filtered_items(session, spec)

            store_ms, rows = _median_ms(through_store, runs)
            sql = _captured_sql(project, spec)
            sql_ms, plain_rows = _median_ms(lambda: plain.execute(sql).fetchall(), runs)
            if len(plain_rows) != len(rows):
                raise RuntimeError(f"{name}: the replayed SQL returned {len(plain_rows)} rows, "
                                   f"filtered_items {len(rows)}.")
            results.append({
                "filter": name, "rows": len(rows), "store_ms": round(store_ms, 1),
                "same_sql_sqlite3_ms": round(sql_ms, 1),
                "ratio_to_same_sql": round(store_ms / sql_ms, 2),
                "full_scan_sqlite3_ms": round(scan_ms, 1),
                "ratio_to_full_scan": round(store_ms / scan_ms, 2),
            })
            print(f"    {name}: {len(rows):,} rows, {store_ms:.0f} ms; same SQL in sqlite3 "
                  f"{sql_ms:.0f} ms; full scan {scan_ms:.0f} ms ({len(scan_rows):,} rows)",
                  flush=True)
    finally:
        plain.close()
    return results


def time_batch_accept(project: Project, batch: int, single: int) -> dict:
    """Time "Accept N above τ" for ``batch`` proposals, its undo, and one-by-one accepts."""
    from workbench.ui.review import batch_choice

    started = time.perf_counter()
    with project.read() as session:
        queue = queries.review_queue(session)
    queue_ms = (time.perf_counter() - started) * 1000
    per_item = batch_choice(queue, 0.0, None)
    if len(per_item) < batch + single:
        raise RuntimeError(f"Only {len(per_item)} reviewable items; need {batch + single}.")
    threshold = per_item[batch - 1].score
    chosen = batch_choice(queue, threshold, None)

    started = time.perf_counter()
    decision = actions.accept_proposals(project, [e.id for e in chosen], actor=ACTOR)
    accept_s = time.perf_counter() - started
    started = time.perf_counter()
    undone = actions.undo_last(project, actor=ACTOR)
    undo_s = time.perf_counter() - started
    if decision.changed != len(chosen) or undone.changed != len(chosen):
        raise RuntimeError(f"Accepted {decision.changed} and undid {undone.changed} of "
                           f"{len(chosen)} proposals.")

    singles = per_item[batch:batch + single]
    started = time.perf_counter()
    for entry in singles:
        actions.accept_proposals(project, [entry.id], actor=ACTOR)
    single_s = time.perf_counter() - started
    scaled_s = single_s * len(chosen) / len(singles)
    return {
        "proposals": len(chosen), "threshold": round(threshold, 4),
        "review_queue_ms": round(queue_ms), "queue_rows": len(queue),
        "batch_accept_s": round(accept_s, 2), "undo_s": round(undo_s, 2),
        "accepted_per_s": round(len(chosen) / accept_s),
        "single_accepts": len(singles), "single_accepts_s": round(single_s, 2),
        "single_accept_ms_each": round(single_s * 1000 / len(singles), 1),
        "single_scaled_s": round(scaled_s, 1),
        "speedup_over_single": round(scaled_s / accept_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time the batch accept and its undo on a synthetic store.")
    parser.add_argument("--items", type=int, default=70_000, help="Items in the store.")
    parser.add_argument("--batch", type=int, default=10_000,
                        help="Proposals accepted as one decision.")
    parser.add_argument("--single", type=int, default=100,
                        help="Proposals accepted one call each, for the peer.")
    args = parser.parse_args(argv)
    load = [round(value, 2) for value in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="bench-store-") as scratch:
        project, info = build_store(Path(scratch) / "store", args.items)
        try:
            result = time_batch_accept(project, args.batch, args.single)
        finally:
            project.close()
    info.pop("class_ids")
    print(json.dumps({"load_average_at_start": load, **info, "batch_accept": result},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
