"""Open-set recognition: VIPs among distractors, every loss of ``ml.losses`` against a nearest-face baseline.

Data: glint24 (aligned crops) and LFW ``unknown`` people (loose photos: YuNet, the most prominent
face, ArcFace alignment), embedded once with SFace (cached in ``bench/.cache/``). People listed in
``identity_overlap.csv`` are dropped from LFW, so no VIP is ever a distractor of itself. Per
seed: the first ``--vips`` glint24 identities of a seeded order are VIPs, the other glint24
identities and the LFW people are distractors. Splits follow the product's rule
(:func:`ml.splits.split_for_group`, 80/10/10) by group: each VIP crop is its own group (an
imported crop), each distractor *person* is one group, so test distractors are people never seen
in training (open set).

Methods:

* each loss (CE, DCE, ZLog, ME, ArcFace, Threshold-Softmax) through the product's training job
  :func:`ml.train.train_classifier` (head mode on the embeddings on a CPU; ``finetune`` on the
  crops when a GPU is present), temperature fitted on val;
* ``nearest face``: the label of the most similar train VIP face by cosine, its cosine as the
  confidence, rejected below a threshold (metric learning, no training).

Metrics on test (``ml.metrics``): distractor, identification, total and kept accuracy at the
threshold of maximum total accuracy and at that of maximum mean F1 (both chosen on test, as the
thesis reports them), F1 AUC, identification and total accuracy at 95% and 99% VIP acceptance
("TPR"), total accuracy at the threshold chosen on val (what a deployment gets), and ECE over all
test samples and over VIP samples before and after temperature scaling. Mean ± std over seeds.

    python bench/openset.py [--quick] [--seeds 0 1 2] [--data DIR] [--mode head|finetune]

With ``--regimes glint24 lfw158 sweep`` it runs the regimes of ``bench/regimes.py`` instead (the
many-VIP LFW regime and the VIP-count sweep), with the headline of issue 14: the share of VIP test
faces identified right and accepted at a 0.1% and 1% false-accept rate on unseen people, beside
F1 AUC and the thesis metrics, for the product's default, the thesis's heads and the nearest face.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO)  # never let bench/*.py shadow a module
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench import common, embedding_cache  # noqa: E402
from bench.openset_regimes import run_regimes  # noqa: E402

if TYPE_CHECKING:
    pass  # torch is imported only where a benchmark trains

LOSS_NAMES = {
    "ce": "CE",
    "dce": "DCE",
    "zlog": "ZLog",
    "me": "ME",
    "arcface": "ArcFace",
    "tsoftmax": "Threshold-Softmax",
    "nearest_face": "nearest face (cosine)",
}


@dataclass
class Pool:
    """Every usable face: who it is, where its aligned crop is, its embedding, where it comes from."""

    person: list[str]
    crop_paths: list[Path]
    embeddings: np.ndarray
    source: np.ndarray  # "glint24" or "lfw"


def load_pool(data: Path, per_identity: int | None, lfw_people: int) -> Pool:
    glint = common.image_folder(data / "glint24")
    people, paths = [], []
    for name, files in glint.items():
        chosen = files if per_identity is None else files[:per_identity]
        people += [name] * len(chosen)
        paths += chosen
    glint_emb, glint_ok = embedding_cache.embed_files(paths, root=data, label="glint24")

    overlap = common.identity_overlap(data)
    lfw_root = data / "lfw" / "unknown"
    lfw_names, lfw_files = [], []
    if lfw_root.is_dir() and lfw_people > 0:
        folders = common.image_folder(lfw_root)
        candidates = [name for name in folders if name not in overlap and folders[name]]
        for name in common.seeded_order(candidates, 0)[:lfw_people]:  # one fixed order: the cache stays valid
            lfw_names.append(name)
            lfw_files.append(folders[name][0])
    lfw_emb, lfw_ok = embedding_cache.embed_files(lfw_files, root=data, recipe="detect", label="lfw/unknown")
    keep_g, keep_l = np.flatnonzero(glint_ok), np.flatnonzero(lfw_ok)
    return Pool(
        person=[people[i] for i in keep_g] + [f"lfw:{lfw_names[i]}" for i in keep_l],
        crop_paths=[paths[i] for i in keep_g]
        + [embedding_cache.aligned_crop_path(str(lfw_files[i].relative_to(data))) for i in keep_l],
        embeddings=np.concatenate([glint_emb[keep_g], lfw_emb[keep_l]]).astype(np.float32),
        source=np.array(["glint24"] * len(keep_g) + ["lfw"] * len(keep_l)),
    )


def assign(pool: Pool, seed: int, n_vips: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Labels (VIP class or -1), splits by group and the VIP names for one seed."""
    from ml.splits import split_for_group

    glint_people = sorted({p for p, s in zip(pool.person, pool.source, strict=True) if s == "glint24"})
    vips = common.seeded_order(glint_people, seed)[:n_vips]
    class_of = {name: i for i, name in enumerate(vips)}
    labels = np.array([class_of.get(p, -1) for p in pool.person], dtype=np.int64)
    groups = [
        f"crop:{path.parent.name}/{path.name}" if label >= 0 else f"person:{person}"
        for person, path, label in zip(pool.person, pool.crop_paths, labels, strict=True)
    ]
    splits = np.array([split_for_group(g, seed=seed) for g in groups])
    return labels, splits, vips


