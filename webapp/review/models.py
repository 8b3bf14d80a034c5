"""Review queues of faces to check, the leases that hand items to annotators, and their decisions.

A queue is built from a training run (or a chunk promotion) and never re-sorted: items carry a
``score`` (higher: likelier wrong) and are served highest first. An item is leased to one
annotator until ``leased_until``; a decision closes it and records what was decided, by whom,
on which version of the face, and the label event it wrote.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Queue(models.Model):
    class Kind(models.TextChoices):
        LIKELY_WRONG = "likely_wrong", "Most likely wrong labels first (VIP faces and hidden VIPs)"
        LABEL_ERRORS = "label_errors", "Suspected label errors among VIP faces"
        LOOKALIKES = "lookalikes", "Distractor faces that look like a VIP"
        LOW_PRECISION = "low_precision", "Low-precision VIPs: their faces and faces mistaken for them"
        LOW_RECALL = "low_recall", "Low-recall VIPs: suggested faces to add"
        CONFUSED_PAIRS = "confused_pairs", "Most confused VIP pairs"
        NON_FACES = "non_faces", "Probable non-faces and outliers"
        CHUNK_VERIFICATION = "chunk_verification", "Faces of newly promoted VIPs"
        SENT = "sent", "Faces someone sent to review (from the faces screen)"

    kind = models.CharField(max_length=30, choices=Kind.choices, db_index=True)
    title = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who sent the faces (queues made by hand only).",
    )
    run = models.ForeignKey(
        "training.TrainingRun", null=True, blank=True, on_delete=models.CASCADE, related_name="queues"
    )
    chunk = models.ForeignKey("training.Chunk", null=True, blank=True, on_delete=models.CASCADE, related_name="queues")
    payload = models.JSONField(
        default=dict, blank=True, help_text="Queue-level context, e.g. the 'needs more data' list or the pairs."
    )
    is_open = models.BooleanField(default=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Item(models.Model):
    class State(models.TextChoices):
        OPEN = "open"
        DECIDED = "decided"
        OBSOLETE = "obsolete", "resolved elsewhere"

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="items")
    face = models.ForeignKey("faces.Face", on_delete=models.CASCADE, related_name="review_items")
    identity = models.ForeignKey(
        "identities.Identity",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The VIP this item is about (suggested or suspected).",
    )
    score = models.FloatField(help_text="Higher: likelier wrong; items are served in descending score.")
    payload = models.JSONField(
        default=dict, blank=True, help_text="Why it is here and the model's top-k identities as suggestions."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    leased_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    leased_until = models.DateTimeField(null=True, blank=True)
    served_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The face's version when last served."
    )
    closed_by_operation = models.UUIDField(
        null=True, blank=True, help_text="The decisions that decided or obsoleted it (undo reopens it)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-score", "id"]
        indexes = [
            models.Index(fields=["queue", "state", "-score", "id"], name="review_item_serving"),
            models.Index(fields=["leased_to", "leased_until"], name="review_item_lease"),
            models.Index(fields=["face", "state"], name="review_item_face_state"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["queue", "face"], condition=models.Q(state="open"), name="one_open_item_per_face_and_queue"
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} (face {self.face_id}, {self.state})"


class Decision(models.Model):
    class Action(models.TextChoices):
        CONFIRM = "confirm", "label is right (verified)"
        RELABEL = "relabel", "another identity"
        UNKNOWN = "unknown", "an unknown person"
        NOT_A_FACE = "not_a_face", "not a face"
        EXCLUDE = "exclude", "exclude from the dataset"
        SKIP = "skip", "not sure: leave it for someone else"
        ACCEPT = "accept", "accept the suggested identity"
        REJECT = "reject", "reject the suggestion"

    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions")
    face = models.ForeignKey("faces.Face", on_delete=models.CASCADE, related_name="review_decisions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=20, choices=Action.choices)
    identity = models.ForeignKey(
        "identities.Identity",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The identity chosen (relabel, accept, reject).",
    )
    served_version = models.PositiveIntegerField(null=True, blank=True)
    label_event = models.ForeignKey(
        "faces.LabelEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    operation = models.UUIDField(db_index=True, help_text="Shared by the decisions of one request: undo them together.")
    undone = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"])]
