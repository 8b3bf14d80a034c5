"""Faces and the audit log of every change to their labels."""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.db import models


class Face(models.Model):
    class Status(models.TextChoices):
        UNVERIFIED = "unverified"
        VERIFIED = "verified"
        NOT_A_FACE = "not_a_face"
        EXCLUDED = "excluded"

    class Split(models.TextChoices):
        TRAIN = "train"
        VAL = "val"
        TEST = "test"

    class Source(models.TextChoices):
        PHOTO = "photo"
        FRAME = "frame"
        CROP = "crop", "imported crop"

    crop = models.FileField(upload_to="faces/", max_length=300, help_text="Aligned face crop (JPEG).")
    thumbnail = models.FileField(upload_to="thumbs/", max_length=300, blank=True)
    box = models.JSONField(null=True, blank=True, help_text="[x, y, w, h] in source pixels.")
    landmarks = models.JSONField(null=True, blank=True, help_text="Five [x, y] points in source pixels.")
    detector_score = models.FloatField(null=True, blank=True)
    quality = models.FloatField(null=True, blank=True, help_text="0-1 from size and sharpness.")

    source = models.CharField(max_length=10, choices=Source.choices, db_index=True)
    photo = models.ForeignKey("media.Photo", null=True, blank=True, on_delete=models.CASCADE, related_name="faces")
    frame = models.ForeignKey("media.Frame", null=True, blank=True, on_delete=models.CASCADE, related_name="faces")
    video = models.ForeignKey("media.Video", null=True, blank=True, on_delete=models.CASCADE, related_name="faces")
    source_path = models.CharField(max_length=500, blank=True, help_text="Imported crop: path below the import root.")
    content_sha256 = models.CharField(max_length=64, db_index=True, blank=True)
    phash = models.BigIntegerField(null=True, blank=True, help_text="64-bit perceptual hash of the crop.")
    group_key = models.CharField(
        max_length=100, db_index=True, help_text="Faces of one group (video, photo) always share a split."
    )

    identity = models.ForeignKey(
        "identities.Identity",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="faces",
        help_text="Empty means an unknown person.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.UNVERIFIED, db_index=True)
    split = models.CharField(max_length=5, choices=Split.choices, db_index=True)
    version = models.PositiveIntegerField(default=0, help_text="Bumped on each label change: stale writes get 409.")

    embedding = models.BinaryField(null=True, blank=True, help_text="float32 vector, unit length.")
    embedding_model = models.CharField(max_length=50, blank=True)
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="near_duplicates"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["identity", "status"]), models.Index(fields=["split", "identity"])]
        constraints = [
            # An imported crop is stored once (the importer's exact-duplicate rule); faces detected in
            # photos and frames may share crop bytes (e.g. still frames), so only crops are unique.
            models.UniqueConstraint(
                fields=["content_sha256"],
                condition=models.Q(source="crop") & ~models.Q(content_sha256=""),
                name="unique_imported_crop",
            ),
        ]

    def __str__(self) -> str:
        return f"face {self.pk}"

    @property
    def embedding_vector(self) -> np.ndarray | None:
        if self.embedding is None:
            return None
        return embedding_array(self.embedding)


def embedding_array(blob: bytes | memoryview | None) -> np.ndarray:
    """A stored ``Face.embedding`` (float32 bytes) as a vector, for rows read with ``values_list``;
    the face must have one (select on ``embedding__isnull=False``)."""
    if blob is None:
        raise ValueError("the face has no embedding")
    return np.frombuffer(bytes(blob), dtype=np.float32)


class LabelEvent(models.Model):
    """One change of a face's label: append-only. Undo is a new event pointing at the one it undoes."""

    face = models.ForeignKey(Face, on_delete=models.CASCADE, related_name="label_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    from_identity = models.ForeignKey(
        "identities.Identity", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_identity = models.ForeignKey(
        "identities.Identity", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_status = models.CharField(max_length=20, choices=Face.Status.choices)
    to_status = models.CharField(max_length=20, choices=Face.Status.choices)
    reason = models.CharField(max_length=300, blank=True)
    undoes = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="undone_by")
    operation = models.UUIDField(
        null=True, blank=True, db_index=True, help_text="Groups the events of one batch, merge or split."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return (
            f"face {self.face_id}: {self.from_identity_id}/{self.from_status} -> {self.to_identity_id}/{self.to_status}"
        )
