"""Tagging videos with a run's classifier: each face predicted, the predictions aggregated into
tags, and the tags reconciled with what people decided (the steps are in ``tagging.services``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from django.db import OperationalError, transaction

from webapp.core.exceptions import InvalidTransition, NotFound
from webapp.core.models import Job
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.media.models import ProcessingStatus, Video

from .. import selectors
from ..models import FacePrediction, TagEvidence, VideoTag, VideoTagging
from ..selectors import TaggingSettings
from .classifier import classifier_for_run, video_inputs

if TYPE_CHECKING:
    from ml.tagging import VideoTag as ProposedTag

logger = logging.getLogger(__name__)


RESULT_VIDEOS_LISTED = 100  # a batch's job result lists each video up to this many


class VideoNotReady(InvalidTransition):
    code = "video_not_ready"


@dataclass
class VideoTagOutcome:
    """What tagging one video did."""

    video: int
    faces: int = 0
    accepted: int = 0
    skipped: int = 0
    reused_predictions: bool = False
    tags: list[dict] = field(default_factory=list)  # the tags proposed by this pass (identity, confidence, frames)
    counts: dict[str, int] = field(default_factory=dict)  # proposed, kept, replaced, removed, suppressed, confirmed
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "video": self.video,
            "faces": self.faces,
            "accepted": self.accepted,
            "skipped": self.skipped,
            "reused_predictions": self.reused_predictions,
            "tags": self.tags,
            **self.counts,
            "timings": self.timings,
        }


def video_tag(*, video_id: int, config: TaggingSettings, job: Job | None = None) -> VideoTagOutcome:
    """Classify a processed video's faces, aggregate them into tags and reconcile them with people's
    decisions (see the module docstring). Idempotent."""
    from ml.metrics import is_rejected
    from ml.tagging import aggregate_video_tags

    clock = time.perf_counter()
    video = Video.objects.filter(pk=video_id).only("pk", "status").first()
    if video is None:
        raise NotFound(f"Video {video_id} no longer exists.")
    if video.status != ProcessingStatus.DONE:
        raise VideoNotReady(f"Video {video_id} is {video.status}: only processed videos can be tagged.")
    run = config.run
    faces = list(
        Face.objects.filter(video_id=video_id, frame__isnull=False)
        .exclude(status=Face.Status.NOT_A_FACE)
        .order_by("id")
        .values_list("pk", "frame_id", "embedding_model", "crop")
    )
    outcome = VideoTagOutcome(video=video_id)
    previous = dict(FacePrediction.objects.filter(video_id=video_id, run=run).values_list("face_id", "label"))
    timings = outcome.timings
    class_identity = np.array(run.vip_identity_ids, dtype=np.int64)
    if faces and len(previous) == len(faces) and all(pk in previous for pk, *_ in faces):
        # Same run: predictions do not change; only the threshold may have. Re-aggregate.
        rows = list(
            FacePrediction.objects.filter(video_id=video_id, run=run)
            .order_by("face_id")
            .values_list("face_id", "face__frame_id", "label", "confidence")
        )
        face_ids = np.array([r[0] for r in rows], dtype=np.int64)
        frame_ids = np.array([r[1] for r in rows], dtype=np.int64)
        labels = np.array([r[2] for r in rows], dtype=np.int64)
        confidence = np.array([r[3] for r in rows], dtype=np.float64)
        outcome.reused_predictions = True
        timings["load_s"] = time.perf_counter() - clock
        timings["classify_s"] = 0.0
    else:
        inputs = video_inputs(video_id=video_id, run=run, faces=faces) if faces else None
        timings["load_s"] = time.perf_counter() - clock
        clock = time.perf_counter()
        if inputs is None or len(inputs.face_ids) == 0:
            face_ids = frame_ids = labels = np.zeros(0, dtype=np.int64)
            confidence = np.zeros(0, dtype=np.float64)
            outcome.skipped = len(faces)
        else:
            prediction = classifier_for_run(run=run).predict(inputs.inputs)
            face_ids, frame_ids = inputs.face_ids, inputs.frame_ids
            labels = np.asarray(prediction.labels, dtype=np.int64)
            confidence = np.asarray(prediction.confidence, dtype=np.float64)
            outcome.skipped = inputs.skipped
        timings["classify_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    outcome.faces = len(face_ids)
    accepted = ~is_rejected(confidence, config.threshold)
    outcome.accepted = int(accepted.sum())
    live = selectors.live_identity_ids(identity_ids=[int(i) for i in class_identity])
    identity_of_face = np.array([live[int(class_identity[label])] for label in labels], dtype=np.int64)
    # Classes are aggregated by the identity they now belong to, so two merged VIPs make one tag.
    found = aggregate_video_tags(
        frame_indices=frame_ids,
        predicted=identity_of_face,
        confidence=confidence,
        threshold=config.threshold,
        min_frames=config.min_frames,
        face_ids=face_ids,
    )
    timings["aggregate_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    with transaction.atomic():
        # Lock order: the video, its tags, then (through the inserts' foreign keys) its faces; a confirmation
        # locks a tag, then its faces: the same order, so the two never deadlock.
        Video.objects.select_for_update().filter(pk=video_id).values_list("pk", flat=True).first()
        existing = list(VideoTag.objects.select_for_update().filter(video_id=video_id).prefetch_related("evidence"))
        FacePrediction.objects.filter(video_id=video_id).delete()
        FacePrediction.objects.bulk_create(
            [
                FacePrediction(
                    face_id=int(face_ids[i]),
                    video_id=video_id,
                    run=run,
                    label=int(labels[i]),
                    identity_id=int(class_identity[labels[i]]),
                    confidence=float(confidence[i]),
                    accepted=bool(accepted[i]),
                )
                for i in range(len(face_ids))
            ],
            batch_size=1000,
        )
        outcome.counts = _reconcile_tags(video_id=video_id, existing=existing, found=found, config=config, job=job)
        VideoTagging.objects.update_or_create(
            video_id=video_id,
            defaults={
                "run": run,
                "threshold": config.threshold,
                "min_frames": config.min_frames,
                "job": job,
                "faces": outcome.faces,
                "faces_accepted": outcome.accepted,
                "faces_skipped": outcome.skipped,
                "tags": outcome.counts,
                "timings": {**timings, "write_s": time.perf_counter() - clock},
            },
        )
    timings["write_s"] = time.perf_counter() - clock
    names = dict(Identity.objects.filter(pk__in=[t.label for t in found]).values_list("pk", "name"))
    outcome.tags = [
        {"identity": t.label, "name": names.get(t.label), "confidence": round(t.confidence, 4), "frames": len(t.frames)}
        for t in found
    ]
    timings.update({key: round(value, 4) for key, value in timings.items()})
    return outcome


def _reconcile_tags(
    *, video_id: int, existing: list[VideoTag], found: list, config: TaggingSettings, job: Job | None
) -> dict[str, int]:
    """Replace the video's proposed tags (``existing``, locked) with ``found``; keep confirmed and rejected ones."""
    counts = {"proposed": 0, "kept": 0, "replaced": 0, "removed": 0, "suppressed": 0, "confirmed": 0}
    wanted = {tag.label: tag for tag in found}
    doomed = []
    for tag in existing:
        new = wanted.get(tag.identity_id)
        if tag.status == VideoTag.Status.CONFIRMED:
            if wanted.pop(tag.identity_id, None) is not None:
                counts["confirmed"] += 1
        elif tag.status == VideoTag.Status.REJECTED:
            if wanted.pop(tag.identity_id, None) is not None:
                counts["suppressed"] += 1
        elif new is not None and _same_proposal(tag, new, config):
            wanted.pop(tag.identity_id)
            counts["kept"] += 1
        else:
            doomed.append(tag.pk)
            counts["replaced" if new is not None else "removed"] += 1
    if doomed:
        VideoTag.objects.filter(pk__in=doomed).delete()
    created = VideoTag.objects.bulk_create(
        [
            VideoTag(
                video_id=video_id,
                identity_id=identity,
                status=VideoTag.Status.PROPOSED,
                confidence=tag.confidence,
                threshold=config.threshold,
                min_frames=config.min_frames,
                frame_count=len(tag.frames),
                run=config.run,
                job=job,
            )
            for identity, tag in wanted.items()
        ]
    )
    TagEvidence.objects.bulk_create(
        [
            TagEvidence(tag=row, frame_id=frame, face_id=face, confidence=conf, rank=rank)
            for row, tag in zip(created, wanted.values(), strict=True)
            for rank, (frame, face, conf) in enumerate(zip(tag.frames, tag.faces, tag.frame_confidences, strict=True))
        ],
        batch_size=2000,
    )
    counts["proposed"] = len(created) + counts["kept"]
    return counts


