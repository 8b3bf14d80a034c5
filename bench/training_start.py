"""Starting a training run on a big world: how long the admin's request takes, and how long the
snapshot of every face (one RunSample per usable face) takes where it runs.

World: the API benchmark's (:func:`bench.api_world.populate`): a PostgreSQL database of its own
(``facecurator_bench_training`` on the ``DATABASE_URL`` server), 1,000,000 faces (``--quick``:
20,000) of 2,000 identities (90% of the faces; 10% unknown), a VIP chunk promoted (354 VIPs by
default, the open-loop soak's), so about 1,650 candidates are distractor people whose faces take
their person's split. ``--reuse-db`` measures on a database a previous ``--keep-db`` run left.

Measured ``--repeats`` times: :func:`webapp.training.services.training_run_start` (what
``POST /api/v1/runs/`` does, less the JSON and the broker send) with ``dispatch=False``; where the
run is then left "snapshotting" for its task, the task's snapshot step
(:func:`webapp.training.services.training_run_snapshot`) is timed after it, in this process.
Each run is deleted (its samples with it) before the next start, outside the clock.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/facecurator python bench/training_start.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.api_world import DEFAULT_DATABASE_URL, bench_database_url, populate, recreate_database, setup_django


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 faces")
    parser.add_argument("--faces", type=int, help="default 1,000,000; quick 20,000")
    parser.add_argument("--identities", type=int, default=2000)
    parser.add_argument("--promote", type=int, default=354, help="VIPs promoted (the soak's chunk: 354)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--database", default="facecurator_bench_training")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database in place afterwards")
    parser.add_argument("--reuse-db", action="store_true", help="measure on the database a --keep-db run left")
    parser.add_argument("--data", help="shared data folder (a few glint24 crops serve as every face's file)")
    parser.add_argument("--output-dir", type=Path, help="where training_start.json / .md go (default bench/results/)")
    args = parser.parse_args(argv)
    faces = args.faces or (20_000 if args.quick else 1_000_000)
    url = bench_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL, args.database)
    machine = common.machine_info()
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="facecurator-bench-training-"))
    try:
        if not args.reuse_db:
            common.log(f"creating database {args.database} with {faces:,} faces")
            recreate_database(url)
        setup_django(url, scratch / "media")
        setup: dict[str, Any] = {}
        if not args.reuse_db:
            setup = populate(
                faces=faces,
                identities=args.identities,
                promote=args.promote,
                data=common.shared_data_dir(args.data),
                media=scratch / "media",
                seed=0,
                annotators=1,
            )
            setup = {k: v for k, v in setup.items() if k not in ("tokens", "identity_ids", "admin_token")}
            common.log(f"world ready: {setup['timings']}")
        measured = measure(repeats=args.repeats)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            recreate_database(url, drop_only=True)
        shutil.rmtree(scratch, ignore_errors=True)
    results: dict[str, Any] = {
        "benchmark": "training_start",
        "machine": machine,
        "config": {
            "quick": args.quick,
            "faces": faces,
            "identities": args.identities,
            "promote": args.promote,
            "repeats": args.repeats,
        },
        "setup": setup,
        **measured,
        "wall_s": time.perf_counter() - started,
    }
    text = markdown(results)
    common.write_results("training_start", results, text, out_dir=args.output_dir)
    print(text)
    return results


def measure(*, repeats: int) -> dict[str, Any]:
    from django.db import connection

    from webapp.core.accounts import user_create
    from webapp.core.models import Job
    from webapp.faces.models import Face
    from webapp.training import services
    from webapp.training.models import RunSample, TrainingRun

    admin = user_create(username=f"bench-training-{os.getpid()}", password=None, role="admin")
    snapshot = getattr(services, "training_run_snapshot", None)
    starts, snapshots, counts = [], [], {}
    for attempt in range(repeats):
        clock = time.perf_counter()
        run = services.training_run_start(user=admin, note="bench/training_start.py", dispatch=False)
        starts.append(time.perf_counter() - clock)
        if snapshot is not None and not run.counts:
            clock = time.perf_counter()
            snapshot(run=run)
            snapshots.append(time.perf_counter() - clock)
            run.refresh_from_db()
        counts = run.counts
        common.log(f"start {attempt + 1}: {starts[-1]:.2f} s{f', snapshot {snapshots[-1]:.2f} s' if snapshots else ''}")
        job = run.job
        TrainingRun.objects.filter(pk=run.pk).delete()
        Job.objects.filter(pk=job.pk).delete()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM ANALYZE {RunSample._meta.db_table}")
    postgres = connection.cursor().connection.info.server_version if connection.vendor == "postgresql" else 0
    return {
        "postgres": f"{postgres // 10000}.{postgres % 10000}",
        "faces_in_world": Face.objects.count(),
        "counts": counts,
        "start_s": starts,
        "snapshot_in_task_s": snapshots,
    }


def markdown(results: dict[str, Any]) -> str:
    cfg, counts = results["config"], results["counts"]
    starts, snapshots = results["start_s"], results["snapshot_in_task_s"]

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.2f}" if values else "-"

    lines = [
        "# Starting a training run on a big world",
        "",
        f"Machine: {common.machine_line(results['machine'])}. PostgreSQL {results['postgres']} on the same machine.",
        f"World: {results['faces_in_world']:,} faces of {cfg['identities']:,} identities (90% known), "
        f"{cfg['promote']} VIPs promoted; the run's snapshot holds {counts.get('total', 0):,} samples "
        f"({counts.get('vip', 0):,} VIP, {counts.get('distractor', 0):,} distractor faces). "
        f"Median of {cfg['repeats']} starts, each run deleted before the next (bench/training_start.py).",
        "",
        common.md_table(
            ["step", "median s", "each s"],
            [
                ["the request: `training_run_start`", cell(starts), ", ".join(f"{s:.2f}" for s in starts)],
                [
                    "the snapshot in the `training.run` task",
                    cell(snapshots),
                    ", ".join(f"{s:.2f}" for s in snapshots) or "(in the request)",
                ],
            ],
        ),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
