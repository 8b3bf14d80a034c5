"""Reads on faces, shaped for the API without a query per row."""
from __future__ import annotations

from django.db.models import QuerySet

from .models import Face, LabelEvent


def faces_for_listing() -> QuerySet[Face]:
    return Face.objects.select_related("identity").defer("embedding")


def label_events_for_listing() -> QuerySet[LabelEvent]:
    return LabelEvent.objects.select_related("user", "from_identity", "to_identity", "undone_by")
