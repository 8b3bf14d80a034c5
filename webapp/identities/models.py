"""People: VIPs the model recognises, and candidates (future VIPs, meanwhile distractors)."""
from __future__ import annotations

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
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_from",
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
