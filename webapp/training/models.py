"""Training runs with their frozen inputs and results, the active model, its operating point, VIP chunks.

A run's state lives on its :class:`~webapp.core.models.Job` (queued, running, succeeded, failed,
cancelled, with progress and error); the run row holds what is specific to training: the config,
the frozen VIP set and labels it used (:class:`RunSample`, one row per face), and its results.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class TrainingRun(models.Model):
    class Mode(models.TextChoices):
        HEAD = "head", "classifier head on stored embeddings"
        FINETUNE = "finetune", "fine-tune the backbone on crops"

    class Labels(models.TextChoices):
        SETTLED = "settled", "settled labels only"
        ALL = "all", "all labels"

    job = models.OneToOneField("core.Job", on_delete=models.PROTECT, related_name="training_run")
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.HEAD)
    loss = models.CharField(max_length=30, default="arcface")
    backbone = models.CharField(max_length=100, blank=True)
    config = models.JSONField(default=dict, help_text="Every hyper-parameter the run was started with.")
    vips = models.JSONField(default=list, help_text="Frozen VIP set in class order: [{index, identity, name, chunk}].")
    labels = models.CharField(
        max_length=10,
        choices=Labels.choices,
        default=Labels.SETTLED,
        help_text="What it trains on: settled labels only (faces waiting for a second opinion or an admin's "
        "word on a disagreement are left out of the snapshot), or all labels as they are.",
    )
    chunk = models.PositiveIntegerField(null=True, blank=True, help_text="Latest VIP chunk when the run started.")
    counts = models.JSONField(default=dict, blank=True, help_text="Samples per split, VIP and distractor.")
    note = models.CharField(max_length=300, blank=True)

    # Results, written once by the task when training succeeds.
    metrics = models.JSONField(default=dict, blank=True, help_text="Headline metrics on val and test.")
    per_class = models.JSONField(default=list, blank=True, help_text="Per-VIP precision, recall, F1, diagnosis.")
    curves = models.JSONField(default=dict, blank=True, help_text="Threshold sweeps and calibration curves.")
    confused_pairs = models.JSONField(default=list, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    device = models.CharField(max_length=100, blank=True)
    model_file = models.FileField(upload_to="models/", max_length=300, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.mode}/{self.loss})"

    @property
    def class_names(self) -> list[str]:
        return [vip["name"] for vip in self.vips]

    @property
    def vip_identity_ids(self) -> list[int]:
        return [vip["identity"] for vip in self.vips]


class RunSample(models.Model):
    """One face as a run saw it: its label and split frozen at start, its scores after training.

    ``face`` carries no database constraint: deleting a face later leaves the snapshot intact.
    """

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="samples")
    face = models.ForeignKey("faces.Face", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    identity_id = models.BigIntegerField(
        null=True, blank=True, help_text="The face's identity at start (null: unknown)."
    )
    label = models.SmallIntegerField(help_text="Class index of a VIP, -1 for a distractor.")
    split = models.CharField(max_length=5)
    version = models.PositiveIntegerField(help_text="The face's version when the run started.")
    noise_score = models.FloatField(null=True, blank=True, help_text="Higher: likelier a label error.")
    predicted = models.SmallIntegerField(null=True, blank=True, help_text="Top VIP class after calibration.")
    confidence = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "face"], name="unique_face_per_run")]
        indexes = [models.Index(fields=["run", "label"])]


class ActiveModel(models.Model):
    """Each acceptance of a run appends a row; the newest row is the active model."""

    run = models.ForeignKey(TrainingRun, on_delete=models.PROTECT, related_name="activations")
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    automatic = models.BooleanField(default=False, help_text="Accepted by FACECURATOR_AUTO_ACCEPT_RUNS.")
    accepted_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-accepted_at", "-id"]


class OperatingPoint(models.Model):
    """The admin's choice of threshold for a run: by false-accept rate, target precision, or directly.

    The newest row for the active run is the one in force; ``expected`` holds the validation
    metrics at that threshold from the run's sweep (what the admin saw when choosing). Asked for by
    ``far`` (the share of unknown faces the admin accepts to see tagged), ``estimate`` holds
    :class:`ml.operating_point.OperatingPoint` as a dict: the rate the threshold is placed for,
    the implied precision at ``unknown_share``, its interval and the val faces and people behind it.

    ``rule`` says what chose the threshold and ``reason`` why, in words: a false-tag rate val holds
    too few unknown faces to measure is placed at the lowest rate it does, and with fewer than 10
    such faces the default target precision chooses; ``far`` keeps the rate asked for, so the next
    model, trained on more faces, is placed for it again.
    """

    class Rule(models.TextChoices):
        FAR = "far", "The false-tag rate asked for"
        LOWEST_MEASURABLE_FAR = (
            "lowest_measurable_far",
            "The lowest false-tag rate val measures (too few unknown faces)",
        )
        TARGET_PRECISION = "target_precision", "The target precision asked for"
        TARGET_PRECISION_FALLBACK = "target_precision_fallback", "The default target precision (val measures no rate)"
        THRESHOLD = "threshold", "A threshold set directly"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="operating_points")
    rule = models.CharField(
        max_length=32, choices=Rule.choices, default=Rule.THRESHOLD, help_text="What chose the threshold."
    )
    reason = models.TextField(blank=True, help_text="What chose the threshold and why, in words.")
    far = models.FloatField(null=True, blank=True, help_text="Accepted false-tag rate on unknown faces (as asked).")
    unknown_share = models.FloatField(
        null=True, blank=True, help_text="Share of unknown faces the precision estimate assumes."
    )
    estimate = models.JSONField(
        default=dict,
        blank=True,
        help_text="The FAR estimate: threshold, observed FAR, recall, implied precision, "
        "intervals and counts (ml.operating_point.OperatingPoint).",
    )
    target_precision = models.FloatField(null=True, blank=True)
    threshold = models.FloatField()
    expected = models.JSONField(default=dict, blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    set_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-set_at", "-id"]


class Chunk(models.Model):
    """One growth step of the VIP set: who was promoted, when, and how the model stood then."""

    number = models.PositiveIntegerField(unique=True)
    identities = models.JSONField(default=list, help_text="[{id, name, popularity_rank}] promoted in this chunk.")
    run = models.ForeignKey(
        TrainingRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The active model whose validation metrics the gate read.",
    )
    metrics = models.JSONField(default=dict, blank=True, help_text="The active model's metrics at promotion.")
    gate = models.JSONField(default=dict, blank=True, help_text="The gate's checks and whether they passed.")
    overridden = models.BooleanField(default=False)
    override_reason = models.TextField(blank=True)
    promoted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"chunk {self.number}"
