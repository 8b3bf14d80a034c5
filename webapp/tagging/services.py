"""Writes on video tagging: start tagging jobs, tag videos with the active model, confirm or reject tags.

How a video is tagged (:func:`video_tag`):

1. its faces (every sampled frame's detections, except faces marked "not a face") are classified
   in one batch by the run's calibrated classifier: stored embeddings in head mode, the aligned
   crops in finetune mode. Each face gets a :class:`FacePrediction`: top VIP, calibrated
   confidence, and whether :func:`ml.metrics.is_rejected` rejects it at the operating threshold
   (rejected: an unknown person);
2. :func:`ml.tagging.aggregate_video_tags` turns them into tags: an identity needs accepted faces
   in at least ``min_frames`` distinct frames (FACECURATOR_TAG_MIN_FRAMES); the video-level
   confidence is the ``min_frames``-th best frame's, and every supporting frame is kept;
3. the video's tags are reconciled with what people decided:

   * proposed tags of earlier runs are replaced (an identical proposal is left as it is);
   * confirmed tags stay, whatever the new model says: a person saw the identity in the video;
   * rejected tags stay rejected, and a new proposal of that identity in that video is suppressed
     (counted as ``suppressed``): a person saw it is not there.

A job pins the run, threshold and k when it starts, so a redelivered job does exactly the same;
predictions of the same run are reused, so re-tagging after an operating-point change only
re-aggregates. Tagging a video twice leaves the same rows.
"""
from __future__ import annotations

import logging
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.core.files.storage import default_storage
from django.db import OperationalError, transaction
from django.utils import timezone

from webapp.core import roles
from webapp.core.exceptions import Conflict, DomainError, InvalidTransition, NotFound
from webapp.core.models import Job
from webapp.core.services import job_start
from webapp.faces.models import Face, LabelEvent, embedding_array
from webapp.faces.services import LabelChange, faces_relabel, label_events_undo
from webapp.identities.models import Identity
from webapp.media.models import ProcessingStatus, Video
from webapp.training.models import RunSample, TrainingRun
from webapp.training.services import NoActiveModel

from . import selectors
from .models import FacePrediction, TagEvidence, VideoTag, VideoTagging
from .selectors import TaggingSettings

logger = logging.getLogger(__name__)

TAG_VIDEO_KIND = "tagging.tag_video"
TAG_VIDEOS_KIND = "tagging.tag_videos"
RESULT_VIDEOS_LISTED = 100  # a batch's job result lists each video up to this many


class UnsupportedRun(InvalidTransition):
    code = "unsupported_run"


class VideoNotReady(InvalidTransition):
    code = "video_not_ready"


class TagAlreadyDecided(Conflict):
    code = "tag_decided"


# --- Starting jobs -------------------------------------------------------------------------------

def _settings_or_refuse() -> TaggingSettings:
    config = selectors.tagging_settings_current()
    if config is None:
        raise NoActiveModel("No active model with an operating point: accept a training run first, then tag videos.")
    _check_run(config.run)
    return config


def _check_run(run: TrainingRun) -> None:
    if run.mode not in (TrainingRun.Mode.HEAD, TrainingRun.Mode.FINETUNE):
        raise UnsupportedRun(f"Run {run.pk} has mode '{run.mode}'; tagging supports head and finetune runs.")
    if not run.model_file:
        raise UnsupportedRun(f"Run {run.pk} has no model file to tag with.")


def _new_job(*, kind: str, params: dict, user, dispatch: bool) -> Job:
    if dispatch:
        return job_start(kind=kind, params=params, user=user)
    return Job.objects.create(kind=kind, queue="here", params=params,
                              created_by=user if user and user.is_authenticated else None)


def video_tag_start(*, video: Video, user=None, dispatch: bool = True) -> Job:
    """Queue a ``tagging.tag_video`` job (gpu queue) for one processed video with the model in force."""
    if video.status != ProcessingStatus.DONE:
        raise VideoNotReady(f"Video {video.pk} is {video.status}: only processed videos can be tagged.")
    config = _settings_or_refuse()
    return _new_job(kind=TAG_VIDEO_KIND, params={"video": video.pk, **config.as_params()}, user=user, dispatch=dispatch)


