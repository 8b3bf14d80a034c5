"""Faults survived by jobs, with the real services: Redis restarted while jobs run, a worker killed
mid-export and mid-tagging. No job stays ``queued`` or ``running`` for ever, and nothing half-written
is left where a reader could take it for finished.

The Redis test starts its OWN redis-server on a free port (no persistence: the worst case, every
message it held is lost), never the machine's shared one. Workers are real ``celery worker``
processes with an embedded beat running the reaper every second.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from webapp.core.models import Job
from webapp.core.services import job_start

from .conftest import _database_url

REASSIGN = "maintenance.reassign_splits"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _point_the_app_at(url: str) -> None:
    """This process sends tasks (and the reaper asks the broker) at ``url`` from now on."""
    from webapp.celery import app

    app.conf.broker_url = app.conf.broker_write_url = app.conf.broker_read_url = url
    app._pool, app.amqp._producer_pool = None, None


class PrivateRedis:
    """A redis-server of the test's own on a free port, in a temporary folder, saving nothing."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=1).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline and self.process.poll() is None, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def restart(self) -> None:
        self.stop()
        self.start()

    def keys(self) -> list[bytes]:
        import redis

        return redis.Redis.from_url(self.url).keys("*")


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    folder = tmp_path / "redis"
    folder.mkdir()
    server = PrivateRedis(folder)
    server.start()
    from webapp.celery import app

    saved = app.conf.broker_write_url, app.conf.broker_read_url, app.conf.broker_url
    _point_the_app_at(server.url)
    yield server
    app.conf.broker_write_url, app.conf.broker_read_url, app.conf.broker_url = saved
    app._pool, app.amqp._producer_pool = None, None
    server.stop()


def start_worker(
    tmp_path: Path,
    *,
    broker_url: str,
    media_root: Path,
    name: str,
    beat: bool = True,
    queues: str = "default,gpu",
    **env_extra: str,
) -> subprocess.Popen:
    """A real worker process (solo pool) on the test database; with ``beat`` it runs the reaper every second."""
    from django.db import connection

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_BROKER_URL": broker_url,
        "MEDIA_ROOT": str(media_root),
        "DJANGO_DEBUG": "1",
        "PYTHONUNBUFFERED": "1",
        "FACECURATOR_REAPER_SECONDS": "1",
        "FACECURATOR_JOB_RESEND_AFTER_SECONDS": "2",
        "FACECURATOR_JOB_HEARTBEAT_SECONDS": "1",
        "FACECURATOR_JOB_LOST_AFTER_SECONDS": "4",
        "FACECURATOR_SWEEP_EVERY_HOURS": "0",
        **env_extra,
    }
    log_path = tmp_path / f"{name}.log"
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
        f"{name}-{uuid.uuid4().hex[:8]}@%h",
        "-l",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if beat:
        command[6:6] = ["-B", "-s", str(tmp_path / f"{name}-beat-schedule")]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    process.log_path = log_path
    deadline = time.monotonic() + 60
    while b"ready." not in log_path.read_bytes():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_worker(process)
            pytest.fail(f"worker {name} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return process


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # the worker and its embedded beat
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_until(condition, *, timeout: float, every: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what} not reached in {timeout} s")


def wait_for_jobs(ids: list[int], *, timeout: float, log: Path | None = None) -> list[Job]:
    try:
        wait_until(
            lambda: Job.objects.filter(pk__in=ids, state__in=Job.FINISHED_STATES).count() == len(ids),
            timeout=timeout,
            every=0.2,
            what="every job finished",
        )
    except AssertionError:
        states = list(Job.objects.filter(pk__in=ids).values_list("pk", "state", "attempts", "message"))
        tail = log.read_text(errors="replace")[-4000:] if log else ""
        raise AssertionError(f"jobs not finished: {states}\n{tail}") from None
    return list(Job.objects.filter(pk__in=ids).order_by("pk"))


def _faces(count: int) -> None:
    """Faces in the wrong split: reassigning splits has real work to do (one UPDATE per batch of groups)."""
    from webapp.faces.models import Face

    Face.objects.bulk_create(
        [Face(source=Face.Source.CROP, crop=f"faces/f{n}.jpg", group_key=f"g{n}", split="test") for n in range(count)],
        batch_size=2000,
    )


# --- Redis restarted while jobs run ---------------------------------------------------------------


@pytest.mark.slow
def test_jobs_running_and_queued_when_redis_restarts_all_finish_none_stays_running(
    private_redis, transactional_db, media_in_tmp, tmp_path
):
    _faces(6000)
    worker = start_worker(tmp_path, broker_url=private_redis.url, media_root=media_in_tmp, name="redis")
    try:
        jobs = [job_start(kind=REASSIGN) for _ in range(4)]  # sent at once (autocommit): one runs, three wait
        assert all(Job.objects.filter(pk=job.pk).exclude(celery_task_id="").exists() for job in jobs)
        running = wait_until(
            lambda: Job.objects.filter(pk=jobs[0].pk, state=Job.State.RUNNING).exists(),
            timeout=30,
            what="the first job running",
        )
        assert running
        os.kill(worker.pid, signal.SIGSTOP)  # hold the running job while Redis goes away and comes back
        try:
            private_redis.restart()  # nothing saved: the three waiting messages are gone
            assert Job.objects.filter(pk=jobs[0].pk, state=Job.State.RUNNING).exists()
        finally:
            os.kill(worker.pid, signal.SIGCONT)
        started = time.monotonic()
        done = wait_for_jobs([job.pk for job in jobs], timeout=45, log=worker.log_path)
        log = worker.log_path.read_text(errors="replace")
        assert [job.state for job in done] == [Job.State.SUCCEEDED] * 4, log[-3000:]
        assert all(job.result["groups"] == 6000 for job in done)
        assert done[0].attempts == 1  # the running one finished where it was, once
        assert "no longer in the broker; sent again" in log
        assert time.monotonic() - started < 30
        # The web side's pooled broker connection died with the old Redis: the next job is sent all the same.
        late = job_start(kind=REASSIGN)
        assert Job.objects.get(pk=late.pk).celery_task_id != ""
        (late,) = wait_for_jobs([late.pk], timeout=30, log=worker.log_path)
        assert late.state == Job.State.SUCCEEDED and late.attempts == 1
    finally:
        stop_worker(worker)
    assert not Job.objects.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING]).exists()


