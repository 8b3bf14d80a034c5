"""Jobs never stay queued or running forever: a broker that is down answers 503 and leaves the job in
the outbox, a re-upload or the reaper sends it again, a silent worker's job is queued again or failed,
and a job past its time limit fails clearly."""

import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from webapp.core.models import Job
from webapp.core.services import job_execute, job_time_limits, jobs_reap
from webapp.media import services as media
from webapp.media.models import Photo

from .factories import jpeg_bytes

KIND = "maintenance.reassign_splits"
CLOSED_PORT = "redis://127.0.0.1:1/0"


def _send_tasks_to(url: str) -> None:
    from webapp.celery import app

    app.conf.broker_write_url, app._pool, app.amqp._producer_pool = url, None, None


@pytest.fixture
def broker_down():
    """The broker is unreachable (a closed port) for this test; sending fails within about a second."""
    from webapp.celery import app

    saved = app.conf.broker_write_url
    _send_tasks_to(CLOSED_PORT)
    yield
    _send_tasks_to(saved)


@pytest.fixture
def broker_up(settings):
    """A real broker that takes messages (the test Redis, or the filesystem transport)."""
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        import redis

        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL).ping()
        except redis.ConnectionError:
            pytest.skip(f"Redis broker not reachable at {settings.CELERY_BROKER_URL}")


def _upload(name: str, seed: int) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jpeg_bytes(seed, 120), content_type="image/jpeg")


def _old(job: Job, seconds: float = 3600) -> Job:
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))
    return job


def _running(*, silent_for: float, attempts: int = 1, **fields) -> Job:
    now = timezone.now()
    return Job.objects.create(
        kind=fields.pop("kind", KIND),
        state=Job.State.RUNNING,
        attempts=attempts,
        worker="host-7 pid 99",
        started_at=now - timedelta(seconds=silent_for + 5),
        heartbeat_at=now - timedelta(seconds=silent_for),
        celery_task_id="t-1",
        **fields,
    )


# --- Broker down: 503 JSON, the work saved, sent again ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_upload_with_the_broker_down_answers_503_json_and_keeps_its_job_queued(broker_down, admin_client_api):
    started = time.monotonic()
    response = admin_client_api.post(
        "/api/v1/photos/upload/", {"files": [_upload("a.jpg", 1), _upload("b.jpg", 2)]}, format="multipart"
    )
    assert time.monotonic() - started < 10
    assert response.status_code == 503 and response["Content-Type"] == "application/json"
    assert response.data["code"] == "queue_unavailable" and response.data["retryable"] is True
    assert [f["status"] for f in response.data["files"]] == ["accepted", "accepted"]
    job = Job.objects.get(pk=response.data["job"])
    assert response.data["jobs"] == [job.pk]
    assert job.state == Job.State.QUEUED and job.celery_task_id == "" and "broker unreachable" in job.message
    assert set(Photo.objects.values_list("status", "job")) == {("pending", job.pk)}


@pytest.mark.django_db(transaction=True)
def test_re_uploading_photos_whose_job_was_never_sent_sends_it_instead_of_saying_duplicate(
    broker_down, broker_up, admin_client_api
):
    from django.conf import settings

    files = lambda: {"files": [_upload("a.jpg", 1), _upload("b.jpg", 2)]}  # noqa: E731
    first = admin_client_api.post("/api/v1/photos/upload/", files(), format="multipart")
    assert first.status_code == 503
    _send_tasks_to(settings.CELERY_BROKER_URL)  # the broker is back
    again = admin_client_api.post("/api/v1/photos/upload/", files(), format="multipart")
    assert again.status_code == 202, again.data
    assert [(f["status"], f["code"]) for f in again.data["files"]] == [("accepted", "requeued")] * 2
    assert again.data["job"] == first.data["job"]
    assert Job.objects.get(pk=first.data["job"]).celery_task_id != ""


@pytest.mark.django_db
def test_a_duplicate_of_a_photo_whose_job_failed_joins_a_new_job(admin_user):
    first = media.photos_upload(files=[_upload("a.jpg", 1)], user=admin_user)
    Job.objects.filter(pk=first.job.pk).update(state=Job.State.FAILED, message="worker lost while running")
    again = media.photos_upload(files=[_upload("copy.jpg", 1), _upload("new.jpg", 3)], user=admin_user)
    assert [(o.status, o.code) for o in again.outcomes] == [("accepted", "requeued"), ("accepted", "")]
    assert again.job.pk != first.job.pk and len(again.job.params["photo_ids"]) == 2
    assert set(Photo.objects.values_list("job", flat=True)) == {again.job.pk}


