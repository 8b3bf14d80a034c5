"""Acting on one annotator's held decisions in bulk: an admin accepts or discards every decision of
theirs that waits for a second opinion (second opinions, or held because they are flagged), optionally
only those made in a time range, in one transaction and one operation id; and undoes that operation.

- Accept applies each proposed label as the admin's decision on the face's "Second opinions" item:
  a label event each (who: the admin, when, from, to), the item closed, the face's other open items
  closed as resolved elsewhere. A face whose label changed since the annotator decided (someone else
  relabelled it) is left as it is, still waiting, and listed in ``changed_faces``. Several held
  decisions of the annotator on one face: the newest one's label applies.
- Discard applies nothing: the held decisions are marked undone and the items they were made on open
  again in their queues for anyone to decide, their "Second opinions" items closed.
- Undo (``POST /api/v1/review/operations/{operation}/undo/``, like a page of decisions): the label
  events are undone by new ones (refused with 409 when a face changed since), the items closed by the
  operation open again, discarded decisions stand again, and every decision settled by it waits again.

A label accepted in bulk is not an admin's verification: it never makes the face gold.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webapp.core.exceptions import Conflict, InvalidTransition, NotFound
from webapp.core.roles import Actor, recorded_user
from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import LabelChange, faces_relabel, label_events_undo
from webapp.identities.models import Identity
from webapp.review.models import Decision, Item

from .models import SecondOpinion

State = SecondOpinion.State


def _pending_of(*, annotator_id: int, since: datetime | None, until: datetime | None):
    rows = SecondOpinion.objects.filter(first_user_id=annotator_id, state=State.PENDING)
    if since is not None:
        rows = rows.filter(decision__created_at__gte=since)
    if until is not None:
        rows = rows.filter(decision__created_at__lt=until)
    return rows


def _action(opinion: SecondOpinion, face_identity_id: int | None) -> tuple[str, int | None]:
    """The decision an admin would have made to give the face the proposed label: (action, identity)."""
    if opinion.proposed_status == Face.Status.NOT_A_FACE:
        return Decision.Action.NOT_A_FACE, None
    if opinion.proposed_status == Face.Status.EXCLUDED:
        return Decision.Action.EXCLUDE, None
    if opinion.proposed_identity_id == face_identity_id:
        return Decision.Action.CONFIRM, None
    if opinion.proposed_identity_id is None:
        return Decision.Action.UNKNOWN, None
    return Decision.Action.RELABEL, opinion.proposed_identity_id


def _still_waited_on(item_ids: set[int], settling: set[int]) -> set[int]:
    """Items among ``item_ids`` that another pending second opinion (not being settled) still needs."""
    return set(
        SecondOpinion.objects.filter(item_id__in=item_ids, state=State.PENDING)
        .exclude(pk__in=settling)
        .values_list("item_id", flat=True)
    )


def held_decisions_settle(
    *, annotator_id: int, accept: bool, user: Actor, since: datetime | None = None, until: datetime | None = None
) -> dict:
    """Accept (``accept=True``) or discard every held decision of one annotator, made in ``[since,
    until)`` when given, in one transaction under one operation id (see the module docstring)."""
    if since is not None and until is not None and since >= until:
        raise InvalidTransition("The time range is empty: 'since' must come before 'until'.")
    annotator = get_user_model().objects.filter(pk=annotator_id).first()
    if annotator is None:
        raise NotFound(f"No user with id {annotator_id}.")
    operation, now = uuid.uuid4(), timezone.now()
    with transaction.atomic():
        opinions = list(
            _pending_of(annotator_id=annotator_id, since=since, until=until)
            .select_for_update(of=("self",))
            .select_related("decision")
            .order_by("-decision__created_at", "-id")
        )
        if not opinions:
            raise InvalidTransition(f"No decision of {annotator.get_username()} is waiting in that time range.")
        faces = {
            pk: (version, identity_id)
            for pk, version, identity_id in Face.objects.select_for_update()
            .filter(pk__in={o.face_id for o in opinions})
            .values_list("pk", "version", "identity_id")
        }
        changed = sorted({o.face_id for o in opinions if accept and faces[o.face_id][0] != o.decision.served_version})
        settling = [o for o in opinions if o.face_id not in changed]
        result = {"operation": operation, "settled": len(settling), "label_events": 0, "reopened_items": 0}
        if accept:
            result["label_events"] = _accept(settling, faces, annotator, user, operation)
        else:
            result["reopened_items"] = _discard(settling, operation)
        SecondOpinion.objects.filter(pk__in=[o.pk for o in settling]).update(
            state=State.ACCEPTED if accept else State.DISCARDED,
            settled_at=now,
            settled_by=recorded_user(user),
            settled_operation=operation,
        )
    return {**result, "changed_faces": changed}


def _accept(opinions: list[SecondOpinion], faces: dict, annotator: User, user: Actor, operation: uuid.UUID) -> int:
    newest: dict[int, SecondOpinion] = {}
    for opinion in opinions:  # newest first: the newest held decision on a face is the one applied
        newest.setdefault(opinion.face_id, opinion)
    identities = Identity.objects.in_bulk({o.proposed_identity_id for o in newest.values()} - {None})
    events = faces_relabel(
        changes=[
            LabelChange(
                face_id,
                identities[o.proposed_identity_id] if o.proposed_identity_id else None,
                o.proposed_status,
                faces[face_id][0],
            )
            for face_id, o in newest.items()
        ],
        user=user,
        reason=f"held decision of {annotator.get_username()} accepted in bulk",
        operation=operation,
    )
    by_face = {event.face_id: event for event in events}
    decisions = []
    for face_id, opinion in newest.items():
        action, identity_id = _action(opinion, faces[face_id][1])
        decisions.append(
            Decision(
                item_id=opinion.item_id,
                face_id=face_id,
                user=recorded_user(user),
                action=action,
                identity_id=identity_id,
                served_version=faces[face_id][0],
                label_event=by_face.get(face_id),
                operation=operation,
            )
        )
    Decision.objects.bulk_create(decisions)
    own = {o.item_id for o in opinions}
    waited_on = _still_waited_on(own, {o.pk for o in opinions})
    Item.objects.filter(pk__in=own - waited_on, state=Item.State.OPEN).update(
        state=Item.State.DECIDED, closed_by_operation=operation, leased_to=None, leased_until=None
    )
    # the faces are settled now: their other open items are resolved elsewhere (never another
    # annotator's second opinion or an admins' disagreement, which wait on their own)
    Item.objects.filter(face_id__in=list(newest), state=Item.State.OPEN).exclude(pk__in=own).exclude(
        Q(queue__payload__second_opinion=True) | Q(queue__payload__admins_only=True)
    ).update(state=Item.State.OBSOLETE, closed_by_operation=operation, leased_to=None, leased_until=None)
    return len(events)


def _discard(opinions: list[SecondOpinion], operation: uuid.UUID) -> int:
    decisions = [o.decision for o in opinions]
    Decision.objects.filter(pk__in=[d.pk for d in decisions]).update(undone=True)
    reopened = 0
    for d in decisions:  # the item each was made on (held decisions always are), if it still closes it
        if d.item_id is not None:
            reopened += Item.objects.filter(
                pk=d.item_id, state=Item.State.DECIDED, closed_by_operation=d.operation
            ).update(state=Item.State.OPEN, closed_by_operation=None, leased_to=None, leased_until=None)
    own = {o.item_id for o in opinions}
    waited_on = _still_waited_on(own, {o.pk for o in opinions})
    Item.objects.filter(pk__in=own - waited_on, state=Item.State.OPEN).update(
        state=Item.State.OBSOLETE, closed_by_operation=operation, leased_to=None, leased_until=None
    )
    return reopened


def held_settled_by(operation: uuid.UUID) -> bool:
    """Whether this operation is a bulk accept or discard of held decisions."""
    return SecondOpinion.objects.filter(settled_operation=operation).exists()


def held_decisions_settle_undo(*, operation: uuid.UUID, user: Actor) -> dict:
    """Undo a bulk accept or discard: every decision it settled waits for a second opinion again."""
    with transaction.atomic():
        opinions = list(
            SecondOpinion.objects.select_for_update()
            .filter(settled_operation=operation, state__in=[State.ACCEPTED, State.DISCARDED])
            .select_related("decision")
        )
        if not opinions:
            raise NotFound(f"Nothing to undo in operation {operation}.")
        events = list(LabelEvent.objects.filter(operation=operation, undone_by__isnull=True))
        undo_events = label_events_undo(events=events, user=user) if events else []
        Decision.objects.filter(operation=operation, undone=False).update(undone=True)
        discarded = [o.decision for o in opinions if o.state == State.DISCARDED]
        for d in discarded:  # the items the discard reopened are closed by their decision again
            if d.item_id is None:
                continue
            if Item.objects.filter(pk=d.item_id).exclude(state=Item.State.OPEN).exists():
                raise Conflict(
                    f"Face {d.face_id} was decided again after the discard; undo that decision first.",
                    extra={"face": d.face_id},
                )
            Item.objects.filter(pk=d.item_id).update(
                state=Item.State.DECIDED, closed_by_operation=d.operation, leased_to=None, leased_until=None
            )
        Decision.objects.filter(pk__in=[d.pk for d in discarded]).update(undone=False)
        reopened = Item.objects.filter(closed_by_operation=operation).update(
            state=Item.State.OPEN, closed_by_operation=None, leased_to=None, leased_until=None
        )
        SecondOpinion.objects.filter(pk__in=[o.pk for o in opinions]).update(
            state=State.PENDING, settled_at=None, settled_by=None, settled_operation=None
        )
    return {
        "operation": operation,
        "undone_decisions": len(opinions),
        "undone_label_events": len(undo_events),
        "reopened_items": reopened,
    }
