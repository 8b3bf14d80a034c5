"""Reads on review: queues with their sizes, items shaped for the API, annotator progress."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from webapp.faces.models import Face, LabelEvent

from .models import Decision, Item, Queue

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class QueueSizes(TypedDict):
    """The item counts :func:`queues_with_sizes` annotates each queue with."""

    total_count: int
    open_count: int
    leased_count: int
    decided_count: int
    obsolete_count: int


def queues_with_sizes() -> QuerySet[WithAnnotations[Queue, QueueSizes]]:
    """Queues with open / leased / decided / obsolete item counts, in one query."""
    now = timezone.now()
    open_items = Q(items__state=Item.State.OPEN)
    leased = open_items & Q(items__leased_until__gt=now)
    return (
        Queue.objects.select_related("run", "chunk")
        .annotate(
            total_count=Count("items"),
            open_count=Count("items", filter=open_items),
            leased_count=Count("items", filter=leased),
            decided_count=Count("items", filter=Q(items__state=Item.State.DECIDED)),
            obsolete_count=Count("items", filter=Q(items__state=Item.State.OBSOLETE)),
        )
        .order_by("-created_at", "-id")
    )


def queue_sizes_open() -> list[dict]:
    """Open queues and how many items each still has to decide, most urgent kind first."""
    rows = queues_with_sizes().filter(is_open=True).order_by("kind", "-id")
    return [
        {
            "queue": q.pk,
            "kind": q.kind,
            "title": q.title,
            "run": q.run_id,
            "chunk": q.chunk.number if q.chunk else None,
            "open": q.open_count,
            "leased": q.leased_count,
            "decided": q.decided_count,
            "total": q.total_count,
            "worth_a_look": q.payload.get("worth_a_look"),
        }
        for q in rows
    ]


def items_for_listing() -> QuerySet[Item]:
    """Items with their face, the face's identity, the item's VIP and the lease holder: no query per row.

    Without the face's embedding and the queue's payload: a chunk's queue carries its whole VIP
    list (21 KB for 354 VIPs), which the join would send and decode once per item."""
    return Item.objects.select_related("face", "face__identity", "identity", "leased_to", "queue").defer(
        "face__embedding", "queue__payload"
    )


def items_by_ids(ids: list[int]) -> list[Item]:
    """Items in the given order, shaped for the API."""
    found = items_for_listing().in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


BATCH = 5000  # ids per IN (...) list: SQLite caps the number of query parameters


def id_batches(ids: Iterable[int]) -> list[list[int]]:
    """``ids`` cut into lists short enough for one ``pk__in`` filter on every database."""
    ids = [int(i) for i in ids]
    return [ids[start : start + BATCH] for start in range(0, len(ids), BATCH)]


def faces_verified_unchanged(*, face_ids: list[int]) -> set[int]:
    """Faces verified by a person whose identity is still the one they verified.

    A verified face is not flagged again unless its label changed since. The label a person
    verified is the one set by the newest event that verified the face: a change from another
    status to verified, or a review decision (which verifies the label it chooses). A later
    identity change that merely kept the status (a merge, a bulk relabel) makes it flaggable
    again. A face verified without any such event (imported as verified) keeps the identity it
    had before its first label event.
    """
    by_review = Decision.objects.filter(label_event=OuterRef("pk"), undone=False)
    verifying = (
        LabelEvent.objects.filter(face=OuterRef("pk"), to_status=Face.Status.VERIFIED)
        .annotate(by_review=Exists(by_review))
        .filter(Q(by_review=True) | ~Q(from_status=Face.Status.VERIFIED))
        .order_by("-id")
    )
    first = LabelEvent.objects.filter(face=OuterRef("pk")).order_by("id")
    unchanged = set()
    for batch in id_batches(face_ids):
        rows = (
            Face.objects.filter(pk__in=batch, status=Face.Status.VERIFIED)
            .annotate(
                verified_identity=Subquery(verifying.values("to_identity")[:1]),
                was_verified=Exists(verifying),
                first_identity=Subquery(first.values("from_identity")[:1]),
                has_events=Exists(first),
            )
            .values_list("pk", "identity_id", "verified_identity", "was_verified", "first_identity", "has_events")
        )
        for pk, identity, verified_identity, was_verified, first_identity, has_events in rows:
            reference = verified_identity if was_verified else first_identity if has_events else identity
            if identity == reference:
                unchanged.add(pk)
    return unchanged


def decisions_per_annotator(*, since: datetime | None = None) -> list[dict]:
    """Decisions per annotator since ``since`` (default: the start of today), by action."""
    since = since or timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    rows = (
        Decision.objects.filter(created_at__gte=since, undone=False)
        .values("user_id", username=F("user__username"), action_name=F("action"))
        .annotate(n=Count("id"))
        .order_by("username")
    )
    per_user: dict[int | None, dict] = {}
    for row in rows:
        entry = per_user.setdefault(
            row["user_id"], {"user": row["user_id"], "username": row["username"], "decisions": 0, "by_action": {}}
        )
        entry["decisions"] += row["n"]
        entry["by_action"][row["action_name"]] = row["n"]
    return sorted(per_user.values(), key=lambda entry: -entry["decisions"])


def faces_in_open_queue(faces: QuerySet[Face], *, kind: str) -> QuerySet[Face]:
    """Faces waiting in an open item of an open review queue of ``kind`` (why they are there)."""
    waiting = Item.objects.filter(face=OuterRef("pk"), state=Item.State.OPEN, queue__is_open=True, queue__kind=kind)
    return faces.filter(Exists(waiting))