@pytest.mark.django_db
def test_a_duplicate_of_a_photo_being_processed_is_still_a_duplicate(admin_user):
    first = media.photos_upload(files=[_upload("a.jpg", 1)], user=admin_user)
    Job.objects.filter(pk=first.job.pk).update(celery_task_id="sent-1")
    again = media.photos_upload(files=[_upload("copy.jpg", 1)], user=admin_user)
    assert [o.status for o in again.outcomes] == ["duplicate"] and again.job is None


@pytest.mark.django_db
def test_a_file_that_fails_unexpectedly_is_a_per_file_error_and_the_others_go_on(admin_user):
    class Unreadable(SimpleUploadedFile):
        def read(self, *args):
            raise OSError("disk went away")

    broken = Unreadable("@@", b"x" * 100, content_type="image/jpeg")
    result = media.photos_upload(files=[_upload("good.jpg", 1), broken, _upload("@@", 2)], user=admin_user)
    assert [(o.name, o.status, o.code) for o in result.outcomes] == [
        ("good.jpg", "accepted", ""),
        ("@@", "error", "internal"),
        ("@@", "accepted", ""),
    ]
    assert result.job is not None and len(result.job.params["photo_ids"]) == 2


@pytest.mark.django_db(transaction=True)
def test_starting_any_job_with_the_broker_down_answers_503(broker_down, admin_client_api):
    response = admin_client_api.post("/api/v1/jobs/reassign-splits/")
    assert response.status_code == 503 and response.data["code"] == "queue_unavailable"
    assert response["Retry-After"] == "30"
    assert Job.objects.get(pk=response.data["jobs"][0]).state == Job.State.QUEUED


# --- The reaper ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_reaper_sends_again_a_job_the_broker_never_took(broker_up):
    unsent = _old(Job.objects.create(kind=KIND))
    recent = Job.objects.create(kind=KIND)  # its sending may still be under way
    here = _old(Job.objects.create(kind=KIND, queue="here"))  # run by a command, never sent
    report = jobs_reap()
    assert report["resent"] == [unsent.pk]
    assert Job.objects.get(pk=unsent.pk).celery_task_id != ""
    assert Job.objects.get(pk=recent.pk).celery_task_id == Job.objects.get(pk=here.pk).celery_task_id == ""


@pytest.mark.django_db
def test_the_reaper_sends_again_a_queued_job_whose_message_the_broker_lost(broker_up):
    from webapp.core.services import job_send

    waiting = _old(Job.objects.create(kind=KIND))
    assert job_send(job=waiting)  # its message is in the broker, waiting for a worker
    lost = _old(Job.objects.create(kind=KIND, celery_task_id="forgotten-by-a-restarted-redis"))
    report = jobs_reap()
    assert report["resent"] == [lost.pk]
    lost.refresh_from_db()
    assert lost.state == Job.State.QUEUED and lost.celery_task_id not in ("", "forgotten-by-a-restarted-redis")
    assert lost.message.startswith("its task was lost by the broker")
    assert Job.objects.get(pk=waiting.pk).celery_task_id == waiting.celery_task_id  # not sent twice
    assert jobs_reap()["resent"] == []  # the new message is held: nothing more to send


@pytest.mark.django_db
def test_with_the_broker_still_down_the_reaper_leaves_the_job_queued_for_the_next_round(broker_down):
    unsent = _old(Job.objects.create(kind=KIND))
    assert jobs_reap()["resent"] == []
    unsent.refresh_from_db()
    assert unsent.state == Job.State.QUEUED and unsent.celery_task_id == ""


@pytest.mark.django_db
def test_a_job_whose_worker_went_silent_is_queued_again_and_runs_again(broker_up, settings):
    settings.FACECURATOR_JOB_LOST_AFTER_SECONDS = 30
    lost, busy = _running(silent_for=600), _running(silent_for=5)
    report = jobs_reap()
    assert report["requeued"] == [lost.pk]
    lost.refresh_from_db()
    assert lost.state == Job.State.QUEUED and lost.message.startswith("worker lost (no sign of life from host-7 pid 99")
    assert lost.celery_task_id not in ("", "t-1")  # sent again
    assert Job.objects.get(pk=busy.pk).state == Job.State.RUNNING
    job_execute(lost.pk, lambda job, progress: {"done": job.attempts})
    lost.refresh_from_db()
    assert lost.state == Job.State.SUCCEEDED and lost.result == {"done": 2}


@pytest.mark.django_db
def test_a_requeued_job_out_of_attempts_fails_as_lost_with_its_hint(broker_up, settings):
    settings.FACECURATOR_JOB_LOST_AFTER_SECONDS = 30
    run = _running(silent_for=600, kind="training.run", queue="gpu")
    jobs_reap()
    job_execute(
        run.pk,
        lambda job, progress: pytest.fail("a run that lost its worker is not trained again"),
        max_attempts=1,
        lost_hint="restart the run",
    )
    run.refresh_from_db()
    assert run.state == Job.State.FAILED
    assert run.message == "worker lost while running (attempt 1 of 1, on host-7 pid 99); restart the run"


