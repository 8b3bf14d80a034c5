"""Quality control in review's leases and decisions (``FACECURATOR_REVIEW_CHECKS``, the
:class:`webapp.review.checks.ReviewChecks` in force): gold faces mixed into a lease and scored rather than
applied (:mod:`.gold`), decisions held until a second annotator agrees and second opinions settled
(:mod:`.agreement`), flagged annotators kept from giving second opinions (and, with
FACECURATOR_HOLD_FLAGGED, their label changes held); and undoing an admin's bulk accept or discard of
held decisions when review's undo is asked for it (:mod:`.held`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q

from webapp.core import roles
from webapp.core.exceptions import Conflict
from webapp.faces.services import LabelChange
from webapp.identities.models import Identity
from webapp.review.checks import FaceNow
from webapp.review.models import Decision, Item, Queue
from webapp.review.services import Action, DecisionRequest, NotYourDecision

from . import agreement, gold, held
from . import selectors as quality_selectors
from .models import GoldItem, SecondOpinion


class FlaggedSecondOpinion(Conflict):
    code = "flagged_second_opinion"


def _flagged(user: User, *, admin: bool | None = None) -> bool:
    """Whether this annotator's gold accuracy flags them (admins never are). A flagged annotator gives
    no second opinions; with FACECURATOR_HOLD_FLAGGED their own label changes are held too. ``admin``:
    whether the user is an admin, when the caller knows already (each asking reads the user's groups)."""
    return bool(
        getattr(user, "pk", None)
        and not (roles.is_admin(user) if admin is None else admin)
        and quality_selectors.annotator_flagged(user_id=user.pk)
    )


class QualityPage:
    """The checks on one page of decisions: gold items are scored, not applied; a decision on an item served
    for a second opinion agrees (applies), is overruled by an admin or, against a flagged annotator, by an
    answer the run backs (applies), or disputes (goes to the admins); a label change that needs a second
    opinion waits for one, unless the run already agrees with it."""

    def __init__(
        self,
        *,
        user: User,
        items: Mapping[int, Item],
        requests: list[DecisionRequest],
        faces: Mapping[int, FaceNow],
        identities: dict[int, Identity],
    ) -> None:
        self.user, self.faces, self.identities = user, faces, identities
        self.opinions = agreement.second_opinion_items(item_ids=items)  # items served for a second opinion
        self.gold_ids = gold.gold_item_ids(item_ids=items)  # a decision on a gold face is scored, not applied
        asked = {Action.CONFIRM} if "confirm_likely_wrong" in settings.FACECURATOR_SECOND_OPINION else set()
        if set(agreement.NAMING) & set(settings.FACECURATOR_SECOND_OPINION):
            asked |= {Action.RELABEL, Action.UNKNOWN}  # the run may already agree (FACECURATOR_MODEL_AGREES)
        self.model = agreement.faces_model_view(items=[items[r.item_id] for r in requests if r.action in asked])
        self.flagged_first: set[int] | None = None  # first annotators of the page's second opinions flagged now
        self.opinion_views: dict[int, agreement.ModelView | None] | None = None  # the run's view, by opinion item
        self.admin = roles.is_admin(user)  # once per page: each asking reads the user's groups
        if self.opinions and not self.admin and getattr(user, "pk", None):
            # whether the user is flagged and which first annotators are, in one query
            self.flagged_first = quality_selectors.annotators_flagged(user_ids=self._first_users() | {user.pk})
            self.flagged = user.pk in self.flagged_first
        else:
            self.flagged = _flagged(user, admin=self.admin) if settings.FACECURATOR_HOLD_FLAGGED else False
        self.held: dict[int, tuple] = {}  # item id: the label its decision proposes, waiting for a second opinion
        self.kinds: dict[int, str] = {}
        self.agreed: list[int] = []
        self.disputed: list[int] = []
        self.overruled: list[int] = []

    def judge(self, *, item: Item, request: DecisionRequest, change: LabelChange | None) -> LabelChange | None:
        if item.pk in self.gold_ids:
            change = None
        if item.pk in self.opinions and request.action != Action.SKIP and self.flagged:
            raise FlaggedSecondOpinion(
                f"Item {item.pk} (face {item.face_id}) waits for a second opinion, which must come from someone "
                f"whose gold accuracy is not flagged; take another one.",
                extra={"item": item.pk},
            )
        if item.pk in self.opinions and request.action != Action.SKIP:
            _, face_identity, _ = self.faces[item.face_id]
            if agreement.agrees(
                opinion=self.opinions[item.pk],
                action=request.action,
                face_identity_id=face_identity,
                identity_id=item.identity_id if request.action == Action.ACCEPT else request.identity_id,
            ):
                self.agreed.append(item.pk)
            elif self.admin or self._backed_against_flagged(item=item, request=request, face_identity=face_identity):
                # an admin's answer settles it; so does one the run backs against a flagged annotator
                self.overruled.append(item.pk)
            else:
                self.disputed.append(item.pk)
                change = None
        elif change is not None and (
            kind := agreement.second_opinion_needed(
                user=self.user,
                action=request.action,
                face_role=self.faces[item.face_id][2],
                to_identity=self.identities.get(request.identity_id)
                if request.action == Action.RELABEL and request.identity_id is not None
                else None,
                very_likely_wrong=request.action == Action.CONFIRM
                and agreement.very_likely_wrong(p_wrong=view.p_wrong if (view := self.model.get(item.pk)) else None),
                model_agrees=agreement.model_agrees(
                    view=self.model.get(item.pk),
                    identity_id=request.identity_id if request.action == Action.RELABEL else None,
                ),
                flagged=self.flagged and settings.FACECURATOR_HOLD_FLAGGED,
                admin=self.admin,
            )
        ):
            proposal = agreement.verdict(
                action=request.action,
                face_identity_id=self.faces[item.face_id][1],
                identity_id=item.identity_id if request.action == Action.ACCEPT else request.identity_id,
            )
            assert proposal is not None  # only decisions that change a label wait for a second opinion
            self.held[item.pk] = proposal
            self.kinds[item.pk] = kind
            change = None
        return change

    def _first_flagged(self, user_id: int | None) -> bool:
        if self.flagged_first is None:  # asked once for every first annotator of the page, not once each
            self.flagged_first = quality_selectors.annotators_flagged(user_ids=self._first_users())
        return user_id is not None and user_id in self.flagged_first

    def _first_users(self) -> set[int]:
        return {o.first_user_id for o in self.opinions.values() if o.first_user_id is not None}

    def _opinion_view(self, opinion: SecondOpinion) -> agreement.ModelView | None:
        if self.opinion_views is None:  # read once for every second opinion of the page
            self.opinion_views = agreement.opinions_model_view(opinions=list(self.opinions.values()))
        return self.opinion_views.get(opinion.item_id)

    def _backed_against_flagged(self, *, item: Item, request: DecisionRequest, face_identity: int | None) -> bool:
        """FACECURATOR_OVERRULE_FLAGGED: this answer differs from a flagged annotator's held decision and
        the latest run backs it (:func:`agreement.model_backs`)."""
        opinion = self.opinions[item.pk]
        return bool(
            settings.FACECURATOR_OVERRULE_FLAGGED
            and self._first_flagged(opinion.first_user_id)
            and agreement.model_backs(
                view=self._opinion_view(opinion),
                action=request.action,
                identity_id=item.identity_id if request.action == Action.ACCEPT else request.identity_id,
                face_identity_id=face_identity,
            )
        )

    def unsettled(self) -> set[int]:
        return self.gold_ids | set(self.held) | set(self.disputed)

    def settle(self, *, decisions: list[Decision], settled_face_ids: list[int]) -> None:
        agreement.second_opinions_open(
            decisions=[d for d in decisions if d.item_id in self.held],
            proposals=self.held,
            kinds=self.kinds,
            shown={face: identity for face, (_, identity, _) in self.faces.items()},
        )
        agreement.second_opinions_settle(agreed=self.agreed, disputed=self.disputed, overruled=self.overruled)
        gold.gold_faces_promote(face_ids=settled_face_ids)


class QualityChecks:
    """Gold faces in every lease; second opinions served only to annotators who may give them."""

    def lease_hidden(self, *, queue: Queue, user: User) -> Q:
        flagged = bool(queue.payload.get("second_opinion")) and _flagged(user)
        return Q(pk__in=GoldItem.objects.values("item_id")) | Q(
            pk__in=agreement.items_hidden_from(user=user, flagged=flagged)
        )

    def lease_mix(self, *, queue: Queue, user: User, fresh: list[Item]) -> list[Item]:
        kept, gold_items = gold.gold_items_mix(queue=queue, user=user, fresh=fresh)
        return sorted(kept + gold_items, key=lambda item: -item.score)

    def present(self, *, items: list[Item]) -> list[Item]:
        return gold.items_present(items=items)

    def page(
        self,
        *,
        user: User,
        items: Mapping[int, Item],
        requests: list[DecisionRequest],
        faces: Mapping[int, FaceNow],
        identities: dict[int, Identity],
    ) -> QualityPage:
        return QualityPage(user=user, items=items, requests=requests, faces=faces, identities=identities)

    def undo(self, *, operation: uuid.UUID, user: User) -> dict | None:
        """An admin's bulk accept or discard of one annotator's held decisions (:mod:`.held`)."""
        if not held.held_settled_by(operation):
            return None
        if not roles.is_admin(user):
            raise NotYourDecision("Only admins may undo a bulk accept or discard of held decisions.")
        return held.held_decisions_settle_undo(operation=operation, user=user)
