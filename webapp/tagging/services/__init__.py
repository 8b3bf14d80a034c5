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

One module per step: ``jobs`` (starting tagging jobs), ``classifier`` (a run's classifier and its
inputs), ``tagging`` (tagging videos and reconciling their tags) and ``decisions`` (confirm,
reject, undo). The public entry points are imported here, so callers write
``tagging.services.<name>``.
"""

from .classifier import UnsupportedRun, classifier_for_run, run_embedding_model
from .decisions import NotYourTagDecision, TagAlreadyDecided, TagDecision, tag_confirm, tag_decision_undo, tag_reject
from .jobs import TAG_VIDEO_KIND, TAG_VIDEOS_KIND, tagging_job_execute, video_tag_start, videos_tag_start
from .tagging import RESULT_VIDEOS_LISTED, VideoNotReady, VideoTagOutcome, video_tag, videos_tag

__all__ = [
    "TAG_VIDEO_KIND",
    "TAG_VIDEOS_KIND",
    "video_tag_start",
    "videos_tag_start",
    "tagging_job_execute",
    "UnsupportedRun",
    "classifier_for_run",
    "run_embedding_model",
    "RESULT_VIDEOS_LISTED",
    "VideoNotReady",
    "VideoTagOutcome",
    "video_tag",
    "videos_tag",
    "TagAlreadyDecided",
    "TagDecision",
    "tag_confirm",
    "tag_reject",
    "NotYourTagDecision",
    "tag_decision_undo",
]
