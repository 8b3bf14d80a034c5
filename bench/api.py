"""The review API under load: annotators leasing pages and posting decisions against a big database (closed loop, or open loop with think time).

Setup (timed, not part of the load): a PostgreSQL database of its own (``facecurator_bench`` on the
``DATABASE_URL`` server; dropped and recreated, dropped again at the end unless ``--keep-db``),
migrated; 2,000 identities (candidates ranked by popularity) and 200,000 faces (``--quick``:
20,000) written with one ``COPY``: 90% belong to an identity, 10% are unknown people; synthetic
SFace-like embeddings (a unit centroid per identity plus noise); every crop points at one of a
handful of real glint24 crops. Then a VIP chunk is promoted the product's way
(:func:`webapp.training.services.chunk_promote`), whose verification queue
(:func:`webapp.review.builders.queue_build_for_chunk`) holds the items to review, and 8
annotator accounts get API tokens.

Load: the server is gunicorn (one gthread worker process, 8 threads, ``127.0.0.1`` only, debug
off, persistent database connections) and the load comes from a second process on loopback: one
thread per annotator, each with a keep-alive connection, in a closed loop without think time:

* ``next``: ``POST /api/v1/review/queues/{id}/next/ {"limit": 20}`` (lease a page of items),
* ``decisions``: ``POST /api/v1/review/decisions/`` with one decision per leased item (85% confirm,
  5% relabel to another identity, 5% unknown person, 5% skip), all or nothing.

Each annotator does one warm-up page first; then the clock runs until ``--duration`` seconds, a
bound on the number of requests, or an empty queue, whichever comes first. Reported per endpoint:
p50 / p95 / p99 / mean / max latency in ms, requests per second, errors; and items decided per
second. Server, load generator and PostgreSQL share this machine's cores.

Open loop (``--open-loop``; ``--soak DURATION`` runs it for that long), results in
``api_open_loop.json`` / ``.md``: 1,000,000 faces (quick: 20,000), 50 annotators at a human pace.
Each annotator's times are drawn in advance (the first within one think time, then every 20-40 s,
uniform) and do not wait for the server: at each, it posts the decisions on its page and leases
the next page of 40. Meanwhile an admin starts a face import (``POST /api/v1/imports/faces/``,
40 new glint24 crops) every 60 s and a training run on every face, started during setup, trains:
two Celery workers (solo pool) take the ``gpu`` and ``default`` queues, as in production (each lowers
its CPU priority and caps its library threads as it starts, like every worker: webapp.core.workers;
their niceness is reported). The write throttle stays at its production rate. After a 60 s warm-up (quick: 10 s) the window is
measured (default 300 s; quick 30 s). A sampler in this process reads, every 5 s (or a twentieth
of the window), the gunicorn worker's RSS and CPU time from ``/proc``, the CPU time of the
PostgreSQL backends of the server's connections (named by ``PGAPPNAME``), the workers' CPU, and
the machine's busy share and load average. Reported: latency per endpoint and errors (any answer
but 200/201/202, or a broken connection), CPU milliseconds per request (web process and its
database backends), RSS at the start and end of the window with its trend, how late requests
started, and what the workers got done.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/facecurator python bench/api.py [--quick]
    DATABASE_URL=... CELERY_BROKER_URL=redis://127.0.0.1:6379/0 python bench/api.py --soak 30m
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO)  # never let bench/*.py shadow a module
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench import common  # noqa: E402
from bench.api_load import ACTIONS, generate_load, generate_open_load, summarise_load, summarise_open_load  # noqa: E402
from bench.api_report import markdown, open_markdown  # noqa: E402
from bench.api_server import (  # noqa: E402
    Sampler,
    VacuumStandIn,
    free_port,
    server_autovacuum,
    server_env,
    start_server,
    start_worker,
    stop_server,
    stop_worker,
    wait_until_up,
)
from bench.api_world import (  # noqa: E402
    BENCH_DATABASE,
    DEFAULT_DATABASE_URL,
    bench_database_url,
    populate,
    recreate_database,
    setup_django,
)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def parse_duration(text: str) -> float:
    """Seconds from ``600``, ``600s``, ``10m`` or ``1h``."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip().lower()
    try:
        return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError) as exc:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 600, 10m, 1h)") from exc


