"""Writes on faces: every label change goes through here and leaves a LabelEvent."""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from django.db import transaction
from django.db.models import BigIntegerField, Case, F, Value, When
from django.utils import timezone

from webapp.core.exceptions import Conflict, InvalidTransition, NotFound
from webapp.core.roles import Actor, recorded_user
from webapp.identities.models import Identity
from webapp.identities.services import identities_lock, identity_require_active

from .models import Face, LabelEvent


class _Unchanged(enum.Enum):
    """The type of :data:`UNCHANGED`, a label change that keeps the face's identity."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = _Unchanged.UNCHANGED


class StaleFace(Conflict):
    code = "stale"


@dataclass(frozen=True)
class LabelChange:
    """The wanted label of one face; ``identity`` may be UNCHANGED, None (unknown) or an Identity.
    ``reason``: this change's own reason for its label event (default: the batch's)."""

    face_id: int
    identity: Identity | None | _Unchanged = UNCHANGED
    status: str | None = None
    expected_version: int | None = None
    reason: str | None = None


_STATUSES = frozenset(Face.Status.values)


def _check_status(status: str) -> None:
    if status not in _STATUSES:
        raise InvalidTransition(f"Unknown status '{status}'; expected one of {', '.join(Face.Status.values)}.")


def faces_relabel(
    *, changes: list[LabelChange], user: Actor = None, reason: str = "", operation: uuid.UUID | None = None
) -> list[LabelEvent]:
    """Apply label changes to many faces in one transaction; one LabelEvent per face that changed,
    with ``reason`` unless the change names its own (a page of review decisions: one call, whatever
    its actions).

    A change whose ``expected_version`` differs from the face's current version is refused with
    409 (the face changed since the client saw it) and nothing of the batch is written. A change
    that leaves a face as it is writes no event.
    """
    if not changes:
        return []
    operation = operation or (uuid.uuid4() if len(changes) > 1 else None)
    ids = [change.face_id for change in changes]
    if len(set(ids)) != len(ids):
        raise InvalidTransition("A face appears twice in one batch of changes.")
    with transaction.atomic():
        # The identities faces move to are locked first (merge's order: identities, then faces) and
        # checked as they are now, not as the caller loaded them: a relabel racing a merge of its
        # target either commits first (the merge then moves the face too) or finds the tombstone.
        targets = identities_lock(ids={c.identity.pk for c in changes if isinstance(c.identity, Identity)})
        for identity in targets.values():
            identity_require_active(identity, action="label with")
        # The locked faces as rows of the four columns a label change reads, not model instances (a
        # review page holds 40; building them and their identities cost more CPU than the SQL).
        faces: dict[int, tuple[int | None, str, int]] = {
            pk: (identity_id, status, version)
            for pk, identity_id, status, version in Face.objects.select_for_update()
            .filter(pk__in=ids)
            .order_by("pk")
            .values_list("pk", "identity_id", "status", "version")
        }
        missing = sorted(set(ids) - set(faces))
        if missing:
            raise NotFound(f"No face with id {', '.join(map(str, missing))}.")
        events, now, by = [], timezone.now(), recorded_user(user)
        by_status: dict[str, list[int]] = defaultdict(list)  # new status -> faces
        moved_to: dict[int, int | None] = {}  # face -> the identity it moves to (relabel, unknown)
        for change in changes:
            pk = change.face_id
            identity_id, status, version = faces[pk]
            if change.expected_version is not None and change.expected_version != version:
                raise StaleFace(
                    f"Face {pk} changed since it was shown (version {change.expected_version}, now "
                    f"{version}); reload it and decide again.",
                    extra={"face": pk, "version": version},
                )
            if change.identity is UNCHANGED:
                new_identity_id = identity_id
            else:
                identity_require_active(change.identity, action="label with")
                new_identity_id = change.identity.pk if change.identity is not None else None
            new_status = change.status or status
            _check_status(new_status)
            if new_identity_id == identity_id and new_status == status:
                continue
            events.append(
                LabelEvent(
                    face_id=pk,
                    user=by,
                    from_identity_id=identity_id,
                    to_identity_id=new_identity_id,
                    from_status=status,
                    to_status=new_status,
                    reason=(reason if change.reason is None else change.reason)[:300],
                    operation=operation,
                )
            )
            if new_identity_id != identity_id:
                moved_to[pk] = new_identity_id
            by_status[new_status].append(pk)
            faces[pk] = (new_identity_id, new_status, version + 1)
        # One UPDATE per new status (a review page is one), with a CASE only over the faces that
        # move; bulk_update's CASE per face and field cost more CPU than the rest of the request.
        # The rows are locked above, so version + 1 in SQL is the version set in memory.
        for status, pks in by_status.items():
            moves = [When(pk=pk, then=Value(moved_to[pk])) for pk in pks if pk in moved_to]
            Face.objects.filter(pk__in=pks).update(
                status=status,
                version=F("version") + 1,
                updated_at=now,
                **(
                    {"identity_id": Case(*moves, default=F("identity_id"), output_field=BigIntegerField())}
                    if moves
                    else {}
                ),
            )
        return LabelEvent.objects.bulk_create(events)


def face_relabel(
    *,
    face: Face,
    user: Actor = None,
    identity: Identity | None | _Unchanged = UNCHANGED,
    status: str | None = None,
    reason: str = "",
    expected_version: int | None = None,
) -> LabelEvent | None:
    """Change one face's identity and/or status; returns the event, or None if nothing changed."""
    events = faces_relabel(changes=[LabelChange(face.pk, identity, status, expected_version)], user=user, reason=reason)
    if not events:
        return None
    event = events[0]
    event.face = face  # the caller's face and identity, so showing the event reads no row again
    if isinstance(identity, Identity):
        event.to_identity = identity
    return event


