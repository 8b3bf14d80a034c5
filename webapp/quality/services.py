"""Writes on annotator quality: undoing one annotator's decisions in a time range, or sending the
faces they decided to a second annotator; accepting or discarding their held decisions in bulk
(:mod:`webapp.quality.held`). Admins only (the views check the role)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet

from webapp.core.exceptions import InvalidTransition, NotFound
from webapp.core.roles import Actor
from webapp.faces.models import LabelEvent
from webapp.faces.services import label_events_undo
from webapp.review.models import Decision, Item, Queue
from webapp.review.services import MAX_SENT_FACES, queue_create_from_faces

from .gold import gold_faces_refresh
from .held import held_decisions_settle
from .models import GoldItem

__all__ = [
    "annotator_decisions_send_to_review",
    "annotator_decisions_undo",
    "gold_faces_refresh",
    "held_decisions_settle",
]


def _annotator(annotator_id: int) -> User:
    annotator = get_user_model().objects.filter(pk=annotator_id).first()
    if annotator is None:
        raise NotFound(f"No user with id {annotator_id}.")
    return annotator


def _check_range(since: datetime, until: datetime) -> None:
    if since >= until:
        raise InvalidTransition("The time range is empty: 'since' must come before 'until'.")


def _decisions(annotator_id: int, since: datetime, until: datetime) -> QuerySet[Decision]:
    """The annotator's decisions in the range that still stand; gold items aside (they changed no
    label, and their scores are the evidence against a careless annotator)."""
    return Decision.objects.filter(
        user_id=annotator_id, created_at__gte=since, created_at__lt=until, undone=False
    ).exclude(item_id__in=GoldItem.objects.values("item_id"))


def annotator_decisions_undo(*, annotator_id: int, since: datetime, until: datetime, user: Actor) -> dict:
    """Undo every decision of one annotator in ``[since, until)`` in one operation.

    Each label change is undone by a new label event restoring the previous label (through
    ``label_events_undo``), the decisions are marked undone and their items, with the items they
    closed as resolved elsewhere, are open again in their queues for anyone. A face changed since
    by someone else keeps its later label: it is left as it is and listed in ``kept_faces``.
    """
    _check_range(since, until)
    _annotator(annotator_id)
    with transaction.atomic():
        decisions = list(_decisions(annotator_id, since, until).select_for_update())
        events = {
            e.pk: e
            for e in LabelEvent.objects.filter(
                pk__in=[d.label_event_id for d in decisions if d.label_event_id], undone_by__isnull=True
            )
        }
        first_by_face: dict[int, int] = {}
        for event in events.values():
            first_by_face[event.face_id] = min(event.pk, first_by_face.get(event.face_id, event.pk))
        later = defaultdict(set)
        for face_id, pk in LabelEvent.objects.filter(face_id__in=list(first_by_face)).values_list("face_id", "pk"):
            if pk >= first_by_face[face_id]:
                later[face_id].add(pk)
        kept_faces = sorted(face for face, pks in later.items() if not pks <= set(events))
        kept_faces += sorted(
            {d.face_id for d in decisions if d.label_event_id and d.label_event_id not in events} - set(kept_faces)
        )
        undoing = [d for d in decisions if d.face_id not in kept_faces]
        undo_events = label_events_undo(events=[e for e in events.values() if e.face_id not in kept_faces], user=user)
        Decision.objects.filter(pk__in=[d.pk for d in undoing]).update(undone=True)
        faces = {d.face_id for d in undoing}
        reopened = (
            Item.objects.filter(pk__in=[d.item_id for d in undoing if d.item_id])
            .exclude(state=Item.State.OPEN)
            .update(state=Item.State.OPEN, closed_by_operation=None, leased_to=None, leased_until=None)
        )
        reopened += Item.objects.filter(
            closed_by_operation__in={d.operation for d in undoing}, face_id__in=faces, state=Item.State.OBSOLETE
        ).update(state=Item.State.OPEN, closed_by_operation=None)
    return {
        "undone_decisions": len(undoing),
        "undone_label_events": len(undo_events),
        "reopened_items": reopened,
        "kept_faces": kept_faces,
    }


def annotator_decisions_send_to_review(
    *, annotator_id: int, since: datetime, until: datetime, user: Actor
) -> list[Queue]:
    """Queues (of at most MAX_SENT_FACES faces each) of the faces one annotator decided in the range,
    for a second annotator: the annotator who decided them is not served these queues."""
    _check_range(since, until)
    annotator = _annotator(annotator_id)
    face_ids = list(
        dict.fromkeys(
            _decisions(annotator_id, since, until)
            .exclude(action=Decision.Action.SKIP)
            .order_by("created_at", "id")
            .values_list("face_id", flat=True)
        )
    )
    if not face_ids:
        raise InvalidTransition(f"{annotator.get_username()} decided no face in that time range.")
    queues = []
    with transaction.atomic():
        for start in range(0, len(face_ids), MAX_SENT_FACES):
            chunk = face_ids[start : start + MAX_SENT_FACES]
            queue = queue_create_from_faces(
                face_ids=chunk,
                user=user,
                title=f"Second review: {len(chunk)} faces decided by {annotator.get_username()} "
                f"({since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M})",
            )
            queue.payload = {"second_review_of": annotator.pk}
            queue.save(update_fields=["payload"])
            queues.append(queue)
    return queues
