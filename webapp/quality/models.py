"""Gold faces (honeypots) and the review items that served them to one annotator.

A gold face is a face whose label is settled (verified by an admin, or agreed by two annotators).
Its known answer is the label it had when it became gold; it counts only while the face still has
that label (``face.version == face_version``): a later change of the face makes it stop counting,
and every score is computed at read time, so past scores follow. A :class:`GoldItem` is the review
item a gold face was mixed into for one annotator, with the label it was shown with (sometimes a
wrong one, a decoy, so that confirming everything does not score well).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class GoldFace(models.Model):
    class Source(models.TextChoices):
        ADMIN = "admin", "verified by an admin"
        AGREEMENT = "agreement", "agreed by two annotators"

    face = models.OneToOneField("faces.Face", on_delete=models.CASCADE, related_name="gold")
    identity = models.ForeignKey(
        "identities.Identity",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The known answer's identity (empty: unknown person).",
    )
    status = models.CharField(max_length=20, help_text="The known answer's status (verified or not_a_face).")
    face_version = models.PositiveIntegerField(help_text="Gold only while the face is still at this version.")
    source = models.CharField(max_length=20, choices=Source.choices)
    since = models.DateTimeField(help_text="When the face became gold with this answer; earlier serves do not count.")

    class Meta:
        ordering = ["-since", "-id"]

    def __str__(self) -> str:
        return f"gold face {self.face_id}"


class GoldItem(models.Model):
    item = models.OneToOneField("review.Item", on_delete=models.CASCADE, related_name="gold_serve")
    gold = models.ForeignKey(GoldFace, on_delete=models.CASCADE, related_name="serves")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    shown_identity = models.ForeignKey(
        "identities.Identity",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The label the annotator was shown.",
    )
    shown_status = models.CharField(max_length=20)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"], name="quality_gold_serve_user")]


class SecondOpinion(models.Model):
    """A decision held until a second annotator agrees (``FACECURATOR_SECOND_OPINION``, or a flagged
    annotator's decision with ``FACECURATOR_HOLD_FLAGGED``; ``kind`` says which).

    The first decision changed no label; ``item`` is the face served, blind, to someone else. When
    their decision says the same, it applies the label; when it differs, neither applies and the
    face goes to the admins' queue of disagreements (``dispute_item``).
    """

    class State(models.TextChoices):
        PENDING = "pending", "waiting for a second annotator"
        AGREED = "agreed", "a second annotator agreed: applied"
        DISPUTED = "disputed", "the second annotator disagreed: for an admin"
        OVERRULED = "overruled", "an admin, or someone against a flagged annotator, decided otherwise: that applied"
        ACCEPTED = "accepted", "accepted by an admin with the annotator's other held decisions: applied"
        DISCARDED = "discarded", "discarded by an admin with the annotator's other held decisions: not applied"

    decision = models.OneToOneField("review.Decision", on_delete=models.CASCADE, related_name="second_opinion")
    first_user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    face = models.ForeignKey("faces.Face", on_delete=models.CASCADE, related_name="+")
    proposed_identity = models.ForeignKey(
        "identities.Identity", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    proposed_status = models.CharField(max_length=20)
    item = models.ForeignKey("review.Item", on_delete=models.CASCADE, related_name="second_opinions")
    dispute_item = models.OneToOneField(
        "review.Item", null=True, blank=True, on_delete=models.SET_NULL, related_name="dispute"
    )
    kind = models.CharField(
        max_length=30,
        default="relabel_vip",
        help_text="Why it waits: a FACECURATOR_SECOND_OPINION kind, or flagged_annotator.",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The admin who accepted or discarded it in bulk.",
    )
    settled_operation = models.UUIDField(
        null=True, blank=True, db_index=True, help_text="The bulk accept or discard that settled it (undo undoes it)."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
