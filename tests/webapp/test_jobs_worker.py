"""Jobs run through a real Celery worker process and leave their result on the Job row."""

import pytest

from ml.splits import split_for_group
from webapp.core.models import Job
from webapp.faces.models import Face

from .conftest import wait_for_job
from .factories import FaceFactory


@pytest.fixture
def split_seed_7(monkeypatch, settings):
    """An admin changed the split seed: the worker started after this reads it from the environment."""
    monkeypatch.setenv("FACECURATOR_SPLIT_SEED", "7")
    settings.FACECURATOR_SPLIT_SEED = 7


@pytest.mark.slow
def test_a_job_runs_through_a_real_worker_and_stores_its_result(split_seed_7, celery_worker_process, admin_client_api):
    faces = FaceFactory.create_batch(20)
    response = admin_client_api.post("/api/v1/jobs/reassign-splits/")
    assert response.status_code == 202
    job = wait_for_job(response.data["id"])
    assert job.state == Job.State.SUCCEEDED, job.error
    assert job.progress == 1.0 and job.attempts == 1
    assert job.result["groups"] == 20
    for face in Face.objects.filter(pk__in=[f.pk for f in faces]):
        assert face.split == split_for_group(face.group_key, seed=7)


@pytest.mark.django_db
def test_a_failing_job_keeps_its_error_on_the_row(admin_user):
    from webapp.core.services import job_execute, job_start

    job = job_start(kind="maintenance.reassign_splits", user=admin_user)

    def broken(job, progress):
        raise ValueError("the split proportions are negative")

    job_execute(job.pk, broken)
    job.refresh_from_db()
    assert job.state == "failed" and "negative" in job.message and "ValueError" in job.error


@pytest.mark.django_db
def test_a_finished_job_is_not_run_again_when_redelivered(admin_user):
    from webapp.core.services import job_execute, job_start

    job = job_start(kind="maintenance.reassign_splits", user=admin_user)
    calls = []
    job_execute(job.pk, lambda job, progress: calls.append(1) or {"n": 1})
    job_execute(job.pk, lambda job, progress: calls.append(1) or {"n": 2})
    job.refresh_from_db()
    assert calls == [1] and job.result == {"n": 1}


@pytest.mark.django_db
def test_a_running_job_stops_when_cancelled(admin_user):
    from webapp.core.services import job_cancel, job_execute, job_start

    job = job_start(kind="maintenance.reassign_splits", user=admin_user)

    def long_work(job, progress):
        job_cancel(job=job)
        for step in range(100):
            progress(step / 100, "working")
        return {"finished": True}

    job_execute(job.pk, long_work)
    job.refresh_from_db()
    assert job.state == "cancelled" and job.result == {}