@pytest.mark.django_db
def test_the_reaper_fails_a_silent_command_job_and_cancels_a_silent_job_asked_to_stop(settings):
    settings.FACECURATOR_JOB_LOST_AFTER_SECONDS = 30
    here = _running(silent_for=600, queue="here")
    stopping = _running(silent_for=600, cancel_requested=True)
    report = jobs_reap()
    assert report["failed"] == [here.pk] and report["cancelled"] == [stopping.pk]
    assert Job.objects.get(pk=here.pk).message.startswith("worker lost while running")
    assert Job.objects.get(pk=stopping.pk).state == Job.State.CANCELLED


# --- Time limits ------------------------------------------------------------------------------------


def test_time_limits_are_per_kind_with_training_the_longest(settings):
    settings.FACECURATOR_JOB_TIME_LIMITS = {"training.*": 43200, "tagging.*": 14400, "*": 7200}
    settings.FACECURATOR_JOB_TIME_LIMIT_GRACE_SECONDS = 120
    assert job_time_limits(kind="training.run") == (43200, 43320)
    assert job_time_limits(kind="media.process_photos") == (7200, 7320)
    settings.FACECURATOR_JOB_TIME_LIMITS = {"media.*": 0}
    assert job_time_limits(kind="media.process_video") == (0, 0) == job_time_limits(kind="training.run")


@pytest.mark.django_db
def test_a_job_past_its_soft_time_limit_fails_and_says_so(settings):
    settings.FACECURATOR_JOB_TIME_LIMITS = {KIND: 1}
    job = Job.objects.create(kind=KIND)
    started = time.monotonic()
    job_execute(job.pk, lambda job, progress: time.sleep(30))  # never reports progress
    job.refresh_from_db()
    assert time.monotonic() - started < 10
    assert job.state == Job.State.FAILED
    assert job.message == (
        f"time limit exceeded: stopped after 1 s, the limit for {KIND} (setting FACECURATOR_JOB_TIME_LIMITS)"
    )


@pytest.mark.django_db
def test_a_job_run_by_a_command_in_the_operators_shell_has_no_time_limit(settings):
    settings.FACECURATOR_JOB_TIME_LIMITS = {KIND: 1}
    job = Job.objects.create(kind=KIND, queue="here")
    job_execute(job.pk, lambda job, progress: time.sleep(1.5) or {"slow": True})
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED and job.result == {"slow": True}


@pytest.mark.django_db(transaction=True)
def test_a_job_that_reports_progress_stops_at_its_limit_in_any_thread(settings):
    import threading

    from django.db import connection

    settings.FACECURATOR_JOB_TIME_LIMITS = {KIND: 1}
    settings.FACECURATOR_JOB_HEARTBEAT_SECONDS = 0
    job = Job.objects.create(kind=KIND)

    def busy(job, progress):
        for step in range(1000):
            time.sleep(0.01)
            progress(step / 1000, "working")

    def run() -> None:
        try:
            job_execute(job.pk, busy)
        finally:
            connection.close()

    worker = threading.Thread(target=run)  # no SIGALRM outside the main thread: progress checks the deadline
    worker.start()
    worker.join(timeout=20)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.message.startswith("time limit exceeded")


# --- End to end: beat runs the reaper in a real worker -------------------------------------------


@pytest.fixture
def worker_with_beat(transactional_db, settings, media_in_tmp, tmp_path, broker_up):
    """A real worker process with an embedded beat (`-B`) that runs the reaper every second."""
    import os
    import subprocess
    import sys
    import uuid

    from django.db import connection

    from tests.conftest import REPO_ROOT

    from .conftest import _database_url

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(media_in_tmp),
        "DJANGO_DEBUG": "1",
        "FACECURATOR_REAPER_SECONDS": "1",
        "FACECURATOR_JOB_LOST_AFTER_SECONDS": "30",
        "FACECURATOR_SWEEP_EVERY_HOURS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "webapp",
                "worker",
                "-B",
                "-s",
                str(tmp_path / "beat-schedule"),
                "-Q",
                "default,gpu",
                "--pool",
                "solo",
                "-n",
                f"beat-{uuid.uuid4().hex[:8]}@%h",
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
    process.log_path = log_path
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.mark.slow
def test_beat_reaps_a_job_left_running_by_a_dead_worker_and_a_worker_finishes_it(worker_with_beat):
    from .conftest import wait_for_job
    from .factories import FaceFactory

    FaceFactory.create_batch(3)
    lost = _running(silent_for=600)  # what a killed worker leaves: running, no heartbeat for 10 minutes
    job = wait_for_job(lost.pk, timeout=90)
    log = worker_with_beat.log_path.read_text(errors="replace")
    assert job.state == Job.State.SUCCEEDED, (job.message, log[-3000:])
    assert job.attempts == 2 and job.result["groups"] == 3
