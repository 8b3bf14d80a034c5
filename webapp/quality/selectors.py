"""Reads on annotator quality: gold accuracy with its confidence interval, speed, pages confirmed
without a change, agreement with other annotators, a per-day series, and who is flagged.

Everything is computed at read time from the decisions, the gold faces as they are now and the
label history, so a gold face whose answer changed drops out of every past score at once.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from webapp.faces.models import LabelEvent
from webapp.review.models import Decision, Item, Queue
from webapp.review.selectors import id_batches

from .agreement import verdict
from .gold import gold_decision_correct
from .models import SecondOpinion

WINDOW_DAYS = 30  # the team screen's default window, and the one the flag that holds decisions uses
IDLE_SECONDS = 600  # a pause longer than this between two pages is not counted as working time
Z95 = 1.959964


def wilson_interval(correct: int, total: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``correct / total`` (None without any observation).

    centre = (p + z²/2n) / (1 + z²/n), half width = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
    """
    if total <= 0:
        return None
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def gold_flagged(*, correct: int, total: int) -> bool:
    """The one flag rule: at least FACECURATOR_QUALITY_MIN_GOLD gold answers, and the 95% Wilson upper
    bound of the gold accuracy (the interval the team screen shows) under FACECURATOR_QUALITY_FLAG_BELOW."""
    if total < max(1, settings.FACECURATOR_QUALITY_MIN_GOLD):
        return False
    interval = wilson_interval(correct, total)
    return bool(interval and interval[1] < settings.FACECURATOR_QUALITY_FLAG_BELOW)


def annotator_flagged(*, user_id: int, now: datetime | None = None) -> bool:
    """Whether the team screen flags this annotator now (its default window: the last WINDOW_DAYS days)."""
    now = now or timezone.now()
    answers = gold_answers_of(user_id=user_id, since=now - timedelta(days=WINDOW_DAYS))
    return gold_flagged(correct=sum(answers), total=len(answers))


def held_decisions_count(*, user_ids: Iterable[int]) -> dict[int, int]:
    """Per annotator, their decisions waiting for a second opinion (by action kind, or because they are flagged)."""
    return dict(
        SecondOpinion.objects.filter(first_user_id__in=list(user_ids), state=SecondOpinion.State.PENDING)
        .values("first_user_id")
        .annotate(n=Count("id"))
        .values_list("first_user_id", "n")
    )


