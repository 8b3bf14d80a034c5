"""Phase 2 of the annotators benchmark (``bench/annotators.py``): the team on one set under each
condition (no checks, gold + hold, second opinions of each kind), the admin settling what is left; the
labels' accuracy after review and what it cost in items looked at."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from bench.annotators_team import World, answer, decide, right_answer, serve

if TYPE_CHECKING:
    from webapp.review.models import Queue

ALL_KINDS = ["relabel_vip", "relabel_vip_other", "unknown_vip", "not_a_face_vip", "confirm_likely_wrong"]
CONDITIONS: dict[str, dict[str, Any]] = {
    "none": {"gold_rate": 0.0, "second_opinion": [], "hold_flagged": False},
    "gold + hold": {"gold_rate": 0.05, "second_opinion": [], "hold_flagged": True},
    "agreement (default)": {"gold_rate": 0.0, "second_opinion": ["relabel_vip"], "hold_flagged": False},
    "agreement (all)": {"gold_rate": 0.0, "second_opinion": ALL_KINDS, "hold_flagged": False},
    "agreement (all, p_wrong >= 0.5)": {
        "gold_rate": 0.0,
        "second_opinion": ALL_KINDS,
        "hold_flagged": False,
        "very_likely_wrong": 0.5,
    },
    "agreement (all) + gold + hold": {"gold_rate": 0.05, "second_opinion": ALL_KINDS, "hold_flagged": True},
    # The two rules that cut the time of agreement (all), each turned off alone, then both: the model as a
    # second opinion (FACECURATOR_MODEL_AGREES) and a run-backed answer settling a dispute with a flagged
    # annotator (FACECURATOR_OVERRULE_FLAGGED).
    "agreement (all), no model skip": {
        "gold_rate": 0.0,
        "second_opinion": ALL_KINDS,
        "hold_flagged": False,
        "model_agrees": 2.0,  # above 1: every relabel between VIPs waits, whatever the model says
    },
    "agreement (all), disputes with flagged to admins": {
        "gold_rate": 0.0,
        "second_opinion": ALL_KINDS,
        "hold_flagged": False,
        "overrule_flagged": False,
    },
    "agreement (all), neither rule (before)": {
        "gold_rate": 0.0,
        "second_opinion": ALL_KINDS,
        "hold_flagged": False,
        "model_agrees": 2.0,
        "overrule_flagged": False,
    },
}
AGREEMENT = [name for name in CONDITIONS if name.startswith("agreement")]
_PRODUCT: dict[str, Any] = {}  # the product's settings before any condition changed them
GOAL_WRONG, GOAL_COST = 0.01, 0.25  # with agreement: at most 1% wrong labels, at most 25% more time


def open_queue(flag: str) -> Queue | None:
    from webapp.review.models import Queue

    return Queue.objects.filter(kind=Queue.Kind.SENT, is_open=True, **{f"payload__{flag}": True}).first()


def phase_two(world: World, team: dict, spec: dict, condition: str, rng: random.Random) -> dict:
    """The team works one copy of the set under one condition; the admin settles what is left."""
    from django.conf import settings
    from django.utils import timezone

    from webapp.faces.models import Face
    from webapp.quality.models import SecondOpinion
    from webapp.quality.selectors import annotator_flagged
    from webapp.review.models import Decision, Item, Queue

    config = CONDITIONS[condition]
    settings.FACECURATOR_GOLD_RATE = config["gold_rate"]
    settings.FACECURATOR_SECOND_OPINION = list(config["second_opinion"])
    settings.FACECURATOR_HOLD_FLAGGED = config["hold_flagged"]
    settings.FACECURATOR_VERY_LIKELY_WRONG = config.get("very_likely_wrong", 0.9)
    _PRODUCT.setdefault("model_agrees", settings.FACECURATOR_MODEL_AGREES)
    _PRODUCT.setdefault("overrule_flagged", settings.FACECURATOR_OVERRULE_FLAGGED)
    settings.FACECURATOR_MODEL_AGREES = config.get("model_agrees", _PRODUCT["model_agrees"])
    settings.FACECURATOR_OVERRULE_FLAGGED = config.get("overrule_flagged", _PRODUCT["overrule_flagged"])
    vips = world.vips
    started = timezone.now()
    queue = Queue.objects.create(kind=Queue.Kind.LIKELY_WRONG, title=f"set ({condition})")
    faces, scored = [], {}
    for truth, shown, p_wrong, suggested, suggested_p, order in zip(
        spec["truth"],
        spec["shown"],
        spec["p_wrong"],
        spec["suggested"],
        spec["suggested_probability"],
        spec["order"],
        strict=True,
    ):
        face = world.face(vips[shown], truth=vips[truth])
        faces.append(face.pk)
        scored[face.pk] = p_wrong
        hint = {"identity": vips[suggested] if suggested >= 0 else None, "probability": round(suggested_p, 4)}
        Item.objects.create(
            queue=queue,
            face=face,
            identity_id=vips[shown],
            score=order,
            payload={"reason": "likely wrong", "p_wrong": round(p_wrong, 4), "hint": hint, "suggestions": [hint]},
        )
    flagged = {profile: annotator_flagged(user_id=user.pk) for profile, (user, _) in team.items()}
    while True:
        worked = False
        for profile, (_, client) in team.items():
            for source in (queue, open_queue("second_opinion")):
                if source is None:
                    continue
                page = serve(client, source.pk)
                if page:
                    decide(
                        client,
                        [
                            {
                                "item": i["id"],
                                **answer(rng, profile, i["face"]["identity"], world.truth[i["face"]["id"]], vips),
                            }
                            for i in page
                        ],
                    )
                    worked = True
                    break
        if not worked:
            break
    for flag in ("second_opinion", "admins_only"):  # the admin settles what nobody else could
        source = open_queue(flag)
        while source is not None and (page := serve(world.admin_client, source.pk)):
            decide(
                world.admin_client,
                [{"item": i["id"], **right_answer(i["face"]["identity"], world.truth[i["face"]["id"]])} for i in page],
            )
    left = Item.objects.filter(
        queue__in=[q for q in (queue, open_queue("second_opinion")) if q], state=Item.State.OPEN
    ).count()
    labels = dict(Face.objects.filter(pk__in=faces).values_list("pk", "identity_id"))
    wrong_faces = [pk for pk in faces if labels[pk] != world.truth[pk]]
    wrong = len(wrong_faces)
    decisions = Decision.objects.filter(created_at__gte=started)
    per_user = {}
    for profile, (user, _) in team.items():
        mine = decisions.filter(user=user)
        per_user[profile] = {
            "items": mine.count(),
            "gold": mine.filter(item__gold_serve__isnull=False).count(),
            "second_opinions": mine.filter(
                item__queue__payload__second_opinion=True, item__gold_serve__isnull=True
            ).count(),
            "flagged": flagged[profile],
            "held": SecondOpinion.objects.filter(created_at__gte=started, first_user=user).count(),
        }
    opinions = SecondOpinion.objects.filter(created_at__gte=started)
    by_admin = decisions.filter(user=world.admin)
    annotator_items = sum(u["items"] for u in per_user.values())
    admin_items = decisions.filter(user=world.admin).count()
    return {
        "faces": len(faces),
        "wrong_labels": wrong,
        "wrong_share": wrong / len(faces),
        "accuracy": 1 - wrong / len(faces),
        "items_left_open": left,
        "wrong_under_0_9": sum(scored[pk] < 0.9 for pk in wrong_faces),
        "annotator_items": annotator_items,
        "admin_items": admin_items,
        "team_items": annotator_items + admin_items,
        "gold_items": sum(u["gold"] for u in per_user.values()),
        "second_opinion_items": sum(u["second_opinions"] for u in per_user.values()),
        "held": {
            kind: opinions.filter(kind=kind).count()
            for kind in [*ALL_KINDS, "flagged_annotator"]
            if opinions.filter(kind=kind).exists()
        },
        "disputed": opinions.filter(state=SecondOpinion.State.DISPUTED).count(),
        "admin_second_opinions": by_admin.filter(item__queue__payload__second_opinion=True).count(),
        "admin_disputes": by_admin.filter(item__queue__payload__admins_only=True).count(),
        "per_annotator": per_user,
    }
