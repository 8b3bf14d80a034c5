"""Jobs survive lost workers: a heartbeat tells a dead worker from a busy one, a redelivered job runs
again only when its worker went silent and it has attempts left, and a training run whose worker
died fails with how to restart it, which an admin does (API or ``train --restart``)."""

import io
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from webapp.core.models import Job
from webapp.core.services import job_execute, jobs_fail_lost
from webapp.training import services as training
from webapp.training.models import TrainingRun

from .test_training_fixtures import QUICK, FaceSet, make_face_set

KIND = "maintenance.reassign_splits"


@pytest.fixture
def face_set(db) -> FaceSet:
    return make_face_set()


def _running(*, silent_for: float, attempts: int = 1, kind: str = KIND, job: Job | None = None) -> Job:
    """A job a worker started and has not been heard of for ``silent_for`` seconds."""
    now = timezone.now()
    fields = {
        "state": Job.State.RUNNING,
        "attempts": attempts,
        "worker": "gpu-host-2 pid 42",
        "started_at": now - timedelta(seconds=silent_for + 5),
        "heartbeat_at": now - timedelta(seconds=silent_for),
    }
    if job is None:
        return Job.objects.create(kind=kind, **fields)
    Job.objects.filter(pk=job.pk).update(**fields)
    job.refresh_from_db()
    return job


@pytest.fixture
def lost_after(settings):
    settings.FACECURATOR_JOB_LOST_AFTER_SECONDS = 30
    return 30


@pytest.mark.django_db
def test_a_redelivered_job_whose_worker_went_silent_runs_again_from_the_start(lost_after):
    job = _running(silent_for=60)
    seen = []
    job_execute(job.pk, lambda job, progress: seen.append(job.attempts) or {"faces": 3})
    job.refresh_from_db()
    assert seen == [2] and job.state == Job.State.SUCCEEDED and job.attempts == 2 and job.result == {"faces": 3}


@pytest.mark.django_db
def test_a_redelivered_job_whose_worker_still_beats_is_not_run_a_second_time(lost_after):
    job = _running(silent_for=2)
    job_execute(job.pk, lambda job, progress: pytest.fail("the job ran twice at once"))
    job.refresh_from_db()
    assert job.state == Job.State.RUNNING and job.attempts == 1


@pytest.mark.django_db
def test_a_job_that_used_up_its_attempts_fails_as_lost_and_says_what_to_do(lost_after, settings):
    settings.FACECURATOR_JOB_MAX_ATTEMPTS = 3
    job = _running(silent_for=600, attempts=3)
    job_execute(job.pk, lambda job, progress: pytest.fail("a job that keeps killing its worker must stop"))
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.attempts == 3
    assert job.message == "worker lost while running (attempt 3 of 3, on gpu-host-2 pid 42); start it again"


@pytest.mark.django_db
def test_silent_running_jobs_are_failed_and_busy_or_queued_ones_left_alone(lost_after):
    lost, busy = _running(silent_for=60), _running(silent_for=5)
    queued = Job.objects.create(kind=KIND)
    assert jobs_fail_lost(hint="start it again") == [lost.pk]
    states = dict(Job.objects.values_list("pk", "state"))
    assert states == {lost.pk: "failed", busy.pk: "running", queued.pk: "queued"}
    lost.refresh_from_db()
    assert lost.message.startswith("worker lost while running (no sign of life from gpu-host-2 pid 42 for 6")


@pytest.mark.django_db
def test_an_attempt_declared_lost_meanwhile_does_not_overwrite_the_outcome():
    job = Job.objects.create(kind=KIND)

    def handler(job, progress):
        Job.objects.filter(pk=job.pk).update(state=Job.State.FAILED, message="worker lost while running")
        return {"late": True}

    job_execute(job.pk, handler)
    job.refresh_from_db()
    assert job.state == Job.State.FAILED and job.result == {} and job.message == "worker lost while running"


@pytest.mark.django_db(transaction=True)
def test_a_running_job_beats_while_its_handler_works(settings):
    settings.FACECURATOR_JOB_HEARTBEAT_SECONDS = 0.1
    job = Job.objects.create(kind=KIND)
    beats = []

    def handler(job, progress):
        for _ in range(3):
            time.sleep(0.3)
            beats.append(Job.objects.values_list("heartbeat_at", flat=True).get(pk=job.pk))

    job_execute(job.pk, handler)
    job.refresh_from_db()
    assert job.state == Job.State.SUCCEEDED
    assert job.started_at < beats[0] < beats[1] < beats[2]


# --- Training runs ---------------------------------------------------------------------------------


def _start_run(user=None) -> TrainingRun:
    """A run whose task got past its first step, the snapshot."""
    run = training.training_run_start(user=user, options=QUICK, dispatch=False)
    training.training_run_snapshot(run=run)
    run.refresh_from_db()
    return run


@pytest.mark.django_db
def test_an_admin_restarts_a_run_whose_gpu_worker_was_lost_as_a_new_job(face_set, admin_client_api, lost_after):
    run = _start_run()
    lost_job = _running(silent_for=120, job=run.job)

    response = admin_client_api.post(f"/api/v1/runs/{run.pk}/restart/")
    assert response.status_code == 202, response.data
    lost_job.refresh_from_db()
    assert lost_job.state == Job.State.FAILED
    assert lost_job.message.startswith("worker lost while running") and "restart the run" in lost_job.message
    run = TrainingRun.objects.select_related("job").get(pk=run.pk)
    assert run.job_id != lost_job.pk and response.data["id"] == run.pk
    assert (run.job.kind, run.job.queue, run.job.state) == ("training.run", "gpu", Job.State.QUEUED)
    assert run.job.params == {"run": run.pk, "restart_of": lost_job.pk}
    assert run.samples.count() == run.counts["total"]  # the frozen snapshot is the one trained again


@pytest.mark.django_db
def test_a_run_is_restarted_only_once_it_failed_or_was_cancelled(
    face_set, admin_client_api, annotator_client, lost_after
):
    run = _start_run()
    _running(silent_for=1, job=run.job)
    refused = admin_client_api.post(f"/api/v1/runs/{run.pk}/restart/")
    assert refused.status_code == 409 and "cancel it" in refused.data["detail"]
    assert annotator_client.post(f"/api/v1/runs/{run.pk}/restart/").status_code == 403
    Job.objects.filter(pk=run.job_id).update(state=Job.State.SUCCEEDED)
    refused = admin_client_api.post(f"/api/v1/runs/{run.pk}/restart/")
    assert refused.status_code == 400 and "start a new run" in refused.data["detail"]


@pytest.mark.django_db
def test_a_run_whose_worker_died_does_not_block_the_next_run(face_set, lost_after):
    first = _start_run()
    _running(silent_for=120, job=first.job)
    second = _start_run()
    first.job.refresh_from_db()
    assert first.job.state == Job.State.FAILED and second.job.state == Job.State.QUEUED


@pytest.mark.django_db
def test_train_restart_queues_the_failed_run_again(face_set, admin_user):
    run = _start_run()
    Job.objects.filter(pk=run.job_id).update(state=Job.State.FAILED, message="worker lost while running")
    out = io.StringIO()
    call_command("train", "--restart", str(run.pk), "--user", admin_user.username, stdout=out)
    run.refresh_from_db()
    assert f"run {run.pk}:" in out.getvalue() and "queued on 'gpu'" in out.getvalue()
    assert run.job.state == Job.State.QUEUED and run.job.created_by == admin_user