def import_batches(data: Path, *, batches: int, size: int, seed: int) -> list[list[tuple[str, str]]]:
    """Glint24 crops for the background imports, ``size`` per batch, each crop once (an import
    skips files it already holds), in a seeded order; the first crop of each of the first 8
    people is left out (it is the file every seeded face points at)."""
    glint = common.image_folder(data / "glint24")
    used = {str(paths[0]) for paths in list(glint.values())[:8]}
    files = [(name, str(path)) for name, paths in glint.items() for path in paths if str(path) not in used]
    order = np.random.default_rng(seed).permutation(len(files))
    picked = [files[i] for i in order[: batches * size]]
    return [picked[n * size : (n + 1) * size] for n in range(len(picked) // size)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="20,000 faces and a short load (closed loop 15 s; open loop 30 s after a 10 s warm-up)",
    )
    parser.add_argument(
        "--open-loop",
        action="store_true",
        help="annotators at a human pace (think time), with imports and a training run going on; "
        "1,000,000 faces, 50 annotators, pages of 40 every 20-40 s, 5 minutes measured",
    )
    parser.add_argument(
        "--soak",
        type=parse_duration,
        metavar="DURATION",
        help="open loop for this long (600, 10m, 30m): implies --open-loop",
    )
    parser.add_argument("--faces", type=int, help="default 200,000; open loop 1,000,000; quick 20,000")
    parser.add_argument("--identities", type=int, default=2000)
    parser.add_argument(
        "--promote",
        type=int,
        help="identities in the promoted chunk whose faces form the queue (default: enough items for the run)",
    )
    parser.add_argument(
        "--duration", type=float, help="seconds of measured load (default 60, quick 15; open loop: 300, quick 30)"
    )
    parser.add_argument("--max-requests", type=int, default=200_000, help="closed loop: stop after this many")
    parser.add_argument("--annotators", type=int, help="default 8; open loop 50")
    parser.add_argument("--page", type=int, help="items per page (default 20; open loop 40)")
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="open loop: seconds between an annotator's pages, uniform (default 20 40)",
    )
    parser.add_argument("--warmup", type=float, help="open loop: seconds before measuring (default 60; quick 10)")
    parser.add_argument(
        "--import-every", type=float, help="open loop: seconds between face imports (default 60; quick 15); 0 for none"
    )
    parser.add_argument("--import-size", type=int, help="open loop: glint24 crops per import (default 40; quick 10)")
    parser.add_argument("--no-training", action="store_true", help="open loop: no training run meanwhile")
    parser.add_argument(
        "--threads", type=int, default=2, help="server threads per worker process (production: 2, docker-compose.yml)"
    )
    parser.add_argument(
        "--workers", type=int, default=3, help="server worker processes (production: 3, docker-compose.yml)"
    )
    parser.add_argument("--database", default=BENCH_DATABASE)
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database in place afterwards")
    parser.add_argument("--data", help="shared data folder (a few glint24 crops serve as every face's file)")
    parser.add_argument("--output-dir", type=Path, help="where api.json / api.md go (default bench/results/)")
    parser.add_argument("--load-generator", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # run the clean-up (server, database) when stopped
    if args.load_generator:  # the second process
        config = json.loads(args.load_generator.read_text())
        print(json.dumps(generate_open_load(config) if config.get("open_loop") else generate_load(config)))
        return {}

    open_loop = args.open_loop or args.soak is not None
    if open_loop:
        faces = args.faces or (20_000 if args.quick else 1_000_000)
        duration = args.soak or args.duration or (30.0 if args.quick else 300.0)
        annotators, page = args.annotators or 50, args.page or 40
        think = tuple(args.think or (20.0, 40.0))
        warmup = args.warmup if args.warmup is not None else (10.0 if args.quick else 60.0)
        import_every = args.import_every if args.import_every is not None else (15.0 if args.quick else 60.0)
        import_size = args.import_size or (10 if args.quick else 40)
        # every annotator's pages over the run, a quarter more, and a page each still leased at the end
        needed = annotators * page * ((warmup + duration) / (sum(think) / 2) * 1.25 + 2)
    else:
        faces = args.faces or (20_000 if args.quick else 200_000)
        duration = args.duration or (15.0 if args.quick else 60.0)
        annotators, page, think, warmup, import_every, import_size = (
            args.annotators or 8,
            args.page or 20,
            None,
            0.0,
            0,
            0,
        )
        needed = 30_000
    per_identity = 0.9 * faces / args.identities
    promote = args.promote or min(args.identities, max(1, int(np.ceil(needed / max(per_identity, 1e-9)))))
    data = common.shared_data_dir(args.data)
    base = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    url = bench_database_url(base, args.database)
    machine = common.machine_info()
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="facecurator-bench-api-"))
    media = scratch / "media"
    if open_loop and os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        os.environ["CELERY_BROKER_KEYPREFIX"] = f"bench-api-{os.getpid()}:"  # this run's own queues
    server, workers, sampler, vacuum = None, [], None, None
    try:
        common.log(f"creating database {args.database} with {faces:,} faces")
        recreate_database(url)
        setup_django(url, media)
        setup = populate(
            faces=faces,
            identities=args.identities,
            promote=promote,
            data=data,
            media=media,
            seed=0,
            annotators=annotators,
            training_run=open_loop and not args.no_training,
        )
        common.log(f"queue {setup['queue']} with {setup['queue_items']:,} items; setup {setup['timings']}")
        from django.db import connection

        connection.ensure_connection()
        postgres = connection.connection.info.server_version
        connection.close()
        port = free_port()
        env = server_env(database_url=url, media=media, secret=secrets.token_urlsafe(40), human_pace=open_loop)
        server = start_server(env=env, port=port, threads=args.threads, workers=args.workers)
        wait_until_up(port, setup["tokens"][0], server)
        config = {
            "port": port,
            "queue": setup["queue"],
            "page": page,
            "duration_s": duration,
            "max_requests": args.max_requests,
            "identity_ids": setup["identity_ids"],
            "tokens": setup["tokens"],
        }
        if open_loop:
            (media / "imports").mkdir(parents=True, exist_ok=True)
            batches = (
                import_batches(data, batches=int((warmup + duration) // import_every) + 1, size=import_size, seed=1)
                if import_every > 0
                else []
            )
            config.update(
                open_loop=True,
                think_s=think,
                warmup_s=warmup,
                import_every_s=import_every,
                import_batches=batches,
                import_root=str(media / "imports"),
                admin_token=setup["admin_token"],
            )
            # a worker for the training run (gpu queue) and one for imports (default), as in production
            workers = [
                start_worker(env=env, queues="gpu", name="gpu"),
                start_worker(env=env, queues="default", name="default"),
            ]
            sampler = Sampler(
                server=server,
                workers=workers,
                database_url=url,
                interval=max(0.5, min(5.0, duration / 20)),
                training_job=setup["training_job"],
            )
            sampler.start()
            if not server_autovacuum(url):
                vacuum = VacuumStandIn(database_url=url)
                vacuum.start()
        config_path = scratch / "load.json"
        config_path.write_text(json.dumps(config))
        common.log(
            f"load: {annotators} annotators, {'open loop, think ' + str(think) + ' s' if open_loop else 'closed loop'}"
            f", {duration:.0f} s measured, against 127.0.0.1:{port}"
        )
        generator = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--load-generator", str(config_path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=warmup + duration + 300,
        )
        if generator.returncode != 0:
            raise RuntimeError(f"the load generator failed:\n{generator.stderr[-3000:]}")
        raw = json.loads(generator.stdout.strip().splitlines()[-1])
        if vacuum is not None:
            vacuum.stop()
        if sampler is not None:
            sampler.stop()
            load = summarise_open_load(raw, sampler.samples)
        else:
            load = summarise_load(raw)
        stop_server(server)
        server = None
        from django.db import connection as conn2

        from webapp.faces.models import LabelEvent
        from webapp.review.models import Decision

        check: dict[str, Any] = {"decisions": Decision.objects.count(), "label_events": LabelEvent.objects.count()}
        if open_loop:
            check["background"] = background_state(training_job=setup["training_job"])
            # as every worker does (webapp.core.workers); the server was started at this process's niceness
            check["niceness"] = {
                "web": os.getpriority(os.PRIO_PROCESS, 0),
                "workers": [os.getpriority(os.PRIO_PROCESS, w.pid) for w in workers if w.poll() is None],
            }
            check["scheduling"] = [scheduling_class(w.pid) for w in workers if w.poll() is None]
        conn2.close()
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
        if vacuum is not None and vacuum.is_alive():
            vacuum.stop()
        for worker in workers:
            stop_worker(worker)
        if server is not None:
            stop_server(server)
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            recreate_database(url, drop_only=True)
        shutil.rmtree(scratch, ignore_errors=True)
    setup = {k: v for k, v in setup.items() if k not in ("tokens", "identity_ids", "admin_token")}
    name = "api_open_loop" if open_loop else "api"
    results: dict[str, Any] = {
        "benchmark": name,
        "machine": machine,
        "postgres": f"{postgres // 10000}.{postgres % 10000}",
        # None: the server's autovacuum ran; else the passes of the bench's stand-in (VacuumStandIn)
        "vacuum_stand_in_s": vacuum.runs if vacuum is not None else None,
        "config": {
            "quick": args.quick,
            "open_loop": open_loop,
            "faces": faces,
            "identities": args.identities,
            "promote": promote,
            "duration_s": duration,
            "max_requests": args.max_requests,
            "page": page,
            "annotators": annotators,
            "threads": args.threads,
            "workers": args.workers,
            "database": args.database,
            "actions": dict(ACTIONS),
            **(
                {
                    "think_s": think,
                    "warmup_s": warmup,
                    "import_every_s": import_every,
                    "import_size": import_size,
                    "training_run": not args.no_training,
                }
                if open_loop
                else {}
            ),
        },
        "setup": setup,
        "load": load,
        "check": check,
        "wall_s": time.perf_counter() - started,
    }
    text = open_markdown(results) if open_loop else markdown(results)
    common.write_results(name, results, text, out_dir=args.output_dir)
    print(text)
    return results


def scheduling_class(pid: int) -> str:
    """The Linux scheduling class a process runs in (``SCHED_IDLE`` for workers by default)."""
    names = {getattr(os, n): n for n in ("SCHED_OTHER", "SCHED_BATCH", "SCHED_IDLE") if hasattr(os, n)}
    return names.get(os.sched_getscheduler(pid), "other")


def background_state(*, training_job: int | None) -> dict[str, Any]:
    """What the workers got done meanwhile: the training run's job, the import jobs and their faces."""
    from django.db.models import Count

    from webapp.core.models import Job

    jobs = {
        row["state"]: row["n"]
        for row in Job.objects.filter(kind="media.import_faces").values("state").annotate(n=Count("id"))
    }
    imported = sum(
        (job.result or {}).get("faces_created", 0) or 0
        for job in Job.objects.filter(kind="media.import_faces", state=Job.State.SUCCEEDED)
    )
    state: dict[str, Any] = {"import_jobs": jobs, "faces_imported": imported}
    if training_job:
        job = Job.objects.get(pk=training_job)
        state["training"] = {
            "state": job.state,
            "progress": job.progress,
            "message": job.message[:200],
            "error": job.error.splitlines()[-1][:300] if job.error else "",
            # the run snapshots its faces as the task's first step: no count until the worker has begun
            "samples": (job.training_run.counts or {}).get("total"),
        }
    return state


if __name__ == "__main__":
    main()
