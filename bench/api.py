"""The review API under load: 8 annotators leasing pages and posting decisions against a big database.

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

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/facecurator python bench/api.py [--quick]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO)  # never let bench/*.py shadow a module
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench import common  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/facecurator"
BENCH_DATABASE = "facecurator_bench"
ACTIONS = (("confirm", 0.85), ("relabel", 0.05), ("unknown", 0.05), ("skip", 0.05))
EMBEDDING_DIM = 128


# --------------------------------------------------------------------------------------------
# The database
# --------------------------------------------------------------------------------------------
def bench_database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    if not parts.scheme.startswith("postgres"):
        raise SystemExit(f"bench/api.py needs PostgreSQL; DATABASE_URL is {base!r}")
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(url: str, *, drop_only: bool = False) -> None:
    """Drop the bench database (closing its connections) and, unless ``drop_only``, create it empty."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(database_url: str, media: Path) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["MEDIA_ROOT"] = str(media)
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ["FACECURATOR_REVIEW_MAX_ITEMS"] = "1000000"  # the whole chunk goes into its queue
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()


def populate(*, faces: int, identities: int, promote: int, data: Path, media: Path, seed: int) -> dict[str, Any]:
    """Migrate, write identities and faces (COPY), promote a chunk (its review queue), create annotators."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from ml.embedders import SFaceEmbedder
    from ml.splits import split_for_group
    from webapp.core.accounts import user_create
    from webapp.faces.models import Face
    from webapp.identities.models import Identity
    from webapp.review.models import Item
    from webapp.training.services import chunk_promote

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    timings["migrate_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    crops = []
    folder = media / "faces" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    glint = common.image_folder(data / "glint24")
    for name in list(glint)[:8]:
        source = glint[name][0]
        target = folder / f"{name.replace(' ', '_')}.jpg"
        shutil.copyfile(source, target)
        crops.append(f"faces/bench/{target.name}")
    people = Identity.objects.bulk_create(
        [Identity(name=f"Person {i:05d}", role=Identity.Role.CANDIDATE, popularity_rank=i + 1) for i in range(identities)],
        batch_size=5000)
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(identities, EMBEDDING_DIM)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    known = int(round(0.9 * faces))
    owner = np.full(faces, -1, dtype=np.int64)
    owner[:known] = np.arange(known) % identities
    vectors = np.where(owner[:, None] >= 0, centroids[np.maximum(owner, 0)], 0.0)
    vectors = vectors + rng.normal(scale=0.06, size=vectors.shape)  # ~cosine 0.6 to the centroid, like SFace
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    now = timezone.now()
    columns = ["crop", "thumbnail", "source", "source_path", "content_sha256", "group_key", "identity_id", "status",
               "split", "version", "embedding", "embedding_model", "detector_score", "quality", "created_at",
               "updated_at"]
    fields = {f.attname: f.column for f in Face._meta.concrete_fields}
    table = Face._meta.db_table
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(fields[c] for c in columns)}) FROM STDIN") as copy:
            for i in range(faces):
                group = f"crop:bench/{i}"
                copy.write_row((crops[i % len(crops)], "", Face.Source.CROP, f"bench/{i}.jpg", "", group,
                                people[owner[i]].pk if owner[i] >= 0 else None, Face.Status.UNVERIFIED,
                                split_for_group(group), 0, vectors[i].tobytes(), SFaceEmbedder.name,
                                None, float(0.5 + 0.5 * ((i * 7919) % 1000) / 1000), now, now))
        cursor.execute(f"ANALYZE {table}")
    timings["insert_s"] = time.perf_counter() - clock

    clock = time.perf_counter()
    promotion = chunk_promote(size=promote, override_reason="benchmark")
    queue = promotion.review_queue
    assert queue is not None  # the promoted chunk has faces to verify
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Item._meta.db_table}")
    timings["promote_and_queue_s"] = time.perf_counter() - clock

    from rest_framework.authtoken.models import Token

    tokens = []
    for i in range(8):
        user = user_create(username=f"annotator{i}", password=None, role="annotator")
        tokens.append(Token.objects.create(user=user).key)
    return {
        "timings": timings,
        "queue": queue.pk,
        "queue_items": queue.items.count(),
        "identity_ids": [p.pk for p in people[:200]],
        "tokens": tokens,
        "faces": Face.objects.count(),
        "identities": Identity.objects.count(),
    }


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(*, database_url: str, media: Path, port: int, threads: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "MEDIA_ROOT": str(media), "DJANGO_DEBUG": "0",
           "SECRET_KEY": secrets.token_urlsafe(40), "ALLOWED_HOSTS": "127.0.0.1", "DATABASE_CONN_MAX_AGE": "300",
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "webapp.settings",
           # Scripted annotators measure capacity; the per-user write throttle (600/min, for people)
           # would cap them on a fast machine and turn the throughput figure into the throttle's.
           "THROTTLE_USER_WRITE_RATE": "1000000/min"}
    command = [sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
               "--log-level", "warning", "--timeout", "120", "--keep-alive", "30"]
    return subprocess.Popen(command, cwd=REPO, env=env)


def wait_until_up(port: int, token: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/me/", headers={"Authorization": f"Token {token}"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server did not answer on 127.0.0.1:{port} within {timeout:.0f} s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.terminate()  # gunicorn's arbiter stops its worker and exits
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --------------------------------------------------------------------------------------------
# The load generator (a second process: python bench/api.py --load-generator CONFIG.json)
# --------------------------------------------------------------------------------------------
def generate_load(config: dict[str, Any]) -> dict[str, Any]:
    """Run the annotators' closed loops; return raw latencies per endpoint and counters."""
    port, queue, page = config["port"], config["queue"], config["page"]
    deadline_s, max_requests = config["duration_s"], config["max_requests"]
    identity_ids = config["identity_ids"]
    lock = threading.Lock()
    budget = [max_requests]
    records: list[tuple[str, float, float, int]] = []  # endpoint, start (s since the clock), latency s, status
    counters = {"items_decided": 0, "pages": 0, "empty_pages": 0, "failed_pages": 0}
    start = [0.0]
    # the clock starts when every annotator has done its warm-up page (set before anyone is released)
    warm = threading.Barrier(len(config["tokens"]) + 1, action=lambda: start.__setitem__(0, time.perf_counter()))

    def call(conn: http.client.HTTPConnection, token: str, path: str, body: dict) -> tuple[int, Any, float]:
        """One request; status 0 when the connection failed (the connection is then reopened)."""
        payload = json.dumps(body).encode()
        began = time.perf_counter()
        try:
            conn.request("POST", path, body=payload, headers={"Authorization": f"Token {token}",
                                                             "Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()  # http.client reconnects on the next request
            return 0, None, time.perf_counter() - began
        elapsed = time.perf_counter() - began
        return response.status, (json.loads(data) if data else None), elapsed

    def one_page(conn: http.client.HTTPConnection, token: str, rng: np.random.Generator, measured: bool) -> bool:
        status, items, latency = call(conn, token, f"/api/v1/review/queues/{queue}/next/", {"limit": page})
        now = time.perf_counter() - start[0]
        with lock:
            if measured:
                records.append(("next", now - latency, latency, status))
        if status != 200 or not items:
            with lock:
                counters["empty_pages" if status == 200 else "failed_pages"] += 1
            return status != 200 and measured  # an empty queue ends the run; a failed request is retried
        decisions = []
        for item in items:
            action = rng.choice([a for a, _ in ACTIONS], p=[p for _, p in ACTIONS])
            decision = {"item": item["id"], "action": str(action), "version": item["face"]["version"]}
            if action == "relabel":
                choices = [i for i in identity_ids if i != item["face"]["identity"]]
                decision["identity"] = int(rng.choice(choices))
            decisions.append(decision)
        status, _, latency = call(conn, token, "/api/v1/review/decisions/", {"decisions": decisions})
        now = time.perf_counter() - start[0]
        with lock:
            if measured:
                records.append(("decisions", now - latency, latency, status))
                counters["pages"] += 1
                if status == 201:
                    counters["items_decided"] += sum(d["action"] != "skip" for d in decisions)
        return True

    def annotator(index: int, token: str) -> None:
        rng = np.random.default_rng(1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            one_page(conn, token, rng, measured=False)
        finally:
            warm.wait(timeout=600)
        while time.perf_counter() - start[0] < deadline_s:
            with lock:
                if budget[0] < 2:
                    break
                budget[0] -= 2
            if not one_page(conn, token, rng, measured=True):
                break
        conn.close()

    threads = [threading.Thread(target=annotator, args=(i, token), daemon=True) for i, token in enumerate(config["tokens"])]
    for thread in threads:
        thread.start()
    warm.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start[0]
    return {"elapsed_s": elapsed, "records": records, "counters": counters, "annotators": len(threads)}


def summarise_load(raw: dict[str, Any]) -> dict[str, Any]:
    elapsed = raw["elapsed_s"]
    out: dict[str, Any] = {"elapsed_s": elapsed, "annotators": raw["annotators"], "endpoints": {}}
    for endpoint in ("next", "decisions"):
        rows = [r for r in raw["records"] if r[0] == endpoint]
        latencies = np.array([r[2] for r in rows]) * 1000
        statuses: dict[str, int] = {}
        for r in rows:
            statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
        ok = {"next": 200, "decisions": 201}[endpoint]
        out["endpoints"][endpoint] = {
            "requests": len(rows),
            "errors": len(rows) - statuses.get(str(ok), 0),
            "statuses": statuses,
            "requests_per_s": len(rows) / elapsed if elapsed else None,
            **({f"p{q}_ms": float(np.percentile(latencies, q)) for q in (50, 95, 99)} if len(rows) else {}),
            "mean_ms": float(latencies.mean()) if len(rows) else None,
            "max_ms": float(latencies.max()) if len(rows) else None,
        }
    total = sum(e["requests"] for e in out["endpoints"].values())
    out["requests_per_s"] = total / elapsed if elapsed else None
    out["items_decided_per_s"] = raw["counters"]["items_decided"] / elapsed if elapsed else None
    out["counters"] = raw["counters"]
    return out


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    cfg, setup, load = results["config"], results["setup"], results["load"]
    lines = [
        "# Review API under load",
        "",
        f"Machine: {common.machine_line(results['machine'])}. PostgreSQL {results['postgres']} on the same machine.",
        f"Database `{cfg['database']}`: {setup['faces']:,} faces, {setup['identities']:,} identities; review queue "
        f"of {setup['queue_items']:,} items (chunk of {cfg['promote']} promoted identities). Server: gunicorn, "
        f"{cfg['workers']} gthread worker process × {cfg['threads']} threads, debug off, 127.0.0.1. Load: "
        f"{load['annotators']} annotators (threads in a second process), closed loop without think time, pages of "
        f"{cfg['page']} items, {load['elapsed_s']:.1f} s measured after one warm-up page each. "
        f"{'Quick run: indicative only. ' if cfg['quick'] else ''}",
        "",
    ]
    rows = []
    names = {"next": "lease a page (`POST queues/{id}/next/`)", "decisions": "post a page of decisions"}
    for endpoint, e in load["endpoints"].items():
        rows.append([names[endpoint], f"{e['requests']:,}", f"{e['requests_per_s']:.1f}",
                     *("—" if e.get(k) is None else f"{e[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms", "mean_ms", "max_ms")),
                     f"{e['errors']}"])
    lines.append(common.md_table(["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "mean ms", "max ms",
                                  "errors"], rows))
    t = setup["timings"]
    lines += ["", f"All requests: {load['requests_per_s']:.1f} req/s; {load['items_decided_per_s']:.0f} items decided per "
              f"second ({load['counters']['items_decided']:,} in all). Setup: migrate {t['migrate_s']:.0f} s, "
              f"{setup['faces']:,} faces written in {t['insert_s']:.0f} s (COPY), chunk promotion with its queue "
              f"{t['promote_and_queue_s']:.0f} s. Checked afterwards in the database: {results['check']['decisions']:,} "
              f"decisions and {results['check']['label_events']:,} label events written."]
    return "\n".join(lines)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(f"stopped by signal {signum}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 faces, 15 s of load")
    parser.add_argument("--faces", type=int, help="default 200,000 (quick 20,000)")
    parser.add_argument("--identities", type=int, default=2000)
    parser.add_argument("--promote", type=int, help="identities in the promoted chunk whose faces form the queue "
                                                    "(default: enough for the run, about 30,000 items)")
    parser.add_argument("--duration", type=float, help="seconds of measured load (default 60, quick 15)")
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--page", type=int, default=20, help="items per page")
    parser.add_argument("--threads", type=int, default=8, help="server threads")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--database", default=BENCH_DATABASE)
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database in place afterwards")
    parser.add_argument("--data", help="shared data folder (a few glint24 crops serve as every face's file)")
    parser.add_argument("--output-dir", type=Path, help="where api.json / api.md go (default bench/results/)")
    parser.add_argument("--load-generator", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)  # run the clean-up (server, database) when stopped
    if args.load_generator:  # the second process
        print(json.dumps(generate_load(json.loads(args.load_generator.read_text()))))
        return {}

    faces = args.faces or (20_000 if args.quick else 200_000)
    duration = args.duration or (15.0 if args.quick else 60.0)
    per_identity = 0.9 * faces / args.identities
    promote = args.promote or min(args.identities, max(1, int(np.ceil(30_000 / max(per_identity, 1e-9)))))
    data = common.shared_data_dir(args.data)
    base = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    url = bench_database_url(base, args.database)
    machine = common.machine_info()
    started = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="facecurator-bench-api-"))
    media = scratch / "media"
    server = None
    try:
        common.log(f"creating database {args.database} with {faces:,} faces")
        recreate_database(url)
        setup_django(url, media)
        setup = populate(faces=faces, identities=args.identities, promote=promote, data=data, media=media, seed=0)
        common.log(f"queue {setup['queue']} with {setup['queue_items']:,} items; setup {setup['timings']}")
        from django.db import connection

        connection.ensure_connection()
        postgres = connection.connection.info.server_version
        connection.close()
        port = free_port()
        server = start_server(database_url=url, media=media, port=port, threads=args.threads, workers=args.workers)
        wait_until_up(port, setup["tokens"][0], server)
        config_path = scratch / "load.json"
        config_path.write_text(json.dumps({"port": port, "queue": setup["queue"], "page": args.page,
                                           "duration_s": duration, "max_requests": args.max_requests,
                                           "identity_ids": setup["identity_ids"], "tokens": setup["tokens"]}))
        common.log(f"load: 8 annotators for {duration:.0f} s against 127.0.0.1:{port}")
        generator = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load-generator", str(config_path)],
                                   cwd=REPO, capture_output=True, text=True, timeout=duration + 300)
        if generator.returncode != 0:
            raise RuntimeError(f"the load generator failed:\n{generator.stderr[-3000:]}")
        load = summarise_load(json.loads(generator.stdout.strip().splitlines()[-1]))
        stop_server(server)
        server = None
        from django.db import connection as conn2

        from webapp.faces.models import LabelEvent
        from webapp.review.models import Decision

        check = {"decisions": Decision.objects.count(), "label_events": LabelEvent.objects.count()}
        conn2.close()
    finally:
        if server is not None:
            stop_server(server)
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            recreate_database(url, drop_only=True)
        shutil.rmtree(scratch, ignore_errors=True)
    setup = {k: v for k, v in setup.items() if k not in ("tokens", "identity_ids")}
    results = {
        "benchmark": "api",
        "machine": machine,
        "postgres": f"{postgres // 10000}.{postgres % 10000}",
        "config": {"quick": args.quick, "faces": faces, "identities": args.identities, "promote": promote,
                   "duration_s": duration, "max_requests": args.max_requests, "page": args.page,
                   "threads": args.threads, "workers": args.workers, "database": args.database,
                   "actions": dict(ACTIONS)},
        "setup": setup,
        "load": load,
        "check": check,
        "wall_s": time.perf_counter() - started,
    }
    text = markdown(results)
    common.write_results("api", results, text, out_dir=args.output_dir)
    print(text)
    return results


if __name__ == "__main__":
    main()
