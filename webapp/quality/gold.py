"""Gold faces: which faces become gold, mixing them into review pages, and scoring decisions on them.

- :func:`gold_faces_promote` makes a face gold when its current label was set or confirmed by an
  admin, or by two different annotators (decisions not undone, on the label the face has now).
- :func:`gold_items_mix` replaces some of the fresh items of a page by gold faces (rate
  ``FACECURATOR_GOLD_RATE``), never one the annotator saw within ``FACECURATOR_GOLD_WINDOW_DAYS``
  or decided themselves. A share of them (``FACECURATOR_GOLD_DECOY_SHARE``) is shown with a wrong
  identity taken from the page (or from the other VIPs when the page is about one person). The
  item looks like its neighbours: same queue, score, payload shape.
- :func:`gold_item_ids` tells decisions which items are gold: those change no label.
- :func:`gold_decision_correct` is the one rule that scores a decision against the known answer.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone

from webapp.faces.models import Face, LabelEvent
from webapp.identities.models import Identity
from webapp.review.models import Decision, Item

from .models import GoldFace, GoldItem, SecondOpinion

SETTLED = (Face.Status.VERIFIED, Face.Status.NOT_A_FACE)
AGREEING_ACTIONS = ("confirm", "accept", "relabel", "unknown", "not_a_face")


def admin_user_ids(user_ids) -> set[int]:
    """The admins (superusers or members of the admin group) among ``user_ids``."""
    return set(
        get_user_model()
        .objects.filter(pk__in=list(user_ids), is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name="admin"))
        .values_list("pk", flat=True)
    )


def gold_faces_promote(*, face_ids: list[int]) -> list[GoldFace]:
    """Make gold the faces among ``face_ids`` whose current label is settled; returns the new gold.

    A face is settled when its status is verified or not a face and its current label was set or
    confirmed by an admin (a review decision or a label event), or by two different annotators'
    review decisions. A gold face whose face changed since is given the new answer (and a new
    ``since``) when the new label is settled too.
    """
    if not face_ids:
        return []
    faces: dict[int, tuple[int | None, str, int]] = {
        pk: (identity_id, status, version)
        for pk, identity_id, status, version in Face.objects.filter(pk__in=face_ids, status__in=SETTLED).values_list(
            "pk", "identity_id", "status", "version"
        )
    }
    if not faces:
        return []
    last_event: dict[int, tuple[int, int | None, Any]] = {}  # face id: its newest label event (pk, user, operation)
    for face_id, pk, user_id, operation in (
        LabelEvent.objects.filter(face_id__in=faces)
        .order_by("face_id", "-id")
        .values_list("face_id", "pk", "user_id", "operation")
    ):
        last_event.setdefault(face_id, (pk, user_id, operation))
    decided = list(
        Decision.objects.filter(
            face_id__in=faces,
            undone=False,
            user__isnull=False,
            action__in=AGREEING_ACTIONS,
            item__gold_serve__isnull=True,
        ).values_list("face_id", "user_id", "label_event_id", "served_version")
    )
    users = {user_id for _, user_id, _, _ in decided} | {e[1] for e in last_event.values() if e[1] is not None}
    admins = admin_user_ids(users) if users else set()

    def sources(events: Mapping[int, tuple[int, int | None, Any]]) -> dict[int, str]:
        """The faces settled when each face's newest event is the one in ``events`` (none: not there)."""
        agreeing: dict[int, set[int]] = {pk: set() for pk in faces}
        for face_id, user_id, label_event_id, served_version in decided:
            event = events.get(face_id)
            if (event and label_event_id == event[0]) or (
                label_event_id is None and served_version == faces[face_id][2]
            ):
                agreeing[face_id].add(user_id)
        found: dict[int, str] = {}
        for pk, who in agreeing.items():
            event = events.get(pk)
            if who & admins or (event and event[1] in admins):
                found[pk] = GoldFace.Source.ADMIN
            elif len(who) >= 2:
                found[pk] = GoldFace.Source.AGREEMENT
        return found

    # Most pages settle no face: asked first with every newest event, which can only find more faces
    # than the events that count (below), the page takes no query more than these.
    settled = sources(last_event)
    if not settled:
        return []
    bulk = set(  # an admin accepting an annotator's held decisions in bulk verified none of them
        SecondOpinion.objects.filter(
            settled_operation__in={last_event[pk][2] for pk in settled if pk in last_event and last_event[pk][2]}
        ).values_list("settled_operation", flat=True)
    )
    if bulk:
        settled = sources({face: e for face, e in last_event.items() if e[2] not in bulk})
    existing = {g.face_id: g for g in GoldFace.objects.filter(face_id__in=settled)}
    now, made, fresh, changed = timezone.now(), [], [], []
    for pk, source in settled.items():
        identity_id, status, version = faces[pk]
        gold = existing.get(pk)
        if gold is not None and gold.face_version == version:
            continue
        if gold is None:
            gold = GoldFace(face_id=pk)
            fresh.append(gold)
        else:
            changed.append(gold)
        gold.identity_id, gold.status, gold.face_version = identity_id, status, version
        gold.source, gold.since = source, now
        made.append(gold)
    # one INSERT for the new gold faces and one UPDATE for those given a new answer, not a query per face
    GoldFace.objects.bulk_create(fresh)
    GoldFace.objects.bulk_update(changed, ["identity", "status", "face_version", "source", "since"])
    return made


