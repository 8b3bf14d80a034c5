"""Video tagging: which VIPs appear in each video, by the active model, and what people decided.

Three tables:

* :class:`FacePrediction`: the latest calibrated prediction for one video face (top VIP, its
  confidence, the run that made it, and whether it is accepted at the threshold the video was
  tagged at; a rejected face is an unknown person).
* :class:`VideoTagging`: how a video was last tagged (run, threshold, min_frames, job). A video
  without one was never tagged; one whose run or threshold differ from the model in force is
  outdated.
* :class:`VideoTag` with its :class:`TagEvidence`: an identity in a video, proposed by a run from
  its supporting frames (best face per frame, most confident first), then confirmed or rejected
  by an annotator. One tag per (video, identity): human decisions are kept across re-tagging.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

if TYPE_CHECKING:
    from webapp.media.models import Frame


class FacePrediction(models.Model):
    """The calibrated prediction the tagging run made for one face (replaced when the video is re-tagged)."""

    face = models.OneToOneField("faces.Face", on_delete=models.CASCADE, related_name="prediction")
    video = models.ForeignKey("media.Video", on_delete=models.CASCADE, related_name="face_predictions")
    run = models.ForeignKey("training.TrainingRun", on_delete=models.CASCADE, related_name="+")
    label = models.SmallIntegerField(help_text="The run's top VIP class index.")
    identity = models.ForeignKey(
        "identities.Identity",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The identity of that class (the top VIP, accepted or not).",
    )
    confidence = models.FloatField(help_text="Calibrated confidence of the top VIP.")
    accepted = models.BooleanField(
        help_text="Not rejected at the video's tagging threshold (ml.metrics.is_rejected); "
        "false means an unknown person."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["video", "face"]
        indexes = [models.Index(fields=["video", "run"])]

    def __str__(self) -> str:
        return f"face {self.face_id}: {self.identity_id} ({self.confidence:.3f})"


class VideoTagging(models.Model):
    """The latest tagging pass over one video."""

    video = models.OneToOneField("media.Video", on_delete=models.CASCADE, related_name="tagging")
    run = models.ForeignKey("training.TrainingRun", on_delete=models.PROTECT, related_name="+")
    threshold = models.FloatField(help_text="The operating threshold the faces were accepted at.")
    min_frames = models.PositiveSmallIntegerField(help_text="Distinct frames an identity needed (k).")
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    faces = models.PositiveIntegerField(default=0, help_text="Faces classified.")
    faces_accepted = models.PositiveIntegerField(
        default=0, help_text="Faces above the threshold (the rest are unknown)."
    )
    faces_skipped = models.PositiveIntegerField(
        default=0, help_text="Faces without a usable input (no embedding, or one from another embedding model)."
    )
    tags = models.JSONField(
        default=dict, blank=True, help_text="What the pass did: proposed, kept, replaced, removed, suppressed."
    )
    timings = models.JSONField(default=dict, blank=True)
    tagged_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-tagged_at", "-id"]

    def __str__(self) -> str:
        return f"video {self.video_id} tagged by run {self.run_id} at {self.threshold:.3f}"


class VideoTag(models.Model):
    class Status(models.TextChoices):
        PROPOSED = "proposed"
        CONFIRMED = "confirmed"
        REJECTED = "rejected"

    video = models.ForeignKey("media.Video", on_delete=models.CASCADE, related_name="tags")
    identity = models.ForeignKey("identities.Identity", on_delete=models.PROTECT, related_name="video_tags")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED, db_index=True)
    confidence = models.FloatField(
        help_text="Video-level confidence: the min_frames-th best per-frame confidence (the weakest required evidence)."
    )
    threshold = models.FloatField(help_text="The operating threshold in force when the tag was made.")
    min_frames = models.PositiveSmallIntegerField()
    frame_count = models.PositiveIntegerField(help_text="Supporting frames (each has a face above the threshold).")
    run = models.ForeignKey(
        "training.TrainingRun",
        on_delete=models.PROTECT,
        related_name="video_tags",
        help_text="The model that proposed the tag.",
    )
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    frames: models.ManyToManyField[Frame, TagEvidence] = models.ManyToManyField(
        "media.Frame", through="TagEvidence", related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=300, blank=True)
    label_operation = models.UUIDField(
        null=True, blank=True, help_text="Confirmed: the LabelEvent operation that verified the supporting faces."
    )

    class Meta:
        ordering = ["-confidence", "id"]
        constraints = [models.UniqueConstraint(fields=["video", "identity"], name="one_tag_per_video_identity")]
        indexes = [models.Index(fields=["identity", "status"]), models.Index(fields=["status", "run"])]

    def __str__(self) -> str:
        return f"video {self.video_id}: {self.identity_id} ({self.status}, {self.confidence:.3f})"

    @property
    def margin(self) -> float:
        """How far the tag's confidence lies above the threshold it was made at (small: uncertain)."""
        return self.confidence - self.threshold


class TagEvidence(models.Model):
    """One supporting frame of a tag: the most confident face of the identity in that frame."""

    tag = models.ForeignKey(VideoTag, on_delete=models.CASCADE, related_name="evidence")
    frame = models.ForeignKey("media.Frame", on_delete=models.CASCADE, related_name="+")
    face = models.ForeignKey("faces.Face", on_delete=models.CASCADE, related_name="+")
    confidence = models.FloatField()
    rank = models.PositiveSmallIntegerField(help_text="0: the most confident frame.")

    class Meta:
        ordering = ["tag", "rank"]
        constraints = [models.UniqueConstraint(fields=["tag", "frame"], name="one_evidence_per_tag_frame")]
