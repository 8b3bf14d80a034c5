"""Label-error detection: FaceCurator's noise ranking against cleanlab on injected label noise.

Data: a real labelled face set (glint24 by default: ``root/<identity>/<crop>``), embedded once
with SFace (cached in ``bench/.cache/``). Per seed: the first ``--vips`` identities of a seeded
order are the VIPs, the rest distractors; every crop is its own group, split 80/10/10 by the
product's rule (:func:`ml.splits.split_for_group`). Label noise is injected into the train split,
one kind at a time (and all kinds together, ``mixed``), each at its rate:

* ``lookalike``: VIP faces relabelled as the other VIP whose centroid is nearest to the face;
* ``open_set``: distractor faces labelled as a (uniformly drawn) VIP;
* ``random``: any train face given a uniformly drawn other label (another VIP or "distractor");
* ``non_face``: background crops (LFW image corners, away from the face) and synthetic textures,
  embedded the same way, added with a VIP label.

Rates are shares of the train VIP faces (``random``: of all train faces).

Methods, on the same embeddings and the same train samples:

* ``facecurator``: the product's training job, :func:`ml.train.train_classifier` in head mode
  (ME loss, 5-fold cross-fitted loss, the defaults a run uses), its per-sample
  ``noise.score`` (:func:`ml.noise.combined_rank` of training loss, out-of-sample loss,
  neighbour disagreement and prototype distance, ranked within each direction) as the queue;
  each component alone is reported too (ranked within direction the same way);
* ``cleanlab_issues``: cleanlab's ``find_label_issues`` on out-of-sample predicted
  probabilities of a logistic regression (``cross_val_predict``, 5 folds, distractors as one
  more class), its flagged set ranked by self-confidence, then the rest by self-confidence;
* ``cleanlab_self_confidence``: cleanlab's self-confidence label quality, lowest first.

Metrics per method and noise kind (over the train samples; n = number of injected errors):
precision at n (= recall at n, since the cut is n), average precision, share of the errors in the
first 10% of the queue, and for ``cleanlab_issues`` the precision/recall of its flagged set. The
same on the VIP-labelled samples alone (the product's ``label_errors`` queue). Mean ± std over
seeds; the verdict compares FaceCurator with the better cleanlab ranking seed by seed (paired).
glint24's own label noise (web-scraped) is not injected, so it counts as "clean": it caps every
method's precision alike.

    python bench/noise.py [--quick] [--seeds 0 1 2 3 4] [--data DIR] [--rates lookalike=0.1 ...]

With ``--regimes glint24 lfw158 sweep`` it runs the regimes of ``bench/regimes.py`` instead:
lookalike (8%), open-set (4%) and mixed noise, ``ml.label_quality``'s label-error probability
against cleanlab's best ranking and flagged set, and one simulated review pass over the merged
queue (point 4 of issue 14).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO)  # never let bench/*.py shadow a module
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench import common, embedding_cache  # noqa: E402
from bench.noise_injection import KINDS, NON_FACE_POOL, FaceSet, NoisySet, inject, load_face_set, make_non_faces  # noqa: E402
from bench.noise_metrics import ranking_metrics, set_metrics  # noqa: E402
from bench.noise_regimes import run_regimes  # noqa: E402

DEFAULT_RATES = {"lookalike": 0.10, "open_set": 0.10, "random": 0.10, "non_face": 0.05}


COMPONENTS = ("training_loss", "out_of_sample_loss", "neighbour_disagreement", "prototype_distance")


MAIN_METHODS = ("facecurator", "cleanlab_issues", "cleanlab_self_confidence")


def _within_direction(score: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One score ranked within each direction, exactly as ``ml.noise`` combines components."""
    from ml.noise import combined_rank

    out = np.zeros(len(labels))
    for members in (np.flatnonzero(labels >= 0), np.flatnonzero(labels < 0)):
        if members.size:
            out[members] = combined_rank([np.asarray(score, dtype=np.float64)[members]])
    return out


