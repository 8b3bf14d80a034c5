"""Fixtures for the Django apps: users per role, API clients, media in a temporary folder, a worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.conftest import REPO_ROOT

from .factories import UserFactory
from .s3 import moto_endpoint as moto_endpoint  # fixture shared by the S3 tests
from .s3 import s3_media as s3_media  # fixture shared by the S3 tests
from .test_training_fixtures import FaceSet, make_face_set


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Test users' passwords hashed in microseconds, not PBKDF2's deliberate second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """Throttle counters live in the cache: every test starts with none (the log-in failures that
    django-axes counts live in the database and go with each test's transaction)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def no_random_gold(settings):
    """Gold faces are mixed into review pages at random: off unless a test turns them on."""
    settings.FACECURATOR_GOLD_RATE = 0


@pytest.fixture(autouse=True)
def no_second_opinions(settings):
    """Relabels between two VIPs wait for a second annotator by default: off unless a test turns it on."""
    settings.FACECURATOR_SECOND_OPINION = []


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Every test writes media under its own temporary folder."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def admin_user(db):
    return UserFactory(username="alice-admin", role="admin")


@pytest.fixture
def annotator(db):
    return UserFactory(username="bob-annotator", role="annotator")


@pytest.fixture
def other_annotator(db):
    return UserFactory(username="carol-annotator", role="annotator")


@pytest.fixture
def no_role_user(db):
    return UserFactory(username="dave-norole")


def _client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def admin_client_api(admin_user) -> APIClient:
    return _client_for(admin_user)


@pytest.fixture
def annotator_client(annotator) -> APIClient:
    return _client_for(annotator)


@pytest.fixture
def other_annotator_client(other_annotator) -> APIClient:
    return _client_for(other_annotator)


def _database_url(settings_dict: dict) -> str:
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or "postgres"
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db, settings, media_in_tmp, tmp_path):
    """A real Celery worker process on the configured broker (Redis in `make test`), sharing the test DB.

    Tests using it must commit their rows (transactional_db) so the worker sees them.
    """
    from django.db import connection

    if settings.CELERY_BROKER_URL.startswith("redis://"):
        import redis

        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL).ping()
        except redis.ConnectionError:
            pytest.skip(f"Redis broker not reachable at {settings.CELERY_BROKER_URL}")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(media_in_tmp),
        "DJANGO_DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "worker.log"
    node = f"test-{uuid.uuid4().hex[:8]}@%h"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "webapp",
                "worker",
                "-Q",
                "default,gpu",
                "--pool",
                "solo",
                "-n",
                node,
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while b"ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"Celery worker did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    process.log_path = Path(log_path)
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_for_job(job_id: int, timeout: float = 120.0):
    """Poll a Job row until it finishes; returns it."""
    from webapp.core.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.is_finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {Job.objects.get(pk=job_id).__dict__}")


@pytest.fixture
def import_root(settings, tmp_path):
    """A folder API imports may read (FACECURATOR_IMPORT_ROOTS), and only that one."""
    root = tmp_path / "imports"
    root.mkdir()
    settings.FACECURATOR_IMPORT_ROOTS = [str(root)]
    return root


@pytest.fixture
def face_set(db) -> FaceSet:
    """A small world of VIPs, candidates and unknown faces with separable embeddings (make_face_set)."""
    return make_face_set()
