"""Reads on video tagging: the model in force, which videos need tagging, tags for the API, the review queue."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery

from webapp.identities.models import Identity
from webapp.media import selectors as media_selectors
from webapp.media.models import ProcessingStatus, Video
from webapp.training import selectors as training_selectors
from webapp.training.models import TrainingRun

from .models import FacePrediction, TagEvidence, VideoTag, VideoTagging

SCOPES = ("untagged", "outdated", "all")


@dataclass(frozen=True)
class TaggingSettings:
    """What a tagging pass runs with: the model, its operating threshold and k (frames an identity needs)."""

    run: TrainingRun
    threshold: float
    min_frames: int

    def as_params(self) -> dict:
        return {"run": self.run.pk, "threshold": self.threshold, "min_frames": self.min_frames}


def tagging_settings_current() -> TaggingSettings | None:
    """The active model, its operating threshold and FACECURATOR_TAG_MIN_FRAMES (None: no active model,
    or no operating point for it)."""
    run = training_selectors.active_run()
    threshold = training_selectors.operating_threshold() if run is not None else None
    if run is None or threshold is None:
        return None
    return TaggingSettings(run=run, threshold=float(threshold), min_frames=int(settings.FACECURATOR_TAG_MIN_FRAMES))


def tagging_settings_from_params(*, params: dict) -> TaggingSettings:
    """The settings a job was started with (pinned at start, so a redelivered job does the same)."""
    run = TrainingRun.objects.defer("curves", "per_class", "confused_pairs").get(pk=int(params["run"]))
    return TaggingSettings(run=run, threshold=float(params["threshold"]), min_frames=int(params["min_frames"]))


def videos_to_tag(*, scope: str, config: TaggingSettings) -> QuerySet[Video]:
    """Processed videos in a batch scope, oldest first.

    ``untagged``: never tagged. ``outdated``: never tagged, or tagged with another run, threshold
    or k than ``config`` (e.g. after a new active model or operating point). ``all``: every one.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    videos = Video.objects.filter(status=ProcessingStatus.DONE).order_by("id")
    if scope == "untagged":
        return videos.filter(tagging__isnull=True)
    if scope == "outdated":
        current = VideoTagging.objects.filter(
            video=OuterRef("pk"), run=config.run, threshold=config.threshold, min_frames=config.min_frames
        )
        return videos.exclude(Exists(current))
    return videos


def live_identity_ids(*, identity_ids: list[int]) -> dict[int, int]:
    """Each identity id mapped to the identity it now lives on (merged identities follow ``merged_into``)."""
    parents = dict(Identity.objects.filter(pk__in=identity_ids).values_list("pk", "merged_into_id"))
    live: dict[int, int] = {}
    for identity_id in identity_ids:
        current, seen = identity_id, set()
        while parents.get(current) and current not in seen:
            seen.add(current)
            parent = parents[current]
            if parent not in parents:
                parents.update(Identity.objects.filter(pk=parent).values_list("pk", "merged_into_id"))
            current = parent
        live[identity_id] = current
    return live


# --- Tags for the API ---------------------------------------------------------------------------


def tags_for_listing() -> QuerySet[VideoTag]:
    """Tags with their video, identity and reviewer in one query."""
    return VideoTag.objects.select_related("video", "identity", "reviewed_by")


def evidence_prefetch() -> Prefetch:
    return Prefetch("evidence", queryset=TagEvidence.objects.select_related("frame", "face").order_by("rank"))


def tags_with_evidence() -> QuerySet[VideoTag]:
    """Tags with their supporting frames and faces, in a constant number of queries."""
    return tags_for_listing().prefetch_related(evidence_prefetch())


def video_tags(*, video: Video, include_rejected: bool = True) -> QuerySet[VideoTag]:
    tags = tags_with_evidence().filter(video=video)
    return tags if include_rejected else tags.exclude(status=VideoTag.Status.REJECTED)


def tags_review_queue() -> QuerySet[VideoTag]:
    """Proposed tags, the closest to their threshold first (the least certain ones deserve a person's eye)."""
    return (
        tags_for_listing()
        .filter(status=VideoTag.Status.PROPOSED)
        .annotate(margin_value=F("confidence") - F("threshold"))
        .order_by("margin_value", "id")
    )


def videos_for_listing() -> QuerySet[Video]:
    """Videos with their face count, when they were last tagged, and their tags that stand (proposed or
    confirmed, most confident first): a fixed number of queries a page."""
    standing = (
        VideoTag.objects.exclude(status=VideoTag.Status.REJECTED)
        .select_related("identity")
        .order_by("-confidence", "id")
    )
    return (
        media_selectors.videos_for_listing()
        .annotate(tagged_at=Subquery(VideoTagging.objects.filter(video=OuterRef("pk")).values("tagged_at")[:1]))
        .prefetch_related(Prefetch("tags", queryset=standing, to_attr="standing_tags"))
    )


def videos_tagged_with(*, queryset: QuerySet[Video], identity_id: int) -> QuerySet[Video]:
    """Videos with a proposed or confirmed tag of the identity (or of one merged into it); rejected tags don't count."""
    tagged = VideoTag.objects.filter(
        Q(identity_id=identity_id) | Q(identity__merged_into_id=identity_id),
        video=OuterRef("pk"),
        status__in=[VideoTag.Status.PROPOSED, VideoTag.Status.CONFIRMED],
    )
    return queryset.filter(Exists(tagged))


def face_predictions_for_video(*, video: Video) -> QuerySet[FacePrediction]:
    return (
        FacePrediction.objects.filter(video=video)
        .select_related("face", "face__frame", "identity")
        .defer("face__embedding")
        .order_by("face__frame__index", "face_id")
    )


def tagging_summary() -> dict:
    """The dashboard's view: the model in force, videos tagged / outdated / untagged, tags by status."""
    config = tagging_settings_current()
    processed = Video.objects.filter(status=ProcessingStatus.DONE)
    untagged = processed.filter(tagging__isnull=True).count()
    outdated = videos_to_tag(scope="outdated", config=config).count() - untagged if config else None
    by_status = dict(VideoTag.objects.order_by().values_list("status").annotate(n=Count("id")))
    return {
        "run": config.run.pk if config else None,
        "threshold": config.threshold if config else None,
        "min_frames": config.min_frames if config else int(settings.FACECURATOR_TAG_MIN_FRAMES),
        "videos": processed.count(),
        "untagged": untagged,
        "outdated": outdated,
        "tags": {status: by_status.get(status, 0) for status in VideoTag.Status.values},
    }
