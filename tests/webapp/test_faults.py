"""Faults survived, nothing lost: a database that goes away answers a retryable 503, never a 500, and
decisions posted while PostgreSQL restarts are each either stored or refused as retryable.

The restart test starts its OWN PostgreSQL cluster (initdb/pg_ctl on a free port in a temporary folder,
run as the ``postgres`` user) and its own web server: the machine's shared servers are never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PG_BIN = (
    next((Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)
    if Path("/usr/lib/postgresql").exists()
    else None
)


@pytest.mark.django_db
def test_a_lost_database_connection_is_a_retryable_503_not_a_500(annotator, settings, monkeypatch):
    from django.db import OperationalError
    from rest_framework.test import APIClient

    from webapp.training import selectors

    def lost():
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(selectors, "curation_status", lost)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(annotator)
    response = client.get("/api/v1/status/")
    assert response.status_code == 503 and response["Retry-After"]
    assert response.json()["retryable"] is True and "Retry" in response.json()["detail"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*command: str, **kwargs) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture
def private_postgres():
    """A throwaway PostgreSQL cluster on a free port; yields (url, restart)."""
    if PG_BIN is None or not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("runuser is needed to run initdb as the postgres user")
    folder = Path(tempfile.mkdtemp(prefix="fc-faults-pg-"))
    os.chmod(folder, 0o777)
    data, port = folder / "data", _free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w"]
    _as_postgres(*pg_ctl, "start")

    def restart():
        _as_postgres(*pg_ctl, "-m", "fast", "restart")

    try:
        _as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "faults")
        yield f"postgres://postgres@127.0.0.1:{port}/faults", restart
    finally:
        try:
            _as_postgres(*pg_ctl, "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(folder, ignore_errors=True)


SEED = """
from rest_framework.authtoken.models import Token
from tests.webapp.factories import FaceFactory, IdentityFactory, UserFactory
from webapp.review.models import Item, Queue
user = UserFactory(username="annie", role="annotator")
ada = IdentityFactory(name="Ada", role="vip")
queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="restart")
for n in range({items}):
    Item.objects.create(queue=queue, face=FaceFactory(identity=ada), identity=ada, score=1 - n / 1000)
print(Token.objects.create(user=user).key, queue.pk)
"""

COUNT = """
from webapp.review.models import Decision
print(sorted(Decision.objects.values_list("item_id", flat=True)))
"""


@pytest.mark.slow
def test_decisions_posted_while_postgresql_restarts_are_stored_or_refused_as_retryable(private_postgres, tmp_path):
    import requests

    url, restart = private_postgres
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_CONN_MAX_AGE": "60",
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": "faults-test-only",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PYTHONUNBUFFERED": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=REPO_ROOT, env=env, check=True, timeout=300)
    items = 40
    seeded = subprocess.run(
        [*manage, "shell", "-c", SEED.format(items=items)],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()
    token, queue_id = seeded[-2], int(seeded[-1])  # the last line (shell prints its auto-imports first)
    port = _free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if session.get(f"{base}/me/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            time.sleep(0.3)
        leased = session.post(f"{base}/review/queues/{queue_id}/next/", json={"limit": items}, timeout=30).json()
        stored, refused, answers = set(), 0, []
        restarting = threading.Thread(target=restart)
        for n, item in enumerate(leased):
            if n == items // 4:
                restarting.start()  # PostgreSQL goes away and comes back while decisions keep coming
            for _attempt in range(20):
                response = session.post(
                    f"{base}/review/decisions/",
                    json={"decisions": [{"item": item["id"], "action": "confirm"}]},
                    timeout=30,
                )
                answers.append(response.status_code)
                if response.status_code == 201:
                    stored.add(item["id"])
                    break
                assert response.status_code == 503, (response.status_code, response.text[:500])
                assert response.json()["retryable"] is True
                refused += 1
                time.sleep(0.2)
        restarting.join(timeout=120)
        assert 500 not in answers
        assert stored == {item["id"] for item in leased} and len(leased) == items
    finally:
        server.terminate()
        server.wait(timeout=20)
    in_db = (
        subprocess.run(
            [*manage, "shell", "-c", COUNT],
            cwd=REPO_ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert in_db == str(sorted(stored)), f"every 201 is a stored decision, nothing else ({refused} retryable 503s)"