def videos_tag_start(*, scope: str | None = None, video_ids: list[int] | None = None, user=None,
                     dispatch: bool = True) -> Job:
    """Queue a ``tagging.tag_videos`` job (gpu queue) over many videos: a scope (``untagged``,
    ``outdated``, ``all``; resolved when the job runs) or a list of video ids."""
    if (scope is None) == (video_ids is None):
        raise InvalidTransition("Give either a scope (untagged, outdated, all) or a list of videos.")
    if scope is not None and scope not in selectors.SCOPES:
        raise InvalidTransition(f"Unknown scope '{scope}'; expected one of {', '.join(selectors.SCOPES)}.")
    if video_ids is not None:
        video_ids = sorted({int(pk) for pk in video_ids})
        missing = sorted(set(video_ids) - set(Video.objects.filter(pk__in=video_ids).values_list("pk", flat=True)))
        if missing:
            raise NotFound(f"No video with id {', '.join(map(str, missing))}.")
    config = _settings_or_refuse()
    target: dict[str, Any] = {"scope": scope} if scope is not None else {"videos": video_ids}
    return _new_job(kind=TAG_VIDEOS_KIND, params={**target, **config.as_params()}, user=user, dispatch=dispatch)


def tagging_job_execute(*, job: Job, progress) -> dict:
    """The body of both tagging tasks: the videos of the job's params, with its pinned settings."""
    config = selectors.tagging_settings_from_params(params=job.params)
    if "video" in job.params:
        video_ids = [int(job.params["video"])]
    elif "videos" in job.params:
        video_ids = [int(pk) for pk in job.params["videos"]]
    else:
        progress(0.0, f"finding {job.params['scope']} videos")
        video_ids = list(selectors.videos_to_tag(scope=job.params["scope"], config=config).values_list("pk", flat=True))
    return videos_tag(video_ids=video_ids, config=config, job=job, progress=progress)


# --- The classifier of a run ---------------------------------------------------------------------

_CLASSIFIERS: dict[tuple, object] = {}
_EMBEDDING_MODELS: dict[tuple, str | None] = {}


def _run_key(run: TrainingRun) -> tuple:
    """Identifies a run's model file for the caches; a rerun of the training rewrites it with a new finish time."""
    return (run.pk, run.model_file.name, run.finished_at.isoformat() if run.finished_at else None)


def classifier_for_run(*, run: TrainingRun):
    """The run's calibrated ``ml.train.Classifier``, loaded once per process (one model kept in memory).

    Head mode runs on the CPU (a few thousand 128-d rows: moving them to a GPU costs more than
    the product); finetune mode on CUDA when present.
    """
    from ml.train import load_classifier

    _check_run(run)
    key = _run_key(run)
    if key not in _CLASSIFIERS:
        device = "cpu" if run.mode == TrainingRun.Mode.HEAD else None
        try:
            classifier = load_classifier(default_storage.path(run.model_file.name), device=device)
        except NotImplementedError:  # remote storage: through a local temporary file
            with tempfile.NamedTemporaryFile(suffix=".pt") as local:
                with default_storage.open(run.model_file.name, "rb") as stored:
                    for chunk in iter(lambda: stored.read(1 << 20), b""):
                        local.write(chunk)
                local.flush()
                classifier = load_classifier(local.name, device=device)
        except FileNotFoundError as exc:
            raise UnsupportedRun(f"The model file of run {run.pk} ({run.model_file.name}) is missing.") from exc
        if len(classifier.class_names) != len(run.vips):
            raise UnsupportedRun(f"Run {run.pk}'s model has {len(classifier.class_names)} classes but the run lists "
                                 f"{len(run.vips)} VIPs.")
        _CLASSIFIERS.clear()
        _CLASSIFIERS[key] = classifier
    return _CLASSIFIERS[key]


def run_embedding_model(*, run: TrainingRun) -> str | None:
    """The embedding model of the faces a head run was trained on (None: unknown or mixed)."""
    key = _run_key(run)
    if key not in _EMBEDDING_MODELS:
        sample = RunSample.objects.filter(run=run).order_by("face_id").values_list("face_id", flat=True)[:500]
        names = set(Face.objects.filter(pk__in=list(sample)).exclude(embedding_model="")
                    .values_list("embedding_model", flat=True).distinct())
        _EMBEDDING_MODELS[key] = names.pop() if len(names) == 1 else None
    return _EMBEDDING_MODELS[key]


def _crop_input(name: str):
    """A stored crop as the classifier takes it: a local path, or decoded pixels from remote storage."""
    try:
        return default_storage.path(name)
    except NotImplementedError:
        from ml.images import load_image

        with default_storage.open(name, "rb") as handle:
            return load_image(handle.read())


@dataclass
class _Inputs:
    face_ids: np.ndarray
    frame_ids: np.ndarray
    inputs: object
    skipped: int


