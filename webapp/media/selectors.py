"""Reads on photos, videos and frames, shaped for the API without a query per row."""
from __future__ import annotations

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery

from .models import Frame, Photo, Video


def photos_for_listing() -> QuerySet[Photo]:
    return Photo.objects.select_related("identity_hint").annotate(face_count=Count("faces")) \
        .order_by("-created_at", "-id")


def videos_for_listing() -> QuerySet[Video]:
    """Videos with their face count, when they were last tagged, and their tags that stand (proposed or
    confirmed, most confident first): a fixed number of queries a page."""
    from webapp.tagging.models import VideoTag, VideoTagging

    standing = VideoTag.objects.exclude(status=VideoTag.Status.REJECTED).select_related("identity").order_by("-confidence", "id")
    return (
        Video.objects.annotate(
            face_count=Count("faces"),
            tagged_at=Subquery(VideoTagging.objects.filter(video=OuterRef("pk")).values("tagged_at")[:1]),
        )
        .prefetch_related(Prefetch("tags", queryset=standing, to_attr="standing_tags"))
        .order_by("-created_at", "-id")
    )


def frames_for_listing() -> QuerySet[Frame]:
    return Frame.objects.all()
