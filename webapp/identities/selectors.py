"""Reads on identities."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from .models import Identity


def identities_with_counts() -> QuerySet[Identity]:
    """Identities with their face counts by status and split, in one query."""
    live = ~Q(faces__status__in=["not_a_face", "excluded"])
    return Identity.objects.annotate(
        face_count=Count("faces", filter=live, distinct=True),
        verified_count=Count("faces", filter=Q(faces__status="verified"), distinct=True),
        train_count=Count("faces", filter=live & Q(faces__split="train"), distinct=True),
        val_count=Count("faces", filter=live & Q(faces__split="val"), distinct=True),
        test_count=Count("faces", filter=live & Q(faces__split="test"), distinct=True),
    ).order_by(*Identity._meta.ordering)  # aggregation queries drop Meta.ordering
