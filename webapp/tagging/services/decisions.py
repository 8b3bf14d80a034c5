"""People's decisions on tags: confirm (the supporting faces labelled with the identity), reject,
and undo."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from webapp.core import roles
from webapp.core.exceptions import Conflict, DomainError, InvalidTransition, NotFound
from webapp.core.roles import Actor, recorded_user
from webapp.faces.models import Face, LabelEvent
from webapp.faces.services import LabelChange, faces_relabel, label_events_undo
from webapp.identities.models import Identity

from .. import selectors
from ..models import VideoTag


class TagAlreadyDecided(Conflict):
    code = "tag_decided"


@dataclass
class TagDecision:
    tag: VideoTag
    events: list = field(default_factory=list)  # the LabelEvents a confirmation wrote
    skipped: list[dict] = field(default_factory=list)  # supporting faces left as they were, and why


def _live_identity(identity: Identity) -> Identity:
    live_id = selectors.live_identity_ids(identity_ids=[identity.pk])[identity.pk]
    return identity if live_id == identity.pk else Identity.objects.get(pk=live_id)


def _lock_tag(tag: VideoTag) -> VideoTag:
    """The tag's row, locked for this transaction (with its identity), or 404 when a re-tag replaced it."""
    locked = VideoTag.objects.select_for_update().select_related("identity").filter(pk=tag.pk).first()
    if locked is None:
        raise NotFound("This tag no longer exists: the video was re-tagged. Reload the review queue.")
    return locked


def _record_review(tag: VideoTag, status: str, *, user: Actor, note: str, also_saved: tuple[str, ...] = ()) -> None:
    tag.status = status
    tag.reviewed_by = recorded_user(user)
    tag.reviewed_at = timezone.now()
    tag.review_note = note[:300]
    tag.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", *also_saved])


def tag_confirm(*, tag: VideoTag, user: Actor = None, face_ids: list[int] | None = None, note: str = "") -> TagDecision:
    """An annotator confirms that the tag's identity is in the video: the tag becomes confirmed and its
    supporting faces (all, or the chosen ``face_ids`` among them) become verified faces of the identity
    through :func:`faces_relabel` (one LabelEvent each, grouped by the tag's ``label_operation``).

    Faces a person already decided otherwise (verified as someone else, not a face, excluded) are
    left alone and listed in ``skipped``. Confirming a confirmed tag changes nothing; a rejected
    tag answers 409.
    """
    with transaction.atomic():
        tag = _lock_tag(tag)
        if tag.status == VideoTag.Status.CONFIRMED:
            return TagDecision(tag=tag)
        if tag.status == VideoTag.Status.REJECTED:
            raise TagAlreadyDecided(_decided_message(tag), extra={"tag": tag.pk, "status": tag.status})
        evidence = list(tag.evidence.order_by("rank").values_list("face_id", flat=True))
        chosen = evidence if face_ids is None else [int(pk) for pk in face_ids]
        strangers = sorted(set(chosen) - set(evidence))
        if strangers:
            raise InvalidTransition(
                f"Face {', '.join(map(str, strangers))} does not support tag {tag.pk}; "
                f"choose among its supporting faces."
            )
        identity = _live_identity(tag.identity)
        faces = {face.pk: face for face in Face.objects.select_for_update().filter(pk__in=chosen)}
        changes, skipped = [], []
        for pk in chosen:
            face = faces.get(pk)
            if face is None:
                continue
            if face.status in (Face.Status.NOT_A_FACE, Face.Status.EXCLUDED):
                skipped.append({"face": pk, "reason": f"marked {face.status}"})
            elif face.status == Face.Status.VERIFIED and face.identity_id != identity.pk:
                skipped.append({"face": pk, "reason": f"verified as identity {face.identity_id}"})
            elif not (face.status == Face.Status.VERIFIED and face.identity_id == identity.pk):
                changes.append(
                    LabelChange(
                        face_id=pk, identity=identity, status=Face.Status.VERIFIED, expected_version=face.version
                    )
                )
        operation = uuid.uuid4()
        events = faces_relabel(
            changes=changes,
            user=user,
            operation=operation,
            reason=f"confirmed video tag {tag.pk}: {identity.name} in video {tag.video_id}",
        )
        tag.label_operation = operation if events else None
        _record_review(tag, VideoTag.Status.CONFIRMED, user=user, note=note, also_saved=("label_operation",))
    return TagDecision(tag=tag, events=events, skipped=skipped)


def tag_reject(*, tag: VideoTag, user: Actor = None, note: str = "") -> TagDecision:
    """An annotator says the identity is not in the video: the tag is kept as rejected (so no later
    run proposes it again for this video); faces are left as they are. Rejecting a rejected tag changes
    nothing; a confirmed tag answers 409 (its faces were verified: undo that label operation first)."""
    with transaction.atomic():
        tag = _lock_tag(tag)
        if tag.status == VideoTag.Status.REJECTED:
            return TagDecision(tag=tag)
        if tag.status == VideoTag.Status.CONFIRMED:
            raise TagAlreadyDecided(_decided_message(tag), extra={"tag": tag.pk, "status": tag.status})
        _record_review(tag, VideoTag.Status.REJECTED, user=user, note=note)
    return TagDecision(tag=tag)


class NotYourTagDecision(DomainError):
    status_code = 403
    code = "forbidden"


def tag_decision_undo(*, tag: VideoTag, user: Actor = None) -> TagDecision:
    """Take back a confirmation or a rejection: the tag is proposed again. Undoing a confirmation also
    undoes the label events it wrote (the supporting faces get their earlier labels back, with new
    events); refused with 409 when one of those faces changed since, as any label undo is. Annotators
    undo their own decisions; admins anyone's. A proposed tag answers 409 (nothing to undo)."""
    with transaction.atomic():
        tag = _lock_tag(tag)
        if tag.status == VideoTag.Status.PROPOSED:
            raise Conflict(f"Tag {tag.pk} is not decided: there is nothing to undo.")
        if not roles.is_admin(user) and tag.reviewed_by_id != getattr(user, "pk", None):
            raise NotYourTagDecision("Annotators may only undo their own tag decisions.")
        undone: list = []
        if tag.label_operation:
            events = list(LabelEvent.objects.filter(operation=tag.label_operation, undone_by__isnull=True))
            undone = label_events_undo(events=events, user=user) if events else []
        tag.status = VideoTag.Status.PROPOSED
        tag.reviewed_by, tag.reviewed_at, tag.review_note, tag.label_operation = None, None, "", None
        tag.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note", "label_operation"])
    return TagDecision(tag=tag, events=undone)


def _decided_message(tag: VideoTag) -> str:
    who = tag.reviewed_by.get_username() if tag.reviewed_by else "someone"
    when = tag.reviewed_at.isoformat(timespec="seconds") if tag.reviewed_at else "earlier"
    extra = (
        f" Its faces were verified by label operation {tag.label_operation}; undo that first."
        if tag.label_operation
        else ""
    )
    return f"Tag {tag.pk} was already {tag.status} by {who} at {when}.{extra}"
