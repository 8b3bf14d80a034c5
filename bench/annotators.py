"""Simulated annotators through the review API: how many gold faces until a careless one is flagged.

Setup: a throwaway database (SQLite or PostgreSQL, see ``common.scratch_django``); 10 VIPs; for each
simulated annotator a queue of its own faces (400; ``--quick``: 200) of which 10% carry a wrong VIP
label (injected noise); 200 faces verified by an admin, hence gold. Three annotators work their queue
through the API (``POST .../next/`` 20 items, one ``POST /api/v1/review/decisions/`` per page), in-process
(DRF's test client, no HTTP server: this measures behaviour, not latency):

* careful: the right answer 98% of the time (else a wrong VIP);
* careless: the right answer 75% of the time, otherwise confirms (or, where confirm was right,
  relabels to a wrong VIP): 25% errors, most of them confirms;
* spammer: confirms everything.

The right answer for a face shown labelled X whose true label is T: confirm when X == T, else relabel
to T. Gold faces are mixed in at ``FACECURATOR_GOLD_RATE`` = 0.2 here (5% by default: the count of
gold faces until a flag does not depend on the rate, only the number of pages it takes), half of them
shown with a wrong VIP. Second opinions are off (not measured here).

Reported per annotator: gold faces answered, gold accuracy and its 95% interval at the end, the
number of gold answers after which the flag (upper bound < FACECURATOR_QUALITY_FLAG_BELOW) first
went up and stayed up, the share of the annotator's items that were gold (time spent on gold), and
the accuracy of the labels of the faces they reviewed (gold faces aside).

    python bench/annotators.py [--quick] [--seed 0]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO)  # never let bench/*.py shadow a module
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402

PROFILES = {"careful": 0.02, "careless": 0.25, "spammer": None}


def answer(rng: random.Random, profile: str, shown: int | None, truth: int, vips: list[int]) -> dict:
    right: dict[str, str | int] = {"action": "confirm"} if shown == truth else {"action": "relabel", "identity": truth}
    error_rate = PROFILES[profile]
    if error_rate is None:  # the spammer
        return {"action": "confirm"}
    if rng.random() >= error_rate:
        return right
    if profile == "careless" and right["action"] != "confirm":
        return {"action": "confirm"}
    return {"action": "relabel", "identity": rng.choice([v for v in vips if v not in (truth, shown)])}


def flagged_after(answers: list[bool], threshold: float) -> int | None:
    """The number of gold answers after which the flag went up and stayed up (None: never)."""
    from webapp.quality.selectors import wilson_interval

    first = None
    for n in range(1, len(answers) + 1):
        interval = wilson_interval(sum(answers[:n]), n)
        assert interval is not None  # n >= 1 answers
        if interval[1] < threshold:
            first = first or n
        else:
            first = None
    return first


def run(quick: bool, seed: int) -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone
    from rest_framework.test import APIClient

    from webapp.faces.models import Face, LabelEvent
    from webapp.identities.models import Identity
    from webapp.quality.gold import gold_faces_refresh
    from webapp.quality.selectors import annotators_quality, gold_answers_of
    from webapp.review.models import Item, Queue

    settings.FACECURATOR_GOLD_RATE = 0.2
    settings.FACECURATOR_SECOND_OPINION = []
    rng = random.Random(seed)
    per_annotator = 200 if quick else 400
    vips = [Identity.objects.create(name=f"VIP {n}", role="vip", popularity_rank=n + 1).pk for n in range(10)]
    users = get_user_model()
    admin = users.objects.create_user("admin", password="x")
    admin.groups.add(Group.objects.get_or_create(name="admin")[0])
    truth: dict[int, int] = {}

    def face(identity: int, status: str = "unverified") -> Face:
        return Face.objects.create(source="crop", crop="faces/bench.jpg", identity_id=identity, status=status,
                                   split="train", group_key=f"bench:{len(truth)}")

    for n in range(200):  # gold: verified by an admin
        t = vips[n % len(vips)]
        f = face(t, "verified")
        truth[f.pk] = t
        LabelEvent.objects.create(face=f, user=admin, from_identity_id=t, to_identity_id=t,
                                  from_status="unverified", to_status="verified", reason="bench: admin verified")
        Face.objects.filter(pk=f.pk).update(version=1)
    made = gold_faces_refresh()
    results: dict[str, dict[str, Any]] = {}
    clients = {}
    for profile in PROFILES:
        user = users.objects.create_user(profile, password="x")
        user.groups.add(Group.objects.get_or_create(name="annotator")[0])
        client = APIClient()
        client.force_authenticate(user)
        clients[profile] = (user, client)
        queue = Queue.objects.create(kind=Queue.Kind.LABEL_ERRORS, title=f"{profile}'s queue")
        for n in range(per_annotator):
            t = vips[n % len(vips)]
            shown = rng.choice([v for v in vips if v != t]) if rng.random() < 0.10 else t
            f = face(shown)
            truth[f.pk] = t
            Item.objects.create(queue=queue, face=f, identity_id=shown, score=1.0 - n / per_annotator,
                                payload={"reason": "likely wrong", "suggestions": []})
        started, items, pages = time.perf_counter(), 0, 0
        while True:
            page = client.post(f"/api/v1/review/queues/{queue.pk}/next/", {"limit": 20}, format="json").data
            if not page:
                break
            decisions = [{"item": i["id"], **answer(rng, profile, i["face"]["identity"], truth[i["face"]["id"]], vips)}
                         for i in page]
            response = client.post("/api/v1/review/decisions/", {"decisions": decisions}, format="json")
            assert response.status_code == 201, response.data
            items, pages = items + len(page), pages + 1
        reviewed = Face.objects.filter(review_items__queue=queue, review_items__gold_serve__isnull=True).distinct()
        right = sum(f.identity_id == truth[f.pk] for f in reviewed)
        answers = gold_answers_of(user_id=user.pk)
        results[profile] = {"items": items, "pages": pages, "wall_s": round(time.perf_counter() - started, 1),
                            "gold_answered": len(answers), "gold_share_of_items": len(answers) / items,
                            "flagged_after_gold": flagged_after(answers, settings.FACECURATOR_QUALITY_FLAG_BELOW),
                            "reviewed_faces": reviewed.count(), "label_accuracy_after_review": right / reviewed.count()}
    quality = {row["username"]: row for row in annotators_quality(until=timezone.now() + timedelta(seconds=1))}
    for profile, entry in results.items():
        row = quality[profile]
        entry.update(gold_accuracy=row["gold"]["accuracy"], gold_interval=[row["gold"]["low"], row["gold"]["high"]],
                     flagged=row["flagged"], pages_confirmed_unchanged=row["pages_confirmed_unchanged"])
    return {"gold_faces": made, "faces_per_annotator": per_annotator, "noise": 0.10, "gold_rate": 0.2,
            "decoy_share": settings.FACECURATOR_GOLD_DECOY_SHARE,
            "flag_below": settings.FACECURATOR_QUALITY_FLAG_BELOW, "seed": seed, "annotators": results}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    machine = common.machine_info()
    started = time.perf_counter()
    with common.scratch_django("annotators"):
        results = run(args.quick, args.seed)
    results.update(machine=machine, wall_s=round(time.perf_counter() - started, 1), quick=args.quick)
    rows = [[name, e["items"], e["gold_answered"], f"{e['gold_share_of_items']:.1%}", f"{e['gold_accuracy']:.3f}",
             f"{e['gold_interval'][0]:.2f}-{e['gold_interval'][1]:.2f}", e["flagged_after_gold"] or "never",
             f"{e['pages_confirmed_unchanged']:.2f}", f"{e['label_accuracy_after_review']:.3f}"]
            for name, e in results["annotators"].items()]
    markdown = "\n".join([
        "# Annotators: gold faces tell a careless annotator apart", "",
        f"Machine: {common.machine_line(machine)}", "",
        f"10 VIPs, {results['faces_per_annotator']} faces per annotator with {results['noise']:.0%} wrong labels, "
        f"{results['gold_faces']} gold faces (admin-verified), gold rate {results['gold_rate']:.0%} "
        f"(default 5%), {results['decoy_share']:.0%} shown with a wrong label; flag when the 95% Wilson upper "
        f"bound < {results['flag_below']}. Seed {results['seed']}. Through the API in-process. Wall {results['wall_s']} s.",
        "",
        common.md_table(["annotator", "items", "gold answered", "gold share", "gold accuracy", "95% interval",
                         "flagged after (gold faces)", "pages all-confirm", "label accuracy after review"], rows),
        "",
        "Goal (issue 16): the careless annotator is flagged within 60 gold faces. Not measured here: agreement "
        "(second opinions off) and final accuracy with and without it.",
    ])
    common.write_results("annotators", common.json_ready(results), markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
