"""What the identity commands share: finding an identity or user by what a person types."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from webapp.identities.models import Identity


def identity_id(value: str) -> int:
    """An identity's id from its id or exact name (an active identity wins over a tombstone of that name)."""
    if value.isdigit():
        return int(value)
    found = Identity.objects.filter(name=value).order_by("merged_into", "pk").values_list("pk", flat=True).first()
    if found is None:
        raise CommandError(f"No identity named '{value}'.")
    return found


def user_named(username: str | None):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"No user named '{username}'.")
    return user


def describe(operation) -> str:
    moved = len(operation.face_ids)
    return (
        f"operation {operation.pk}: {operation.kind} {operation.source_id} '{operation.source.name}' -> "
        f"{operation.target_id} '{operation.target.name}', {moved} face{'s' if moved != 1 else ''}"
    )
