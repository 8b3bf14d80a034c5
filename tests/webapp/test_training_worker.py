"""A training run through a real Celery worker on the `gpu` queue (Redis in `make test`)."""

import pytest

from webapp.review.models import Queue
from webapp.training import selectors

from .conftest import wait_for_job
from .test_training_fixtures import QUICK, make_face_set


@pytest.mark.slow
def test_a_run_started_from_the_api_is_trained_by_a_gpu_worker(celery_worker_process, admin_client_api):
    make_face_set()

    started = admin_client_api.post("/api/v1/runs/", {"options": QUICK}, format="json")

    assert started.status_code == 202 and started.data["state"] == "queued"
    job = wait_for_job(started.data["job"], timeout=180)
    assert job.state == "succeeded", job.error
    assert job.queue == "gpu" and job.attempts == 1
    run = admin_client_api.get(f"/api/v1/runs/{started.data['id']}/").data
    assert run["has_model"] and run["metrics"]["val"]["mean_f1"] is not None
    assert Queue.objects.filter(run_id=run["id"]).count() == 7  # the merged likely-wrong queue and six by kind
    assert admin_client_api.post(f"/api/v1/runs/{run['id']}/accept/").status_code == 200
    assert selectors.operating_threshold() is not None