def facecurator_scores(noisy: NoisySet, seed: int) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The product's training job in head mode; its noise score (and each component) on the train split."""
    from ml.train import TrainConfig, TrainData, train_classifier

    train = noisy.train
    data = TrainData(
        inputs=noisy.embeddings,
        labels=noisy.labels,
        splits=noisy.splits,
        class_names=noisy.class_names,
        sample_ids=np.arange(len(noisy.labels)),
    )
    with tempfile.TemporaryDirectory(prefix="bench-noise-") as folder:
        result = train_classifier(TrainConfig(mode="head", seed=seed, device="cpu"), data, out_dir=Path(folder))
    entries = [result["samples"][str(i)]["noise"] for i in train]
    scores = {"facecurator": np.array([e["score"] for e in entries], dtype=np.float64)}
    labels = noisy.labels[train]
    for name in COMPONENTS:
        values = np.array([np.nan if e.get(name) is None else e[name] for e in entries], dtype=np.float64)
        if np.isfinite(values).any():
            scores[f"facecurator:{name}"] = _within_direction(values, labels)
    return scores, {
        "train_s": result["timings"]["train_s"],
        "cross_fit_s": result["timings"]["cross_fit_s"],
        "noise_s": result["timings"]["noise_s"],
        "total_s": result["timings"]["total_s"],
    }


