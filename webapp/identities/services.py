"""Writes on identities."""
from __future__ import annotations

from django.db import IntegrityError, transaction

from webapp.core.exceptions import Conflict

from .models import Identity


def identity_create(*, name: str, role: str = Identity.Role.CANDIDATE, popularity_rank: int | None = None,
                    aliases: list[str] | None = None, notes: str = "") -> Identity:
    name = name.strip()
    try:
        with transaction.atomic():
            return Identity.objects.create(
                name=name, role=role, popularity_rank=popularity_rank, aliases=aliases or [], notes=notes
            )
    except IntegrityError as exc:
        raise Conflict(f"An identity named '{name}' already exists.") from exc


def identities_get_or_create(*, names: list[str], role: str = Identity.Role.CANDIDATE) -> dict[str, Identity]:
    """The identities with these names, creating the missing ones in bulk (import by folder name)."""
    names = sorted({name.strip() for name in names if name.strip()})
    existing = {identity.name: identity for identity in Identity.objects.filter(name__in=names)}
    missing = [Identity(name=name, role=role) for name in names if name not in existing]
    Identity.objects.bulk_create(missing, ignore_conflicts=True)
    return {identity.name: identity for identity in Identity.objects.filter(name__in=names)}
