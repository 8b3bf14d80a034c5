"""A tagging batch through a real Celery worker on the `gpu` queue (Redis in `make test`)."""

import pytest

from .conftest import wait_for_job
from .test_tagging import HEAD, vip_video
from .test_training_fixtures import make_face_set, train_now


@pytest.mark.slow
def test_a_batch_started_by_an_admin_is_tagged_by_a_gpu_worker(
    celery_worker_process, admin_client_api, annotator_client
):
    face_set = make_face_set()
    run = train_now(accept=True, **HEAD)  # at the default operating point
    video = vip_video(face_set, face_set.vips[0])

    started = admin_client_api.post("/api/v1/tags/start/", {"scope": "untagged"})

    assert started.status_code == 202 and started.data["queue"] == "gpu"
    job = wait_for_job(started.data["id"], timeout=120)
    assert job.state == "succeeded", job.error
    assert job.result["tagged"] == 1 and job.result["run"] == run.pk
    tags = annotator_client.get(f"/api/v1/videos/{video.pk}/tags/").data
    assert [(t["identity"], t["run"], t["status"]) for t in tags] == [(face_set.vips[0].pk, run.pk, "proposed")]
