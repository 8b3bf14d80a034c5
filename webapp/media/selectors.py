"""Reads on photos, videos and frames, shaped for the API without a query per row."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from .models import Frame, Photo, Video


def photos_for_listing() -> QuerySet[Photo]:
    return (
        Photo.objects.select_related("identity_hint").annotate(face_count=Count("faces")).order_by("-created_at", "-id")
    )


def videos_for_listing() -> QuerySet[Video]:
    """Videos with their face count, newest first (``tagging.selectors.videos_for_listing`` adds their tags)."""
    return Video.objects.annotate(face_count=Count("faces")).order_by("-created_at", "-id")


def frames_for_listing() -> QuerySet[Frame]:
    return Frame.objects.all()