def _at(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("threshold", "distractor_accuracy", "identification_accuracy", "total_accuracy", "kept_accuracy", "mean_f1")
    return {k: report.get(k) for k in keys}


def _test_summary(
    report: Mapping[str, Any],
    labels: np.ndarray,
    predicted: np.ndarray,
    confidence: np.ndarray,
    n_classes: int,
    val_threshold: float | None,
    extra_thresholds: Mapping[str, float | None] | None = None,
) -> dict:
    """The headline numbers of an ``OpenSetReport`` on test, plus total accuracy at the val threshold."""
    from ml.metrics import evaluate_at_threshold

    out = {
        "at_max_total_accuracy": _at(report["at_max_total_accuracy"]),
        "at_max_mean_f1": _at(report["at_max_mean_f1"]),
        "f1_auc": report["f1_auc"],
        "at_vip_acceptance": report["at_vip_acceptance"],
    }
    for name, threshold in {"val_max_total_accuracy": val_threshold, **(extra_thresholds or {})}.items():
        if threshold is None:
            out[f"at_{name}"] = None
            continue
        at = evaluate_at_threshold(labels, predicted, confidence, threshold, n_classes)
        out[f"at_{name}"] = {
            "threshold": threshold,
            "total_accuracy": at.total_accuracy,
            "distractor_accuracy": at.distractor_accuracy,
            "identification_accuracy": at.identification_accuracy,
            "kept_accuracy": at.kept_accuracy,
        }
    return out


def run_loss(
    pool: Pool,
    labels: np.ndarray,
    splits: np.ndarray,
    vips: list[str],
    loss: str,
    seed: int,
    mode: Literal["head", "finetune"],
    epochs: int | None = None,
) -> dict[str, Any]:
    from ml.train import TrainConfig, TrainData, train_classifier

    inputs: Any = pool.embeddings if mode == "head" else [str(p) for p in pool.crop_paths]
    data = TrainData(inputs=inputs, labels=labels, splits=splits, class_names=vips, sample_ids=np.arange(len(labels)))
    config = TrainConfig(
        mode=mode,
        loss=loss,
        seed=seed,
        noise_folds=0,
        epochs=epochs,
        device=None if mode == "finetune" else "cpu",
        scorer="head",  # the losses are compared: the default scorer would score every row alike
    )
    with tempfile.TemporaryDirectory(prefix="bench-openset-") as folder:
        result = train_classifier(config, data, out_dir=Path(folder))
    test = np.flatnonzero(splits == "test")
    samples = result["samples"]
    predicted = np.array([samples[str(i)]["predicted"] for i in test])
    confidence = np.array([samples[str(i)]["confidence"] for i in test])
    summary = _test_summary(
        result["metrics"]["test"],
        labels[test],
        predicted,
        confidence,
        len(vips),
        result["operating_points"].get("max_total_accuracy"),
    )
    calibration = result["calibration"]["test"]
    summary["ece"] = {
        stage: {group: calibration[stage].get(group, {}).get("ece") for group in ("all", "vip")}
        for stage in ("before", "after")
    }
    summary["temperature"] = result["temperature"]
    summary["train_s"] = result["timings"]["train_s"]
    summary["device"] = result["device"]
    return summary


def run_nearest_face(pool: Pool, labels: np.ndarray, splits: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Metric-learning baseline: the nearest train VIP face by cosine, rejected below a threshold."""
    from ml.embedders import MATCH_THRESHOLDS, SFaceEmbedder
    from ml.metrics import open_set_report

    started = time.perf_counter()
    reference = np.flatnonzero((splits == "train") & (labels >= 0))
    refs = pool.embeddings[reference]

    def predict(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sims = pool.embeddings[rows] @ refs.T
        best = sims.argmax(axis=1)
        return labels[reference[best]], np.clip(sims[np.arange(len(rows)), best], 0.0, 1.0)

    val, test = np.flatnonzero(splits == "val"), np.flatnonzero(splits == "test")
    val_pred, val_conf = predict(val)
    test_pred, test_conf = predict(test)
    val_report = open_set_report(labels[val], val_pred, val_conf, n_classes)
    report = open_set_report(labels[test], test_pred, test_conf, n_classes).as_dict([str(c) for c in range(n_classes)])
    summary = _test_summary(
        report,
        labels[test],
        test_pred,
        test_conf,
        n_classes,
        val_report.at_max_total_accuracy.threshold,
        {"sface_published": MATCH_THRESHOLDS[SFaceEmbedder.name]},
    )
    summary["ece"] = None  # a cosine is not a probability
    summary["train_s"] = time.perf_counter() - started
    summary["device"] = "cpu"
    return summary


# --------------------------------------------------------------------------------------------
# Summary and tables
# --------------------------------------------------------------------------------------------
FIELDS = {
    "max_total.distractor": ("at_max_total_accuracy", "distractor_accuracy"),
    "max_total.identification": ("at_max_total_accuracy", "identification_accuracy"),
    "max_total.total": ("at_max_total_accuracy", "total_accuracy"),
    "max_total.kept": ("at_max_total_accuracy", "kept_accuracy"),
    "max_f1.mean_f1": ("at_max_mean_f1", "mean_f1"),
    "max_f1.distractor": ("at_max_mean_f1", "distractor_accuracy"),
    "max_f1.identification": ("at_max_mean_f1", "identification_accuracy"),
    "max_f1.total": ("at_max_mean_f1", "total_accuracy"),
    "max_f1.kept": ("at_max_mean_f1", "kept_accuracy"),
    "f1_auc": ("f1_auc",),
    "tpr95.identification": ("at_vip_acceptance", "0.95", "identification_accuracy"),
    "tpr95.total": ("at_vip_acceptance", "0.95", "total_accuracy"),
    "tpr99.identification": ("at_vip_acceptance", "0.99", "identification_accuracy"),
    "tpr99.total": ("at_vip_acceptance", "0.99", "total_accuracy"),
    "val_threshold.total": ("at_val_max_total_accuracy", "total_accuracy"),
    "val_threshold.kept": ("at_val_max_total_accuracy", "kept_accuracy"),
    "ece_all.before": ("ece", "before", "all"),
    "ece_all.after": ("ece", "after", "all"),
    "ece_vip.before": ("ece", "before", "vip"),
    "ece_vip.after": ("ece", "after", "vip"),
    "temperature": ("temperature",),
    "train_s": ("train_s",),
}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    methods = [m for m in (*common.LOSS_ORDER, "nearest_face") if any(m in r["methods"] for r in runs)]
    return {
        method: {
            field: common.spread(common.dig(r["methods"].get(method), *path) for r in runs)
            for field, path in FIELDS.items()
        }
        for method in methods
    }


def markdown(results: dict[str, Any]) -> str:
    cfg, s = results["config"], results["summary"]
    f = common.fmt
    lines = [
        "# Open-set recognition: VIPs among distractors",
        "",
        f"Machine: {common.machine_line(results['machine'])}. Losses trained in **{cfg['mode']}** mode "
        f"({'SFace embeddings, linear head' if cfg['mode'] == 'head' else 'backbone fine-tuned on crops'}).",
        f"Data: {cfg['vips']} glint24 VIPs per seed; distractors: the other {cfg['glint_identities'] - cfg['vips']} glint24 "
        f"identities and {cfg['lfw_people']} LFW unknown people (overlap people dropped); {cfg['samples']:,} faces"
        f"{subset(cfg)}. Test split by group (distractor people unseen in training): "
        f"{f(results['split_counts']['test_vip'], 0)} VIP and {f(results['split_counts']['test_distractor'], 0)} "
        f"distractor test faces. Seeds {cfg['seeds']}; mean ± std. "
        f"{'Quick run (subset): indicative only. ' if cfg['quick'] else ''}Wall time {results['wall_s']:.0f} s.",
        "",
        "## At the threshold of maximum total accuracy (chosen on test)",
        "",
    ]
    names = list(s)
    lines.append(
        common.md_table(
            ["method", "distractor acc", "identification acc", "total acc", "kept acc"],
            [
                [
                    LOSS_NAMES[m],
                    f(s[m]["max_total.distractor"]),
                    f(s[m]["max_total.identification"]),
                    f(s[m]["max_total.total"]),
                    f(s[m]["max_total.kept"]),
                ]
                for m in names
            ],
        )
    )
    lines += ["", "## At the threshold of maximum mean F1 (chosen on test)", ""]
    lines.append(
        common.md_table(
            ["method", "mean F1", "distractor acc", "identification acc", "total acc", "kept acc"],
            [
                [
                    LOSS_NAMES[m],
                    f(s[m]["max_f1.mean_f1"]),
                    f(s[m]["max_f1.distractor"]),
                    f(s[m]["max_f1.identification"]),
                    f(s[m]["max_f1.total"]),
                    f(s[m]["max_f1.kept"]),
                ]
                for m in names
            ],
        )
    )
    lines += [
        "",
        "## Threshold-free and deployment numbers",
        "",
        "TPR95/99: identification / total accuracy at the threshold that accepts 95% / 99% of VIP faces. "
        "Val thr.: total (kept) accuracy on test at the max-total-accuracy threshold chosen on val. "
        "ECE over all test faces (a distractor is never correct) and over VIP faces, before → after "
        "temperature scaling; the nearest-face cosine is not a probability (no ECE). F1 AUC of the "
        "nearest face integrates over cosine thresholds in [0, 1].",
        "",
    ]
    rows = []
    for m in names:
        ece_all = (
            "—"
            if s[m]["ece_all.before"]["mean"] is None
            else f"{f(s[m]['ece_all.before'])} → {f(s[m]['ece_all.after'])}"
        )
        ece_vip = (
            "—"
            if s[m]["ece_vip.before"]["mean"] is None
            else f"{f(s[m]['ece_vip.before'])} → {f(s[m]['ece_vip.after'])}"
        )
        rows.append(
            [
                LOSS_NAMES[m],
                f(s[m]["f1_auc"]),
                f"{f(s[m]['tpr95.identification'])} / {f(s[m]['tpr95.total'])}",
                f"{f(s[m]['tpr99.identification'])} / {f(s[m]['tpr99.total'])}",
                f"{f(s[m]['val_threshold.total'])} ({f(s[m]['val_threshold.kept'])})",
                ece_all,
                ece_vip,
                f(s[m]["train_s"], 1),
            ]
        )
    lines.append(
        common.md_table(
            [
                "method",
                "F1 AUC",
                "TPR95 id / total",
                "TPR99 id / total",
                "val thr. total (kept)",
                "ECE all",
                "ECE VIP",
                "train s",
            ],
            rows,
        )
    )
    return "\n".join(lines)


def subset(cfg: dict[str, Any]) -> str:
    return "" if cfg["per_identity"] is None else f" (at most {cfg['per_identity']} crops per glint24 identity)"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="80 crops per identity, 400 LFW people, 1 seed")
    parser.add_argument("--data", help="the shared data folder (glint24/, lfw/, identity_overlap.csv)")
    parser.add_argument("--seeds", type=int, nargs="+", help="default 0 1 2 (quick: 0)")
    parser.add_argument("--vips", type=int, default=12)
    parser.add_argument("--per-identity", type=int, help="at most this many glint24 crops per identity (quick: 80)")
    parser.add_argument(
        "--lfw-people", type=int, help="LFW unknown people used as distractors (default 2000, quick 400)"
    )
    parser.add_argument("--losses", nargs="+", choices=common.LOSS_ORDER, default=list(common.LOSS_ORDER))
    parser.add_argument(
        "--mode",
        choices=("auto", "head", "finetune"),
        default="auto",
        help="auto: finetune when a GPU is present, else head",
    )
    parser.add_argument(
        "--epochs", type=int, help="training epochs (default: the mode's default, head 30, finetune 10)"
    )
    parser.add_argument("--output-dir", type=Path, help="where openset.json / openset.md go (default bench/results/)")
    parser.add_argument(
        "--regimes",
        nargs="+",
        choices=("glint24", "lfw158", "sweep", "lfw12", "lfw40", "lfw80", "lfw158+glint24"),
        help="run these regimes (bench/regimes.py) instead: openset_regimes.json / .md",
    )
    args = parser.parse_args(argv)
    if args.regimes:
        return run_regimes(args)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    per_identity = args.per_identity or (80 if args.quick else None)
    lfw_people = args.lfw_people if args.lfw_people is not None else (400 if args.quick else 2000)
    mode: Literal["head", "finetune"] = (
        args.mode if args.mode != "auto" else ("finetune" if torch.cuda.is_available() else "head")
    )
    data = common.shared_data_dir(args.data)
    common.configure_threads()
    machine = common.machine_info()
    started = time.perf_counter()

    pool = load_pool(data, per_identity, lfw_people)
    common.log(f"{len(pool.person)} faces ({int(np.sum(pool.source == 'lfw'))} from LFW)")
    runs, counts = [], []
    for seed in seeds:
        labels, splits, vips = assign(pool, seed, args.vips)
        test = splits == "test"
        counts.append(
            {
                "test_vip": int(np.sum(test & (labels >= 0))),
                "test_distractor": int(np.sum(test & (labels < 0))),
                "test_distractor_people": len(
                    {p for p, t, lab in zip(pool.person, test, labels, strict=True) if t and lab < 0}
                ),
            }
        )
        run: dict[str, Any] = {"seed": seed, "vips": vips, "counts": counts[-1], "methods": {}}
        for loss in args.losses:
            clock = time.perf_counter()
            run["methods"][loss] = run_loss(pool, labels, splits, vips, loss, seed, mode, args.epochs)
            common.log(
                f"seed {seed} {loss}: total acc {run['methods'][loss]['at_max_total_accuracy']['total_accuracy']:.3f}"
                f" ({time.perf_counter() - clock:.0f} s)"
            )
        run["methods"]["nearest_face"] = run_nearest_face(pool, labels, splits, len(vips))
        runs.append(run)
    results = {
        "benchmark": "openset",
        "machine": machine,
        "config": {
            "data": str(data),
            "quick": args.quick,
            "seeds": seeds,
            "vips": args.vips,
            "mode": mode,
            "per_identity": per_identity,
            "lfw_people": int(np.sum(pool.source == "lfw")),
            "glint_identities": len({p for p, s in zip(pool.person, pool.source, strict=True) if s == "glint24"}),
            "samples": len(pool.person),
            "losses": args.losses,
            "epochs": args.epochs,
            "training": "ml.train.train_classifier, TrainConfig defaults for the mode, noise_folds=0",
        },
        "split_counts": {key: common.spread(c[key] for c in counts) for key in counts[0]},
        "summary": summarise(runs),
        "runs": runs,
        "wall_s": time.perf_counter() - started,
    }
    text = markdown(results)
    common.write_results("openset", results, text, out_dir=args.output_dir)
    print(text)
    if args.quick:  # make bench-quick keeps a small version of the many-VIP regime
        run_regimes(argparse.Namespace(**{**vars(args), "regimes": ["lfw158"]}))
    return results


if __name__ == "__main__":
    main()