def _same_proposal(tag: VideoTag, new: ProposedTag, config: TaggingSettings) -> bool:
    return (
        tag.run_id == config.run.pk
        and tag.threshold == config.threshold
        and tag.min_frames == config.min_frames
        and abs(tag.confidence - new.confidence) < 1e-9
        and [e.face_id for e in sorted(tag.evidence.all(), key=lambda e: e.rank)] == list(new.faces)
    )


def videos_tag(
    *,
    video_ids: list[int],
    config: TaggingSettings,
    job: Job | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> dict:
    """Tag many videos one after another (progress per video). A video that cannot be tagged (gone, not
    processed, a database error such as a lock timeout) is listed under ``errors`` and the batch goes on
    (``outdated`` picks it up again); the model loads once."""
    clock = time.perf_counter()
    if video_ids:
        classifier_for_run(run=config.run)  # fail early, before any video, when the model cannot load
    totals = {"proposed": 0, "kept": 0, "replaced": 0, "removed": 0, "suppressed": 0, "confirmed": 0}
    faces = tagged = 0
    per_video: list[dict[str, Any]] = []
    errors = []
    for n, video_id in enumerate(video_ids):
        try:
            outcome = video_tag(video_id=video_id, config=config, job=job)
        except (NotFound, VideoNotReady) as exc:
            errors.append({"video": video_id, "error": exc.message})
            message = f"video {n + 1}/{len(video_ids)} (#{video_id}): skipped, {exc.message}"
        except OperationalError as exc:  # e.g. a lock timeout: this video fails, the batch goes on
            logger.warning("tagging video %s failed: %s", video_id, exc)
            errors.append({"video": video_id, "error": f"database error: {exc}"[:500]})
            message = f"video {n + 1}/{len(video_ids)} (#{video_id}): failed, database error"
        else:
            tagged += 1
            faces += outcome.faces
            for key in totals:
                totals[key] += outcome.counts.get(key, 0)
            if len(per_video) < RESULT_VIDEOS_LISTED:
                per_video.append(outcome.as_dict())
            names = ", ".join(t["name"] or str(t["identity"]) for t in outcome.tags) or "no VIP"
            message = f"video {n + 1}/{len(video_ids)} (#{video_id}): {names}"
        if progress:
            progress((n + 1) / len(video_ids), message)
    seconds = time.perf_counter() - clock
    return {
        "run": config.run.pk,
        "threshold": config.threshold,
        "min_frames": config.min_frames,
        "videos": len(video_ids),
        "tagged": tagged,
        "faces": faces,
        "tags": totals,
        "seconds": round(seconds, 3),
        "seconds_per_video": round(seconds / max(tagged, 1), 4),
        "errors": errors[:1000],
        "per_video": per_video,
    }
