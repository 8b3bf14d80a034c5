"""Reads on faces, shaped for the API without a query per row."""
from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from .models import Face, LabelEvent


def active_model_confidence() -> Subquery:
    """The active model's calibrated top-VIP confidence for the face (``OuterRef("pk")``), in SQL:
    the sample of the face in the newest accepted run; null where that run did not see the face."""
    from webapp.training.models import ActiveModel, RunSample

    active_run = ActiveModel.objects.order_by("-accepted_at", "-id").values("run")[:1]
    return Subquery(RunSample.objects.filter(run=Subquery(active_run), face=OuterRef("pk")).values("confidence")[:1])


def faces_for_listing() -> QuerySet[Face]:
    """Faces with their identity and the active model's confidence (``model_confidence``), one query a page."""
    return Face.objects.select_related("identity").defer("embedding").annotate(model_confidence=active_model_confidence())


def faces_in_open_queue(faces: QuerySet[Face], *, kind: str) -> QuerySet[Face]:
    """Faces waiting in an open item of an open review queue of ``kind`` (why they are there)."""
    from webapp.review.models import Item

    waiting = Item.objects.filter(face=OuterRef("pk"), state=Item.State.OPEN, queue__is_open=True, queue__kind=kind)
    return faces.filter(Exists(waiting))


def faces_labelled_by(faces: QuerySet[Face], *, username: str) -> QuerySet[Face]:
    """Faces whose label ``username`` changed at least once (any label event of theirs, undone or not)."""
    return faces.filter(Exists(LabelEvent.objects.filter(face=OuterRef("pk"), user__username=username)))


def label_events_for_listing() -> QuerySet[LabelEvent]:
    """Events with their people, identities and face (for its crop; never its embedding)."""
    return LabelEvent.objects.select_related("user", "from_identity", "to_identity", "undone_by", "face").defer(
        "face__embedding")


def label_decisions_today(*, user) -> int:
    """How many of the user's label changes made today still stand: an undo takes its decision back
    off (neither the undone event nor the undo itself counts)."""
    from django.utils import timezone

    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return LabelEvent.objects.filter(user=user, created_at__gte=start_of_day, undoes__isnull=True,
                                     undone_by__isnull=True).count()