def _video_inputs(*, video_id: int, run: TrainingRun, faces: list[tuple]) -> _Inputs:
    """What the run's mode classifies, for the faces that have it: embeddings (of the run's embedding
    model and width) in head mode, aligned crops in finetune mode."""
    if run.mode == TrainingRun.Mode.FINETUNE:
        with_crop = [(pk, frame, crop) for pk, frame, model, crop in faces if crop]
        return _Inputs(face_ids=np.array([pk for pk, _, _ in with_crop], dtype=np.int64),
                       frame_ids=np.array([frame for _, frame, _ in with_crop], dtype=np.int64),
                       inputs=[_crop_input(crop) for _, _, crop in with_crop], skipped=len(faces) - len(with_crop))
    wanted = run_embedding_model(run=run)
    usable = [(pk, frame) for pk, frame, model, crop in faces if model and (wanted is None or model == wanted)]
    vectors = dict(Face.objects.filter(pk__in=[pk for pk, _ in usable], embedding__isnull=False)
                   .values_list("pk", "embedding"))
    classifier = classifier_for_run(run=run)
    width = _input_width(classifier)
    rows, kept = [], []
    for pk, frame in usable:
        blob = vectors.get(pk)
        if blob is None:
            continue
        vector = embedding_array(blob)
        if width is not None and vector.shape[0] != width:
            continue
        rows.append(vector)
        kept.append((pk, frame))
    inputs = np.stack(rows) if rows else np.zeros((0, width or 0), dtype=np.float32)
    return _Inputs(face_ids=np.array([pk for pk, _ in kept], dtype=np.int64),
                   frame_ids=np.array([frame for _, frame in kept], dtype=np.int64),
                   inputs=inputs, skipped=len(faces) - len(kept))


def _input_width(classifier) -> int | None:
    head = getattr(classifier.net, "head", None)
    first = getattr(head, "features", None)
    layer = first[0] if first is not None and hasattr(first, "__getitem__") else getattr(head, "out", None)
    weight = getattr(layer, "weight", None)
    return int(weight.shape[1]) if weight is not None else None


# --- Tagging videos ------------------------------------------------------------------------------

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
        return {"video": self.video, "faces": self.faces, "accepted": self.accepted, "skipped": self.skipped,
                "reused_predictions": self.reused_predictions, "tags": self.tags, **self.counts,
                "timings": self.timings}


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
    faces = list(Face.objects.filter(video_id=video_id, frame__isnull=False).exclude(status=Face.Status.NOT_A_FACE)
                 .order_by("id").values_list("pk", "frame_id", "embedding_model", "crop"))
    outcome = VideoTagOutcome(video=video_id)
    previous = dict(FacePrediction.objects.filter(video_id=video_id, run=run).values_list("face_id", "label"))
    timings = outcome.timings
    class_identity = np.array(run.vip_identity_ids, dtype=np.int64)
    if faces and len(previous) == len(faces) and all(pk in previous for pk, *_ in faces):
        # Same run: predictions do not change; only the threshold may have. Re-aggregate.
        rows = list(FacePrediction.objects.filter(video_id=video_id, run=run).order_by("face_id")
                    .values_list("face_id", "face__frame_id", "label", "confidence"))
        face_ids = np.array([r[0] for r in rows], dtype=np.int64)
        frame_ids = np.array([r[1] for r in rows], dtype=np.int64)
        labels = np.array([r[2] for r in rows], dtype=np.int64)
        confidence = np.array([r[3] for r in rows], dtype=np.float64)
        outcome.reused_predictions = True
        timings["load_s"] = time.perf_counter() - clock
        timings["classify_s"] = 0.0
    else:
        inputs = _video_inputs(video_id=video_id, run=run, faces=faces) if faces else None
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
    found = aggregate_video_tags(frame_indices=frame_ids, predicted=identity_of_face, confidence=confidence,
                                 threshold=config.threshold, min_frames=config.min_frames, face_ids=face_ids)
    timings["aggregate_s"] = time.perf_counter() - clock
    clock = time.perf_counter()
    with transaction.atomic():
        # Lock order: the video, its tags, then (through the inserts' foreign keys) its faces; a confirmation
        # locks a tag, then its faces: the same order, so the two never deadlock.
        Video.objects.select_for_update().filter(pk=video_id).values_list("pk", flat=True).first()
        existing = list(VideoTag.objects.select_for_update().filter(video_id=video_id).prefetch_related("evidence"))
        FacePrediction.objects.filter(video_id=video_id).delete()
        FacePrediction.objects.bulk_create([
            FacePrediction(face_id=int(face_ids[i]), video_id=video_id, run=run, label=int(labels[i]),
                           identity_id=int(class_identity[labels[i]]), confidence=float(confidence[i]),
                           accepted=bool(accepted[i]))
            for i in range(len(face_ids))
        ], batch_size=1000)
        outcome.counts = _reconcile_tags(video_id=video_id, existing=existing, found=found, config=config, job=job)
        VideoTagging.objects.update_or_create(video_id=video_id, defaults={
            "run": run, "threshold": config.threshold, "min_frames": config.min_frames, "job": job,
            "faces": outcome.faces, "faces_accepted": outcome.accepted, "faces_skipped": outcome.skipped,
            "tags": outcome.counts, "timings": {**timings, "write_s": time.perf_counter() - clock},
        })
    timings["write_s"] = time.perf_counter() - clock
    names = dict(Identity.objects.filter(pk__in=[t.label for t in found]).values_list("pk", "name"))
    outcome.tags = [{"identity": t.label, "name": names.get(t.label), "confidence": round(t.confidence, 4),
                     "frames": len(t.frames)} for t in found]
    timings.update({key: round(value, 4) for key, value in timings.items()})
    return outcome


