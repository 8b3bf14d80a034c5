"""Agreement where it matters: decisions that change a VIP's training data wait for a second annotator.

Which decisions wait is ``FACECURATOR_SECOND_OPINION``, per kind of decision (:func:`decision_kind`):

* ``relabel_vip``: a VIP's face relabelled as another VIP (the default, alone);
* ``relabel_vip_other``: a VIP's face relabelled as a person who is not a VIP;
* ``unknown_vip``: a VIP's face called an unknown person;
* ``not_a_face_vip``: a VIP's face called not a face;
* ``confirm_likely_wrong``: a confirm of a face's label that the latest run ranks as very likely
  wrong: its ``p_wrong`` (:func:`ml.label_quality.score_label_errors`, the calibrated probability
  that the label is wrong, which the run stores on its "likely wrong" items) is at least
  ``FACECURATOR_VERY_LIKELY_WRONG`` (0.9).

A relabel or unknown the latest run already agrees with does not wait: the run puts the old label at
p_wrong >= ``FACECURATOR_VERY_LIKELY_WRONG`` and suggests that identity at a posterior of at least
``FACECURATOR_MODEL_AGREES`` (0.5; :func:`model_agrees`), so the model is the second opinion.

And with ``FACECURATOR_HOLD_FLAGGED``, every label-changing decision of a flagged annotator (kind
``flagged_annotator``). Admins' decisions never wait. A held decision changes no label; the face is
served blind (with its current label) in the open "Second opinions" queue, never to the annotator who
decided first nor to a flagged annotator (agreeing with a careless annotator is no check). A second decision that says the same applies the label; one that differs applies
nothing, and the face goes to the admins' "Disagreements" queue, unless an admin made it: an admin's
decision settles the question (``overruled``) and applies. With ``FACECURATOR_OVERRULE_FLAGGED`` (on),
so does a second decision that differs from a flagged annotator's when the latest run backs it
(:func:`model_backs`): the annotator in good standing and the model against the flagged one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from webapp.core import roles
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.review.models import Decision, Item, Queue

from .models import SecondOpinion

VIP = Identity.Role.VIP
FLAGGED = "flagged_annotator"
NAMING = ("relabel_vip", "relabel_vip_other", "unknown_vip")  # kinds that say who the face is


def decision_kind(
    *, action: str, from_role: str | None, to_identity: Identity | None, very_likely_wrong: bool = False
) -> str | None:
    """Which kind of second opinion a decision could need (None: none). ``from_role``: the role of the
    face's identity now; ``very_likely_wrong``: the face's label is very likely wrong (a confirm)."""
    if action == "confirm":
        return "confirm_likely_wrong" if very_likely_wrong else None
    if from_role != VIP:
        return None
    if action == "relabel" and to_identity is not None:
        return "relabel_vip" if to_identity.role == VIP else "relabel_vip_other"
    if action == "unknown" or (action == "relabel" and to_identity is None):
        return "unknown_vip"
    if action == "not_a_face":
        return "not_a_face_vip"
    return None


def second_opinion_needed(
    *,
    user,
    action: str,
    face_role: str | None,
    to_identity: Identity | None,
    very_likely_wrong: bool = False,
    model_agrees: bool = False,
    flagged: bool = False,
    admin: bool | None = None,
) -> str | None:
    """Why this decision waits for a second annotator (its kind), or None when it applies at once.
    ``model_agrees``: the latest run already says the face is who this decision says (:func:`model_agrees`):
    the model is the second opinion, for the kinds that name who the face is (relabels, unknown).
    ``flagged``: the user is a flagged annotator (held only with FACECURATOR_HOLD_FLAGGED, model or not).
    ``admin``: whether the user is an admin, when the caller knows (a page of decisions asks once,
    not once per decision: each asking reads the user's groups)."""
    if roles.is_admin(user) if admin is None else admin:
        return None
    kind = decision_kind(
        action=action, from_role=face_role, to_identity=to_identity, very_likely_wrong=very_likely_wrong
    )
    if kind is not None and kind in settings.FACECURATOR_SECOND_OPINION and not (model_agrees and kind in NAMING):
        return kind
    if flagged and settings.FACECURATOR_HOLD_FLAGGED:
        return FLAGGED
    return None


@dataclass(frozen=True)
class ModelView:
    """What the latest run's label-error scorer (:func:`ml.label_quality.score_label_errors`) said about
    a face, as its "likely wrong" item stores it: ``p_wrong`` of the label it had, and ``hint``, the
    identity it probably is (None: not a VIP) with its posterior (None when the item has no hint)."""

    p_wrong: float
    hint_identity: int | None = None
    hint_probability: float | None = None

    @classmethod
    def from_payload(cls, payload: dict) -> ModelView:
        hint = payload.get("hint") if isinstance(payload.get("hint"), dict) else None
        probability = hint.get("probability") if hint else None
        return cls(
            p_wrong=float(payload["p_wrong"]),
            hint_identity=hint.get("identity") if hint else None,
            hint_probability=float(probability) if probability is not None else None,
        )


def faces_model_view(*, items: list[Item]) -> dict[int, ModelView]:
    """The latest run's view of these items' faces, by item id: from the item itself (a run's "likely
    wrong" item, a chunk's verification item) or from the face's open item in an open "likely wrong"
    queue. A face in neither was not worth a look (p_wrong under the queue's 0.5), or ranked past the
    queue's FACECURATOR_REVIEW_MAX_ITEMS (the least likely wrong of those): left out, not very likely
    wrong, and the model said nothing about who it is."""
    found = {
        item.pk: ModelView.from_payload(item.payload)
        for item in items
        if isinstance(item.payload, dict) and item.payload.get("p_wrong") is not None
    }
    rest = {item.face_id: item.pk for item in items if item.pk not in found}
    if rest:
        for face_id, payload in (
            Item.objects.filter(
                face_id__in=list(rest), state=Item.State.OPEN, queue__kind=Queue.Kind.LIKELY_WRONG, queue__is_open=True
            )
            .filter(payload__p_wrong__isnull=False)
            .order_by("-id")
            .values_list("face_id", "payload")
        ):
            if rest[face_id] not in found:
                found[rest[face_id]] = ModelView.from_payload(payload)
    return found


def very_likely_wrong(*, p_wrong: float | None) -> bool:
    """The one rule: a label is very likely wrong when its p_wrong is at least FACECURATOR_VERY_LIKELY_WRONG."""
    return p_wrong is not None and p_wrong >= settings.FACECURATOR_VERY_LIKELY_WRONG


def model_agrees(*, view: ModelView | None, identity_id: int | None) -> bool:
    """The one rule for "the model already agrees": the latest run's scorer puts the face's label at
    p_wrong >= FACECURATOR_VERY_LIKELY_WRONG and says the face is ``identity_id`` (the identity a
    relabel or unknown gives it; None: not a VIP) with a posterior of at least FACECURATOR_MODEL_AGREES
    (0.5: likelier than every other answer together). The annotator and the model then both say the old
    label is wrong and who the face is instead."""
    return (
        view is not None
        and very_likely_wrong(p_wrong=view.p_wrong)
        and view.hint_probability is not None
        and view.hint_identity == identity_id
        and view.hint_probability >= settings.FACECURATOR_MODEL_AGREES
    )


def opinion_model_view(*, opinion: SecondOpinion) -> ModelView | None:
    """The latest run's view of a held decision's face: from the item the first decision was made on
    (which that decision closed), else from the face's open "likely wrong" item."""
    item = opinion.decision.item
    payload = item.payload if item is not None else None
    if isinstance(payload, dict) and payload.get("p_wrong") is not None:
        return ModelView.from_payload(payload)
    return faces_model_view(items=[opinion.item]).get(opinion.item_id)


def opinions_model_view(*, opinions: list[SecondOpinion]) -> dict[int, ModelView | None]:
    """:func:`opinion_model_view` of many held decisions at once, by the opinion's item id: the faces
    whose first item says nothing are looked up in one query."""
    views: dict[int, ModelView | None] = {}
    rest = []
    # with the items they were made and served on (second_opinion_items reads the opinions alone)
    loaded = SecondOpinion.objects.select_related("decision__item", "item").in_bulk([o.pk for o in opinions])
    for opinion in (loaded[o.pk] for o in opinions):
        item = opinion.decision.item
        payload = item.payload if item is not None else None
        if isinstance(payload, dict) and payload.get("p_wrong") is not None:
            views[opinion.item_id] = ModelView.from_payload(payload)
        else:
            rest.append(opinion.item)
    found = faces_model_view(items=rest) if rest else {}
    for item in rest:
        views[item.pk] = found.get(item.pk)
    return views


def model_backs(*, view: ModelView | None, action: str, identity_id: int | None, face_identity_id: int | None) -> bool:
    """Whether the latest run backs this answer about a face labelled ``face_identity_id``: a relabel or
    unknown it agrees with (:func:`model_agrees`), or a confirm of a label it puts at p_wrong <= 1 -
    FACECURATOR_VERY_LIKELY_WRONG (as sure the label is right as "very likely wrong" is sure it is not)."""
    said = verdict(action=action, identity_id=identity_id, face_identity_id=face_identity_id)
    if view is None or said is None or said[1] != Face.Status.VERIFIED:
        return False
    if said[0] == face_identity_id:
        return view.p_wrong <= 1 - settings.FACECURATOR_VERY_LIKELY_WRONG
    return model_agrees(view=view, identity_id=said[0])


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
    if action == "exclude":
        return face_identity_id, Face.Status.EXCLUDED
    return None


def second_opinion_items(*, item_ids) -> dict[int, SecondOpinion]:
    """Pending second opinions among these items, by item id (the rows alone: a page of decisions asks
    on every post and most find none)."""
    found: dict[int, SecondOpinion] = {}
    for so in SecondOpinion.objects.filter(item_id__in=list(item_ids), state=SecondOpinion.State.PENDING).order_by(
        "id"
    ):
        found.setdefault(so.item_id, so)
    return found


def agrees(*, opinion: SecondOpinion, action: str, identity_id: int | None, face_identity_id: int | None) -> bool:
    said = verdict(action=action, identity_id=identity_id, face_identity_id=face_identity_id)
    return said == (opinion.proposed_identity_id, opinion.proposed_status)


def _open_queue(flag: str, title: str) -> Queue:
    queue = Queue.objects.filter(kind=Queue.Kind.SENT, is_open=True, **{f"payload__{flag}": True}).first()
    return queue or Queue.objects.create(kind=Queue.Kind.SENT, title=title, payload={flag: True})


def _open_items_for(queue: Queue, *, faces: dict[int, int | None], reason: str) -> dict[int, Item]:
    """The queue's open item of each face (``faces``: face id -> the identity the item shows), made for the
    faces that have none: one read and one insert, not two queries per face."""
    found = {
        item.face_id: item for item in Item.objects.filter(queue=queue, face_id__in=list(faces), state=Item.State.OPEN)
    }
    made = Item.objects.bulk_create(
        [
            Item(
                queue=queue,
                face_id=face_id,
                identity_id=identity_id,
                score=1.0,
                payload={"reason": reason, "suggestions": []},
            )
            for face_id, identity_id in faces.items()
            if face_id not in found
        ]
    )
    return found | {item.face_id: item for item in made}


def second_opinions_open(
    *, decisions: list[Decision], proposals: dict[int, tuple], kinds: dict[int, str], shown: Mapping[int, int | None]
) -> list[SecondOpinion]:
    """Hold these decisions: a blind item for a second annotator each. ``proposals``: item id -> label;
    ``kinds``: item id -> why it waits (:func:`second_opinion_needed`); ``shown``: face id -> the identity
    its item shows (the face's own: a held decision changed no label)."""
    if not decisions:
        return []
    queue = _open_queue("second_opinion", "Second opinions")
    items = _open_items_for(queue, faces={d.face_id: shown[d.face_id] for d in decisions}, reason="second opinion")
    opinions = []
    for decision in decisions:
        assert decision.item_id is not None  # a decision held for a second opinion was made on an item
        identity_id, status = proposals[decision.item_id]
        opinions.append(
            SecondOpinion(
                decision=decision,
                first_user=decision.user,
                face_id=decision.face_id,
                proposed_identity_id=identity_id,
                proposed_status=status,
                item=items[decision.face_id],
                kind=kinds[decision.item_id],
            )
        )
    return SecondOpinion.objects.bulk_create(opinions)


def second_opinions_settle(*, agreed: list[int], disputed: list[int], overruled: Sequence[int] = ()) -> None:
    """Close pending opinions by item id: agreed ones are done, overruled ones (an admin decided
    otherwise) too; disputed ones go to the admins."""
    now = timezone.now()
    SecondOpinion.objects.filter(item_id__in=agreed, state=SecondOpinion.State.PENDING).update(
        state=SecondOpinion.State.AGREED, settled_at=now
    )
    SecondOpinion.objects.filter(item_id__in=list(overruled), state=SecondOpinion.State.PENDING).update(
        state=SecondOpinion.State.OVERRULED, settled_at=now
    )
    if not disputed:
        return
    queue = _open_queue("admins_only", "Disagreements (admins)")
    opinions = list(
        SecondOpinion.objects.filter(item_id__in=disputed, state=SecondOpinion.State.PENDING).order_by("id")
    )
    if not opinions:
        return
    faces: dict[int, int | None] = {}
    for opinion in opinions:  # a face's first opinion names the identity its dispute shows
        faces.setdefault(opinion.face_id, opinion.proposed_identity_id)
    disputes = _open_items_for(queue, faces=faces, reason="two annotators disagreed")
    for opinion in opinions:
        opinion.state, opinion.settled_at, opinion.dispute_item = (
            SecondOpinion.State.DISPUTED,
            now,
            disputes[opinion.face_id],
        )
    SecondOpinion.objects.bulk_update(opinions, ["state", "settled_at", "dispute_item"])


def items_hidden_from(*, user, flagged: bool = False):
    """Items this user must not be served: second opinions on their own decisions, and every second
    opinion when ``flagged`` (a second opinion must come from an annotator in good standing)."""
    pending = SecondOpinion.objects.filter(state=SecondOpinion.State.PENDING)
    return (pending if flagged else pending.filter(first_user=user)).values("item_id")