def gold_faces_refresh(*, batch: int = 2000) -> int:
    """Look at every settled face (e.g. after installing, or for labels set before gold existed)."""
    ids = list(Face.objects.filter(status__in=SETTLED).order_by("pk").values_list("pk", flat=True))
    made = 0
    for start in range(0, len(ids), batch):
        with transaction.atomic():
            made += len(gold_faces_promote(face_ids=ids[start : start + batch]))
    return made


def gold_valid() -> Q:
    """Gold faces still at the version they became gold at."""
    return Q(face__version=F("face_version"))


def gold_item_ids(*, item_ids) -> set[int]:
    return set(GoldItem.objects.filter(item_id__in=list(item_ids)).values_list("item_id", flat=True))


def _sample_from_random_start(rows: QuerySet[GoldFace], *, size: int, rng: random.Random) -> list[GoldFace]:
    """``size`` rows read in key order from a random key on (wrapping round): an index walk that stops
    once it has enough, where ``order_by("?")`` would sort every gold face on every page lease."""
    bounds = GoldFace.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return []
    start = rng.randint(bounds["low"], bounds["high"])
    found = list(rows.filter(pk__gte=start).order_by("pk")[:size])
    if len(found) < size:
        found += list(rows.filter(pk__lt=start).order_by("pk")[: size - len(found)])
    return found


