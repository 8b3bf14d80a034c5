"""Who may do what with training, and the diagnostics the UI reads."""

from __future__ import annotations

import pytest

from webapp.training import selectors

from .factories import IdentityFactory
from .test_training_fixtures import QUICK, make_face_set, train_now

pytestmark = pytest.mark.django_db

READ_ENDPOINTS = [
    "/api/v1/runs/",
    "/api/v1/chunks/",
    "/api/v1/chunks/gate/",
    "/api/v1/operating-point/",
    "/api/v1/status/",
    "/api/v1/review/queues/",
    "/api/v1/review/progress/",
]


@pytest.mark.parametrize("url", READ_ENDPOINTS)
def test_annotators_read_the_curation_state(annotator_client, url):
    assert annotator_client.get(url).status_code == 200


@pytest.mark.parametrize("url", READ_ENDPOINTS)
def test_users_without_a_role_read_nothing(no_role_user, url):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(no_role_user)
    assert client.get(url).status_code == 403


def test_annotators_cannot_train(annotator_client, face_set):
    response = annotator_client.post("/api/v1/runs/", {"options": QUICK}, format="json")

    assert response.status_code == 403 and response.data["detail"] == "Only admins may change this."


def test_annotators_cannot_accept_or_cancel_a_run(annotator_client, face_set):
    run = train_now()

    assert annotator_client.post(f"/api/v1/runs/{run.pk}/accept/").status_code == 403
    assert annotator_client.post(f"/api/v1/runs/{run.pk}/cancel/").status_code == 403
    assert selectors.active_run() is None


def test_annotators_cannot_promote_a_chunk(annotator_client):
    IdentityFactory(popularity_rank=1)

    assert annotator_client.post("/api/v1/chunks/promote/", {}, format="json").status_code == 403
    assert not selectors.vips_current().exists()


def test_annotators_cannot_change_the_operating_point(annotator_client, face_set):
    train_now(accept=True)
    before = selectors.operating_threshold()

    response = annotator_client.post("/api/v1/operating-point/", {"threshold": 0.2}, format="json")

    assert response.status_code == 403 and selectors.operating_threshold() == before


def test_the_admin_picks_a_target_precision_from_the_trade_off(admin_client_api, face_set):
    train_now(accept=True)
    tradeoff = admin_client_api.get("/api/v1/operating-point/").data["tradeoff"]
    assert len(tradeoff["thresholds"]) == len(tradeoff["precision"]) == len(tradeoff["recall"]) > 2

    response = admin_client_api.post("/api/v1/operating-point/", {"target_precision": 0.8}, format="json")

    assert response.status_code == 201
    assert response.data["expected"]["precision"] >= 0.8 and response.data["expected"]["target_reached"]
    assert selectors.operating_threshold() == response.data["threshold"]


def test_the_admin_may_set_a_threshold_directly(admin_client_api, face_set):
    train_now(accept=True)

    response = admin_client_api.post("/api/v1/operating-point/", {"threshold": 0.42}, format="json")

    assert response.status_code == 201 and selectors.operating_threshold() == 0.42
    assert response.data["target_precision"] is None


def test_setting_an_operating_point_without_an_active_model_is_refused(admin_client_api):
    response = admin_client_api.post("/api/v1/operating-point/", {"target_precision": 0.9}, format="json")

    assert response.status_code == 400 and "No active model" in response.data["detail"]


