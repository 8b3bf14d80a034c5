"""Several annotators: items are leased to one at a time, never shared, never lost on reload."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from webapp.review import services
from webapp.review.models import Item, Queue

from .factories import FaceFactory, IdentityFactory, UserFactory


def make_queue(n: int = 10) -> Queue:
    queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title="errors")
    identity = IdentityFactory(role="vip")
    Item.objects.bulk_create(
        [
            Item(queue=queue, face=FaceFactory(identity=identity), identity=identity, score=1.0 - i / 100)
            for i in range(n)
        ]
    )
    return queue


def ids(items) -> list[int]:
    return [item.pk for item in items]


@pytest.mark.django_db
def test_items_are_served_most_likely_wrong_first(annotator):
    queue = make_queue()

    served = services.queue_next_items(queue=queue, user=annotator, limit=3)

    assert [item.score for item in served] == [1.0, 0.99, 0.98]


@pytest.mark.django_db
def test_two_annotators_never_receive_the_same_item(annotator, other_annotator):
    queue = make_queue(10)

    first = services.queue_next_items(queue=queue, user=annotator, limit=6)
    second = services.queue_next_items(queue=queue, user=other_annotator, limit=6)

    assert len(first) == 6 and len(second) == 4
    assert not set(ids(first)) & set(ids(second))


@pytest.mark.django_db
def test_a_reload_gives_me_my_leased_items_back_first(annotator, other_annotator):
    queue = make_queue(10)
    mine = services.queue_next_items(queue=queue, user=annotator, limit=3)
    services.queue_next_items(queue=queue, user=other_annotator, limit=3)

    again = services.queue_next_items(queue=queue, user=annotator, limit=5)

    assert ids(again)[:3] == ids(mine)
    assert len(set(ids(again))) == 5


@pytest.mark.django_db
def test_an_expired_lease_goes_to_the_next_annotator(annotator, other_annotator, settings):
    queue = make_queue(2)
    mine = services.queue_next_items(queue=queue, user=annotator, limit=2)
    Item.objects.filter(pk__in=ids(mine)).update(leased_until=timezone.now() - timedelta(seconds=1))

    theirs = services.queue_next_items(queue=queue, user=other_annotator, limit=2)

    assert set(ids(theirs)) == set(ids(mine))
    assert all(
        item.leased_until > timezone.now() + timedelta(seconds=settings.FACECURATOR_LEASE_SECONDS - 5)
        for item in theirs
    )


@pytest.mark.django_db
def test_releasing_my_leases_hands_the_items_to_others(annotator_client, other_annotator):
    queue = make_queue(2)
    annotator_client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": 2}, format="json")

    released = annotator_client.post(f"/api/v1/review/queues/{queue.pk}/release/").data["released"]

    assert released == 2
    assert len(services.queue_next_items(queue=queue, user=other_annotator, limit=2)) == 2


@pytest.mark.django_db
def test_a_closed_queue_hands_out_no_new_items_but_returns_my_leases(annotator, other_annotator):
    queue = make_queue(4)
    mine = services.queue_next_items(queue=queue, user=annotator, limit=2)
    Queue.objects.filter(pk=queue.pk).update(is_open=False)
    queue.refresh_from_db()

    assert ids(services.queue_next_items(queue=queue, user=annotator, limit=4)) == ids(mine)
    assert services.queue_next_items(queue=queue, user=other_annotator, limit=4) == []


@pytest.mark.django_db(transaction=True)
def test_annotators_asking_at_the_same_moment_never_share_an_item():
    """Real concurrent transactions (PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED)."""
    users = [UserFactory(role="annotator") for _ in range(4)]
    queue = make_queue(24)
    barrier = threading.Barrier(len(users))
    served: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(user):
        try:
            barrier.wait()
            served[user.pk] = ids(services.queue_next_items(queue=queue, user=user, limit=5))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors
    everything = [pk for batch in served.values() for pk in batch]
    assert len(everything) == 20 and len(set(everything)) == 20
    holders = dict(Item.objects.filter(pk__in=everything).values_list("pk", "leased_to_id"))
    assert all(holders[pk] == user for user, batch in served.items() for pk in batch)


@pytest.mark.django_db
def test_listing_queues_and_their_items_takes_a_fixed_number_of_queries(annotator_client, django_assert_num_queries):
    for _ in range(3):
        make_queue(5)
    queue = Queue.objects.first()
    annotator_client.get("/api/v1/review/queues/")  # warm up: session, permissions caches

    with django_assert_num_queries(3):  # user groups, count, page with sizes
        response = annotator_client.get("/api/v1/review/queues/")
    assert response.status_code == 200 and response.data["count"] == 3
    with django_assert_num_queries(4):  # user groups, queue, count, items with faces and identities
        response = annotator_client.get(f"/api/v1/review/queues/{queue.pk}/items/")
    assert len(response.data["results"]) == 5


@pytest.mark.django_db
def test_leasing_a_page_does_not_count_the_queues_items(annotator_client):
    from django.test.utils import CaptureQueriesContext

    queue = make_queue(5)

    with CaptureQueriesContext(connection) as queries:
        response = annotator_client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": 3}, format="json")

    assert response.status_code == 200 and len(response.data) == 3
    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.django_db
def test_leasing_and_deciding_a_page_cost_the_same_queries_for_4_items_as_for_40(annotator_client):
    """No query per item, in either request (each item's face, identity, lease holder and queue come
    with the page)."""
    from django.test.utils import CaptureQueriesContext

    queue = make_queue(90)
    queue.payload = {"identities": [{"id": i, "name": f"VIP {i}"} for i in range(300)]}  # as a chunk's queue
    queue.save(update_fields=["payload"])
    annotator_client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": 1}, format="json")  # warm up

    def page_queries(limit: int) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as leasing:
            served = annotator_client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": limit}, format="json")
        decisions = [
            {"item": item["id"], "action": "confirm", "version": item["face"]["version"]} for item in served.data
        ]
        with CaptureQueriesContext(connection) as deciding:
            decided = annotator_client.post("/api/v1/review/decisions/", {"decisions": decisions}, format="json")
        assert len(served.data) == limit and decided.status_code == 201, decided.data
        return len(leasing), len(deciding)

    assert page_queries(4) == page_queries(40)
