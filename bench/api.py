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
two Celery workers (solo pool) take the ``gpu`` and ``default`` queues, as in production. The
write throttle stays at its production rate. After a 60 s warm-up (quick: 10 s) the window is
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
COPY_CHUNK = 50_000
SERVER_APP_NAME = "facecurator-bench-web"
KEEP_ALIVE_S = 30  # gunicorn --keep-alive


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


def populate(*, faces: int, identities: int, promote: int, data: Path, media: Path, seed: int,
             annotators: int = 8, training_run: bool = False) -> dict[str, Any]:
    """Migrate, write identities and faces (COPY), promote a chunk (its review queue), create
    annotators (and an admin); with ``training_run``, start a training run (its job waits in the
    broker until a worker takes it)."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from ml.embedders import SFaceEmbedder
    from ml.splits import split_for_group
    from webapp.core.accounts import user_create
    from webapp.faces.models import Face
    from webapp.identities.models import Identity
    from webapp.review.models import Item
    from webapp.training.services import chunk_promote, training_run_start

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
    person_pk = [p.pk for p in people]
    rng = np.random.default_rng(seed)
    centroids = rng.normal(size=(identities, EMBEDDING_DIM)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    known = int(round(0.9 * faces))
    owner = np.full(faces, -1, dtype=np.int64)
    owner[:known] = np.arange(known) % identities
    now = timezone.now()
    columns = ["crop", "thumbnail", "source", "source_path", "content_sha256", "group_key", "identity_id", "status",
               "split", "version", "embedding", "embedding_model", "detector_score", "quality", "created_at",
               "updated_at"]
    fields = {f.attname: f.column for f in Face._meta.concrete_fields}
    table = Face._meta.db_table
    connection.ensure_connection()
    with connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({', '.join(fields[c] for c in columns)}) FROM STDIN") as copy:
            for lo in range(0, faces, COPY_CHUNK):  # embeddings made a chunk at a time: 1M faces in ~100 MB
                own = owner[lo:lo + COPY_CHUNK]
                vectors = np.where(own[:, None] >= 0, centroids[np.maximum(own, 0)], 0.0)
                vectors = vectors + rng.normal(scale=0.06, size=vectors.shape)  # ~cosine 0.6 to the centroid, like SFace
                vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
                for j, person in enumerate(own.tolist()):
                    i = lo + j
                    group = f"crop:bench/{i}"
                    copy.write_row((crops[i % len(crops)], "", Face.Source.CROP, f"bench/{i}.jpg", "", group,
                                    person_pk[person] if person >= 0 else None, Face.Status.UNVERIFIED,
                                    split_for_group(group), 0, vectors[j].tobytes(), SFaceEmbedder.name,
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
    for i in range(annotators):
        user = user_create(username=f"annotator{i}", password=None, role="annotator")
        tokens.append(Token.objects.create(user=user).key)
    admin = user_create(username="bench-admin", password=None, role="admin")
    run = None
    if training_run:
        clock = time.perf_counter()
        run = training_run_start(user=admin, note="bench/api.py: trains while the annotators work")
        timings["training_run_start_s"] = time.perf_counter() - clock
    return {
        "timings": timings,
        "queue": queue.pk,
        "queue_items": queue.items.count(),
        "identity_ids": [p.pk for p in people[:200]],
        "tokens": tokens,
        "admin_token": Token.objects.create(user=admin).key,
        "training_run": run.pk if run else None,
        "training_job": run.job_id if run else None,
        "training_samples": run.counts.get("total") if run else None,
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


def server_env(*, database_url: str, media: Path, secret: str, human_pace: bool) -> dict[str, str]:
    """The environment of the server and workers: debug off, persistent connections. Scripted
    annotators without think time measure capacity, so the per-user write throttle (600/min, for
    people) is lifted for them; annotators at a human pace (``human_pace``) keep it."""
    env = {**os.environ, "DATABASE_URL": database_url, "MEDIA_ROOT": str(media), "DJANGO_DEBUG": "0",
           "SECRET_KEY": secret, "ALLOWED_HOSTS": "127.0.0.1", "DATABASE_CONN_MAX_AGE": "300",
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "webapp.settings"}
    if not human_pace:
        env["THROTTLE_USER_WRITE_RATE"] = "1000000/min"
    return env


def start_server(*, env: dict[str, str], port: int, threads: int, workers: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind", f"127.0.0.1:{port}",
               "--worker-class", "gthread", "--workers", str(workers), "--threads", str(threads),
               "--log-level", "warning", "--timeout", "120", "--keep-alive", str(KEEP_ALIVE_S)]
    # PGAPPNAME names the server's database connections, so their backends' CPU can be read too.
    return subprocess.Popen(command, cwd=REPO, env={**env, "PGAPPNAME": SERVER_APP_NAME})


def start_worker(*, env: dict[str, str], queues: str, name: str) -> subprocess.Popen:
    """A Celery worker (solo pool: one process) on ``queues``."""
    command = [sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", queues, "--pool", "solo",
               "-n", f"{name}@bench", "-l", "WARNING", "--without-gossip", "--without-mingle"]
    return subprocess.Popen(command, cwd=REPO, env={**env, "PGAPPNAME": f"facecurator-bench-{name}"})


def stop_worker(worker: subprocess.Popen) -> None:
    """Cold shutdown (SIGQUIT): a training run still going is abandoned, not waited for."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGQUIT)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


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


