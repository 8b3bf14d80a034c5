"""Writes on identities: the rows themselves (create, edit, tombstones and their lock order).

Merges, splits and suggestions, which move faces, are in ``webapp.curation.services``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction

from webapp.core import roles
from webapp.core.exceptions import Conflict, DomainError, InvalidTransition, NotFound
from webapp.core.roles import Actor, recorded_user

from .models import Identity, IdentityEvent


# --------------------------------------------------------------------------------------------
# Tombstones and locks: one rule, one error, one lock order
# --------------------------------------------------------------------------------------------
class IdentityMerged(Conflict):
    """The identity was merged into another (it is a tombstone): nothing may label with it, edit,
    merge, split or undo onto it. Answered 409 with ``merged_into``, the identity to use instead."""

    code = "identity_merged"


def identity_require_active(identity: Identity | None, *, action: str = "use") -> Identity | None:
    """Refuse a merged identity (``IdentityMerged``); every "was it merged?" check calls this one.

    ``action`` completes the message: "… was merged into identity 7; <action> that one instead."
    """
    if identity is not None and identity.merged_into_id is not None:
        raise IdentityMerged(
            f"Identity {identity.pk} '{identity.name}' was merged into identity {identity.merged_into_id}; "
            f"{action} that one instead (or undo the merge).",
            extra={"identity": identity.pk, "merged_into": identity.merged_into_id},
        )
    return identity


def identities_lock(*, ids: Iterable[int]) -> dict[int, Identity]:
    """Lock the identities' rows (``SELECT … FOR UPDATE``) in id order, before any face row.

    Merge, split, their undo, label undo and identity edits all take their identity locks
    through here, so two of them never wait on each other in a cycle, and whichever comes second
    sees what the first committed (e.g. an edit after a merge finds the tombstone). ``FOR NO KEY
    UPDATE``, not ``FOR UPDATE``: rows inserted or updated elsewhere that merely point at the identity
    (label events, faces, review items) take ``FOR KEY SHARE`` on it, and a full ``FOR UPDATE`` would
    make those writers wait on us while we wait on their rows (a deadlock under concurrent review).
    """
    ids = sorted(set(ids))
    rows = {
        identity.pk: identity
        for identity in Identity.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    }
    missing = sorted(set(ids) - set(rows))
    if missing:
        raise NotFound(f"No identity with id {', '.join(map(str, missing))}.")
    return rows


class AnnotatorsAddCandidatesOnly(DomainError):
    status_code = 403
    code = "forbidden"


def identity_create(
    *,
    name: str,
    role: str = Identity.Role.CANDIDATE,
    popularity_rank: int | None = None,
    aliases: list[str] | None = None,
    notes: str = "",
    user: Actor = None,
) -> Identity:
    """A new identity. The rule for who may: admins create any; annotators (who meet people missing from
    the list while reviewing) create candidates only, without a popularity rank; an admin promotes them."""
    if (
        user is not None
        and not roles.is_admin(user)
        and (role != Identity.Role.CANDIDATE or popularity_rank is not None)
    ):
        raise AnnotatorsAddCandidatesOnly(
            "Annotators may add an identity as a candidate only (no rank); an admin makes it a VIP."
        )
    name = name.strip()
    try:
        with transaction.atomic():
            return Identity.objects.create(
                name=name, role=role, popularity_rank=popularity_rank, aliases=aliases or [], notes=notes
            )
    except IntegrityError as exc:
        raise Conflict(f"An identity named '{name}' already exists.") from exc


EDITABLE_FIELDS = ("name", "aliases", "popularity_rank", "role", "notes")


def identity_update(*, identity_id: int, user: Actor = None, **fields: Any) -> Identity:
    """Edit an identity's own fields (rename, aliases, rank, role, notes) and record the edit.

    The row is locked (``identities_lock``, the lock merge takes) and re-read, so an edit racing
    a merge either commits before it (the merge then sees the edit) or finds the tombstone and is
    refused (``IdentityMerged``, 409). Each field that really changes goes into one
    ``IdentityEvent`` (who, when, from, to); an edit that changes nothing writes nothing.
    """
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise InvalidTransition(
            f"Field(s) {', '.join(unknown)} cannot be edited; editable: {', '.join(EDITABLE_FIELDS)}."
        )
    if "name" in fields:
        fields["name"] = fields["name"].strip()
    with transaction.atomic():
        identity = identities_lock(ids=[identity_id])[identity_id]
        identity_require_active(identity, action="edit")
        changes = {}
        for name, value in fields.items():
            old = getattr(identity, name)
            if value != old:
                changes[name] = {"from": list(old) if name == "aliases" else old, "to": value}
                setattr(identity, name, value)
        if not changes:
            return identity
        try:
            with transaction.atomic():
                identity.save(update_fields=[*changes, "updated_at"])
        except IntegrityError as exc:
            raise Conflict(f"An identity named '{identity.name}' already exists.") from exc
        IdentityEvent.objects.create(identity=identity, user=recorded_user(user), changes=changes)
        return identity


def identities_get_or_create(*, names: list[str], role: str = Identity.Role.CANDIDATE) -> dict[str, Identity]:
    """The identities with these names, creating the missing ones in bulk (import by folder name).

    A name that was merged into another identity resolves to that one, so importing a folder under
    an old name labels its faces with the person they belong to, never with a tombstone.
    """
    names = sorted({name.strip() for name in names if name.strip()})
    existing = {identity.name: identity for identity in Identity.objects.filter(name__in=names)}
    missing = [Identity(name=name, role=role) for name in names if name not in existing]
    Identity.objects.bulk_create(missing, ignore_conflicts=True)
    found = Identity.objects.filter(name__in=names).select_related("merged_into")
    return {identity.name: identity.merged_into or identity for identity in found}