def test_a_run_shows_per_class_points_curves_pairs_and_samples(annotator_client, face_set):
    run = train_now(accept=True)

    detail = annotator_client.get(f"/api/v1/runs/{run.pk}/").data
    classes = annotator_client.get(f"/api/v1/runs/{run.pk}/classes/").data
    curves = annotator_client.get(f"/api/v1/runs/{run.pk}/curves/").data
    pairs = annotator_client.get(f"/api/v1/runs/{run.pk}/confused-pairs/")
    samples = annotator_client.get(f"/api/v1/runs/{run.pk}/samples/?split=val").data

    assert detail["state"] == "succeeded" and detail["is_active"] and detail["has_model"]
    assert detail["metrics"]["val"]["mean_f1"] is not None and detail["vips"][0]["name"] == "VIP 0"
    assert [row["name"] for row in classes] == ["VIP 0", "VIP 1", "VIP 2"]
    assert {"precision", "recall", "diagnosis"} <= set(classes[0])
    assert curves["sweeps"]["val"]["thresholds"] and curves["calibration"]["val"]["before"]
    assert pairs.status_code == 200
    assert samples["count"] == run.samples.filter(split="val").count()
    scores = [row["noise_score"] for row in samples["results"]]
    assert scores == sorted(scores, reverse=True)


def test_a_run_started_without_a_loss_trains_the_arcface_head_and_says_what_scored_its_faces(
    annotator_client, face_set
):
    run = train_now()

    detail = annotator_client.get(f"/api/v1/runs/{run.pk}/").data
    assert detail["loss"] == "arcface"
    # the face set's val split holds too few unknown faces to fuse the head on: the gallery alone, and why
    assert detail["metrics"]["scorer"]["name"] == "gallery"
    assert "faces of unknown people" in detail["metrics"]["scorer"]["reason"]


def test_runs_compare_side_by_side_per_identity(annotator_client, face_set):
    first, second = train_now(), train_now(seed=1)

    data = annotator_client.get(f"/api/v1/runs/compare/?ids={first.pk},{second.pk}").data

    assert [entry["run"] for entry in data["runs"]] == [first.pk, second.pk]
    assert set(data["identities"][0]["runs"]) == {str(first.pk), str(second.pk)}


def test_listing_runs_takes_a_fixed_number_of_queries(annotator_client, face_set, django_assert_num_queries):
    train_now(accept=True)
    train_now()
    annotator_client.get("/api/v1/runs/")

    # user groups (the permission, then whether errors are shown whole), the active model, its operating
    # point and val predictions (its headline, read once), count, page of runs
    with django_assert_num_queries(7):
        response = annotator_client.get("/api/v1/runs/")
    assert response.data["count"] == 2


def test_status_in_one_call(annotator_client):
    make_face_set(vips=3, candidates=2)
    train_now(accept=True)

    status = annotator_client.get("/api/v1/status/").data

    assert status["vip_count"] == 3 and status["candidate_count"] == 2
    assert status["active_model"]["vip_count"] == 3
    assert status["active_model"]["operating_point"]["threshold"] is not None
    assert {q["kind"] for q in status["queues"]} >= {"label_errors", "lookalikes"}
    assert status["gate"]["required"] is True and status["gate"]["checks"]


def test_progress_counts_each_annotators_decisions_today(annotator_client, other_annotator_client, face_set):
    run = train_now()
    queue = run.queues.get(kind="label_errors")
    for client, n in ((annotator_client, 2), (other_annotator_client, 1)):
        items = client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": n}, format="json").data
        client.post(
            "/api/v1/review/decisions/",
            {"decisions": [{"item": item["id"], "action": "confirm"} for item in items]},
            format="json",
        )

    data = annotator_client.get("/api/v1/review/progress/").data

    assert [(a["username"], a["decisions"], a["by_action"]) for a in data["annotators"]] == [
        ("bob-annotator", 2, {"confirm": 2}),
        ("carol-annotator", 1, {"confirm": 1}),
    ]


def test_the_openapi_schema_documents_the_curation_endpoints(annotator_client):
    schema = annotator_client.get("/api/schema/?format=json").json()

    for path in (
        "/api/v1/runs/",
        "/api/v1/runs/{id}/accept/",
        "/api/v1/review/decisions/",
        "/api/v1/review/queues/{id}/next/",
        "/api/v1/chunks/promote/",
        "/api/v1/operating-point/",
        "/api/v1/status/",
        "/api/v1/review/operations/{operation}/undo/",
    ):
        assert path in schema["paths"], path
    assert "DecisionBatchRequest" in schema["components"]["schemas"]