class Sampler(threading.Thread):
    """Every ``interval`` seconds: the web worker processes' RSS and CPU, the CPU of the PostgreSQL
    backends serving them (connections named ``SERVER_APP_NAME``), the Celery workers' CPU and the
    machine's busy share. Samples carry wall-clock times, to be cut to the load generator's window."""

    def __init__(self, *, server: subprocess.Popen, workers: list[subprocess.Popen], database_url: str,
                 interval: float = 5.0):
        super().__init__(daemon=True)
        self.server, self.workers, self.database_url, self.interval = server, workers, database_url, interval
        self.samples: list[dict[str, Any]] = []
        self.stopped = threading.Event()

    def _backends(self, conn: Any) -> list[int]:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                            "AND application_name = %s", [SERVER_APP_NAME]).fetchall()
        return [pid for (pid,) in rows]

    def sample(self, conn: Any) -> dict[str, Any]:
        web = common.proc_children(self.server.pid)
        busy, total = common.machine_cpu_jiffies()
        backends = {}
        for pid in self._backends(conn):
            cpu = common.proc_cpu_seconds(pid)
            if cpu is not None:
                backends[pid] = cpu
        return {
            "t": time.time(),
            "web_rss_mib": sum(common.proc_rss_mib(pid) or 0.0 for pid in web),
            "web_cpu_s": sum(common.proc_cpu_seconds(pid) or 0.0 for pid in web),
            "web_pids": web,
            "db_backends": backends,
            "workers_cpu_s": sum(common.proc_cpu_seconds(w.pid) or 0.0 for w in self.workers),
            "machine_busy_jiffies": busy, "machine_total_jiffies": total,
            "load_average": os.getloadavg()[0],
        }

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True, application_name="facecurator-bench-sampler") as conn:
            while not self.stopped.is_set():
                self.samples.append(self.sample(conn))
                self.stopped.wait(self.interval)
            self.samples.append(self.sample(conn))

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)


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


