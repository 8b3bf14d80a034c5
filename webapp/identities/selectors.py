"""Reads on identities."""

from __future__ import annotations

from django.db.models import Count, F, Q, QuerySet

from .models import Identity, IdentityEvent, IdentityOperation, IdentitySuggestion

#: Face statuses whose faces do not show the identity (left out of counts and of suggestions).
NOT_SHOWING = ("not_a_face", "excluded")


def identities_with_counts() -> QuerySet[Identity]:
    """Identities with their face counts by status and split, in one query."""
    live = ~Q(faces__status__in=["not_a_face", "excluded"])
    return (
        Identity.objects.annotate(
            face_count=Count("faces", filter=live, distinct=True),
            verified_count=Count("faces", filter=Q(faces__status="verified"), distinct=True),
            train_count=Count("faces", filter=live & Q(faces__split="train"), distinct=True),
            val_count=Count("faces", filter=live & Q(faces__split="val"), distinct=True),
            test_count=Count("faces", filter=live & Q(faces__split="test"), distinct=True),
        )
        .select_related("merged_into")
        .order_by(*(Identity._meta.ordering or ()))
    )  # aggregation queries drop Meta.ordering


def identities_active() -> QuerySet[Identity]:
    """Identities that are not merge tombstones: the ones to label with, train on and promote.

    A merged identity keeps its row (history points at it) with ``merged_into`` set; it must never
    be part of a VIP set, a distractor set or a picker again. Use this instead of
    ``Identity.objects`` wherever "the identities" means the current ones.
    """
    return Identity.objects.filter(merged_into__isnull=True)


def identity_resolve(*, identity: Identity) -> Identity:
    """The identity a tombstone redirects to (itself when it is active); follows chains of merges."""
    seen = {identity.pk}
    while identity.merged_into_id is not None:
        identity = Identity.objects.get(pk=identity.merged_into_id)
        if identity.pk in seen:  # a cycle cannot be written by the services; stop rather than loop
            break
        seen.add(identity.pk)
    return identity


def identity_events_for_listing(*, identity_id: int) -> QuerySet[IdentityEvent]:
    """An identity's edits (rename, aliases, rank, role, notes), newest first, with who made them."""
    return IdentityEvent.objects.filter(identity_id=identity_id).select_related("user")


def identity_operations_for_listing(
    *, identity_id: int | None = None, kind: str | None = None, undone: bool | None = None
) -> QuerySet[IdentityOperation]:
    """Merges and splits, newest first; optionally those touching one identity (as source or target)."""
    queryset = IdentityOperation.objects.select_related("source", "target", "user", "undone_by")
    if identity_id is not None:
        queryset = queryset.filter(Q(source_id=identity_id) | Q(target_id=identity_id))
    if kind:
        queryset = queryset.filter(kind=kind)
    if undone is not None:
        queryset = queryset.filter(undone_at__isnull=not undone)
    return queryset


def identity_operations_blocking_undo(*, operation: IdentityOperation) -> QuerySet[IdentityOperation]:
    """Later operations, not undone, on either identity of ``operation``: they must be undone first."""
    ids = [operation.source_id, operation.target_id]
    return IdentityOperation.objects.filter(
        Q(source_id__in=ids) | Q(target_id__in=ids),
        undone_at__isnull=True,
        pk__gt=operation.pk,
    ).order_by("-pk")


def identity_suggestions_for_listing(
    *, kind: str | None = None, status: str | None = None, identity_id: int | None = None
) -> QuerySet[IdentitySuggestion]:
    """Suggestions most likely first. Open ones about a merged (tombstone) identity are left out:
    they were overtaken by a merge and the next computation drops them."""
    queryset = IdentitySuggestion.objects.select_related("identity", "other", "decided_by")
    if identity_id is not None:
        queryset = queryset.filter(Q(identity_id=identity_id) | Q(other_id=identity_id))
    if kind:
        queryset = queryset.filter(kind=kind)
    if status:
        queryset = queryset.filter(status=status)
    if status == IdentitySuggestion.Status.OPEN:
        queryset = queryset.filter(identity__merged_into__isnull=True).exclude(other__merged_into__isnull=False)
    return queryset.order_by("-score", "id")


def vips_current() -> QuerySet[Identity]:
    """The VIP set today in class order: by chunk, then popularity, then name."""
    return Identity.objects.filter(role=Identity.Role.VIP, merged_into__isnull=True).order_by(
        F("chunk").asc(nulls_last=True), F("popularity_rank").asc(nulls_last=True), "name", "id"
    )
