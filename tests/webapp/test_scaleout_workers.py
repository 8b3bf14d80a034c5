"""Web, CPU and GPU workers as separate hosts: real Celery worker processes, each with its own local
folders, share only PostgreSQL, Redis and the S3-compatible store (moto on loopback).

A worker is killed (SIGKILL) in the middle of a task: the broker redelivers the task (Redis
visibility timeout, 3 s here) to a worker started afterwards, and the job completes once, with
nothing lost or duplicated; a training run whose GPU worker died fails with how to restart it,
the active model unchanged, and an admin's restart trains it on another worker.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.identities.models import Identity

from .conftest import _database_url, wait_for_job
from .factories import FaceFactory, IdentityFactory, jpeg_bytes
from .s3 import files_under
from .test_training_fixtures import QUICK, make_face_set, person_vectors

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VISIBILITY_TIMEOUT = 3  # seconds before Redis hands an unacknowledged task to another worker
VERSIONS = "/api/v1/exports/versions/"


class Hosts:
    """Starts worker processes as if each ran on its own host: own var/ folder (artefact cache), same
    database, broker and store, consuming both queues (default and gpu)."""

    def __init__(self, *, tmp_path: Path, media_root: Path, s3, broker_url: str):
        from django.db import connection

        self.tmp_path, self.processes = tmp_path, []
        self.env = {
            **os.environ,
            **s3.worker_env(),
            "DJANGO_SETTINGS_MODULE": "tests.webapp.scaleout_settings",
            "DATABASE_URL": _database_url(connection.settings_dict),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            "MEDIA_ROOT": str(media_root),
            "FACECURATOR_IMPORT_ROOTS": str(tmp_path),  # the folders the tests import over the API
            "DJANGO_DEBUG": "1",
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, name: str) -> subprocess.Popen:
        var = self.tmp_path / f"host-{name}"
        log_path = var / "worker.log"
        var.mkdir(parents=True)
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
                    f"{name}-{uuid.uuid4().hex[:6]}@%h",
                    "-l",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=REPO_ROOT,
                env={**self.env, "FACECURATOR_VAR_DIR": str(var)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process.log_path, process.var = log_path, var
        self.processes.append(process)
        deadline = time.monotonic() + 90
        while b"ready." not in log_path.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"worker {name} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
        return process

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        """The host dies: no warm shutdown, no acknowledgement, no cleanup."""
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def hosts(settings, s3_media, media_in_tmp, tmp_path):
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("redelivery after a lost worker is tested on the Redis broker (CELERY_BROKER_URL=redis://...)")
    import redis

    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL).ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis broker not reachable at {settings.CELERY_BROKER_URL}")
    settings.FACECURATOR_IMPORT_ROOTS = [str(tmp_path)]
    started = Hosts(tmp_path=tmp_path, media_root=media_in_tmp, s3=s3_media, broker_url=settings.CELERY_BROKER_URL)
    yield started
    started.stop_all()


def crop_folder(root: Path, people: dict[str, int]) -> Path:
    """``root/<person>/<n>.jpg``: distinct small JPEG crops, as an admin would import them."""
    seed = 0
    for person, count in people.items():
        (root / person).mkdir(parents=True)
        for n in range(count):
            seed += 1
            (root / person / f"{n}.jpg").write_bytes(jpeg_bytes(seed))
    return root


def wait_until(condition, *, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def import_faces(client, root: Path) -> int:
    response = client.post("/api/v1/imports/faces/", {"path": str(root), "cropped": True}, format="json")
    assert response.status_code == 202, response.data
    return response.data["id"]


def test_with_s3_media_an_import_a_training_run_and_an_export_leave_the_local_media_folder_empty(
    hosts, s3_media, admin_client_api, media_in_tmp, tmp_path
):
    from ml.train import load_classifier
    from webapp.core.artifacts import artifact_latest, artifact_local_path
    from webapp.faces.index import INDEX_ARTIFACT
    from webapp.training.models import TrainingRun

    rng = np.random.default_rng(0)
    for n in range(2):  # two VIPs with clustered 128-d embeddings (the imported crops are their distractors)
        vip = IdentityFactory(name=f"VIP {n}", role=Identity.Role.VIP, chunk=1)
        center = rng.standard_normal(128)
        splits = ["val", "val", "test", "test"] + ["train"] * 8
        for vector, split in zip(person_vectors(center / np.linalg.norm(center), 12, rng), splits, strict=True):
            FaceFactory(identity=vip, vector=vector, split=split)
    hosts.start("worker")

    job = wait_for_job(import_faces(admin_client_api, crop_folder(tmp_path / "incoming", {"Carol": 4, "Dan": 4})))
    assert job.state == Job.State.SUCCEEDED and job.result["imported"] == 8, job.error
    imported = list(Face.objects.filter(identity__name__in=["Carol", "Dan"]))
    keys = set(s3_media.keys())
    assert len(imported) == 8 and {face.crop.name for face in imported} <= keys
    index = artifact_latest(kind=INDEX_ARTIFACT)  # the worker published the index version it wrote
    assert index is not None and index.name in keys
    similar = admin_client_api.get(f"/api/v1/faces/{imported[0].pk}/similar/?k=3")  # this host loads it
    assert similar.status_code == 200 and len(similar.data["results"]) == 3
    assert similar.data["index_version"] == index.version

    started = admin_client_api.post("/api/v1/runs/", {"mode": "head", "loss": "me", "options": QUICK}, format="json")
    assert started.status_code == 202, started.data
    job = wait_for_job(started.data["job"])
    assert job.state == Job.State.SUCCEEDED, job.error
    run_id = started.data["id"]
    assert admin_client_api.post(f"/api/v1/runs/{run_id}/accept/").status_code == 200
    run = TrainingRun.objects.get(pk=run_id)
    assert run.model_file.name.startswith(f"models/run-{run_id}/") and run.model_file.name in s3_media.keys("models/")
    classifier = load_classifier(artifact_local_path(run.model_file.name), device="cpu")
    assert classifier.class_names == ["VIP 0", "VIP 1"]

    created = admin_client_api.post(VERSIONS, {"name": "from s3", "status": "non_excluded"}, format="json")
    assert created.status_code == 202, created.data
    assert wait_for_job(created.data["job"]).state == Job.State.SUCCEEDED
    built = admin_client_api.post(f"{VERSIONS}{created.data['id']}/build/", {"format": "jsonl"}, format="json")
    assert built.status_code == 202, built.data
    job = wait_for_job(built.data["job"])
    assert job.state == Job.State.SUCCEEDED, job.error
    files = admin_client_api.get(f"{VERSIONS}{created.data['id']}/files/").data
    assert files and all(f["download_url"] for f in files)
    for file in files:
        response = admin_client_api.get(file["download_url"])
        whole = b"".join(response.streaming_content)
        assert response.status_code == 200 and hashlib.sha256(whole).hexdigest() == file["sha256"]
        part = admin_client_api.get(file["download_url"], HTTP_RANGE="bytes=3-12")
        assert part.status_code == 206 and b"".join(part.streaming_content) == whole[3:13]

    assert {key.split("/")[0] for key in s3_media.keys()} >= {"faces", "index", "models", "exports"}
    assert files_under(media_in_tmp) == []  # nothing written to the local media folder, by any process


def test_a_worker_killed_in_the_middle_of_an_import_leaves_it_done_once_after_redelivery(
    hosts, s3_media, admin_client_api, media_in_tmp, tmp_path
):
    root = crop_folder(tmp_path / "incoming", {"Erin": 24, "Frank": 24})
    first = hosts.start("a")
    job_id = import_faces(admin_client_api, root)
    running = wait_until(
        lambda: Job.objects.filter(pk=job_id, state=Job.State.RUNNING).first(),
        timeout=60,
        what="the first worker to start the import",
    )
    hosts.kill(first)  # while it loads the face models, reads, hashes and embeds the crops
    assert Job.objects.get(pk=job_id).state == Job.State.RUNNING  # what a dead worker leaves behind

    time.sleep(max(0.0, VISIBILITY_TIMEOUT + 0.5 - (time.time() - running.started_at.timestamp())))
    second = hosts.start("b")
    job = wait_for_job(job_id, timeout=120)
    assert job.state == Job.State.SUCCEEDED and job.attempts == 2, (job.message, job.error)
    assert job.message == "done" and job.result["files"] == 48 and job.result["error"] == 0
    faces = Face.objects.filter(identity__name__in=["Erin", "Frank"])
    assert faces.count() == 48  # every file once: nothing lost, nothing duplicated
    assert len(set(faces.values_list("content_sha256", flat=True))) == 48
    stored = set(s3_media.keys("faces/"))
    assert all(face.crop.name in stored for face in faces)
    assert (
        b"media.import_faces" in first.log_path.read_bytes() and b"media.import_faces" in second.log_path.read_bytes()
    )
    assert files_under(media_in_tmp) == []


def test_a_gpu_worker_killed_mid_run_leaves_the_run_failed_the_active_model_unchanged_and_restartable(
    hosts, admin_client_api, admin_user
):
    from webapp.training import selectors
    from webapp.training.models import ActiveModel, TrainingRun
    from webapp.training.services import training_run_start

    make_face_set(vips=2, candidates=1, per_identity=10, unknown=3)
    active = training_run_start(options=QUICK, dispatch=False)  # the model in force before (its training skipped)
    Job.objects.filter(pk=active.job_id).update(state=Job.State.SUCCEEDED)
    ActiveModel.objects.create(run=active, accepted_by=admin_user)
    first = hosts.start("gpu-a")
    started = admin_client_api.post("/api/v1/runs/", {"mode": "head", "options": QUICK}, format="json")
    assert started.status_code == 202, started.data
    run = TrainingRun.objects.select_related("job").get(pk=started.data["id"])
    wait_until(
        lambda: Job.objects.filter(pk=run.job_id, state=Job.State.RUNNING).exists(),
        timeout=60,
        what="the first worker to start the run",
    )
    hosts.kill(first)  # while it loads torch and the run's embeddings
    assert Job.objects.get(pk=run.job_id).state == Job.State.RUNNING

    time.sleep(VISIBILITY_TIMEOUT + 0.5)
    hosts.start("gpu-b")  # the broker redelivers the run's task here: the run has no attempt left
    lost = wait_for_job(run.job_id, timeout=60)
    assert lost.state == Job.State.FAILED and lost.attempts == 1
    assert lost.message.startswith("worker lost while running (attempt 1 of 1") and "restart the run" in lost.message
    assert selectors.active_run_id() == active.pk

    restarted = admin_client_api.post(f"/api/v1/runs/{run.pk}/restart/")
    assert restarted.status_code == 202, restarted.data
    run.refresh_from_db()
    job = wait_for_job(run.job_id, timeout=120)
    assert job.state == Job.State.SUCCEEDED and job.attempts == 1, job.error
    run.refresh_from_db()
    assert run.metrics.get("val") and run.model_file.name.startswith(f"models/run-{run.pk}/")
    assert selectors.active_run_id() == active.pk  # a restarted run is accepted like any other, by an admin


def test_a_task_redelivered_while_its_worker_still_beats_waits_and_never_runs_twice(hosts):
    import threading

    from celery import current_app
    from django.db import connection
    from django.utils import timezone

    now = timezone.now()
    job = Job.objects.create(
        kind="maintenance.reassign_splits",
        state=Job.State.RUNNING,
        attempts=1,
        started_at=now,
        heartbeat_at=now,
        worker="busy-host pid 7",
    )
    stop = threading.Event()

    def beat():  # the worker that holds the job is alive, on another host
        while not stop.wait(0.3):
            Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        connection.close()

    beating = threading.Thread(target=beat, daemon=True)
    beating.start()
    worker = hosts.start("c")
    current_app.send_task(
        job.kind, args=[job.pk], queue="default"
    )  # as if the broker redelivered it early (visibility timeout too short)
    wait_until(
        lambda: b"is still running on busy-host" in worker.log_path.read_bytes(),
        timeout=60,
        what="the worker to defer the job",
    )
    assert Job.objects.values_list("state", "attempts").get(pk=job.pk) == (Job.State.RUNNING, 1)

    stop.set()  # the busy host dies: its job is taken over once its silence is long enough
    beating.join()
    job = wait_for_job(job.pk, timeout=60)
    assert job.state == Job.State.SUCCEEDED and job.attempts == 2 and job.worker.startswith("c-")
