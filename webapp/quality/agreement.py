"""Agreement where it matters: decisions that change a VIP's training data wait for a second annotator.

Which decisions wait is ``FACECURATOR_SECOND_OPINION``: ``relabel_vip`` (a VIP's face relabelled as
another VIP), ``unknown_vip`` (a VIP's face called an unknown person), ``not_a_face_vip``. Admins'
decisions never wait. A held decision changes no label; the face is served blind (with its current
label) in the open "Second opinions" queue, never to the annotator who decided first. A second
decision that says the same applies the label; one that differs applies nothing, and the face goes
to the admins' "Disagreements" queue.
"""
from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from webapp.core import roles
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.review.models import Decision, Item, Queue

from .models import SecondOpinion

VIP = Identity.Role.VIP


def _kind(action: str, from_role: str | None, to_identity: Identity | None) -> str | None:
    if from_role != VIP:
        return None
    if action == "relabel" and to_identity is not None and to_identity.role == VIP:
        return "relabel_vip"
    if action == "unknown" or (action == "relabel" and to_identity is None):
        return "unknown_vip"
    if action == "not_a_face":
        return "not_a_face_vip"
    return None


def second_opinion_needed(*, user, action: str, face_role: str | None, to_identity: Identity | None) -> bool:
    """Whether this decision waits for a second annotator (``face_role``: the face's identity's role now)."""
    kind = _kind(action, face_role, to_identity)
    return kind is not None and kind in settings.FACECURATOR_SECOND_OPINION and not roles.is_admin(user)


def verdict(*, action: str, identity_id: int | None, face_identity_id: int | None) -> tuple | None:
    """The label a decision says the face should have (None: it says nothing about it)."""
    if action in ("confirm", "accept"):
        return (identity_id if action == "accept" else face_identity_id), Face.Status.VERIFIED
    if action == "relabel":
        return identity_id, Face.Status.VERIFIED
    if action == "unknown":
        return None, Face.Status.VERIFIED
    if action == "not_a_face":
        return face_identity_id, Face.Status.NOT_A_FACE
    return None


def second_opinion_items(*, item_ids) -> dict[int, SecondOpinion]:
    """Pending second opinions among these items, by item id."""
    found: dict[int, SecondOpinion] = {}
    for so in SecondOpinion.objects.filter(item_id__in=list(item_ids), state=SecondOpinion.State.PENDING).order_by("id"):
        found.setdefault(so.item_id, so)
    return found


def agrees(*, opinion: SecondOpinion, action: str, identity_id: int | None, face_identity_id: int | None) -> bool:
    said = verdict(action=action, identity_id=identity_id, face_identity_id=face_identity_id)
    return said == (opinion.proposed_identity_id, opinion.proposed_status)


def _open_queue(flag: str, title: str) -> Queue:
    queue = Queue.objects.filter(kind=Queue.Kind.SENT, is_open=True, **{f"payload__{flag}": True}).first()
    return queue or Queue.objects.create(kind=Queue.Kind.SENT, title=title, payload={flag: True})


def second_opinions_open(*, decisions: list[Decision], proposals: dict[int, tuple]) -> list[SecondOpinion]:
    """Hold these decisions: a blind item for a second annotator each. ``proposals``: item id -> label."""
    if not decisions:
        return []
    queue = _open_queue("second_opinion", "Second opinions")
    faces = dict(Face.objects.filter(pk__in=[d.face_id for d in decisions]).values_list("pk", "identity_id"))
    opinions = []
    for decision in decisions:
        item = Item.objects.filter(queue=queue, face_id=decision.face_id, state=Item.State.OPEN).first() or \
            Item.objects.create(queue=queue, face_id=decision.face_id, identity_id=faces[decision.face_id],
                                score=1.0, payload={"reason": "second opinion", "suggestions": []})
        identity_id, status = proposals[decision.item_id]
        opinions.append(SecondOpinion.objects.create(
            decision=decision, first_user=decision.user, face_id=decision.face_id, proposed_identity_id=identity_id,
            proposed_status=status, item=item))
    return opinions


def second_opinions_settle(*, agreed: list[int], disputed: list[int]) -> None:
    """Close pending opinions by item id: agreed ones are done; disputed ones go to the admins."""
    now = timezone.now()
    SecondOpinion.objects.filter(item_id__in=agreed, state=SecondOpinion.State.PENDING).update(
        state=SecondOpinion.State.AGREED, settled_at=now)
    if not disputed:
        return
    queue = _open_queue("admins_only", "Disagreements (admins)")
    for opinion in SecondOpinion.objects.filter(item_id__in=disputed, state=SecondOpinion.State.PENDING).order_by("id"):
        dispute = Item.objects.filter(queue=queue, face_id=opinion.face_id, state=Item.State.OPEN).first() or \
            Item.objects.create(queue=queue, face_id=opinion.face_id, identity_id=opinion.proposed_identity_id,
                                score=1.0, payload={"reason": "two annotators disagreed", "suggestions": []})
        opinion.state, opinion.settled_at, opinion.dispute_item = SecondOpinion.State.DISPUTED, now, dispute
        opinion.save(update_fields=["state", "settled_at", "dispute_item"])


def items_hidden_from(*, user):
    """Items this user must not be served: second opinions on their own decisions."""
    return SecondOpinion.objects.filter(first_user=user, state=SecondOpinion.State.PENDING).values("item_id")
