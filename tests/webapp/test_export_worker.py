"""An export end to end through a real Celery worker: the freeze and build jobs, then the download."""

import hashlib

import pytest

from webapp.core.models import Job
from webapp.exports.models import DatasetVersion, ExportBuild
from webapp.identities.models import Identity

from .conftest import wait_for_job
from .test_exports import VERSIONS, download, glint_faces


@pytest.mark.slow
def test_a_version_is_frozen_and_built_by_the_worker_with_progress(
    celery_worker_process, admin_client_api, shared_data
):
    vip = Identity.objects.create(name="Hugh Laurie", role="vip", chunk=1)
    glint_faces(shared_data, "Hugh Laurie", vip, 5)

    created = admin_client_api.post(VERSIONS, {"name": "worker"}, format="json")
    assert created.status_code == 202
    job = wait_for_job(created.data["job"], timeout=60)
    assert job.state == Job.State.SUCCEEDED and job.kind == "exports.freeze_version", job.error
    assert job.queue == "default" and job.result["faces"] == 5
    version = DatasetVersion.objects.get(pk=created.data["id"])
    assert version.state == "ready" and job.result["content_hash"] == version.content_hash

    started = admin_client_api.post(
        f"{VERSIONS}{version.pk}/build/", {"format": "webdataset", "shard_size": 2}, format="json"
    )
    assert started.status_code == 202
    job = wait_for_job(started.data["job"], timeout=60)
    assert job.state == Job.State.SUCCEEDED and job.kind == "exports.build" and job.progress == 1.0, job.error
    build = ExportBuild.objects.get(pk=started.data["id"])
    assert build.state == "ready"
    files = admin_client_api.get(f"{VERSIONS}{version.pk}/files/").data
    assert len([f for f in files if f["name"].endswith(".tar")]) == sum(
        -(-c // 2) for c in [sum(x[s] for x in version.counts) for s in ("train", "val", "test")] if c
    )
    for file in files:
        assert hashlib.sha256(download(admin_client_api, file)).hexdigest() == file["sha256"]
