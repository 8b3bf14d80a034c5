"""Simulated annotators through the review API: gold faces, agreement and held decisions, what they
buy in label accuracy and what they cost in annotator time.

Setup: a throwaway database (SQLite or PostgreSQL, see ``common.scratch_django``); 10 VIPs; 200 faces
verified by an admin, hence gold. Three simulated annotators, all through the API in-process (DRF's
test client: behaviour, not latency), pages of 20 (``POST .../next/``, one ``POST /api/v1/review/decisions/``
per page):

* careful: the right answer 98% of the time (else a wrong VIP);
* careless: the right answer 75% of the time, otherwise confirms (or, where confirm was right,
  relabels to a wrong VIP): 25% errors, most of them confirms;
* spammer: confirms everything.

The right answer for a face shown labelled X whose true label is T: confirm when X == T, else relabel
to T. The admin always answers right.

**Phase 1, gold faces until a flag.** Each annotator works a queue of its own (``--faces-own``, 10%
wrong VIP labels) with gold faces mixed in at 33% (5% by default: the count of gold faces until a flag
does not depend on the rate, only the pages it takes), half of them shown with a wrong VIP. Reported:
gold answers after which the flag (at least FACECURATOR_QUALITY_MIN_GOLD answers and the 95% Wilson
upper bound < FACECURATOR_QUALITY_FLAG_BELOW) went up and stayed up. The annotators keep these gold answers for phase 2 (a team that has been answering
gold faces for a while; who is flagged when phase 2 starts is reported).

**Phase 2, the team on one set.** For each condition a fresh copy of the same set (``--faces``,
10% wrong VIP labels) is one queue worked by the three in turn, a page each, then the "Second
opinions" queue until nobody left can take an item (the set is served in random order, so each
annotator gets a random share: a queue sorted by p_wrong would hand the likely errors to whoever
comes first); the admin then decides what is left there and the disagreements. The model's view of each face is ``p_wrong`` from the product's own scorer
(:func:`ml.label_quality.score_label_errors`) on synthetic embeddings: 64-d clusters, one per VIP,
noise of norm ``--spread`` (2.0) around unit centres; in that regime p_wrong >= 0.9 catches about 85%
of the wrong labels and about 2% of the right ones (reported per seed). Conditions:

* none: no gold, no second opinions;
* gold + hold: gold faces at the default 5%, FACECURATOR_HOLD_FLAGGED on;
* agreement (default): FACECURATOR_SECOND_OPINION=relabel_vip (the default), no gold;
* agreement (all): every kind (relabel_vip, relabel_vip_other, unknown_vip, not_a_face_vip,
  confirm_likely_wrong at p_wrong >= 0.9), no gold;
* agreement (all, p_wrong >= 0.5): the same with FACECURATOR_VERY_LIKELY_WRONG=0.5;
* agreement (all) + gold + hold: agreement (all) and gold + hold;
* agreement (all), no model skip / disputes with flagged to admins / neither rule (before): agreement
  (all) with one or both of the rules that cut its time turned off: FACECURATOR_MODEL_AGREES (a relabel
  to the identity the run suggests at posterior >= 0.5, on a label at p_wrong >= 0.9, waits for nobody)
  and FACECURATOR_OVERRULE_FLAGGED (a second opinion the run backs settles a dispute with a flagged
  annotator instead of the admin).

The set's "likely wrong" items carry the scorer's p_wrong and its suggestion (the hint: the likely
true identity and its posterior), as a run's items do. ``--conditions`` runs only some conditions.

**Flag threshold.** Without the API: simulated streams of gold answers at several accuracies through
the product's flag rule, the share flagged within 60 answers at FACECURATOR_QUALITY_FLAG_BELOW 0.85
and 0.9 and at FACECURATOR_QUALITY_MIN_GOLD 1, 10, 15 and 20 (why the defaults are 0.9 and 15).

Annotator time is counted in items looked at (a gold face or a second opinion costs the same as
any item); the admin's items are counted too. Cost is the extra time over "none" on the same set.
Accuracy is over every face of the set, each of which was reviewed.

    python bench/annotators.py [--quick] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO)  # never let bench/*.py shadow a module
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import common  # noqa: E402
from bench.annotators_agreement import CONDITIONS, phase_two  # noqa: E402
from bench.annotators_gold import flag_threshold_curve, phase_one  # noqa: E402
from bench.annotators_report import markdown, summarise  # noqa: E402
from bench.annotators_team import NOISE, PAGE, PROFILES, World, noisy_set  # noqa: E402


def run(
    *, quick: bool, seeds: list[int], faces: int, faces_own: int, spread: float, only: list[str] | None = None
) -> dict:
    world = World()
    per_seed = []
    for seed in seeds:
        rng = random.Random(seed)
        random.seed(seed)  # the gold faces mixed into leases draw from the process's generator: a run repeats
        team = {profile: world.annotator(f"{profile}{seed}") for profile in PROFILES}
        started = time.perf_counter()
        calibration = phase_one(world, team, faces_own, rng)
        spec = noisy_set(faces, len(world.vips), spread, seed)
        conditions = {}
        for name in CONDITIONS:
            if only and name != "none" and name not in only:
                continue
            conditions[name] = phase_two(world, team, spec, name, random.Random(seed * 1000 + 7))
            common.log(
                f"seed {seed} {name}: {conditions[name]['wrong_share']:.1%} wrong, "
                f"{conditions[name]['team_items']} items"
            )
        base, base_annotators = conditions["none"]["team_items"], conditions["none"]["annotator_items"]
        for entry in conditions.values():
            entry["cost_vs_none"] = entry["team_items"] / base - 1
            entry["annotator_cost_vs_none"] = entry["annotator_items"] / base_annotators - 1
        per_seed.append(
            {
                "seed": seed,
                "wall_s": round(time.perf_counter() - started, 1),
                "phase_one": calibration,
                "set": {k: spec[k] for k in ("wrong", "recall_at_0_9", "right_at_0_9")},
                "conditions": conditions,
            }
        )
    return {
        "flag_threshold": flag_threshold_curve(),
        "gold_faces": world.gold_faces,
        "faces": faces,
        "faces_own": faces_own,
        "noise": NOISE,
        "spread": spread,
        "page": PAGE,
        "seeds": per_seed,
        "summary": summarise(per_seed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sets, one seed")
    parser.add_argument("--seeds", type=int, nargs="+", help="default 0 1 2 (quick: 0)")
    parser.add_argument("--faces", type=int, help="faces in phase 2's set (default 200; quick 80)")
    parser.add_argument("--faces-own", type=int, help="faces per annotator in phase 1 (default 150; quick 80)")
    parser.add_argument("--spread", type=float, default=2.0, help="synthetic embedding noise (default 2.0)")
    parser.add_argument(
        "--conditions", nargs="+", metavar="NAME", help="run only these phase-2 conditions (and none); default all"
    )
    parser.add_argument("--output-dir", type=Path, help="where to write annotators.json/.md (default bench/results)")
    args = parser.parse_args()
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    machine = common.machine_info()
    started = time.perf_counter()
    with common.scratch_django("annotators"):
        results = run(
            quick=args.quick,
            seeds=seeds,
            faces=args.faces or (80 if args.quick else 200),
            faces_own=args.faces_own or (80 if args.quick else 150),
            spread=args.spread,
            only=args.conditions,
        )
    results.update(machine=machine, wall_s=round(time.perf_counter() - started, 1), quick=args.quick)
    text = markdown(results)
    common.write_results("annotators", common.json_ready(results), text, out_dir=args.output_dir)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
