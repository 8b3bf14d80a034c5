"""Phase 1 of the annotators benchmark (``bench/annotators.py``): gold faces until a flag. Each annotator
alone on a queue of its own with gold mixed in, and, without the API, simulated streams of gold answers
at several accuracies: how many answers until the flag goes up, per flag threshold and minimum of
gold answers."""

from __future__ import annotations

import random
from collections.abc import Sequence

from bench.annotators_team import NOISE, World, answer, decide, serve

PHASE_ONE_GOLD_RATE = 0.33  # enough gold answers per annotator to see a flag go up (the default is 5%)
GOAL_FLAG_GOLD = 60  # a careless annotator is flagged within this many gold answers


def flagged_after(answers: list[bool]) -> int | None:
    """The number of gold answers after which the flag went up and stayed up (None: never)."""
    from webapp.quality.selectors import gold_flagged

    first = None
    for n in range(1, len(answers) + 1):
        if gold_flagged(correct=sum(answers[:n]), total=n):
            first = first or n
        else:
            first = None
    return first


FLAG_RULES = ((0.85, 15), (0.9, 1), (0.9, 10), (0.9, 15), (0.9, 20))  # (flag below, minimum gold answers)


def flag_threshold_curve(
    rules: Sequence[tuple[float, int]] = FLAG_RULES,
    accuracies: Sequence[float] = (0.75, 0.90, 0.95, 0.98),
    runs: int = 2000,
    answers: int = 100,
) -> list[dict]:
    """Simulated streams of gold answers (right with probability ``accuracy``) under the product's flag
    rule (:func:`webapp.quality.selectors.gold_flagged`) at each (FACECURATOR_QUALITY_FLAG_BELOW,
    FACECURATOR_QUALITY_MIN_GOLD): the share flagged (and still flagged at the end) within
    GOAL_FLAG_GOLD answers, the median answers until then, the share whose flag first went up within
    GOAL_FLAG_GOLD answers, and the share ever flagged on the way (a false alarm for a good annotator)."""
    from django.conf import settings

    from webapp.quality.selectors import gold_flagged

    kept = settings.FACECURATOR_QUALITY_FLAG_BELOW, settings.FACECURATOR_QUALITY_MIN_GOLD
    rows = []
    for threshold, min_gold in rules:
        settings.FACECURATOR_QUALITY_FLAG_BELOW, settings.FACECURATOR_QUALITY_MIN_GOLD = threshold, min_gold
        for accuracy in accuracies:
            firsts, first_up, ever = [], [], 0
            for run in range(runs):
                rng, correct, first, up = random.Random(run), 0, None, None
                for n in range(1, answers + 1):
                    correct += rng.random() < accuracy
                    if gold_flagged(correct=correct, total=n):
                        first, up = first or n, up or n
                    else:
                        first = None
                firsts.append(first)
                first_up.append(up)
                ever += up is not None
            flagged = sorted(f for f in firsts if f)
            rows.append(
                {
                    "threshold": threshold,
                    "min_gold": min_gold,
                    "accuracy": accuracy,
                    "within_60": sum(f <= GOAL_FLAG_GOLD for f in flagged) / runs,
                    "median_answers": flagged[len(flagged) // 2] if flagged else None,
                    "first_within_60": sum(u is not None and u <= GOAL_FLAG_GOLD for u in first_up) / runs,
                    "ever_flagged": ever / runs,
                }
            )
    settings.FACECURATOR_QUALITY_FLAG_BELOW, settings.FACECURATOR_QUALITY_MIN_GOLD = kept
    return rows


def phase_one(world: World, team: dict, per_annotator: int, rng: random.Random) -> dict:
    """Each annotator alone on its own queue, gold at PHASE_ONE_GOLD_RATE: how many gold answers until the flag."""
    from django.conf import settings

    from webapp.quality.selectors import gold_answers_of
    from webapp.review.models import Item, Queue

    settings.FACECURATOR_GOLD_RATE, settings.FACECURATOR_SECOND_OPINION = PHASE_ONE_GOLD_RATE, []
    settings.FACECURATOR_HOLD_FLAGGED = False
    vips, results = world.vips, {}
    for profile, (user, client) in team.items():
        queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title=f"{user.username}'s queue")
        for n in range(per_annotator):
            t = vips[n % len(vips)]
            shown = rng.choice([v for v in vips if v != t]) if rng.random() < NOISE else t
            Item.objects.create(
                queue=queue,
                face=world.face(shown, truth=t),
                identity_id=shown,
                score=1.0 - n / per_annotator,
                payload={"reason": "likely wrong", "suggestions": []},
            )
        items = 0
        while page := serve(client, queue.pk):
            decide(
                client,
                [
                    {"item": i["id"], **answer(rng, profile, i["face"]["identity"], world.truth[i["face"]["id"]], vips)}
                    for i in page
                ],
            )
            items += len(page)
        answers = gold_answers_of(user_id=user.pk)
        results[profile] = {
            "items": items,
            "gold_answered": len(answers),
            "gold_share_of_items": len(answers) / items,
            "gold_accuracy": sum(answers) / len(answers) if answers else None,
            "flagged_after_gold": flagged_after(answers),
        }
    return results