def label_events_undo(*, events: list[LabelEvent], user: Actor = None) -> list[LabelEvent]:
    """Undo events by writing new ones that restore each face's previous label.

    Refused with 409 when an event is already undone, when its face changed after it (undoing
    would silently overwrite somebody's later decision), or when the identity it would put back
    was merged since (``IdentityMerged``, with ``merged_into``): the face is not silently moved to
    the identity that survived; label it with that one instead. (Undoing the merge itself first
    reactivates the identity, then puts its faces back.) The identities are locked before the
    faces, in the order merge locks them, so an undo racing a merge never lands on a tombstone.
    """
    with transaction.atomic():
        events = list(LabelEvent.objects.select_for_update().filter(pk__in=[e.pk for e in events]).order_by("-id"))
        already = [e.pk for e in events if LabelEvent.objects.filter(undoes=e).exists()]
        if already:
            raise Conflict(f"Label event {already[0]} is already undone.")
        restoring = identities_lock(ids={e.from_identity_id for e in events if e.from_identity_id is not None})
        for identity in restoring.values():
            identity_require_active(identity, action="label the face with")
        faces = {
            f.pk: f for f in Face.objects.select_for_update().filter(pk__in={e.face_id for e in events}).order_by("pk")
        }
        restored, undo_events = [], []
        operation = uuid.uuid4() if len(events) > 1 else None
        now = timezone.now()
        for event in events:
            face = faces[event.face_id]
            if face.identity_id != event.to_identity_id or face.status != event.to_status:
                raise Conflict(
                    f"Face {face.pk} changed after event {event.pk}; undo the later change first.",
                    extra={"face": face.pk},
                )
            undo_events.append(
                LabelEvent(
                    face=face,
                    user=recorded_user(user),
                    from_identity_id=face.identity_id,
                    to_identity_id=event.from_identity_id,
                    from_status=face.status,
                    to_status=event.from_status,
                    reason=f"undo of event {event.pk}",
                    undoes=event,
                    operation=operation,
                )
            )
            face.identity_id, face.status, face.version = event.from_identity_id, event.from_status, face.version + 1
            face.updated_at = now  # bulk_update skips auto_now
            restored.append(face)
        Face.objects.bulk_update(restored, ["identity", "status", "version", "updated_at"])
        return LabelEvent.objects.bulk_create(undo_events)


def label_event_undo(*, event: LabelEvent, user: Actor = None) -> LabelEvent:
    return label_events_undo(events=[event], user=user)[0]


def operation_undo(*, operation: uuid.UUID, user: Actor = None) -> list[LabelEvent]:
    """Undo every event of one batch, merge or split, newest first."""
    events = list(LabelEvent.objects.filter(operation=operation, undone_by__isnull=True))
    if not events:
        raise NotFound(f"No undoable label events in operation {operation}.")
    return label_events_undo(events=events, user=user)


def faces_reassign_splits(
    *, seed: int, proportions: tuple[float, float, float], progress: Callable[[float, str], None] | None = None
) -> dict:
    """Re-apply the split rule to every group, e.g. after an admin changed the seed or proportions.

    Faces move group by group (never one face of a group alone), with one UPDATE per split and
    batch of groups. Returns how many faces each split holds and how many moved.
    """
    from ml.splits import split_for_group

    group_keys = list(Face.objects.order_by().values_list("group_key", flat=True).distinct())
    moved = 0
    batch = 2000
    for start in range(0, len(group_keys), batch):
        by_split: dict[str, list[str]] = {}
        for key in group_keys[start : start + batch]:
            by_split.setdefault(split_for_group(key, seed=seed, proportions=proportions), []).append(key)
        with transaction.atomic():
            for split, keys in by_split.items():
                moved += (
                    Face.objects.filter(group_key__in=keys)
                    .exclude(split=split)
                    .update(split=split, updated_at=timezone.now())
                )
        if progress:
            progress(min(1.0, (start + batch) / max(len(group_keys), 1)), f"{start + batch} groups checked")
    from django.db.models import Count

    counts = dict(Face.objects.order_by().values_list("split").annotate(n=Count("id")))
    return {"groups": len(group_keys), "moved": moved, "faces_per_split": counts}