def generate_open_load(config: dict[str, Any]) -> dict[str, Any]:
    """Open loop with think time: each annotator posts the decisions of its page and leases the next
    one at times drawn in advance (every ``think`` seconds, uniform), whatever the answers took,
    so a slow server meets the same arrivals (a request that starts late is counted as late).
    An admin starts a face import of a new folder every ``import_every_s`` seconds.

    Records carry wall-clock start times; those before ``warmup_s`` are not measured."""
    port, queue, page = config["port"], config["queue"], config["page"]
    think_min, think_max = config["think_s"]
    identity_ids = config["identity_ids"]
    began = time.time()
    measure_from = began + config["warmup_s"]
    end = measure_from + config["duration_s"]
    lock = threading.Lock()
    records: list[tuple[str, float, float, int, float]] = []  # endpoint, start (epoch s), latency s, status, late s
    counters = {"items_decided": 0, "pages": 0, "empty_pages": 0, "failed_leases": 0, "imports_started": 0}

    idle_since: dict[int, float] = {}

    def call(conn: http.client.HTTPConnection, token: str, path: str, body: dict) -> tuple[int, Any, float, float]:
        # Like a browser, never reuse a connection the server may have closed meanwhile (gunicorn
        # drops one idle for --keep-alive 30 s; think times reach 40 s): open a new one instead.
        if time.monotonic() - idle_since.get(id(conn), time.monotonic()) > KEEP_ALIVE_S - 5:
            conn.close()
        payload = json.dumps(body).encode()
        started, clock = time.time(), time.perf_counter()
        try:
            conn.request("POST", path, body=payload, headers={"Authorization": f"Token {token}",
                                                             "Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            return 0, None, started, time.perf_counter() - clock
        latency = time.perf_counter() - clock
        idle_since[id(conn)] = time.monotonic()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return response.status, parsed, started, latency

    def record(endpoint: str, status: int, started: float, latency: float, due: float) -> None:
        with lock:
            records.append((endpoint, started, latency, status, max(0.0, started - due)))

    def annotator(index: int, token: str) -> None:
        rng = np.random.default_rng(1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        due = began + rng.uniform(0, think_max)  # arrivals spread over the first think time
        items: list[dict] = []
        while True:
            wait = min(due, end) - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() >= end:
                break
            arrival_due = due  # how late an arrival starts: its first request only (the lease follows the post)
            if items:
                decisions = []
                for item in items:
                    action = str(rng.choice([a for a, _ in ACTIONS], p=[p for _, p in ACTIONS]))
                    decision = {"item": item["id"], "action": action, "version": item["face"]["version"]}
                    if action == "relabel":
                        decision["identity"] = int(rng.choice([i for i in identity_ids if i != item["face"]["identity"]]))
                    decisions.append(decision)
                status, _, started, latency = call(conn, token, "/api/v1/review/decisions/", {"decisions": decisions})
                record("decisions", status, started, latency, arrival_due)
                arrival_due = time.time()
                with lock:
                    counters["pages"] += 1
                    if status == 201:
                        counters["items_decided"] += sum(d["action"] != "skip" for d in decisions)
            status, body, started, latency = call(conn, token, f"/api/v1/review/queues/{queue}/next/", {"limit": page})
            record("next", status, started, latency, arrival_due)
            items = body if status == 200 and isinstance(body, list) else []
            if not items:
                with lock:
                    counters["empty_pages" if status == 200 else "failed_leases"] += 1
            due += rng.uniform(think_min, think_max)
        conn.close()

    def importer() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        due = began + config["import_every_s"] / 2
        for n, batch in enumerate(config["import_batches"]):
            wait = min(due, end) - time.time()
            if wait > 0:
                time.sleep(wait)
            if time.time() >= end:
                break
            folder = Path(config["import_root"]) / f"batch-{n:03d}"
            for identity, source in batch:
                target = folder / identity / Path(source).name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            status, _, started, latency = call(conn, config["admin_token"], "/api/v1/imports/faces/",
                                               {"path": str(folder), "cropped": True})
            record("import", status, started, latency, due)
            with lock:
                counters["imports_started"] += int(status == 202)
            due += config["import_every_s"]
        conn.close()

    threads = [threading.Thread(target=annotator, args=(i, token), daemon=True) for i, token in enumerate(config["tokens"])]
    if config["import_batches"]:
        threads.append(threading.Thread(target=importer, daemon=True))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"began": began, "measure_from": measure_from, "end": time.time(), "records": records,
            "counters": counters, "annotators": len(config["tokens"])}


def _latency_summary(rows: list, ok: int, window: float) -> dict[str, Any]:
    latencies = np.array([r[2] for r in rows]) * 1000
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
    return {
        "requests": len(rows),
        "errors": len(rows) - statuses.get(str(ok), 0),
        "statuses": statuses,
        "requests_per_s": len(rows) / window if window else None,
        **({f"p{q}_ms": float(np.percentile(latencies, q)) for q in (50, 95, 99)} if len(rows) else {}),
        "mean_ms": float(latencies.mean()) if len(rows) else None,
        "max_ms": float(latencies.max()) if len(rows) else None,
    }


def summarise_open_load(raw: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Latencies per endpoint in the measured window; the server's CPU per request and RSS over the
    same window (from the samples inside it); the machine's busy share and load meanwhile."""
    start, end = raw["measure_from"], raw["end"]
    inside = [s for s in samples if start <= s["t"] <= end]
    if len(inside) < 2:
        raise RuntimeError(f"only {len(inside)} resource samples inside the measured window")
    first, last = inside[0], inside[-1]
    window = last["t"] - first["t"]
    measured = [r for r in raw["records"] if start <= r[1] <= end]
    out: dict[str, Any] = {"elapsed_s": end - start, "annotators": raw["annotators"], "endpoints": {}}
    for endpoint, ok in (("next", 200), ("decisions", 201), ("import", 202)):
        out["endpoints"][endpoint] = _latency_summary([r for r in measured if r[0] == endpoint], ok, end - start)
    lateness = np.array([r[4] for r in measured if r[0] != "import"])
    out["late_starts"] = {"over_1s": int((lateness > 1).sum()), "max_s": float(lateness.max()) if len(lateness) else 0}
    # CPU per request: the requests that started between the first and the last sample in the window
    served = sum(1 for r in measured if first["t"] <= r[1] <= last["t"])
    db_cpu = 0.0
    for pid, cpu in last["db_backends"].items():
        seen = [s["db_backends"][pid] for s in inside if pid in s["db_backends"]]
        db_cpu += cpu - seen[0]  # a connection opened inside the window: from its first sample
    rss = np.array([s["web_rss_mib"] for s in inside])
    minutes = np.array([(s["t"] - first["t"]) / 60 for s in inside])
    slope = float(np.polyfit(minutes, rss, 1)[0]) if len(inside) >= 3 else None
    half = len(inside) // 2
    out["server"] = {
        "window_s": window,
        "requests_in_window": served,
        "web_cpu_ms_per_request": 1000 * (last["web_cpu_s"] - first["web_cpu_s"]) / served if served else None,
        "db_cpu_ms_per_request": 1000 * db_cpu / served if served else None,
        "web_cpu_share": (last["web_cpu_s"] - first["web_cpu_s"]) / window,
        "workers_cpu_share": (last["workers_cpu_s"] - first["workers_cpu_s"]) / window,
        "machine_busy_share": ((last["machine_busy_jiffies"] - first["machine_busy_jiffies"])
                               / max(1, last["machine_total_jiffies"] - first["machine_total_jiffies"])),
        "load_average": common.spread([s["load_average"] for s in inside]),
        "rss_mib": {"start": float(rss[0]), "end": float(rss[-1]), "min": float(rss.min()), "max": float(rss.max()),
                    "slope_mib_per_min": slope,
                    "second_half_slope_mib_per_min": (float(np.polyfit(minutes[half:], rss[half:], 1)[0])
                                                      if len(inside) - half >= 3 else None)},
        "rss_timeline": [[round(float(m), 2), round(float(r), 1)] for m, r in zip(minutes, rss, strict=True)],
        "web_processes": sorted({pid for s in inside for pid in s["web_pids"]}),
    }
    out["counters"] = raw["counters"]
    out["items_decided_per_s"] = raw["counters"]["items_decided"] / (raw["end"] - raw["began"])
    return out


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


def open_markdown(results: dict[str, Any]) -> str:
    cfg, setup, load, check = results["config"], results["setup"], results["load"], results["check"]
    server, rss = load["server"], load["server"]["rss_mib"]
    background = check["background"]
    training = background.get("training")
    minutes = cfg["duration_s"] / 60
    lines = [
        "# Review API held under load: open loop with think time",
        "",
        f"Machine: {common.machine_line(results['machine'])}. PostgreSQL {results['postgres']} on the same machine.",
        f"Database `{cfg['database']}`: {setup['faces']:,} faces, {setup['identities']:,} identities; review queue "
        f"of {setup['queue_items']:,} items (chunk of {cfg['promote']} promoted identities). Server: gunicorn, "
        f"{cfg['workers']} gthread worker process × {cfg['threads']} threads, debug off, production write throttle. "
        f"Load: {cfg['annotators']} annotators, each posting the decisions on its page and leasing the next page of "
        f"{cfg['page']} every {cfg['think_s'][0]:.0f}-{cfg['think_s'][1]:.0f} s (uniform; arrivals drawn in advance, "
        f"open loop), {minutes:.1f} min measured after a {cfg['warmup_s']:.0f} s warm-up. Meanwhile "
        + (f"an admin imports {cfg['import_size']} glint24 crops every {cfg['import_every_s']:.0f} s (SFace in a "
           f"Celery worker) " if cfg["import_every_s"] else "no imports ")
        + (f"and a training run on all {setup['training_samples']:,} faces trains in a second worker." if training
           else "and no training run.")
        + (" Quick run: indicative only." if cfg["quick"] else ""),
        "",
    ]
    rows = []
    names = {"next": "lease a page (`POST queues/{id}/next/`)", "decisions": "post a page of decisions",
             "import": "start an import (admin)"}
    for endpoint, e in load["endpoints"].items():
        if not e["requests"]:
            continue
        rows.append([names[endpoint], f"{e['requests']:,}", f"{e['requests_per_s']:.2f}",
                     *("—" if e.get(k) is None else f"{e[k]:.0f}" for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms")),
                     f"{e['errors']}"])
    lines.append(common.md_table(["endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"],
                                 rows))
    load_avg = server["load_average"]
    lines += [
        "",
        f"Server cost: **{server['web_cpu_ms_per_request']:.1f} ms of web-process CPU per request** and "
        f"{server['db_cpu_ms_per_request']:.1f} ms of PostgreSQL CPU (the backends of the server's connections), "
        f"over the {server['requests_in_window']:,} requests of the measured window; the web process used "
        f"{server['web_cpu_share']:.0%} of one core, the Celery workers {server['workers_cpu_share']:.0%}.",
        f"Web process memory (RSS): {rss['start']:.0f} MiB at the start of the window, {rss['end']:.0f} MiB at the "
        f"end (min {rss['min']:.0f}, max {rss['max']:.0f}; trend {rss['slope_mib_per_min']:+.2f} MiB/min over the "
        f"window"
        + (f", {rss['second_half_slope_mib_per_min']:+.2f} MiB/min over its second half" if rss.get(
            "second_half_slope_mib_per_min") is not None else "") + ").",
        f"Machine load meanwhile: all CPUs {server['machine_busy_share']:.0%} busy, load average "
        f"{load_avg['mean']:.1f} (min {load_avg['min']:.1f}, max {load_avg['max']:.1f}) on {results['machine'].get('logical_cpus')} "
        f"logical CPUs shared with other work. Annotator arrivals that started more than 1 s after their planned "
        f"time (the server kept them waiting past it): {load['late_starts']['over_1s']} (latest "
        f"{load['late_starts']['max_s']:.1f} s).",
        f"Background work done: import jobs {background['import_jobs'] or 'none'}, {background['faces_imported']:,} "
        f"faces imported"
        + (f"; training run {training['state']} at {training['progress']:.0%} ({training['message'] or 'no message'})"
           + (f", error: {training['error']}" if training["error"] else "") if training else "") + ".",
        f"Decided {load['counters']['items_decided']:,} items in {load['counters']['pages']:,} pages "
        f"({load['counters']['empty_pages']} empty pages). Setup: {setup['faces']:,} faces written in "
        f"{setup['timings']['insert_s']:.0f} s (COPY), chunk promotion with its queue "
        f"{setup['timings']['promote_and_queue_s']:.0f} s"
        + (f", training run start (its snapshot of every face) {setup['timings']['training_run_start_s']:.0f} s"
           if "training_run_start_s" in setup["timings"] else "")
        + f". Checked afterwards in the database: {check['decisions']:,} decisions and {check['label_events']:,} label "
        f"events written.",
    ]
    timeline = server["rss_timeline"]
    if len(timeline) > 2:
        step = max(1, len(timeline) // 10)
        picked = timeline[::step] + ([timeline[-1]] if (len(timeline) - 1) % step else [])
        lines += ["", "RSS of the web process over the window:", "",
                  common.md_table(["minute", *(f"{m:.1f}" for m, _ in picked)],
                                  [["MiB", *(f"{r:.0f}" for _, r in picked)]])]
    return "\n".join(lines)


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
    picked = [files[i] for i in order[:batches * size]]
    return [picked[n * size:(n + 1) * size] for n in range(len(picked) // size)]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 faces and a short load (closed loop 15 s; "
                                                             "open loop 30 s after a 10 s warm-up)")
    parser.add_argument("--open-loop", action="store_true",
                        help="annotators at a human pace (think time), with imports and a training run going on; "
                             "1,000,000 faces, 50 annotators, pages of 40 every 20-40 s, 5 minutes measured")
    parser.add_argument("--soak", type=parse_duration, metavar="DURATION",
                        help="open loop for this long (600, 10m, 30m): implies --open-loop")
    parser.add_argument("--faces", type=int, help="default 200,000; open loop 1,000,000; quick 20,000")
    parser.add_argument("--identities", type=int, default=2000)
    parser.add_argument("--promote", type=int, help="identities in the promoted chunk whose faces form the queue "
                                                    "(default: enough items for the run)")
    parser.add_argument("--duration", type=float, help="seconds of measured load (default 60, quick 15; open loop: "
                                                       "300, quick 30)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="closed loop: stop after this many")
    parser.add_argument("--annotators", type=int, help="default 8; open loop 50")
    parser.add_argument("--page", type=int, help="items per page (default 20; open loop 40)")
    parser.add_argument("--think", type=float, nargs=2, metavar=("MIN", "MAX"),
                        help="open loop: seconds between an annotator's pages, uniform (default 20 40)")
    parser.add_argument("--warmup", type=float, help="open loop: seconds before measuring (default 60; quick 10)")
    parser.add_argument("--import-every", type=float, help="open loop: seconds between face imports (default 60; "
                                                           "quick 15); 0 for none")
    parser.add_argument("--import-size", type=int, help="open loop: glint24 crops per import (default 40; quick 10)")
    parser.add_argument("--no-training", action="store_true", help="open loop: no training run meanwhile")
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
        annotators, page, think, warmup, import_every, import_size = args.annotators or 8, args.page or 20, None, 0.0, 0, 0
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
    server, workers, sampler = None, [], None
    try:
        common.log(f"creating database {args.database} with {faces:,} faces")
        recreate_database(url)
        setup_django(url, media)
        setup = populate(faces=faces, identities=args.identities, promote=promote, data=data, media=media, seed=0,
                         annotators=annotators, training_run=open_loop and not args.no_training)
        common.log(f"queue {setup['queue']} with {setup['queue_items']:,} items; setup {setup['timings']}")
        from django.db import connection

        connection.ensure_connection()
        postgres = connection.connection.info.server_version
        connection.close()
        port = free_port()
        env = server_env(database_url=url, media=media, secret=secrets.token_urlsafe(40), human_pace=open_loop)
        server = start_server(env=env, port=port, threads=args.threads, workers=args.workers)
        wait_until_up(port, setup["tokens"][0], server)
        config = {"port": port, "queue": setup["queue"], "page": page, "duration_s": duration,
                  "max_requests": args.max_requests, "identity_ids": setup["identity_ids"], "tokens": setup["tokens"]}
        if open_loop:
            (media / "imports").mkdir(parents=True, exist_ok=True)
            batches = (import_batches(data, batches=int((warmup + duration) // import_every) + 1, size=import_size,
                                      seed=1) if import_every > 0 else [])
            config.update(open_loop=True, think_s=think, warmup_s=warmup, import_every_s=import_every,
                          import_batches=batches, import_root=str(media / "imports"), admin_token=setup["admin_token"])
            # a worker for the training run (gpu queue) and one for imports (default), as in production
            workers = [start_worker(env=env, queues="gpu", name="gpu"), start_worker(env=env, queues="default",
                                                                                   name="default")]
            sampler = Sampler(server=server, workers=workers, database_url=url,
                              interval=max(0.5, min(5.0, duration / 20)))
            sampler.start()
        config_path = scratch / "load.json"
        config_path.write_text(json.dumps(config))
        common.log(f"load: {annotators} annotators, {'open loop, think ' + str(think) + ' s' if open_loop else 'closed loop'}"
                   f", {duration:.0f} s measured, against 127.0.0.1:{port}")
        generator = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load-generator", str(config_path)],
                                   cwd=REPO, capture_output=True, text=True, timeout=warmup + duration + 300)
        if generator.returncode != 0:
            raise RuntimeError(f"the load generator failed:\n{generator.stderr[-3000:]}")
        raw = json.loads(generator.stdout.strip().splitlines()[-1])
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
        conn2.close()
    finally:
        if sampler is not None and sampler.is_alive():
            sampler.stop()
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
        "config": {"quick": args.quick, "open_loop": open_loop, "faces": faces, "identities": args.identities,
                   "promote": promote, "duration_s": duration, "max_requests": args.max_requests, "page": page,
                   "annotators": annotators, "threads": args.threads, "workers": args.workers,
                   "database": args.database, "actions": dict(ACTIONS),
                   **({"think_s": think, "warmup_s": warmup, "import_every_s": import_every,
                       "import_size": import_size, "training_run": not args.no_training} if open_loop else {})},
        "setup": setup,
        "load": load,
        "check": check,
        "wall_s": time.perf_counter() - started,
    }
    text = open_markdown(results) if open_loop else markdown(results)
    common.write_results(name, results, text, out_dir=args.output_dir)
    print(text)
    return results


def background_state(*, training_job: int | None) -> dict[str, Any]:
    """What the workers got done meanwhile: the training run's job, the import jobs and their faces."""
    from django.db.models import Count

    from webapp.core.models import Job

    jobs = {row["state"]: row["n"] for row in
            Job.objects.filter(kind="media.import_faces").values("state").annotate(n=Count("id"))}
    imported = sum((job.result or {}).get("faces_created", 0) or 0 for job in
                   Job.objects.filter(kind="media.import_faces", state=Job.State.SUCCEEDED))
    state: dict[str, Any] = {"import_jobs": jobs, "faces_imported": imported}
    if training_job:
        job = Job.objects.get(pk=training_job)
        state["training"] = {"state": job.state, "progress": job.progress, "message": job.message[:200],
                             "error": job.error.splitlines()[-1][:300] if job.error else ""}
    return state


if __name__ == "__main__":
    main()
