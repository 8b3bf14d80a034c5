"""VIP chunks: the set grows by popularity, 20 at a time, only when the current VIPs perform well."""

from __future__ import annotations

import pytest

from webapp.identities.models import Identity
from webapp.review.models import Queue
from webapp.training import selectors
from webapp.training.models import Chunk

from .factories import FaceFactory, IdentityFactory
from .test_training_fixtures import make_face_set, train_now

pytestmark = pytest.mark.django_db


def promote(client, **body):
    return client.post("/api/v1/chunks/promote/", body, format="json")


def test_the_first_chunk_needs_no_gate_and_takes_the_most_popular_candidates(admin_client_api, settings):
    settings.FACECURATOR_CHUNK_SIZE = 2
    third, first, second = (IdentityFactory(name=n, popularity_rank=r) for n, r in (("C", 3), ("A", 1), ("B", 2)))
    IdentityFactory(name="Unranked", popularity_rank=None)
    FaceFactory(identity=first, vector=[1.0, 0.0])

    response = promote(admin_client_api)

    assert response.status_code == 201, response.data
    assert response.data["chunk"]["number"] == 1 and response.data["suggest_retrain"] is True
    assert [entry["name"] for entry in response.data["chunk"]["identities"]] == ["A", "B"]
    assert set(Identity.objects.filter(role="vip").values_list("name", "chunk")) == {("A", 1), ("B", 1)}
    assert response.data["chunk"]["gate"]["required"] is False
    queue = Queue.objects.get(pk=response.data["review_queue"])
    assert queue.kind == "chunk_verification" and queue.items.count() == 1


def test_the_next_chunk_waits_for_a_model_trained_on_the_current_vips(admin_client_api, settings):
    settings.FACECURATOR_CHUNK_SIZE = 1
    IdentityFactory(name="A", popularity_rank=1)
    IdentityFactory(name="B", popularity_rank=2)
    promote(admin_client_api)

    response = promote(admin_client_api)

    assert response.status_code == 409 and response.data["code"] == "gate_not_met"
    assert "No active model" in response.data["detail"]
    assert Chunk.objects.count() == 1


def test_an_override_needs_a_reason_and_the_reason_is_recorded(admin_client_api, admin_user, settings):
    settings.FACECURATOR_CHUNK_SIZE = 1
    IdentityFactory(name="A", popularity_rank=1)
    IdentityFactory(name="B", popularity_rank=2)
    promote(admin_client_api)

    response = promote(admin_client_api, override_reason="demo tomorrow, B is needed")

    assert response.status_code == 201
    chunk = Chunk.objects.get(number=2)
    assert chunk.overridden and chunk.override_reason == "demo tomorrow, B is needed"
    assert chunk.promoted_by == admin_user and chunk.gate["passed"] is False


def at_precision(settings):
    """These gate tests are about the gate, not the default operating point (which on these tiny sets
    depends on how many candidates' faces land in val: the lowest false-tag rate val measures, or
    the default precision), so they set the operating point by precision."""
    from webapp.training import services

    services.operating_point_set(target_precision=settings.FACECURATOR_DEFAULT_TARGET_PRECISION)


def test_a_model_that_passes_the_gate_lets_the_next_chunk_in_and_the_chunk_keeps_its_metrics(
    admin_client_api, settings
):
    settings.FACECURATOR_CHUNK_SIZE = 2
    face_set = make_face_set(vips=3, candidates=3)
    run = train_now(accept=True)
    at_precision(settings)
    assert selectors.gate_status()["passed"], selectors.gate_status()

    response = promote(admin_client_api)

    assert response.status_code == 201
    chunk = Chunk.objects.get(number=2)
    assert [entry["id"] for entry in chunk.identities] == [c.pk for c in face_set.candidates[:2]]
    assert chunk.run == run and chunk.metrics == run.metrics and not chunk.overridden
    assert [check["metric"] for check in chunk.gate["checks"]] == ["precision", "recall", "mean_f1"]


def test_after_a_promotion_the_old_model_no_longer_passes_the_gate(admin_client_api, settings):
    settings.FACECURATOR_CHUNK_SIZE = 1
    make_face_set(vips=3, candidates=2)
    train_now(accept=True)
    at_precision(settings)
    promote(admin_client_api)

    gate = selectors.gate_status()

    assert not gate["passed"] and "another VIP set" in gate["reason"]


def test_the_gate_names_the_metric_below_its_minimum(settings):
    make_face_set(vips=3, candidates=1)
    train_now(accept=True)
    at_precision(settings)
    settings.FACECURATOR_GATE_MIN_MEAN_F1 = 1.01

    gate = selectors.gate_status()

    assert not gate["passed"]
    assert [c["metric"] for c in gate["checks"] if not c["passed"]] == ["mean_f1"]
    assert "mean_f1" in gate["reason"] and "< 1.01" in gate["reason"]


def test_promoting_with_no_candidates_left_is_refused(admin_client_api):
    response = promote(admin_client_api)

    assert response.status_code == 400 and "No candidate" in response.data["detail"]


def test_merged_identities_are_never_promoted(admin_client_api, settings):
    settings.FACECURATOR_CHUNK_SIZE = 5
    keep = IdentityFactory(name="Tom Hanks", popularity_rank=2)
    IdentityFactory(name="Tom_Hanks", popularity_rank=1, merged_into=keep)

    response = promote(admin_client_api)

    assert [entry["name"] for entry in response.data["chunk"]["identities"]] == ["Tom Hanks"]


def test_the_chunk_history_lists_every_promotion_newest_first(admin_client_api, settings):
    settings.FACECURATOR_CHUNK_SIZE = 1
    for rank in (1, 2):
        IdentityFactory(popularity_rank=rank)
    promote(admin_client_api)
    promote(admin_client_api, override_reason="testing")

    response = admin_client_api.get("/api/v1/chunks/")

    assert [chunk["number"] for chunk in response.data["results"]] == [2, 1]