def gold_items_mix(
    *, queue, user, fresh: list[Item], rng: random.Random | None = None
) -> tuple[list[Item], list[Item]]:
    """Replace some of ``fresh`` (open items about to be leased to ``user``) by gold items.

    Returns ``(kept, gold)``: the fresh items still to lease, and new gold items (already leased
    to ``user``, each with the score, queue and payload shape of the item it replaced). The
    replaced items stay open for others. Runs inside the caller's transaction.
    """
    rate = settings.FACECURATOR_GOLD_RATE
    if rate <= 0 or not fresh or not getattr(user, "pk", None):
        return fresh, []
    rng = rng or random.Random(random.getrandbits(64))  # from the process's generator: a seeded run repeats
    slots = [n for n in range(len(fresh)) if rng.random() < rate]
    if not slots:
        return fresh, []
    now = timezone.now()
    recent = GoldItem.objects.filter(
        gold=OuterRef("pk"), user=user, created_at__gte=now - timedelta(days=settings.FACECURATOR_GOLD_WINDOW_DAYS)
    )
    own = Decision.objects.filter(face=OuterRef("face_id"), user=user)
    in_queue = Item.objects.filter(face=OuterRef("face_id"), queue=queue, state=Item.State.OPEN)
    servable = (
        GoldFace.objects.filter(gold_valid())
        .exclude(face_id__in=[item.face_id for item in fresh])
        .annotate(recent=Exists(recent), own=Exists(own), in_queue=Exists(in_queue))
        .filter(recent=False, own=False, in_queue=False)
        .select_related("face")
        .only("pk", "face_id", "identity_id", "status", "face__status", "face__identity_id")
    )
    candidates = _sample_from_random_start(servable, size=len(slots), rng=rng)
    if not candidates:
        return fresh, []
    slots = slots[: len(candidates)]
    page_identities = {item.identity_id for item in fresh if item.identity_id} | {
        fid
        for fid in Face.objects.filter(pk__in=[item.face_id for item in fresh]).values_list("identity_id", flat=True)
        if fid
    }
    if len(page_identities) < 2:  # a page about one person: decoys from the other VIPs
        page_identities |= set(
            Identity.objects.filter(role=Identity.Role.VIP, merged_into__isnull=True)
            .order_by("popularity_rank", "pk")
            .values_list("pk", flat=True)[:50]
        )
    statuses = dict(Face.objects.filter(pk__in=[item.face_id for item in fresh]).values_list("pk", "status"))
    until = fresh[0].leased_until or now + timedelta(seconds=settings.FACECURATOR_LEASE_SECONDS)
    gold_items, serves = [], []
    for slot, gold in zip(slots, candidates, strict=False):  # slots were cut to the candidates above
        replaced = fresh[slot]
        shown = gold.identity_id
        decoys = sorted(page_identities - {gold.identity_id})
        if gold.status == Face.Status.VERIFIED and decoys and rng.random() < settings.FACECURATOR_GOLD_DECOY_SHARE:
            shown = rng.choice(decoys)
        payload = {key: value for key, value in replaced.payload.items() if key == "reason"}
        payload["suggestions"] = []
        item = Item(
            queue=queue,
            face_id=gold.face_id,
            identity_id=shown,
            score=replaced.score,
            payload=payload,
            leased_to=user,
            leased_until=until,
        )
        gold_items.append(item)
        serves.append((gold, shown, statuses.get(replaced.face_id, Face.Status.UNVERIFIED)))
    try:
        with transaction.atomic():
            Item.objects.bulk_create(gold_items)
    except IntegrityError:  # the face got an open item in this queue meanwhile: no gold this time
        return fresh, []
    GoldItem.objects.bulk_create(
        [
            GoldItem(item=item, gold=gold, user=user, shown_identity_id=shown, shown_status=status)
            for item, (gold, shown, status) in zip(gold_items, serves, strict=True)
        ]
    )
    kept = [item for n, item in enumerate(fresh) if n not in set(slots)]
    return kept, gold_items


def items_present(*, items: list[Item]) -> list[Item]:
    """Show gold items' faces with the label they are served with (in memory only, nothing saved)."""
    serves = {
        g.item_id: g
        for g in GoldItem.objects.filter(item_id__in=[i.pk for i in items]).select_related("shown_identity")
    }
    for item in items:
        serve = serves.get(item.pk)
        if serve is not None:
            item.face.identity = serve.shown_identity
            item.face.status = serve.shown_status
    return items


def gold_decision_correct(
    *,
    action: str,
    identity_id: int | None,
    shown_identity_id: int | None,
    gold_identity_id: int | None,
    gold_status: str,
) -> bool | None:
    """Whether a decision on a gold item agrees with the known answer; None when it says nothing (skip).

    The face was shown labelled ``shown_identity_id``. Confirm and accept agree when that label is
    the answer; relabel when it names the answer; unknown when the answer is an unknown person;
    reject when the shown label is wrong; not a face when the answer is not a face. Exclude never
    agrees with a settled label.
    """
    if action == "skip":
        return None
    if gold_status == Face.Status.NOT_A_FACE:
        return action == "not_a_face"
    if action in ("confirm", "accept"):
        return shown_identity_id == gold_identity_id
    if action == "relabel":
        return identity_id == gold_identity_id
    if action == "unknown":
        return gold_identity_id is None
    if action == "reject":
        return shown_identity_id != gold_identity_id
    return False