def _reconcile_tags(*, video_id: int, existing: list[VideoTag], found: list, config: TaggingSettings,
                    job: Job | None) -> dict[str, int]:
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
    created = VideoTag.objects.bulk_create([
        VideoTag(video_id=video_id, identity_id=identity, status=VideoTag.Status.PROPOSED, confidence=tag.confidence,
                 threshold=config.threshold, min_frames=config.min_frames, frame_count=len(tag.frames),
                 run=config.run, job=job)
        for identity, tag in wanted.items()
    ])
    TagEvidence.objects.bulk_create([
        TagEvidence(tag=row, frame_id=frame, face_id=face, confidence=conf, rank=rank)
        for row, tag in zip(created, wanted.values(), strict=True)
        for rank, (frame, face, conf) in enumerate(zip(tag.frames, tag.faces, tag.frame_confidences, strict=True))
    ], batch_size=2000)
    counts["proposed"] = len(created) + counts["kept"]
    return counts


def _same_proposal(tag: VideoTag, new, config: TaggingSettings) -> bool:
    return (tag.run_id == config.run.pk and tag.threshold == config.threshold and tag.min_frames == config.min_frames
            and abs(tag.confidence - new.confidence) < 1e-9
            and [e.face_id for e in sorted(tag.evidence.all(), key=lambda e: e.rank)] == list(new.faces))


def videos_tag(*, video_ids: list[int], config: TaggingSettings, job: Job | None = None, progress=None) -> dict:
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
    return {"run": config.run.pk, "threshold": config.threshold, "min_frames": config.min_frames,
            "videos": len(video_ids), "tagged": tagged, "faces": faces, "tags": totals,
            "seconds": round(seconds, 3), "seconds_per_video": round(seconds / max(tagged, 1), 4),
            "errors": errors[:1000], "per_video": per_video}


# --- People's decisions --------------------------------------------------------------------------

@dataclass
class TagDecision:
    tag: VideoTag
    events: list = field(default_factory=list)  # the LabelEvents a confirmation wrote
    skipped: list[dict] = field(default_factory=list)  # supporting faces left as they were, and why


def _live_identity(identity: Identity) -> Identity:
    live_id = selectors.live_identity_ids(identity_ids=[identity.pk])[identity.pk]
    return identity if live_id == identity.pk else Identity.objects.get(pk=live_id)


