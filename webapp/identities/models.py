"""People: VIPs the model recognises, and candidates (future VIPs, meanwhile distractors)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Identity(models.Model):
    class Role(models.TextChoices):
        VIP = "vip", "VIP"
        CANDIDATE = "candidate", "Candidate"

    name = models.CharField(max_length=200, unique=True)
    aliases = models.JSONField(default=list, blank=True, help_text="Other names of this person.")
    popularity_rank = models.PositiveIntegerField(
        null=True, blank=True, db_index=True, help_text="1 = most popular; VIPs are promoted in this order."
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CANDIDATE, db_index=True)
    chunk = models.PositiveIntegerField(
        null=True, blank=True, db_index=True, help_text="The VIP chunk whose promotion made this identity a VIP."
    )
    notes = models.TextField(blank=True)
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_from",
        help_text="Set when this identity was merged into another: a tombstone that redirects.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = [models.F("popularity_rank").asc(nulls_last=True), "name"]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return self.name

    @property
    def is_vip(self) -> bool:
        return self.role == self.Role.VIP


class IdentityEvent(models.Model):
    """One edit of an identity's own fields (``services.identity_update``): who, when, and each
    changed field's value before and after. Append-only; merges and splits are ``IdentityOperation``."""

    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="events")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes = models.JSONField(help_text='{field: {"from": before, "to": after}} for each field that changed.')
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["identity", "-created_at"], name="identity_event_history")]

    def __str__(self) -> str:
        return f"identity {self.identity_id}: {', '.join(self.changes)}"


class IdentityOperation(models.Model):
    """One merge or split, as done: what moved, what the identities looked like before, and its undo.

    The faces that moved carry one ``LabelEvent`` each, all with ``operation`` = this row's
    ``operation`` UUID; undo writes new events whose ``undoes`` point at those. ``before`` holds everything else undo needs to put back (the target's
    aliases/role/rank/chunk, tombstones re-pointed to the target). Rows are never deleted.
    """

    class Kind(models.TextChoices):
        MERGE = "merge"
        SPLIT = "split"

    kind = models.CharField(max_length=10, choices=Kind.choices, db_index=True)
    source = models.ForeignKey(
        Identity,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Merge: the identity merged away (now a tombstone). Split: the identity faces left.",
    )
    target = models.ForeignKey(
        Identity,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Merge: the identity kept. Split: the identity the chosen faces moved to.",
    )
    target_created = models.BooleanField(
        default=False, help_text="Split only: the target was created (or revived) by this split."
    )
    operation = models.UUIDField(unique=True, help_text="The LabelEvent.operation of the faces that moved.")
    face_ids = models.JSONField(default=list, blank=True, help_text="The faces that moved.")
    before = models.JSONField(default=dict, blank=True, help_text="State that undo restores.")
    reason = models.CharField(max_length=300, blank=True)
    suggestion = models.ForeignKey(
        "IdentitySuggestion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="operations",
        help_text="The suggestion this operation accepted, if any.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["source", "undone_at"]), models.Index(fields=["target", "undone_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id} -> {self.target_id}"

    @property
    def is_undone(self) -> bool:
        return self.undone_at is not None


class IdentitySuggestion(models.Model):
    """A computed hint for an admin: merge two identities, or split one in two; with its evidence.

    Merge: ``identity`` is the one to merge away, ``other`` the one to keep. Split: ``identity`` is
    the one to split, ``other`` is empty; ``evidence["clusters"]`` lists both clusters' face ids.
    """

    class Kind(models.TextChoices):
        MERGE = "merge"
        SPLIT = "split"

    class Status(models.TextChoices):
        OPEN = "open"
        ACCEPTED = "accepted"
        DISMISSED = "dismissed"

    kind = models.CharField(max_length=10, choices=Kind.choices, db_index=True)
    identity = models.ForeignKey(Identity, on_delete=models.PROTECT, related_name="suggestions")
    other = models.ForeignKey(Identity, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    score = models.FloatField(db_index=True, help_text="Higher: likelier. Merge and split scores differ in scale.")
    evidence = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    job = models.ForeignKey(
        "core.Job",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The job that last computed it.",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-score", "id"]
        indexes = [models.Index(fields=["kind", "status", "score"])]

    def __str__(self) -> str:
        return f"{self.kind} suggestion {self.identity_id}/{self.other_id} ({self.status}, {self.score:.2f})"