def cleanlab_scores(noisy: NoisySet, seed: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """cleanlab on out-of-sample logistic-regression probabilities of the same train embeddings."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = noisy.train
    n_classes = len(noisy.class_names)
    x = noisy.embeddings[train]
    y = np.where(noisy.labels[train] >= 0, noisy.labels[train], n_classes)  # distractor = one more class
    started = time.perf_counter()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probs = cross_val_predict(
        model, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=seed), method="predict_proba"
    )
    fit_s = time.perf_counter() - started
    quality = get_label_quality_scores(y, probs, method="self_confidence")
    issues = find_label_issues(y, probs, return_indices_ranked_by="self_confidence")
    # flagged issues first in cleanlab's order, then the rest by self-confidence (lowest first)
    issue_score = -quality.astype(np.float64)
    issue_score[issues] = 2.0 + (len(issues) - np.arange(len(issues))) / max(len(issues), 1)
    flagged = np.zeros(len(train), dtype=bool)
    flagged[issues] = True
    return (
        {"cleanlab_issues": issue_score, "cleanlab_self_confidence": -quality.astype(np.float64)},
        {"fit_s": fit_s, "total_s": time.perf_counter() - started, "flagged": flagged},
    )


def run_one(
    faces: FaceSet, non_faces: np.ndarray, kind: str, rates: dict[str, float], seed: int, n_vips: int
) -> dict[str, Any]:
    kinds = KINDS if kind == "mixed" else (kind,)
    noisy = inject(faces, kinds, rates, seed=seed, n_vips=n_vips, non_faces=non_faces)
    train = noisy.train
    is_error = noisy.labels[train] != noisy.clean[train]
    scopes = {
        "all": np.ones(len(train), dtype=bool),
        "vip_labelled": noisy.labels[train] >= 0,
        "distractor_labelled": noisy.labels[train] < 0,
    }
    fc, fc_timing = facecurator_scores(noisy, seed)
    cl, cl_info = cleanlab_scores(noisy, seed)
    out: dict[str, Any] = {
        "seed": seed,
        "kind": kind,
        "n_train": int(len(train)),
        "n_errors": int(is_error.sum()),
        "n_errors_by_scope": {scope: int(is_error[rows].sum()) for scope, rows in scopes.items()},
        "timings": {"facecurator": fc_timing, "cleanlab": {k: cl_info[k] for k in ("fit_s", "total_s")}},
        "methods": {},
    }
    for method, score in {**fc, **cl}.items():
        rng = np.random.default_rng(seed)
        out["methods"][method] = {
            scope: ranking_metrics(is_error[rows], score[rows], rng) for scope, rows in scopes.items()
        }
    out["methods"]["cleanlab_issues"]["flagged_set"] = set_metrics(is_error, cl_info["flagged"])
    return out


METRICS = ("precision_at_n", "average_precision", "found_in_first_10pct")


SCOPES = ("all", "vip_labelled", "distractor_labelled")


def summarise(runs: list[dict[str, Any]], kinds: list[str]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind in kinds:
        rows = [r for r in runs if r["kind"] == kind]
        methods = sorted({m for r in rows for m in r["methods"]}, key=lambda m: (m not in MAIN_METHODS, m))
        entry: dict[str, Any] = {
            "n_errors": common.spread(r["n_errors"] for r in rows),
            "n_train": common.spread(r["n_train"] for r in rows),
            "methods": {},
        }
        for method in methods:
            entry["methods"][method] = {
                scope: {metric: common.spread(r["methods"][method][scope][metric] for r in rows) for metric in METRICS}
                for scope in SCOPES
            }
        entry["methods"]["cleanlab_issues"]["flagged_set"] = {
            key: common.spread(r["methods"]["cleanlab_issues"]["flagged_set"][key] for r in rows)
            for key in ("flagged", "precision", "recall")
        }
        entry["verdict"] = {
            scope: verdict(rows, scope) for scope in SCOPES if all(r["n_errors_by_scope"][scope] for r in rows)
        }
        summary[kind] = entry
    return summary


def verdict(rows: list[dict[str, Any]], scope: str) -> dict[str, Any]:
    """FaceCurator against the better cleanlab ranking (by mean AP), seed by seed, on AP and P@n:
    "wins"/"loses" when it is ahead/behind on every seed, else "mixed"."""

    def values(method: str, metric: str) -> np.ndarray:
        return np.array([r["methods"][method][scope][metric] or 0.0 for r in rows])

    reference = max(
        ("cleanlab_issues", "cleanlab_self_confidence"), key=lambda m: values(m, "average_precision").mean()
    )
    out: dict[str, Any] = {"reference": reference}
    for metric in ("average_precision", "precision_at_n"):
        diff = values("facecurator", metric) - values(reference, metric)
        word = "wins" if np.all(diff > 0) else "loses" if np.all(diff < 0) else "mixed"
        out[metric] = {"outcome": word, "mean_difference": float(diff.mean()), "per_seed": [float(d) for d in diff]}
    return out


LABELS = {
    "facecurator": "FaceCurator (ml.train + ml.noise)",
    "cleanlab_issues": "cleanlab find_label_issues",
    "cleanlab_self_confidence": "cleanlab self-confidence",
}


def markdown(results: dict[str, Any]) -> str:
    cfg, summary = results["config"], results["summary"]
    subset = "" if cfg["per_identity"] is None else f", at most {cfg['per_identity']} each"
    lines = [
        "# Label-error detection: FaceCurator vs cleanlab",
        "",
        f"Machine: {common.machine_line(results['machine'])}.",
        f"Data: {cfg['data']} ({cfg['samples']:,} crops of {cfg['identities']} identities"
        f"{subset}), "
        f"{cfg['vips']} VIPs per seed, the rest distractors; seeds {cfg['seeds']}; "
        f"rates {', '.join(f'{k} {v:.0%}' for k, v in cfg['rates'].items())}. Train split only (80%). "
        f"{'Quick run (subset): indicative only. ' if cfg['quick'] else ''}"
        f"Wall time {results['wall_s']:.0f} s.",
        "",
        "Queue = all train samples sorted by suspicion. P@n = R@n: precision (= recall) in the first n, n = injected "
        "errors. AP: average precision. 10%: share of the errors in the first 10% of the queue. Mean ± std over seeds. "
        "Verdict: FaceCurator against the better cleanlab ranking, paired by seed (wins/loses: on every seed).",
        "",
    ]
    rows = []
    for kind, entry in summary.items():
        verdicts = entry["verdict"]["all"]
        for method in MAIN_METHODS:
            m = entry["methods"][method]["all"]
            extra = ""
            if method == "cleanlab_issues":
                f = entry["methods"][method]["flagged_set"]
                extra = f"{common.fmt(f['flagged'], 0)} flagged, P {common.fmt(f['precision'], 2)}, R {common.fmt(f['recall'], 2)}"
            v = ""
            if method == "facecurator":
                ap, pn = verdicts["average_precision"], verdicts["precision_at_n"]
                v = (
                    f"**{ap['outcome']}** AP ({ap['mean_difference']:+.3f}), {pn['outcome']} P@n "
                    f"({pn['mean_difference']:+.3f}) vs {verdicts['reference'].replace('cleanlab_', '')}"
                )
            rows.append(
                [
                    kind,
                    f"{common.fmt(entry['n_errors'], 0)}",
                    LABELS[method],
                    common.fmt(m["precision_at_n"]),
                    common.fmt(m["average_precision"]),
                    common.fmt(m["found_in_first_10pct"]),
                    extra,
                    v,
                ]
            )
    lines.append(
        common.md_table(
            ["noise", "errors", "method", "P@n = R@n", "AP", "in first 10%", "flagged set", "FaceCurator verdict"],
            rows,
            align="lrlrrrll",
        )
    )
    lines += [
        "",
        "## Each direction alone: the product's two queues",
        "",
        "FaceCurator ranks VIP-labelled faces (the `label_errors` queue) and distractor-labelled faces (the "
        "`lookalikes` queue) separately; the table above merges the two by normalised rank. Here each "
        "direction is scored alone, for every method (AP; verdict on AP against the better cleanlab ranking). "
        "Only random flips put errors among distractor-labelled faces.",
        "",
    ]
    rows = []
    for kind, entry in summary.items():
        row = [kind]
        for scope in ("vip_labelled", "distractor_labelled"):
            if scope not in entry["verdict"]:
                row += ["—"] * 4
                continue
            ap = entry["verdict"][scope]["average_precision"]
            row += [common.fmt(entry["methods"][m][scope]["average_precision"]) for m in MAIN_METHODS]
            row.append(f"{ap['outcome']} ({ap['mean_difference']:+.3f})")
        rows.append(row)
    lines.append(
        common.md_table(
            [
                "noise",
                "label_errors: FaceCurator",
                "cl issues",
                "cl self-conf.",
                "verdict",
                "lookalikes: FaceCurator",
                "cl issues",
                "cl self-conf.",
                "verdict",
            ],
            rows,
            align="lrrrlrrrl",
        )
    )
    lines += [
        "",
        "## FaceCurator's components alone",
        "",
        "AP of each score ranked within its direction as `ml.noise.combined_rank` does: over all train "
        "samples / over VIP-labelled samples only.",
        "",
    ]
    components = [c for c in COMPONENTS if any(f"facecurator:{c}" in e["methods"] for e in summary.values())]

    def both(entry: dict[str, Any], method: str) -> str:
        scores = entry["methods"].get(method)
        if scores is None:
            return "—"
        return (
            f"{common.fmt(scores['all']['average_precision'])} / "
            f"{common.fmt(scores['vip_labelled']['average_precision'])}"
        )

    rows = [
        [kind, both(entry, "facecurator")] + [both(entry, f"facecurator:{c}") for c in components]
        for kind, entry in summary.items()
    ]
    lines.append(common.md_table(["noise", "combined", *components], rows))
    t = results["timings"]
    lines += [
        "",
        f"Time per run (mean): FaceCurator training job {t['facecurator_s']:.1f} s (train + 5 cross-fit folds "
        f"+ noise scores), cleanlab {t['cleanlab_s']:.1f} s (5-fold logistic regression + ranking).",
    ]
    return "\n".join(lines)


def parse_rates(items: list[str] | None) -> dict[str, float]:
    rates = dict(DEFAULT_RATES)
    for item in items or []:
        kind, _, value = item.partition("=")
        if kind not in KINDS:
            raise SystemExit(f"unknown noise kind {kind!r}; choose from {', '.join(KINDS)}")
        rates[kind] = float(value)
    return rates


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 crops per identity, 2 seeds")
    parser.add_argument("--data", help="the face set: a folder with glint24/ in it, or root/<identity>/<image> itself")
    parser.add_argument("--seeds", type=int, nargs="+", help="default 0 1 2 (quick: 0 1); --regimes: 0 to 4 (quick: 0)")
    parser.add_argument("--vips", type=int, default=12, help="VIPs per seed (the rest are distractors)")
    parser.add_argument("--per-identity", type=int, help="at most this many crops per identity (quick: 60)")
    parser.add_argument("--kinds", nargs="+", choices=[*KINDS, "mixed"], default=[*KINDS, "mixed"])
    parser.add_argument("--rates", nargs="+", metavar="KIND=RATE", help="e.g. lookalike=0.2 non_face=0.02")
    parser.add_argument(
        "--non-face-pool", type=int, default=NON_FACE_POOL, help="non-face crops made (and cached) once"
    )
    parser.add_argument("--output-dir", type=Path, help="where noise.json / noise.md go (default bench/results/)")
    parser.add_argument(
        "--regimes",
        nargs="+",
        choices=("glint24", "lfw158", "sweep", "lfw12", "lfw40", "lfw80", "lfw158+glint24"),
        help="run these regimes (bench/regimes.py) instead: noise_regimes.json / .md",
    )
    parser.add_argument("--no-cleanlab", action="store_true", help="regimes: FaceCurator's ranking only")
    args = parser.parse_args(argv)
    if args.regimes:
        return run_regimes(args)
    seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])
    per_identity = args.per_identity or (60 if args.quick else None)
    rates = parse_rates(args.rates)
    data = common.shared_data_dir(args.data)
    common.configure_threads()
    machine = common.machine_info()
    started = time.perf_counter()

    faces = load_face_set(data, per_identity)
    common.log(f"{len(faces.names)} crops of {len(set(faces.names))} identities")
    non_faces = embedding_cache.embed_arrays(
        make_non_faces(data, args.non_face_pool), cache_name=f"nonfaces-{args.non_face_pool}-seed0"
    )
    runs = []
    for seed in seeds:
        for kind in args.kinds:
            clock = time.perf_counter()
            run = run_one(faces, non_faces, kind, rates, seed, args.vips)
            runs.append(run)
            fc, cl = run["methods"]["facecurator"]["all"], run["methods"]["cleanlab_self_confidence"]["all"]
            common.log(
                f"seed {seed} {kind}: {run['n_errors']} errors; AP FaceCurator {fc['average_precision']:.3f}, "
                f"cleanlab self-confidence {cl['average_precision']:.3f} ({time.perf_counter() - clock:.0f} s)"
            )
    results = {
        "benchmark": "noise",
        "machine": machine,
        "config": {
            "data": str(data),
            "quick": args.quick,
            "seeds": seeds,
            "vips": args.vips,
            "per_identity": per_identity,
            "kinds": args.kinds,
            "rates": rates,
            "samples": len(faces.names),
            "identities": len(set(faces.names)),
            "non_face_pool": args.non_face_pool,
            "facecurator": "ml.train.train_classifier, TrainConfig(mode='head') defaults (ME loss, 30 epochs, "
            "5 noise folds, k=10), device cpu",
            "cleanlab": "StandardScaler + LogisticRegression(max_iter=2000), cross_val_predict 5-fold stratified; "
            "find_label_issues(filter_by='prune_by_noise_rate', ranked by self_confidence)",
        },
        "summary": summarise(runs, args.kinds),
        "timings": {
            "facecurator_s": float(np.mean([r["timings"]["facecurator"]["total_s"] for r in runs])),
            "cleanlab_s": float(np.mean([r["timings"]["cleanlab"]["total_s"] for r in runs])),
        },
        "runs": runs,
        "wall_s": time.perf_counter() - started,
    }
    text = markdown(results)
    common.write_results("noise", results, text, out_dir=args.output_dir)
    print(text)
    if args.quick:  # make bench-quick keeps a small version of the many-VIP regime
        run_regimes(argparse.Namespace(**{**vars(args), "regimes": ["lfw158"]}))
    return results


if __name__ == "__main__":
    main()
