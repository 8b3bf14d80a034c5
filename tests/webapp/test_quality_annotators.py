"""Per-annotator quality (gold accuracy, speed, agreement, per day, flags) and acting on a careless
annotator (undo a time range, send it to a second annotator)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import face_relabel
from webapp.quality.models import GoldFace
from webapp.quality.selectors import annotators_quality, gold_flagged, wilson_interval
from webapp.review.models import Decision, Item, Queue

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def vips(db):
    return [IdentityFactory(name="Ada", role="vip"), IdentityFactory(name="Grace", role="vip")]


def make_queue(vips, n, title="errors"):
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title=title)
    for k in range(n):
        Item.objects.create(
            queue=queue,
            face=FaceFactory(identity=vips[0]),
            identity=vips[0],
            score=1.0 - k / 100,
            payload={"reason": "likely wrong", "suggestions": []},
        )
    return queue


def make_gold(identity):
    face = FaceFactory(identity=identity, status=Face.Status.VERIFIED)
    return GoldFace.objects.create(
        face=face,
        identity=identity,
        status="verified",
        face_version=face.version,
        source=GoldFace.Source.ADMIN,
        since=timezone.now() - timedelta(minutes=1),
    )


def serve(client, queue, limit):
    response = client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": limit}, format="json")
    assert response.status_code == 200, response.data
    return response.data


def decide(client, *decisions):
    response = client.post("/api/v1/review/decisions/", {"decisions": list(decisions)}, format="json")
    assert response.status_code == 201, response.data
    return response.data


def answer_gold(settings, client, vips, golds, action_for):
    """Serve pages made only of gold faces and answer each with ``action_for(item)``."""
    settings.FACECURATOR_GOLD_RATE = 1.0
    queue = make_queue(vips, len(golds), title="gold")
    page = serve(client, queue, len(golds))
    settings.FACECURATOR_GOLD_RATE = 0
    decide(client, *[{"item": item["id"], **action_for(item)} for item in page])
    return page


def test_wilson_interval_matches_the_formula_on_numbers_worked_by_hand():
    low, high = wilson_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    assert wilson_interval(0, 0) is None


def test_gold_accuracy_counts_right_and_wrong_answers(settings, annotator, annotator_client, vips):
    golds = [make_gold(vips[0]) for _ in range(4)]
    settings.FACECURATOR_GOLD_DECOY_SHARE = 0  # shown with their right label: confirm is right
    page = answer_gold(settings, annotator_client, vips, golds, lambda item: {"action": "confirm"})
    assert len(page) == 4

    row = annotators_quality(user_ids=[annotator.pk])[0]

    assert row["gold"]["answered"] == 4 and row["gold"]["correct"] == 4 and row["gold"]["accuracy"] == 1.0
    assert row["gold"]["low"] < 1.0 <= row["gold"]["high"] + 1e-9


def test_confirming_a_gold_face_shown_with_a_wrong_label_is_wrong(settings, annotator, annotator_client, vips):
    golds = [make_gold(vips[0]) for _ in range(3)]
    settings.FACECURATOR_GOLD_DECOY_SHARE = 1.0
    page = answer_gold(settings, annotator_client, vips, golds, lambda item: {"action": "confirm"})
    assert {item["face"]["identity"] for item in page} == {vips[1].pk}  # shown with the decoy

    row = annotators_quality(user_ids=[annotator.pk])[0]

    assert (row["gold"]["answered"], row["gold"]["correct"]) == (3, 0)


def test_an_annotator_under_the_threshold_is_flagged(settings, annotator, annotator_client, vips):
    golds = [make_gold(vips[0]) for _ in range(settings.FACECURATOR_QUALITY_MIN_GOLD)]
    settings.FACECURATOR_GOLD_DECOY_SHARE = 1.0
    answer_gold(settings, annotator_client, vips, golds, lambda item: {"action": "confirm"})

    assert annotators_quality(user_ids=[annotator.pk])[0]["flagged"] is True


def test_no_annotator_is_flagged_before_the_minimum_of_gold_answers(settings, annotator, annotator_client, vips):
    golds = [make_gold(vips[0]) for _ in range(settings.FACECURATOR_QUALITY_MIN_GOLD - 1)]
    settings.FACECURATOR_GOLD_DECOY_SHARE = 1.0
    answer_gold(settings, annotator_client, vips, golds, lambda item: {"action": "confirm"})

    row = annotators_quality(user_ids=[annotator.pk])[0]

    assert row["gold"]["correct"] == 0 and row["gold"]["high"] < settings.FACECURATOR_QUALITY_FLAG_BELOW
    assert row["flagged"] is False


def test_one_wrong_gold_answer_of_one_flags_nobody_by_default():
    assert gold_flagged(correct=0, total=1) is False


def test_from_the_minimum_on_the_intervals_upper_bound_decides_the_flag(settings):
    settings.FACECURATOR_QUALITY_MIN_GOLD = 15
    assert wilson_interval(11, 15)[1] < 0.9 and gold_flagged(correct=11, total=15) is True
    assert wilson_interval(13, 15)[1] >= 0.9 and gold_flagged(correct=13, total=15) is False


def test_a_minimum_of_one_gold_answer_flags_on_the_interval_alone(settings):
    settings.FACECURATOR_QUALITY_MIN_GOLD = 1
    assert gold_flagged(correct=0, total=1) is True


def test_a_gold_face_whose_answer_changed_stops_counting(settings, admin_user, annotator, annotator_client, vips):
    golds = [make_gold(vips[0]) for _ in range(2)]
    settings.FACECURATOR_GOLD_DECOY_SHARE = 0
    answer_gold(settings, annotator_client, vips, golds, lambda item: {"action": "confirm"})
    face_relabel(face=golds[0].face, user=admin_user, identity=vips[1])

    row = annotators_quality(user_ids=[annotator.pk])[0]

    assert row["gold"]["answered"] == 1


def test_agreement_compares_what_two_annotators_said_about_one_face(
    annotator, other_annotator, annotator_client, other_annotator_client, vips
):
    queue = make_queue(vips, 2)
    first = serve(annotator_client, queue, 2)
    decide(
        annotator_client, {"item": first[0]["id"], "action": "confirm"}, {"item": first[1]["id"], "action": "confirm"}
    )
    again = Queue.objects.create(kind=Queue.Kind.SENT, title="again")
    for item in first:
        Item.objects.create(queue=again, face_id=item["face"]["id"], identity=vips[0], score=1)
    second = serve(other_annotator_client, again, 2)
    decide(
        other_annotator_client,
        {"item": second[0]["id"], "action": "confirm"},
        {"item": second[1]["id"], "action": "relabel", "identity": vips[1].pk},
    )

    rows = {row["username"]: row for row in annotators_quality()}

    assert rows[annotator.username]["agreement"] == {"pairs": 2, "rate": 0.5}
    assert rows[other_annotator.username]["agreement"] == {"pairs": 2, "rate": 0.5}


def test_pages_confirmed_unchanged_and_per_day_counts(annotator, annotator_client, vips):
    queue = make_queue(vips, 4)
    page = serve(annotator_client, queue, 4)
    decide(annotator_client, *[{"item": item["id"], "action": "confirm"} for item in page[:2]])
    decide(
        annotator_client,
        {"item": page[2]["id"], "action": "confirm"},
        {"item": page[3]["id"], "action": "relabel", "identity": vips[1].pk},
    )

    row = annotators_quality(user_ids=[annotator.pk])[0]

    assert row["pages"] == 2 and row["pages_confirmed_unchanged"] == 0.5
    assert row["decisions"] == 4 and sum(day["decisions"] for day in row["per_day"]) == 4


def test_decisions_per_hour_count_the_time_between_pages(annotator, annotator_client, vips):
    queue = make_queue(vips, 4)
    page = serve(annotator_client, queue, 4)
    decide(annotator_client, {"item": page[0]["id"], "action": "confirm"})
    decide(annotator_client, *[{"item": item["id"], "action": "confirm"} for item in page[1:]])
    first, *rest = Decision.objects.order_by("id")
    now = timezone.now()
    Decision.objects.filter(pk=first.pk).update(created_at=now - timedelta(minutes=3))
    Decision.objects.filter(pk__in=[d.pk for d in rest]).update(created_at=now)

    row = annotators_quality(user_ids=[annotator.pk])[0]

    assert row["decisions_per_hour"] == 60.0  # 3 decisions in the 3 minutes after the first page


def test_admins_see_every_annotator_over_the_api(admin_client_api, annotator, annotator_client, vips):
    page = serve(annotator_client, make_queue(vips, 1), 1)
    decide(annotator_client, {"item": page[0]["id"], "action": "confirm"})

    response = admin_client_api.get("/api/v1/annotators/quality/")

    assert response.status_code == 200
    assert [row["username"] for row in response.data["annotators"]] == [annotator.username]
    assert response.data["flag_below"] == 0.9 and response.data["min_gold"] == 15


def test_annotators_may_not_see_the_team_numbers(annotator_client):
    assert annotator_client.get("/api/v1/annotators/quality/").status_code == 403


def test_an_annotator_sees_their_own_numbers(annotator, annotator_client):
    response = annotator_client.get("/api/v1/annotators/quality/me/")

    assert response.status_code == 200
    assert [row["user"] for row in response.data["annotators"]] == [annotator.pk]


def test_nothing_without_login(anonymous_client):
    assert anonymous_client.get("/api/v1/annotators/quality/me/").status_code in (401, 403)


# --- Acting on a careless annotator --------------------------------------------------------


def careless_work(client, vips, n=3):
    queue = make_queue(vips, n)
    page = serve(client, queue, n)
    decide(client, *[{"item": item["id"], "action": "relabel", "identity": vips[1].pk} for item in page])
    return queue, page


def window():
    now = timezone.now()
    return {"since": (now - timedelta(hours=1)).isoformat(), "until": (now + timedelta(minutes=1)).isoformat()}


def test_admin_lists_one_annotators_decisions_in_a_range(admin_client_api, annotator, annotator_client, vips):
    careless_work(annotator_client, vips)

    response = admin_client_api.get(f"/api/v1/annotators/{annotator.pk}/decisions/", window())

    assert response.status_code == 200 and response.data["count"] == 3
    assert {row["user"] for row in response.data["results"]} == {annotator.username}


def test_undo_a_range_restores_the_labels_and_reopens_the_items(admin_client_api, annotator, annotator_client, vips):
    queue, page = careless_work(annotator_client, vips)

    response = admin_client_api.post(f"/api/v1/annotators/{annotator.pk}/decisions/undo/", window(), format="json")

    assert response.status_code == 200, response.data
    assert response.data["undone_decisions"] == 3 and response.data["undone_label_events"] == 3
    faces = Face.objects.filter(pk__in=[item["face"]["id"] for item in page])
    assert {(f.identity_id, f.status) for f in faces} == {(vips[0].pk, "unverified")}
    assert set(Item.objects.filter(queue=queue).values_list("state", flat=True)) == {"open"}
    assert LabelEvent.objects.filter(undoes__isnull=False).count() == 3


def test_undo_a_range_keeps_a_face_someone_changed_since(
    admin_client_api, admin_user, annotator, annotator_client, vips
):
    _, page = careless_work(annotator_client, vips)
    later = Face.objects.get(pk=page[0]["face"]["id"])
    face_relabel(face=later, user=admin_user, identity=vips[0])

    response = admin_client_api.post(f"/api/v1/annotators/{annotator.pk}/decisions/undo/", window(), format="json")

    assert response.data["kept_faces"] == [later.pk] and response.data["undone_decisions"] == 2
    assert Face.objects.get(pk=later.pk).status == "verified"


def test_annotators_may_not_undo_someone_elses_range(other_annotator_client, annotator, annotator_client, vips):
    careless_work(annotator_client, vips)

    response = other_annotator_client.post(
        f"/api/v1/annotators/{annotator.pk}/decisions/undo/", window(), format="json"
    )

    assert response.status_code == 403 and Decision.objects.filter(undone=False).count() == 3


def test_an_empty_range_is_refused(admin_client_api, annotator):
    now = timezone.now().isoformat()
    response = admin_client_api.post(
        f"/api/v1/annotators/{annotator.pk}/decisions/undo/", {"since": now, "until": now}, format="json"
    )
    assert response.status_code == 400 and "range" in str(response.data)


def test_second_review_queues_the_faces_for_someone_else(
    admin_client_api, annotator, annotator_client, other_annotator_client, vips
):
    _, page = careless_work(annotator_client, vips)

    response = admin_client_api.post(
        f"/api/v1/annotators/{annotator.pk}/decisions/second-review/", window(), format="json"
    )

    assert response.status_code == 201, response.data
    queue = Queue.objects.get(pk=response.data["queues"][0]["id"])
    assert sorted(queue.items.values_list("face_id", flat=True)) == sorted(item["face"]["id"] for item in page)
    assert serve(annotator_client, queue, 5) == []
    assert len(serve(other_annotator_client, queue, 5)) == 3


def test_annotators_may_not_send_someone_elses_work_to_review(other_annotator_client, annotator):
    response = other_annotator_client.post(
        f"/api/v1/annotators/{annotator.pk}/decisions/second-review/", window(), format="json"
    )
    assert response.status_code == 403
