"""The checks quality control makes on review: which open items a user is served, and what becomes of each
decision of a page.

Review leases items and records decisions (:mod:`webapp.review.services`). The checks on them are the
business of the app above it, webapp.quality (gold faces mixed into leases, decisions held for a second
opinion, flagged annotators), which review never imports: its checks are the class the setting
``FACECURATOR_REVIEW_CHECKS`` names (``webapp.quality.checks.QualityChecks``), which implements
:class:`ReviewChecks`. :class:`NoChecks` serves every open item and applies every decision.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.db.models import Q
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from webapp.faces.services import LabelChange
    from webapp.identities.models import Identity

    from .models import Decision, Item, Queue
    from .services import DecisionRequest

#: A face as a page of decisions found it, by face id: (version, identity id, identity role).
FaceNow = tuple[int, int | None, str | None]


class PageChecks(Protocol):
    """The checks on one page of decisions, made inside the page's transaction."""

    def judge(self, *, item: Item, request: DecisionRequest, change: LabelChange | None) -> LabelChange | None:
        """The label change this decision makes now: ``change`` (what its action does to the face), or None
        when it waits or only counts; raises a DomainError to refuse the page."""
        ...

    def unsettled(self) -> set[int]:
        """The items judged so far whose decision left the face's label unsettled (the face's other items
        stay open)."""
        ...

    def settle(self, *, decisions: list[Decision], settled_face_ids: list[int]) -> None:
        """After the page's decisions are written: record what waits and what was agreed or disputed;
        ``settled_face_ids`` are the faces whose label the page settled."""
        ...


class ReviewChecks(Protocol):
    def lease_hidden(self, *, queue: Queue, user: User) -> Q:
        """Open items of ``queue`` not to lease to ``user`` (a filter on Item)."""
        ...

    def lease_mix(self, *, queue: Queue, user: User, fresh: list[Item]) -> list[Item]:
        """The items to lease to ``user``: ``fresh`` (open items, most likely wrong first), perhaps with
        items of its own in place of some (already leased to the user), most likely wrong first."""
        ...

    def present(self, *, items: list[Item]) -> list[Item]:
        """The leased items as the annotator is to see them (in memory only)."""
        ...

    def page(
        self,
        *,
        user: User,
        items: Mapping[int, Item],
        requests: list[DecisionRequest],
        faces: Mapping[int, FaceNow],
        identities: dict[int, Identity],
    ) -> PageChecks:
        """The checks on one page of decisions: its items (locked) by id, the faces as they are now and the
        identities its relabels name."""
        ...

    def undo(self, *, operation: uuid.UUID, user: User) -> dict | None:
        """Undo an operation of the checks' own that review's undo is asked for (e.g. an admin settling
        held decisions in bulk), with the result of a page's undo; None when the operation is not theirs."""
        ...


class _NoPageChecks:
    def judge(self, *, item: Item, request: DecisionRequest, change: LabelChange | None) -> LabelChange | None:
        return change

    def unsettled(self) -> set[int]:
        return set()

    def settle(self, *, decisions: list[Decision], settled_face_ids: list[int]) -> None:
        return None


class NoChecks:
    """Every open item is served, every decision applies."""

    def lease_hidden(self, *, queue: Queue, user: User) -> Q:
        return Q(pk__in=[])

    def lease_mix(self, *, queue: Queue, user: User, fresh: list[Item]) -> list[Item]:
        return fresh

    def present(self, *, items: list[Item]) -> list[Item]:
        return items

    def page(
        self,
        *,
        user: User,
        items: Mapping[int, Item],
        requests: list[DecisionRequest],
        faces: Mapping[int, FaceNow],
        identities: dict[int, Identity],
    ) -> PageChecks:
        return _NoPageChecks()

    def undo(self, *, operation: uuid.UUID, user: User) -> dict | None:
        return None


def review_checks() -> ReviewChecks:
    """The checks in force: an instance of the class ``FACECURATOR_REVIEW_CHECKS`` names."""
    checks: ReviewChecks = import_string(settings.FACECURATOR_REVIEW_CHECKS)()
    return checks
