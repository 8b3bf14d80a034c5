"""Ids and numbers in requests are checked once (webapp/core/params.py, the paginator): a value out of the
database's range or not a number is a clear 400 JSON answer, never a 500. Each case here was a 500 found by
fuzzing the API from its OpenAPI schema."""

from __future__ import annotations

import pytest

from webapp.core.models import Job
from webapp.review.models import Item, Queue
from webapp.training.models import RunSample, TrainingRun

from .factories import FaceFactory, IdentityFactory, VideoFactory

pytestmark = pytest.mark.django_db

ABOVE_BIGINT = 2**63 + 42  # one more than PostgreSQL's bigint (and SQLite's INTEGER) can hold


def test_an_identity_id_above_the_database_range_in_suggestions_is_a_400(annotator_client):
    response = annotator_client.get("/api/v1/identities/suggestions/?identity=11975220226502434816&kind=merge")
    assert response.status_code == 400
    assert "identity" in response.json()["detail"]


def test_a_huge_float_as_the_video_identity_filter_is_a_400(annotator_client):
    VideoFactory()
    response = annotator_client.get("/api/v1/videos/?identity=-1.7976931348623157e%2B308")
    assert response.status_code == 400 and "identity" in response.json()


def test_a_negative_page_size_is_a_400_naming_the_rule(annotator_client):
    response = annotator_client.get("/api/v1/videos/?page_size=-185708386")
    assert response.status_code == 400
    assert "page_size" in response.json()["detail"]


@pytest.mark.parametrize("page_size", ["0", "501", "ten", "1e3"])
def test_page_sizes_outside_1_to_500_are_refused(annotator_client, page_size):
    assert annotator_client.get(f"/api/v1/faces/?page_size={page_size}").status_code == 400


def test_an_unknown_ordering_is_ignored_not_a_500(annotator_client):
    VideoFactory()
    response = annotator_client.get("/api/v1/videos/?ordering=%00%C3%A9,-,,id")
    assert response.status_code == 200


def test_a_run_samples_label_that_is_not_a_number_is_a_400(annotator_client):
    run = TrainingRun.objects.create(job=Job.objects.create(kind="training.run"))
    face = FaceFactory()
    RunSample.objects.create(run=run, face=face, label=0, split="train", version=face.version)
    response = annotator_client.get(f"/api/v1/runs/{run.pk}/samples/?label=null&label=null")
    assert response.status_code == 400 and "label" in response.json()["detail"]
    assert annotator_client.get(f"/api/v1/runs/{run.pk}/samples/?label=0").json()["count"] == 1


def test_a_run_samples_label_outside_the_class_range_is_a_400(annotator_client):
    run = TrainingRun.objects.create(job=Job.objects.create(kind="training.run"))
    assert annotator_client.get(f"/api/v1/runs/{run.pk}/samples/?label=40000").status_code == 400


def test_decision_item_ids_above_the_database_range_are_a_400(annotator_client):
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    Item.objects.create(queue=queue, face=FaceFactory(), identity=IdentityFactory(), score=0.5)
    response = annotator_client.post(
        "/api/v1/review/decisions/", {"decisions": [{"item": ABOVE_BIGINT, "action": "confirm"}]}, format="json"
    )
    assert response.status_code == 400
    assert "item" in str(response.json())


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/identities/{ABOVE_BIGINT}/",
        f"/api/v1/faces/{ABOVE_BIGINT}/",
        f"/api/v1/faces/{ABOVE_BIGINT}/similar/",
        f"/api/v1/videos/{ABOVE_BIGINT}/tags/",
        f"/api/v1/identities/operations/{ABOVE_BIGINT}/",
        f"/api/v1/identities/suggestions/{ABOVE_BIGINT}/",
        f"/api/v1/faces/?identity={ABOVE_BIGINT}",
        f"/api/v1/identities/operations/?identity={ABOVE_BIGINT}",
    ],
)
def test_ids_above_the_database_range_in_paths_and_filters_are_not_a_500(annotator_client, url):
    assert annotator_client.get(url).status_code in (400, 404)


def test_an_unexpected_error_in_a_view_is_a_json_500_without_a_traceback(annotator, settings, monkeypatch):
    from rest_framework.test import APIClient

    from webapp.training import selectors

    def broken():
        raise RuntimeError("secret internals: /srv/facecurator/db.sqlite3")

    monkeypatch.setattr(selectors, "curation_status", broken)
    settings.DEBUG = False
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(annotator)
    response = client.get("/api/v1/status/")
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert response.json()["code"] == "server_error"
    assert "secret" not in response.content.decode() and "Traceback" not in response.content.decode()


def test_an_unknown_api_url_is_a_json_404(annotator_client):
    response = annotator_client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response.json()["detail"]


@pytest.mark.parametrize("ids", ["abc", str(ABOVE_BIGINT), "1,x", "0"])
def test_a_face_ids_list_with_a_bad_id_is_a_400(annotator_client, ids):
    FaceFactory()
    response = annotator_client.get(f"/api/v1/faces/?ids={ids}")
    assert response.status_code == 400 and "ids" in response.json()


def test_a_face_ids_list_selects_those_faces(annotator_client):
    first, _, third = FaceFactory(), FaceFactory(), FaceFactory()
    response = annotator_client.get(f"/api/v1/faces/?ids={first.pk},{third.pk}")
    assert {row["id"] for row in response.json()["results"]} == {first.pk, third.pk}


def test_an_identity_history_answers_for_the_identity_and_404_for_a_bad_id(annotator_client):
    ada = IdentityFactory(name="Ada")
    assert annotator_client.get(f"/api/v1/identities/{ada.pk}/history/").status_code == 200
    assert annotator_client.get("/api/v1/identities/abc/history/").status_code == 404


def test_a_request_with_too_many_fields_is_a_json_400(annotator_client):
    query = "&".join(f"videos={n}" for n in range(1200))
    response = annotator_client.post(f"/api/v1/tags/start/?{query}")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
