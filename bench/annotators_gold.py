"""Phase 1 of the annotators benchmark (``bench/annotators.py``): gold faces until a flag. Each annotator
alone on a queue of its own with gold mixed in, and, without the API, simulated streams of gold answers
at several accuracies: how many answers until the flag goes up, per flag threshold."""

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


def flag_threshold_curve(
    thresholds: Sequence[float] = (0.85, 0.9),
    accuracies: Sequence[float] = (0.75, 0.90, 0.95, 0.98),
    runs: int = 2000,
    answers: int = 100,
) -> list[dict]:
    """Simulated streams of gold answers (right with probability ``accuracy``): the share flagged (and
    still flagged at the end) within GOAL_FLAG_GOLD answers, the median answers until then, and the
    share ever flagged on the way (a false alarm for a good annotator), per flag threshold."""
    from webapp.quality.selectors import wilson_interval

    rows = []
    for threshold in thresholds:
        for accuracy in accuracies:
            firsts, ever = [], 0
            for run in range(runs):
                rng, correct, first, seen = random.Random(run), 0, None, False
                for n in range(1, answers + 1):
                    correct += rng.random() < accuracy
                    interval = wilson_interval(correct, n)
                    if interval is not None and interval[1] < threshold:
                        first, seen = first or n, True
                    else:
                        first = None
                firsts.append(first)
                ever += seen
            flagged = sorted(f for f in firsts if f)
            rows.append(
                {
                    "threshold": threshold,
                    "accuracy": accuracy,
                    "within_60": sum(f <= GOAL_FLAG_GOLD for f in flagged) / runs,
                    "median_answers": flagged[len(flagged) // 2] if flagged else None,
                    "ever_flagged": ever / runs,
                }
            )
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
