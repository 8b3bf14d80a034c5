"""Reads on faces, shaped for the API without a query per row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef, QuerySet

from .models import Face, LabelEvent

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def faces_for_listing() -> QuerySet[Face]:
    """Faces with their identity, without their embedding (``curation.selectors.faces_for_listing``
    adds the active model's confidence)."""
    return Face.objects.select_related("identity").defer("embedding")


def faces_labelled_by(faces: QuerySet[Face], *, username: str) -> QuerySet[Face]:
    """Faces whose label ``username`` changed at least once (any label event of theirs, undone or not)."""
    return faces.filter(Exists(LabelEvent.objects.filter(face=OuterRef("pk"), user__username=username)))


def label_events_for_listing() -> QuerySet[LabelEvent]:
    """Events with their people, identities and face (for its crop; never its embedding)."""
    return LabelEvent.objects.select_related("user", "from_identity", "to_identity", "undone_by", "face").defer(
        "face__embedding"
    )


def label_decisions_today(*, user: User) -> int:
    """How many of the user's label changes made today still stand: an undo takes its decision back
    off (neither the undone event nor the undo itself counts)."""
    from django.utils import timezone

    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    return LabelEvent.objects.filter(
        user=user, created_at__gte=start_of_day, undoes__isnull=True, undone_by__isnull=True
    ).count()