# --- A worker killed (SIGKILL) mid-job --------------------------------------------------------------


def _kill_when(worker: subprocess.Popen, job: Job, *, started) -> Job:
    """SIGKILL the worker (no clean-up of any kind) as soon as ``started(job)`` says the work is under way."""

    def under_way():
        row = Job.objects.get(pk=job.pk)
        assert not row.is_finished, f"job {row.pk} finished before it could be killed: {row.state} {row.message}"
        return row if row.state == Job.State.RUNNING and started(row) else None

    row = wait_until(under_way, timeout=60, what="the job under way")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    return row


def _stored_files(root: Path) -> set[str]:
    return {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_a_worker_killed_mid_export_leaves_no_half_written_file_and_the_rerun_builds_it(
    transactional_db, media_in_tmp, tmp_path, settings
):
    import hashlib
    import zipfile

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from webapp.core.sweep import media_sweep
    from webapp.exports.models import ExportBuild, ExportFile
    from webapp.exports.services import build_request, version_create, version_freeze
    from webapp.faces.models import Face

    from .factories import IdentityFactory, jpeg_bytes

    faces = 4000
    crop = default_storage.save("faces/one.jpg", ContentFile(jpeg_bytes(3, 112)))
    vip = IdentityFactory(name="Ada", role="vip")
    Face.objects.bulk_create(
        [
            Face(
                source=Face.Source.CROP,
                crop=crop,
                group_key=f"g{n}",
                identity=vip,
                status=Face.Status.VERIFIED,
                split=("train", "val", "test")[n % 3],
            )
            for n in range(faces)
        ],
        batch_size=2000,
    )
    version = version_create(filters={}, start_job=False)
    version_freeze(version_id=version.pk)
    version.refresh_from_db()
    before = _stored_files(media_in_tmp)

    first = start_worker(
        tmp_path, broker_url=settings.CELERY_BROKER_URL, media_root=media_in_tmp, name="export-1", beat=False
    )
    try:
        build, _ = build_request(version=version, format="imagefolder")
        job = _kill_when(first, build.job, started=lambda row: 0 < row.progress < 0.9)
    finally:
        stop_worker(first)
    left = _stored_files(media_in_tmp) - before
    assert left and all(name.startswith("exports/.staging/") for name in left), left  # the half-written zip
    build.refresh_from_db()
    assert build.state == ExportBuild.State.RUNNING and not ExportFile.objects.filter(build=build).exists()
    assert job.attempts == 1

    second = start_worker(tmp_path, broker_url=settings.CELERY_BROKER_URL, media_root=media_in_tmp, name="export-2")
    try:
        (done,) = wait_for_jobs([job.pk], timeout=60, log=second.log_path)
    finally:
        stop_worker(second)
    assert done.state == Job.State.SUCCEEDED and done.attempts == 2, (done.message, done.error)
    build.refresh_from_db()
    assert build.state == ExportBuild.State.READY
    (file,) = ExportFile.objects.filter(build=build)
    with default_storage.open(file.storage_name, "rb") as handle:
        data = handle.read()
    assert hashlib.sha256(data).hexdigest() == file.sha256 and len(data) == file.size
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        assert sum(name.endswith(".jpg") for name in archive.namelist()) == faces
    # What the killed attempt left is staging only, and the orphan sweep takes it after its grace period.
    orphans = media_sweep(grace_hours=0, dry_run=True)["paths"]
    assert orphans and all(name.startswith("exports/.staging/") for name in orphans), orphans


@pytest.mark.slow
def test_a_worker_killed_mid_tagging_leaves_each_video_tagged_whole_or_not_and_the_rerun_tags_all(
    transactional_db, media_in_tmp, tmp_path, settings
):
    from webapp.faces.models import Face
    from webapp.tagging.models import FacePrediction, VideoTag, VideoTagging
    from webapp.tagging.services import videos_tag_start
    from webapp.training.services import operating_point_set

    from .test_tagging import HEAD, vip_video
    from .test_training_fixtures import make_face_set, train_now

    face_set = make_face_set()
    run = train_now(accept=True, **HEAD)
    operating_point_set(run=run, target_precision=0.99)
    videos = [vip_video(face_set, face_set.vips[n % 3], seed=n) for n in range(12)]
    faces_of = {video.pk: Face.objects.filter(video=video).count() for video in videos}

    def whole_or_nothing() -> int:
        """Each video holds all of one tagging pass (its record, a prediction per face, its tag) or none of it."""
        tagged = 0
        for video in videos:
            record = VideoTagging.objects.filter(video=video).exists()
            predictions = FacePrediction.objects.filter(video=video).count()
            tags = VideoTag.objects.filter(video=video).count()
            assert (record, predictions, tags) in {(False, 0, 0), (True, faces_of[video.pk], 1)}, (
                video.pk,
                record,
                predictions,
                tags,
            )
            tagged += record
        return tagged

    first = start_worker(
        tmp_path, broker_url=settings.CELERY_BROKER_URL, media_root=media_in_tmp, name="tag-1", beat=False
    )
    try:
        job = videos_tag_start(scope="untagged")
        job = _kill_when(first, job, started=lambda row: 0 < row.progress < 0.5)
    finally:
        stop_worker(first)
    assert 0 < whole_or_nothing() < len(videos)

    second = start_worker(tmp_path, broker_url=settings.CELERY_BROKER_URL, media_root=media_in_tmp, name="tag-2")
    try:
        (done,) = wait_for_jobs([job.pk], timeout=60, log=second.log_path)
    finally:
        stop_worker(second)
    assert done.state == Job.State.SUCCEEDED and done.attempts == 2, (done.message, done.error)
    assert whole_or_nothing() == len(videos)
    assert sorted(VideoTag.objects.values_list("video_id", "identity_id")) == sorted(
        (video.pk, face_set.vips[n % 3].pk) for n, video in enumerate(videos)
    )
