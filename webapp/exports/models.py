"""Dataset versions (a frozen list of labelled faces) and the files built from them.

A version is immutable once frozen: its faces live in ``VersionFace`` rows that copy, at freeze
time, everything an export needs (label, split, identity, source, crop file). Relabelling a face
later changes ``Face``, never these rows, so a version exported today and again next year gives
the same files. Builds turn a version into one format; their files carry size and SHA-256.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DatasetVersion(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"  # created, its faces not frozen yet
        READY = "ready"
        FAILED = "failed"

    name = models.CharField(max_length=200, blank=True)
    filters = models.JSONField(default=dict, help_text="The filter the faces were selected with (normalised).")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    face_count = models.PositiveIntegerField(default=0)
    class_count = models.PositiveIntegerField(default=0)
    classes = models.JSONField(default=list, blank=True, help_text="Class folder names, sorted (= class index).")
    counts = models.JSONField(
        default=list, blank=True, help_text="Per class: label, identity, faces per split (frozen with the version)."
    )
    content_hash = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="SHA-256 over the frozen rows sorted by face id."
    )
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    frozen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"dataset v{self.pk}" + (f" ({self.name})" if self.name else "")


class VersionFace(models.Model):
    """One face of one version, as it was when the version was frozen. Never updated.

    ``face_id`` is a plain number, not a foreign key: a face deleted later leaves the version's
    record intact (its build then fails loudly if the crop file is gone too).
    """

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="faces")
    face_id = models.BigIntegerField()
    label = models.CharField(max_length=200, help_text="The identity name, or the distractor label.")
    label_key = models.CharField(max_length=120, help_text="Class folder name: sanitised, unique in the version.")
    identity_id = models.BigIntegerField(null=True, blank=True)
    identity_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=20, help_text="vip, candidate or unknown, at freeze time.")
    status = models.CharField(max_length=20)
    split = models.CharField(max_length=5)
    source = models.CharField(max_length=10)
    source_path = models.CharField(max_length=500, blank=True)
    photo_id = models.BigIntegerField(null=True, blank=True)
    frame_id = models.BigIntegerField(null=True, blank=True)
    video_id = models.BigIntegerField(null=True, blank=True)
    group_key = models.CharField(max_length=100, blank=True)
    box = models.JSONField(null=True, blank=True)
    landmarks = models.JSONField(null=True, blank=True)
    crop = models.CharField(max_length=300, help_text="Storage name of the crop file.")

    class Meta:
        ordering = ["version", "face_id"]
        constraints = [models.UniqueConstraint(fields=["version", "face_id"], name="unique_face_per_version")]

    def __str__(self) -> str:
        return f"v{self.version_id} face {self.face_id}: {self.label}/{self.split}"


class ExportBuild(models.Model):
    """One format of one version. One build per (version, format, shard size): a second request reuses it."""

    class Format(models.TextChoices):
        IMAGEFOLDER = "imagefolder", "ImageFolder zip"
        JSONL = "jsonl", "JSONL manifest"
        CSV = "csv", "CSV manifest"
        PARQUET = "parquet", "Parquet with image bytes"
        WEBDATASET = "webdataset", "WebDataset tar shards"

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    version = models.ForeignKey(DatasetVersion, on_delete=models.CASCADE, related_name="builds")
    format = models.CharField(max_length=20, choices=Format.choices)
    shard_size = models.PositiveIntegerField(default=0, help_text="Samples per WebDataset shard; 0 for other formats.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED, db_index=True)
    job = models.ForeignKey("core.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.TextField(blank=True)
    total_bytes = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["version", "format", "shard_size"]
        constraints = [
            models.UniqueConstraint(fields=["version", "format", "shard_size"], name="unique_build_per_format")
        ]

    def __str__(self) -> str:
        return f"v{self.version_id} {self.format}" + (f"/{self.shard_size}" if self.shard_size else "")


class ExportFile(models.Model):
    """A finished file of a build. Rows exist only once the file is complete under its final name."""

    stored_file_fields = ("storage_name",)  # for the media sweep (webapp.core.sweep)

    build = models.ForeignKey(ExportBuild, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=200, help_text="Name within the build, e.g. shard-000000.tar.")
    storage_name = models.CharField(max_length=500)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["build", "name"]
        constraints = [models.UniqueConstraint(fields=["build", "name"], name="unique_file_name_per_build")]

    def __str__(self) -> str:
        return f"{self.build} {self.name}"
