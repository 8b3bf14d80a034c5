"""Writes on review: building queues, leasing items to annotators, recording decisions, undoing them.

Every label change a decision makes goes through :func:`webapp.faces.services.faces_relabel`
(one LabelEvent per changed face, refused with 409 when the face changed since it was served).
Quality control (gold faces, second opinions) takes part through :mod:`webapp.review.checks`.
Queue builders live in :mod:`webapp.review.builders`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone
from rest_framework import status

from webapp.core import roles
from webapp.core.exceptions import Conflict, DomainError, InvalidTransition, NotFound
from webapp.core.roles import Actor, recorded_user
from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import UNCHANGED, LabelChange, faces_relabel, label_events_undo
from webapp.identities.models import Identity

from .checks import review_checks
from .models import Decision, Item, Queue


class StaleDecision(Conflict):
    code = "stale"


class ItemLeasedToSomeoneElse(Conflict):
    code = "leased"


class ItemAlreadyClosed(Conflict):
    code = "already_decided"


class NotYourDecision(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"


Action = Decision.Action
# What each action does to the face: (identity, status); UNCHANGED keeps it. None = no label change.
_VERIFIED = Face.Status.VERIFIED


@dataclass(frozen=True)
class DecisionRequest:
    """One decision about one item. ``identity`` is needed by relabel; ``version`` is the face
    version the client saw (default: the version the item was served with)."""

    item_id: int
    action: str
    identity_id: int | None = None
    version: int | None = None


@dataclass
class DecisionOutcome:
    operation: uuid.UUID
    decisions: list[Decision] = field(default_factory=list)
    events: list[LabelEvent] = field(default_factory=list)


# --- Leasing -------------------------------------------------------------------------------

MAX_SENT_FACES = 1000


def queue_create_from_faces(*, face_ids: list[int], user: Actor, title: str = "") -> Queue:
    """A review queue of chosen faces (the faces screen's "send to review"), served in the order given;
    each item claims the face's current identity. Unknown ids are refused, naming them."""
    ordered = list(dict.fromkeys(face_ids))
    if not ordered:
        raise DomainError("Choose at least one face to send to review.")
    if len(ordered) > MAX_SENT_FACES:
        raise DomainError(f"At most {MAX_SENT_FACES} faces can be sent to review at once ({len(ordered)} chosen).")
    identities = dict(Face.objects.filter(pk__in=ordered).values_list("pk", "identity_id"))
    missing = [face_id for face_id in ordered if face_id not in identities]
    if missing:
        raise NotFound(f"No face with id {', '.join(map(str, missing[:10]))}.")
    who = getattr(user, "username", "") or "someone"
    with transaction.atomic():
        queue = Queue.objects.create(
            kind=Queue.Kind.SENT,
            created_by=recorded_user(user),
            title=(title.strip() or f"{len(ordered)} {'face' if len(ordered) == 1 else 'faces'} sent by {who}")[:200],
        )
        Item.objects.bulk_create(
            [
                Item(
                    queue=queue,
                    face_id=face_id,
                    identity_id=identities[face_id],
                    score=float(len(ordered) - position),
                    payload={"reason": f"sent to review by {who}", "suggestions": []},
                )
                for position, face_id in enumerate(ordered)
            ],
            batch_size=1000,
        )
    return queue


def queue_next_items(*, queue: Queue, user: User, limit: int = 20) -> list[Item]:
    """Lease up to ``limit`` items of a queue to ``user``, most likely wrong first.

    The user's own unexpired leases come back first (a reload loses nothing) and are renewed;
    the rest are open items nobody holds (or whose lease expired). Rows are taken with
    ``SELECT ... FOR UPDATE SKIP LOCKED``, so two annotators asking at the same moment never get
    the same item (SQLite serialises the transactions instead). Items the user skipped are not
    served to them again.
    """
    if limit < 1:
        raise InvalidTransition("Ask for at least one item.")
    now = timezone.now()
    until = now + timedelta(seconds=settings.FACECURATOR_LEASE_SECONDS)
    with transaction.atomic():
        mine = list(
            Item.objects.select_for_update()
            .filter(queue=queue, state=Item.State.OPEN, leased_to=user, leased_until__gt=now)
            .order_by("-score", "id")[:limit]
        )
        fresh: list[Item] = []
        if len(mine) < limit:
            if not queue.is_open:
                pass  # a closed queue hands out no new work; leases already held still come back
            elif queue.payload.get("second_review_of") == getattr(user, "pk", None):
                pass  # a second review is for someone else than the annotator who decided first
            elif queue.payload.get("admins_only") and not roles.is_admin(user):
                pass  # disagreements between two annotators are settled by an admin
            else:
                checks = review_checks()
                # the user's skips (the outer query keeps to this queue: no join to items here)
                skipped = Decision.objects.filter(
                    user=user, action=Action.SKIP, undone=False, item__isnull=False
                ).values("item_id")
                fresh = list(
                    Item.objects.select_for_update(skip_locked=True)
                    .filter(queue=queue, state=Item.State.OPEN)
                    .filter(Q(leased_to__isnull=True) | Q(leased_until__lte=now))
                    .exclude(pk__in=skipped)
                    .exclude(checks.lease_hidden(queue=queue, user=user))
                    .order_by("-score", "id")[: limit - len(mine)]
                )
                fresh = checks.lease_mix(queue=queue, user=user, fresh=fresh)
        items = mine + fresh
        versions = dict(Face.objects.filter(pk__in=[item.face_id for item in items]).values_list("pk", "version"))
        served: dict[int, list[int]] = defaultdict(list)  # face version -> items: one UPDATE each, not a CASE per item
        for item in items:
            item.leased_to, item.leased_until, item.served_version = user, until, versions[item.face_id]
            served[item.served_version].append(item.pk)
        for version, pks in served.items():
            Item.objects.filter(pk__in=pks).update(leased_to=user, leased_until=until, served_version=version)
    return items


def leases_release(*, queue: Queue, user: User) -> int:
    """Give back every item of a queue leased to ``user`` (leaving the screen on purpose)."""
    return Item.objects.filter(queue=queue, leased_to=user, state=Item.State.OPEN).update(
        leased_to=None, leased_until=None
    )


# --- Decisions -----------------------------------------------------------------------------


def _label_change(
    item: Item, request: DecisionRequest, identities: dict[int, Identity], version: int, reason: str
) -> LabelChange | None:
    """What the decision does to the face's label (``identities``: those relabels name and accepted
    items suggest, by id)."""
    action, face = request.action, item.face_id
    if action == Action.CONFIRM:
        return LabelChange(face, UNCHANGED, _VERIFIED, version, reason)
    if action == Action.RELABEL:
        assert request.identity_id is not None  # a relabel names its identity (checked on the way in)
        return LabelChange(face, identities[request.identity_id], _VERIFIED, version, reason)
    if action == Action.ACCEPT:
        assert item.identity_id is not None  # an item without a suggestion is refused before
        return LabelChange(face, identities[item.identity_id], _VERIFIED, version, reason)
    if action == Action.UNKNOWN:
        return LabelChange(face, None, _VERIFIED, version, reason)
    if action == Action.NOT_A_FACE:
        return LabelChange(face, UNCHANGED, Face.Status.NOT_A_FACE, version, reason)
    if action == Action.EXCLUDE:
        return LabelChange(face, UNCHANGED, Face.Status.EXCLUDED, version, reason)
    return None  # skip, reject: the label stays as it is


def _check_requests(requests: list[DecisionRequest]) -> None:
    if not requests:
        raise InvalidTransition("Send at least one decision.")
    ids = [request.item_id for request in requests]
    if len(set(ids)) != len(ids):
        raise InvalidTransition("An item appears twice in one page of decisions.")
    for request in requests:
        if request.action not in Action.values:
            raise InvalidTransition(f"Unknown action '{request.action}'; expected one of {', '.join(Action.values)}.")
        if request.action == Action.RELABEL and request.identity_id is None:
            raise InvalidTransition(f"Item {request.item_id}: relabel needs the identity to label the face with.")


def decisions_apply(*, user: User, requests: list[DecisionRequest]) -> DecisionOutcome:
    """Record a page of decisions at once: all of them, or none.

    Refused with 409 when an item was already decided, is leased to another annotator, or its
    face changed since it was served (every stale item is listed, so the client reloads just
    those). Label changes go through ``faces_relabel`` under one operation id, which undoes the
    page. Deciding a face closes its other open items (in any queue) as resolved elsewhere;
    skip releases the item for others, reject closes only this suggestion.
    """
    _check_requests(requests)
    operation = uuid.uuid4()
    now = timezone.now()
    with transaction.atomic():
        # Locked in id order, so two pages sharing items never wait on each other in a cycle. The queue's
        # kind (for the label events' reason) comes as a column: not a queue and an identity per item.
        items = (
            Item.objects.select_for_update(of=("self",))
            .annotate(queue_kind=F("queue__kind"))
            .order_by("pk")
            .in_bulk([request.item_id for request in requests])
        )
        missing = [request.item_id for request in requests if request.item_id not in items]
        if missing:
            raise NotFound(f"No review item with id {', '.join(map(str, missing))}.")
        named = {request.identity_id for request in requests if request.identity_id is not None}
        accepted = {items[r.item_id].identity_id for r in requests if r.action == Action.ACCEPT}
        found = Identity.objects.in_bulk((named | accepted) - {None})
        unknown = sorted(named - set(found))
        if unknown:
            raise NotFound(f"No identity with id {', '.join(map(str, unknown))}.")
        identities = {pk: found[pk] for pk in named}
        faces_now = {
            pk: (version, identity_id, role)
            for pk, version, identity_id, role in Face.objects.filter(
                pk__in=[item.face_id for item in items.values()]
            ).values_list("pk", "version", "identity_id", "identity__role")
        }
        versions = {pk: row[0] for pk, row in faces_now.items()}
        checks = review_checks().page(user=user, items=items, requests=requests, faces=faces_now, identities=identities)

        seen: dict[int, int] = {}  # face id: the item it came in
        stale, changes = [], []
        for request in requests:
            item = items[request.item_id]
            _check_item_open(item, user, now)
            if request.action == Action.ACCEPT and item.identity_id is None:
                raise InvalidTransition(f"Item {item.pk} suggests no identity to accept; relabel it instead.")
            expected = request.version if request.version is not None else item.served_version
            if expected is None:
                raise InvalidTransition(
                    f"Item {item.pk} was never served; take it from its queue first, or send the face version you saw."
                )
            if expected != versions[item.face_id]:
                stale.append(
                    {
                        "item": item.pk,
                        "face": item.face_id,
                        "version_seen": expected,
                        "version_now": versions[item.face_id],
                    }
                )
                continue
            if item.face_id in seen:
                raise InvalidTransition(
                    f"Face {item.face_id} appears in items {seen[item.face_id]} and {item.pk} of one page."
                )
            seen[item.face_id] = item.pk
            reason = f"review ({item.queue_kind}): {request.action}"
            change = checks.judge(
                item=item, request=request, change=_label_change(item, request, found, expected, reason)
            )
            if change is not None:
                changes.append(change)
        if stale:
            listed = ", ".join(f"face {s['face']} (item {s['item']})" for s in stale)
            raise StaleDecision(
                f"{len(stale)} of these faces changed since they were shown to you: {listed}. Reload them and "
                f"decide again; nothing of this page was saved.",
                extra={"stale": stale},
            )

        # One call for the whole page (each change carries its reason): one lock of the identities and
        # faces, one UPDATE per new status, one INSERT of the events, whatever the mix of actions.
        events = faces_relabel(changes=changes, user=user, operation=operation)
        event_by_face = {event.face_id: event.pk for event in events}

        by = recorded_user(user)
        decisions = Decision.objects.bulk_create(
            [
                Decision(
                    item_id=item.pk,
                    face_id=item.face_id,
                    user=by,
                    action=request.action,
                    identity_id=(
                        request.identity_id
                        if request.action == Action.RELABEL
                        else item.identity_id
                        if request.action in (Action.ACCEPT, Action.REJECT)
                        else None
                    ),
                    served_version=item.served_version,
                    label_event_id=event_by_face.get(item.face_id),
                    operation=operation,
                )
                for request in requests
                for item in (items[request.item_id],)
            ]
        )
        unsettled = checks.unsettled()
        _close_items(items, requests, operation, unsettled)
        checks.settle(
            decisions=decisions,
            settled_face_ids=[
                items[r.item_id].face_id for r in requests if r.item_id not in unsettled and r.action != Action.SKIP
            ],
        )
    return DecisionOutcome(operation=operation, decisions=decisions, events=events)


def _check_item_open(item: Item, user: User, now: datetime) -> None:
    if item.state != Item.State.OPEN:
        what = "already decided" if item.state == Item.State.DECIDED else "resolved in another queue"
        raise ItemAlreadyClosed(
            f"Item {item.pk} (face {item.face_id}) was {what}; reload your page.", extra={"item": item.pk}
        )
    if item.leased_to_id not in (None, user.pk) and item.leased_until and item.leased_until > now:
        assert item.leased_to is not None
        raise ItemLeasedToSomeoneElse(
            f"Item {item.pk} (face {item.face_id}) is being reviewed by {item.leased_to.get_username()} "
            f"until {timezone.localtime(item.leased_until):%H:%M}; take another one.",
            extra={"item": item.pk},
        )


def _close_items(
    items: Mapping[int, Item], requests: list[DecisionRequest], operation: uuid.UUID, unsettled: set[int]
) -> None:
    """Close decided items, and the face's items in other queues unless this decision left its label
    unsettled (a gold face, or a decision waiting for a second opinion)."""
    skipped = [r.item_id for r in requests if r.action == Action.SKIP]
    decided = [r.item_id for r in requests if r.action != Action.SKIP]
    if skipped:
        Item.objects.filter(pk__in=skipped).update(leased_to=None, leased_until=None)
    if decided:
        Item.objects.filter(pk__in=decided).update(state=Item.State.DECIDED, closed_by_operation=operation)
    settled_faces = [
        items[r.item_id].face_id
        for r in requests
        if r.action not in (Action.SKIP, Action.REJECT) and r.item_id not in unsettled
    ]
    if settled_faces:
        Item.objects.filter(face_id__in=settled_faces, state=Item.State.OPEN).exclude(pk__in=decided).update(
            state=Item.State.OBSOLETE, closed_by_operation=operation, leased_to=None, leased_until=None
        )


def decision_operation_undo(*, operation: uuid.UUID, user: User) -> dict:
    """Undo a page of decisions: restore the faces' labels (new LabelEvents) and reopen the items.

    Annotators undo their own pages; admins anyone's. Refused with 409 when a face changed after
    the decision (undoing would overwrite a later decision). The reopened items are leased back
    to the user who undoes, so they can decide again at once. An operation of the review checks' own
    (an admin's bulk accept or discard of held decisions) is undone by them.
    """
    theirs = review_checks().undo(operation=operation, user=user)
    if theirs is not None:
        return theirs
    with transaction.atomic():
        decisions = list(Decision.objects.select_for_update().filter(operation=operation, undone=False))
        if not decisions:
            raise NotFound(f"No decisions to undo in operation {operation}.")
        if not roles.is_admin(user) and any(decision.user_id != user.pk for decision in decisions):
            raise NotYourDecision("Annotators may only undo their own decisions.")
        events = list(LabelEvent.objects.filter(pk__in=[d.label_event_id for d in decisions if d.label_event_id]))
        undo_events = label_events_undo(events=events, user=user) if events else []
        Decision.objects.filter(pk__in=[d.pk for d in decisions]).update(undone=True)
        until = timezone.now() + timedelta(seconds=settings.FACECURATOR_LEASE_SECONDS)
        own = Item.objects.filter(pk__in=[d.item_id for d in decisions if d.item_id]).update(
            state=Item.State.OPEN,
            closed_by_operation=None,
            leased_to=user,
            leased_until=until,
            served_version=Subquery(Face.objects.filter(pk=OuterRef("face_id")).values("version")[:1]),
        )
        others = Item.objects.filter(closed_by_operation=operation).update(
            state=Item.State.OPEN, closed_by_operation=None
        )
    return {
        "operation": operation,
        "undone_decisions": len(decisions),
        "undone_label_events": len(undo_events),
        "reopened_items": own + others,
    }
