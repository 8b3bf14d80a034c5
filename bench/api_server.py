"""The processes the API benchmark measures: gunicorn and two Celery workers as in production, and
a sampler of their memory and CPU (and their database backends') while the load runs."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import common

SERVER_APP_NAME = "facecurator-bench-web"


KEEP_ALIVE_S = 30  # gunicorn --keep-alive


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(*, database_url: str, media: Path, secret: str, human_pace: bool) -> dict[str, str]:
    """The environment of the server and workers: debug off, persistent connections. Scripted
    annotators without think time measure capacity, so the per-user write throttle (600/min, for
    people) is lifted for them; annotators at a human pace (``human_pace``) keep it."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(media),
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secret,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_CONN_MAX_AGE": "300",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }
    if not human_pace:
        env["THROTTLE_USER_WRITE_RATE"] = "1000000/min"
    return env


def start_server(*, env: dict[str, str], port: int, threads: int, workers: int) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "webapp.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        "gthread",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--timeout",
        "120",
        "--keep-alive",
        str(KEEP_ALIVE_S),
    ]
    # PGAPPNAME names the server's database connections, so their backends' CPU can be read too.
    return subprocess.Popen(command, cwd=common.REPO, env={**env, "PGAPPNAME": SERVER_APP_NAME})


def start_worker(*, env: dict[str, str], queues: str, name: str) -> subprocess.Popen:
    """A Celery worker (solo pool: one process) on ``queues``."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "webapp",
        "worker",
        "-Q",
        queues,
        "--pool",
        "solo",
        "-n",
        f"{name}@bench",
        "-l",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
    ]
    return subprocess.Popen(command, cwd=common.REPO, env={**env, "PGAPPNAME": f"facecurator-bench-{name}"})


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

    def __init__(
        self,
        *,
        server: subprocess.Popen,
        workers: list[subprocess.Popen],
        database_url: str,
        interval: float = 5.0,
        training_job: int | None = None,
    ):
        super().__init__(daemon=True)
        self.server, self.workers, self.database_url, self.interval = server, workers, database_url, interval
        self.training_job = training_job
        self.samples: list[dict[str, Any]] = []
        self.stopped = threading.Event()

    def _postgres(self, conn: Any) -> tuple[dict[int, float], dict[int, float], list[str]]:
        """From one look at pg_stat_activity: CPU seconds of the server's backends (connections named
        ``SERVER_APP_NAME`` in this database), of every other PostgreSQL process (the workers'
        connections, autovacuum, checkpointer, WAL writer, ...) and what autovacuum is doing now."""
        rows = conn.execute(
            "SELECT pid, backend_type, coalesce(application_name, ''), coalesce(query, ''), "
            "datname = current_database() FROM pg_stat_activity"
        ).fetchall()
        server: dict[int, float] = {}
        other: dict[int, float] = {}
        vacuums = []
        for pid, backend_type, app, query, here in rows:
            if app == "facecurator-bench-sampler":
                continue
            seconds = common.proc_cpu_seconds(pid)
            if app == SERVER_APP_NAME:
                if here and seconds is not None:
                    server[pid] = seconds
                continue
            if seconds is not None:
                other[pid] = seconds
            if backend_type == "autovacuum worker" and query:
                vacuums.append(query.removeprefix("autovacuum: ")[:80])
        return server, other, vacuums

    def _training(self, conn: Any) -> list[Any] | None:
        if not self.training_job:
            return None
        row = conn.execute("SELECT progress, message FROM core_job WHERE id = %s", [self.training_job]).fetchone()
        return [float(row[0]), str(row[1])[:80]] if row else None

    def sample(self, conn: Any) -> dict[str, Any]:
        web = common.proc_children(self.server.pid)
        busy, total = common.machine_cpu_jiffies()
        backends, other_postgres, vacuums = self._postgres(conn)
        return {
            "other_postgres": other_postgres,
            "autovacuum": vacuums,
            "training": self._training(conn),
            "t": time.time(),
            "web_rss_mib": sum(common.proc_rss_mib(pid) or 0.0 for pid in web),
            "web_cpu_s": sum(common.proc_cpu_seconds(pid) or 0.0 for pid in web),
            "web_pids": web,
            "db_backends": backends,
            "workers_cpu_s": sum(common.proc_cpu_seconds(w.pid) or 0.0 for w in self.workers),
            "machine_busy_jiffies": busy,
            "machine_total_jiffies": total,
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


#: The tables a review load updates, which autovacuum would keep clean.
VACUUMED_TABLES = ("review_item", "faces_face", "review_decision", "faces_labelevent", "core_job")


class VacuumStandIn(threading.Thread):
    """Stands in for autovacuum where the PostgreSQL server runs without it (``autovacuum = off``, as on
    some shared development machines): every ``interval`` seconds (autovacuum's default naptime),
    ``VACUUM (ANALYZE)`` of the tables the load updates. Without it every lease and decision leaves dead
    row versions behind (no update of an item or a face is HOT: indexed columns change), and a decision
    post slowed from 42 to 126 ms wall after 60,000 decisions, back to 39 ms after one VACUUM
    (``bench/README.md``). Production PostgreSQL runs autovacuum (its default); the README says to keep it."""

    def __init__(self, *, database_url: str, interval: float = 60.0):
        super().__init__(daemon=True)
        self.database_url, self.interval = database_url, interval
        self.runs: list[float] = []  # seconds each pass took
        self.stopped = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True, application_name="facecurator-bench-vacuum") as conn:
            conn.execute("SET vacuum_cost_delay = '2ms'")  # throttled as autovacuum is by default
            while not self.stopped.wait(self.interval):
                started = time.perf_counter()
                for table in VACUUMED_TABLES:
                    conn.execute(f"VACUUM (ANALYZE) {table}")
                self.runs.append(time.perf_counter() - started)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=600)


def server_autovacuum(database_url: str) -> bool:
    """Whether the PostgreSQL server runs autovacuum."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    return row is not None and row[0] == "on"