def decisions_of_annotator(
    *, user_id: int, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[Decision]:
    """One annotator's decisions in a time range, newest first, with what a listing shows."""
    rows = Decision.objects.filter(user_id=user_id).select_related(
        "user", "identity", "item__queue", "label_event", "item__gold_serve"
    )
    if since:
        rows = rows.filter(created_at__gte=since)
    if until:
        rows = rows.filter(created_at__lt=until)
    return rows.order_by("-created_at", "-id")


def _gold_scores(decisions: Sequence[Mapping[str, Any]]) -> list[tuple[int, datetime, bool]]:
    """(user, when, correct) for each decision on a gold face that still counts."""
    scores = []
    for d in decisions:
        if d["gold_id"] is None or d["gold_face_version"] != d["face_version"] or d["served_at"] < d["gold_since"]:
            continue  # not gold, or the answer changed since (the face is no longer gold as it was)
        correct = gold_decision_correct(
            action=d["action"],
            identity_id=d["identity_id"],
            shown_identity_id=d["shown_identity_id"],
            gold_identity_id=d["gold_identity_id"],
            gold_status=d["gold_status"],
        )
        if correct is not None:
            scores.append((d["user_id"], d["created_at"], correct))
    return scores


def _label_history(face_ids: Iterable[int]) -> dict[int, list[tuple[int | None, str]]]:
    """For each face, its label at version 0, 1, 2... (each label event bumps the version by one)."""
    history: dict[int, list[tuple[int | None, str]]] = {}
    for batch in id_batches(face_ids):
        for e in (
            LabelEvent.objects.filter(face_id__in=batch)
            .order_by("face_id", "id")
            .values("face_id", "from_identity_id", "from_status", "to_identity_id", "to_status")
        ):
            labels = history.setdefault(e["face_id"], [(e["from_identity_id"], e["from_status"])])
            labels.append((e["to_identity_id"], e["to_status"]))
    return history


def _verdict(
    d: Mapping[str, Any], history: dict[int, list[tuple[int | None, str]]], current: dict[int, tuple[int | None, str]]
) -> tuple | None:
    """The label a decision says the face has: the one it wrote, or what it said about the label it saw
    (a decision held for a second opinion wrote nothing yet)."""
    if d["action"] in ("skip", "reject", "exclude"):
        return None
    if d["to_identity_id"] is not None or d["to_status"] is not None:
        return d["to_identity_id"], d["to_status"]
    labels = history.get(d["face_id"])
    if labels and d["served_version"] is not None and d["served_version"] < len(labels):
        seen = labels[d["served_version"]]
    else:
        seen = current.get(d["face_id"])
    return verdict(action=d["action"], identity_id=d["identity_id"], face_identity_id=seen[0] if seen else None)


def _agreement(user_ids: set[int], face_ids: set[int]) -> dict[int, tuple[int, int]]:
    """(agreeing pairs, pairs) per annotator, over faces two annotators decided (gold items aside)."""
    rows = [
        d
        for batch in id_batches(face_ids)
        for d in Decision.objects.filter(
            face_id__in=batch, undone=False, user__isnull=False, item__gold_serve__isnull=True
        )
        .exclude(action__in=("skip", "reject", "exclude"))
        .order_by("-created_at", "-id")
        .values(
            "user_id",
            "face_id",
            "action",
            "identity_id",
            "served_version",
            to_identity_id=F("label_event__to_identity_id"),
            to_status=F("label_event__to_status"),
            current_identity=F("face__identity_id"),
            current_status=F("face__status"),
        )
    ]
    users_per_face = defaultdict(set)
    for d in rows:
        users_per_face[d["face_id"]].add(d["user_id"])
    shared = {face for face, users in users_per_face.items() if len(users) >= 2}
    history = _label_history(shared)
    current = {d["face_id"]: (d["current_identity"], d["current_status"]) for d in rows}
    verdicts: dict[int, dict[int, tuple]] = defaultdict(dict)
    for d in rows:  # the newest decision of each annotator on a face counts (rows are newest first)
        if d["face_id"] in shared and d["user_id"] not in verdicts[d["face_id"]]:
            verdict = _verdict(d, history, current)
            if verdict is not None:
                verdicts[d["face_id"]][d["user_id"]] = verdict
    result: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for by_user in verdicts.values():
        for (a, va), (b, vb) in combinations(by_user.items(), 2):
            for user in (a, b):
                if user in user_ids:
                    result[user][1] += 1
                    result[user][0] += va == vb
    return {user: (agree, pairs) for user, (agree, pairs) in result.items()}


def annotators_quality(
    *, user_ids: list[int] | None = None, since: datetime | None = None, until: datetime | None = None
) -> list[dict]:
    """Quality numbers per annotator over ``[since, until)`` (default: the last 30 days).

    ``user_ids`` limits the answer to those annotators (each listed even without decisions);
    by default every user with a decision in the range is listed, flagged ones first.
    """
    until = until or timezone.now()
    since = since or until - timedelta(days=WINDOW_DAYS)
    decisions = Decision.objects.filter(created_at__gte=since, created_at__lt=until, undone=False, user__isnull=False)
    if user_ids is not None:
        decisions = decisions.filter(user_id__in=user_ids)
    rows = list(
        decisions.order_by("created_at", "id").values(
            "user_id",
            "face_id",
            "action",
            "identity_id",
            "created_at",
            "operation",
            "label_event_id",
            face_version=F("face__version"),
            gold_id=F("item__gold_serve__gold_id"),
            shown_identity_id=F("item__gold_serve__shown_identity_id"),
            served_at=F("item__gold_serve__created_at"),
            gold_identity_id=F("item__gold_serve__gold__identity_id"),
            gold_status=F("item__gold_serve__gold__status"),
            gold_face_version=F("item__gold_serve__gold__face_version"),
            gold_since=F("item__gold_serve__gold__since"),
        )
    )
    ids = set(user_ids) if user_ids is not None else {d["user_id"] for d in rows}
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    per_user: dict[int, dict] = {
        pk: {
            "decisions": 0,
            "pages": defaultdict(list),
            "faces": set(),
            "days": defaultdict(lambda: {"decisions": 0, "gold": 0, "gold_correct": 0}),
        }
        for pk in ids
    }
    for d in rows:
        entry = per_user[d["user_id"]]
        entry["pages"][d["operation"]].append(d)
        day = timezone.localtime(d["created_at"]).date().isoformat()
        entry["days"][day]["decisions"] += 1
        if d["gold_id"] is None:
            entry["decisions"] += 1
            entry["faces"].add(d["face_id"])
    for user, when, correct in _gold_scores(rows):
        day = per_user[user]["days"][timezone.localtime(when).date().isoformat()]
        day["gold"] += 1
        day["gold_correct"] += correct
        per_user[user].setdefault("gold", [0, 0])
        per_user[user]["gold"][0] += correct
        per_user[user]["gold"][1] += 1
    agreement = _agreement(ids, set().union(*(e["faces"] for e in per_user.values())) if per_user else set())
    held = held_decisions_count(user_ids=ids)
    result = []
    for pk, entry in per_user.items():
        correct, total = entry.get("gold", (0, 0))
        interval = wilson_interval(correct, total)
        pages = sorted(entry["pages"].values(), key=lambda page: page[0]["created_at"])
        starts = [page[0]["created_at"] for page in pages]
        seconds = sum(min((b - a).total_seconds(), IDLE_SECONDS) for a, b in itertools.pairwise(starts))
        after_first = sum(len(page) for page in pages[1:])
        agree, pairs = agreement.get(pk, (0, 0))
        result.append(
            {
                "user": pk,
                "username": names.get(pk, ""),
                "decisions": entry["decisions"],
                "gold": {
                    "answered": total,
                    "correct": correct,
                    "accuracy": correct / total if total else None,
                    "low": interval[0] if interval else None,
                    "high": interval[1] if interval else None,
                },
                "decisions_per_hour": round(after_first / (seconds / 3600), 1) if seconds > 0 else None,
                "pages": len(pages),
                "pages_confirmed_unchanged": (
                    sum(all(d["action"] == "confirm" for d in page) for page in pages) / len(pages)
                )
                if pages
                else None,
                "agreement": {"pairs": pairs, "rate": agree / pairs if pairs else None},
                "flagged": gold_flagged(correct=correct, total=total),
                "held_decisions": held.get(pk, 0),
                "per_day": [
                    {
                        "day": day,
                        "decisions": v["decisions"],
                        "gold": v["gold"],
                        "gold_correct": v["gold_correct"],
                        "gold_accuracy": v["gold_correct"] / v["gold"] if v["gold"] else None,
                    }
                    for day, v in sorted(entry["days"].items())
                ],
            }
        )
    return sorted(result, key=lambda r: (not r["flagged"], -(r["decisions"]), r["username"]))


def annotators_flagged(*, user_ids: Iterable[int], now: datetime | None = None) -> set[int]:
    """Which of these annotators the team screen flags now (:func:`annotator_flagged` for each, in one
    query; admins are not told apart here)."""
    now = now or timezone.now()
    answers = gold_answers_of_users(user_ids=user_ids, since=now - timedelta(days=WINDOW_DAYS))
    return {user_id for user_id, mine in answers.items() if gold_flagged(correct=sum(mine), total=len(mine))}


def gold_answers_of(*, user_id: int, since: datetime | None = None) -> list[bool]:
    """Whether each of one annotator's gold answers that still count was right, oldest first."""
    return gold_answers_of_users(user_ids=[user_id], since=since).get(user_id, [])


def gold_answers_of_users(*, user_ids: Iterable[int], since: datetime | None = None) -> dict[int, list[bool]]:
    """Per annotator, whether each of their gold answers that still count was right, oldest first
    (annotators without one are left out)."""
    decisions = Decision.objects.filter(user_id__in=list(user_ids), undone=False, item__gold_serve__isnull=False)
    if since is not None:
        decisions = decisions.filter(created_at__gte=since)
    rows = list(
        decisions.order_by("created_at", "id").values(
            "user_id",
            "action",
            "identity_id",
            "created_at",
            face_version=F("face__version"),
            gold_id=F("item__gold_serve__gold_id"),
            shown_identity_id=F("item__gold_serve__shown_identity_id"),
            served_at=F("item__gold_serve__created_at"),
            gold_identity_id=F("item__gold_serve__gold__identity_id"),
            gold_status=F("item__gold_serve__gold__status"),
            gold_face_version=F("item__gold_serve__gold__face_version"),
            gold_since=F("item__gold_serve__gold__since"),
        )
    )
    answers: dict[int, list[bool]] = defaultdict(list)
    for user_id, _, correct in _gold_scores(rows):
        answers[user_id].append(correct)
    return dict(answers)


def faces_unsettled() -> Q:
    """Faces whose label is not settled: a decision on them waits for a second opinion, or two
    annotators disagreed and no admin has decided yet (the dispute's item is still open). A run
    trained on "settled labels only" leaves these faces out."""
    waiting = SecondOpinion.objects.filter(
        Q(state=SecondOpinion.State.PENDING)
        | Q(state=SecondOpinion.State.DISPUTED, dispute_item__state=Item.State.OPEN)
    )
    return Q(pk__in=waiting.values("face_id"))


def second_opinions_queue_id() -> int | None:
    """The open "Second opinions" queue (held decisions are reviewed there), if there is one."""
    return (
        Queue.objects.filter(kind=Queue.Kind.SENT, is_open=True, payload__second_opinion=True)
        .order_by("id")
        .values_list("pk", flat=True)
        .first()
    )