def tag_confirm(*, tag: VideoTag, user=None, face_ids: list[int] | None = None, note: str = "") -> TagDecision:
    """An annotator confirms that the tag's identity is in the video: the tag becomes confirmed and its
    supporting faces (all, or the chosen ``face_ids`` among them) become verified faces of the identity
    through :func:`faces_relabel` (one LabelEvent each, grouped by the tag's ``label_operation``).

    Faces a person already decided otherwise (verified as someone else, not a face, excluded) are
    left alone and listed in ``skipped``. Confirming a confirmed tag changes nothing; a rejected
    tag answers 409.
    """
    with transaction.atomic():
        locked = VideoTag.objects.select_for_update().select_related("identity").filter(pk=tag.pk).first()
        if locked is None:
            raise NotFound("This tag no longer exists: the video was re-tagged. Reload the review queue.")
        tag = locked
        if tag.status == VideoTag.Status.CONFIRMED:
            return TagDecision(tag=tag)
        if tag.status == VideoTag.Status.REJECTED:
            raise TagAlreadyDecided(_decided_message(tag), extra={"tag": tag.pk, "status": tag.status})
        evidence = list(tag.evidence.order_by("rank").values_list("face_id", flat=True))
        chosen = evidence if face_ids is None else [int(pk) for pk in face_ids]
        strangers = sorted(set(chosen) - set(evidence))
        if strangers:
            raise InvalidTransition(f"Face {', '.join(map(str, strangers))} does not support tag {tag.pk}; "
                                    f"choose among its supporting faces.")
        identity = _live_identity(tag.identity)
        faces = {face.pk: face for face in Face.objects.select_for_update().filter(pk__in=chosen)}
        changes, skipped = [], []
        for pk in chosen:
            face = faces.get(pk)
            if face is None:
                continue
            if face.status in (Face.Status.NOT_A_FACE, Face.Status.EXCLUDED):
                skipped.append({"face": pk, "reason": f"marked {face.status}"})
            elif face.status == Face.Status.VERIFIED and face.identity_id != identity.pk:
                skipped.append({"face": pk, "reason": f"verified as identity {face.identity_id}"})
            elif not (face.status == Face.Status.VERIFIED and face.identity_id == identity.pk):
                changes.append(LabelChange(face_id=pk, identity=identity, status=Face.Status.VERIFIED,
                                           expected_version=face.version))
        operation = uuid.uuid4()
        events = faces_relabel(changes=changes, user=user, operation=operation,
                               reason=f"confirmed video tag {tag.pk}: {identity.name} in video {tag.video_id}")
        tag.status = VideoTag.Status.CONFIRMED
        tag.reviewed_by = user if user and user.is_authenticated else None
        tag.reviewed_at = timezone.now()
        tag.review_note = note[:300]
        tag.label_operation = operation if events else None
        tag.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "label_operation"])
    return TagDecision(tag=tag, events=events, skipped=skipped)


def tag_reject(*, tag: VideoTag, user=None, note: str = "") -> TagDecision:
    """An annotator says the identity is not in the video: the tag is kept as rejected (so no later
    run proposes it again for this video); faces are left as they are. Rejecting a rejected tag changes
    nothing; a confirmed tag answers 409 (its faces were verified: undo that label operation first)."""
    with transaction.atomic():
        locked = VideoTag.objects.select_for_update().filter(pk=tag.pk).first()
        if locked is None:
            raise NotFound("This tag no longer exists: the video was re-tagged. Reload the review queue.")
        tag = locked
        if tag.status == VideoTag.Status.REJECTED:
            return TagDecision(tag=tag)
        if tag.status == VideoTag.Status.CONFIRMED:
            raise TagAlreadyDecided(_decided_message(tag), extra={"tag": tag.pk, "status": tag.status})
        tag.status = VideoTag.Status.REJECTED
        tag.reviewed_by = user if user and user.is_authenticated else None
        tag.reviewed_at = timezone.now()
        tag.review_note = note[:300]
        tag.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    return TagDecision(tag=tag)


class NotYourTagDecision(DomainError):
    status_code = 403
    code = "forbidden"


def tag_decision_undo(*, tag: VideoTag, user=None) -> TagDecision:
    """Take back a confirmation or a rejection: the tag is proposed again. Undoing a confirmation also
    undoes the label events it wrote (the supporting faces get their earlier labels back, with new
    events); refused with 409 when one of those faces changed since, as any label undo is. Annotators
    undo their own decisions; admins anyone's. A proposed tag answers 409 (nothing to undo)."""
    with transaction.atomic():
        locked = VideoTag.objects.select_for_update().filter(pk=tag.pk).first()
        if locked is None:
            raise NotFound("This tag no longer exists: the video was re-tagged.")
        tag = locked
        if tag.status == VideoTag.Status.PROPOSED:
            raise Conflict(f"Tag {tag.pk} is not decided: there is nothing to undo.")
        if not roles.is_admin(user) and tag.reviewed_by_id != getattr(user, "pk", None):
            raise NotYourTagDecision("Annotators may only undo their own tag decisions.")
        undone: list = []
        if tag.label_operation:
            events = list(LabelEvent.objects.filter(operation=tag.label_operation, undone_by__isnull=True))
            undone = label_events_undo(events=events, user=user) if events else []
        tag.status = VideoTag.Status.PROPOSED
        tag.reviewed_by, tag.reviewed_at, tag.review_note, tag.label_operation = None, None, "", None
        tag.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "label_operation"])
    return TagDecision(tag=tag, events=undone)


def _decided_message(tag: VideoTag) -> str:
    who = tag.reviewed_by.get_username() if tag.reviewed_by else "someone"
    when = tag.reviewed_at.isoformat(timespec="seconds") if tag.reviewed_at else "earlier"
    extra = (f" Its faces were verified by label operation {tag.label_operation}; undo that first."
             if tag.label_operation else "")
    return f"Tag {tag.pk} was already {tag.status} by {who} at {when}.{extra}"
