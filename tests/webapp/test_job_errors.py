"""A failed job's traceback and server paths are for admins; annotators see a short message without paths."""

import pytest

from webapp.core.models import Job
from webapp.core.services import job_execute, text_without_paths

pytestmark = pytest.mark.django_db

SECRET_FOLDER = "/srv/facecurator-private/media"


def _failed_job(user) -> Job:
    job = Job.objects.create(
        kind="media.import_faces",
        created_by=user,
        params={"root": f"{SECRET_FOLDER}/imports/glint24", "cropped": True},
        result={"root": f"{SECRET_FOLDER}/imports/glint24", "errors": [{"name": "Ada/1.jpg"}]},
    )

    def broken(job, progress):
        open(f"{SECRET_FOLDER}/photos/ab/missing.jpg", "rb")

    job_execute(job.pk, broken)
    job.refresh_from_db()
    return job


def test_an_annotator_sees_a_failed_jobs_short_message_without_traceback_or_paths(annotator_client, admin_user):
    job = _failed_job(admin_user)
    for data in (
        annotator_client.get(f"/api/v1/jobs/{job.pk}/").data,
        annotator_client.get("/api/v1/jobs/").data["results"][0],
    ):
        assert data["state"] == "failed"
        assert data["error"] == "FileNotFoundError: [Errno 2] No such file or directory: '…/missing.jpg'"
        assert data["message"] == data["error"]
        assert data["params"]["root"] == "…/glint24" and data["result"]["root"] == "…/glint24"
        assert SECRET_FOLDER not in str(data) and "Traceback" not in str(data)


def test_an_admin_sees_the_whole_traceback_and_the_params(admin_client_api, admin_user):
    job = _failed_job(admin_user)
    data = admin_client_api.get(f"/api/v1/jobs/{job.pk}/").data
    assert data["error"].startswith("Traceback (most recent call last)")
    assert f"{SECRET_FOLDER}/photos/ab/missing.jpg" in data["error"]
    assert data["params"]["root"] == f"{SECRET_FOLDER}/imports/glint24"


def test_the_job_row_keeps_the_traceback_and_a_message_without_paths(admin_user):
    job = _failed_job(admin_user)
    assert "Traceback" in job.error and SECRET_FOLDER in job.error
    assert SECRET_FOLDER not in job.message and job.message.endswith("'…/missing.jpg'")


def test_a_training_runs_error_is_shortened_for_annotators(annotator_client, admin_client_api):
    from webapp.training.models import TrainingRun

    job = Job.objects.create(
        kind="training.run",
        state="failed",
        message=f"OSError: cannot write {SECRET_FOLDER}/m.pt",
        error=f'Traceback (most recent call last):\n  File "{SECRET_FOLDER}/x.py"\nOSError',
    )
    run = TrainingRun.objects.create(job=job, vips=[])
    seen = annotator_client.get(f"/api/v1/runs/{run.pk}/").data
    assert seen["error"] == seen["message"] == "OSError: cannot write …/m.pt"
    assert admin_client_api.get(f"/api/v1/runs/{run.pk}/").data["error"].startswith("Traceback")


def test_paths_are_cut_to_their_last_part_but_api_addresses_and_fractions_stay():
    assert text_without_paths("cannot open '/var/lib/x/photo 1.jpg'") == "cannot open '…/photo 1.jpg'"
    assert text_without_paths("No such file: /srv/data/glint24") == "No such file: …/glint24"
    kept = "restart the run (POST /api/v1/runs/<id>/restart/), 3/4 done, see Ada/1.jpg"
    assert text_without_paths(kept) == kept
