"""A page of review decisions costs the same number of queries whatever its size.

The page mixes every path a decision takes: confirms, confirms that make a face gold (a second
annotator agrees), relabels between two VIPs that wait for a second opinion, relabels that apply,
unknowns, decisions on gold faces (scored, not applied), and second opinions that agree or dispute.
Ten of them and forty of them take the same queries: everything is read and written per page, never
per decision.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from webapp.faces.models import Face, LabelEvent
from webapp.quality.models import GoldFace, GoldItem, SecondOpinion
from webapp.review.models import Decision, Item, Queue
from webapp.review.services import DecisionRequest, decisions_apply

from .factories import FaceFactory, IdentityFactory

pytestmark = pytest.mark.django_db

#: The most queries one page may take (user, checks, reads, writes: one each, whatever the page size).
MOST_QUERIES_PER_PAGE = 40


@pytest.fixture(autouse=True)
def second_opinions_on(settings):
    settings.FACECURATOR_SECOND_OPINION = ["relabel_vip"]


@pytest.fixture
def people(db):
    return {
        "ada": IdentityFactory(name="Ada", role="vip"),
        "grace": IdentityFactory(name="Grace", role="vip"),
        "someone": IdentityFactory(name="Someone", role="candidate"),
    }


def served(queue, face, identity, user) -> Item:
    """An item of ``queue`` leased to ``user``, who was shown the face as it is now."""
    face.refresh_from_db()
    return Item.objects.create(
        queue=queue,
        face=face,
        identity=identity,
        score=1.0,
        payload={"reason": "likely wrong", "suggestions": []},
        leased_to=user,
        leased_until=timezone.now() + timedelta(minutes=10),
        served_version=face.version,
    )


def gold_item(queue, identity, user) -> Item:
    """A gold face mixed into ``user``'s page, as the lease mixes it (shown with its own label)."""
    face = FaceFactory(identity=identity, status=Face.Status.VERIFIED)
    gold = GoldFace.objects.create(
        face=face,
        identity=identity,
        status=face.status,
        face_version=face.version,
        source=GoldFace.Source.ADMIN,
        since=timezone.now(),
    )
    item = served(queue, face, identity, user)
    GoldItem.objects.create(item=item, gold=gold, user=user, shown_identity=identity, shown_status=face.status)
    return item


def a_page(*, tens: int, annotator, other, people) -> list[dict]:
    """``tens`` times ten decisions for ``annotator``, one of every kind but confirms of new faces (two) and
    relabels between VIPs (two); ``other`` decided some of the faces before."""
    ada, grace, someone = people["ada"], people["grace"], people["someone"]
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    before = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="decided before")
    confirmed = [FaceFactory(identity=ada) for _ in range(tens)]
    held = [FaceFactory(identity=ada) for _ in range(2 * tens)]
    decisions_apply(
        user=other,
        requests=[DecisionRequest(served(before, face, ada, other).pk, "confirm") for face in confirmed]
        + [DecisionRequest(served(before, face, ada, other).pk, "relabel", grace.pk) for face in held],
    )
    opinions = {o.face_id: o.item for o in SecondOpinion.objects.filter(face__in=held).select_related("item")}
    for opinion_item in opinions.values():
        opinion_item.leased_to, opinion_item.leased_until = annotator, timezone.now() + timedelta(minutes=10)
        opinion_item.served_version = Face.objects.get(pk=opinion_item.face_id).version
        opinion_item.save()

    page = []
    for n in range(tens):
        page += [
            {"item": served(queue, FaceFactory(identity=ada), ada, annotator).pk, "action": "confirm"} for _ in range(2)
        ]
        page.append({"item": served(queue, confirmed[n], ada, annotator).pk, "action": "confirm"})
        page += [
            {
                "item": served(queue, FaceFactory(identity=ada), ada, annotator).pk,
                "action": "relabel",
                "identity": grace.pk,
            }
            for _ in range(2)
        ]
        page.append(
            {
                "item": served(queue, FaceFactory(identity=ada), ada, annotator).pk,
                "action": "relabel",
                "identity": someone.pk,
            }
        )
        page.append({"item": served(queue, FaceFactory(identity=ada), ada, annotator).pk, "action": "unknown"})
        page.append({"item": gold_item(queue, grace, annotator).pk, "action": "confirm"})
        agreeing, disputing = held[2 * n], held[2 * n + 1]
        page.append({"item": opinions[agreeing.pk].pk, "action": "relabel", "identity": grace.pk})
        page.append({"item": opinions[disputing.pk].pk, "action": "confirm"})
    return page


def post_counting(client, page) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/review/decisions/", {"decisions": page}, format="json")
    assert response.status_code == 201, response.data
    return len(queries), response.data


def test_a_page_of_forty_decisions_takes_as_many_queries_as_a_page_of_ten(
    annotator_client, annotator, other_annotator, people
):
    first = a_page(tens=1, annotator=annotator, other=other_annotator, people=people)
    ten = a_page(tens=1, annotator=annotator, other=other_annotator, people=people)
    forty = a_page(tens=4, annotator=annotator, other=other_annotator, people=people)
    post_counting(annotator_client, first)  # the first dispute opens the admins' queue of disagreements

    queries_ten, _ = post_counting(annotator_client, ten)
    queries_forty, _ = post_counting(annotator_client, forty)

    assert queries_forty == queries_ten
    assert queries_forty <= MOST_QUERIES_PER_PAGE


def test_every_path_of_the_page_still_does_what_it_did(annotator_client, annotator, other_annotator, people):
    page = a_page(tens=4, annotator=annotator, other=other_annotator, people=people)

    _, body = post_counting(annotator_client, page)

    operation = body["operation"]
    events = LabelEvent.objects.filter(operation=operation)
    # 8 new faces confirmed, 4 relabelled to someone, 4 unknown, 4 second opinions agreed: one event each
    assert events.count() == len(body["label_events"]) == 20
    assert all(event.user == annotator for event in events)
    assert Decision.objects.filter(operation=operation).count() == 40
    assert SecondOpinion.objects.filter(first_user=annotator, state="pending").count() == 8  # VIP to VIP waits
    assert SecondOpinion.objects.filter(state="agreed").count() == 4
    assert SecondOpinion.objects.filter(state="disputed", dispute_item__isnull=False).count() == 4
    assert GoldFace.objects.filter(source="agreement").count() == 4  # confirmed by two annotators
    assert not Item.objects.filter(pk__in=[d["item"] for d in page], state="open").exists()
