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

from bench import common  # noqa: E402

if TYPE_CHECKING:
    from ml.train import RunResult  # torch is imported only where a benchmark trains

LOSS_ORDER = ("ce", "dce", "zlog", "me", "arcface", "tsoftmax")
LOSS_NAMES = {"ce": "CE", "dce": "DCE", "zlog": "ZLog", "me": "ME", "arcface": "ArcFace", "tsoftmax": "Threshold-Softmax",
              "nearest_face": "nearest face (cosine)"}


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
    glint_emb, glint_ok = common.embed_files(paths, root=data, label="glint24")

    overlap = common.identity_overlap(data)
    lfw_root = data / "lfw" / "unknown"
    lfw_names, lfw_files = [], []
    if lfw_root.is_dir() and lfw_people > 0:
        folders = common.image_folder(lfw_root)
        candidates = [name for name in folders if name not in overlap and folders[name]]
        for name in common.seeded_order(candidates, 0)[:lfw_people]:  # one fixed order: the cache stays valid
            lfw_names.append(name)
            lfw_files.append(folders[name][0])
    lfw_emb, lfw_ok = common.embed_files(lfw_files, root=data, recipe="detect", label="lfw/unknown")
    keep_g, keep_l = np.flatnonzero(glint_ok), np.flatnonzero(lfw_ok)
    return Pool(
        person=[people[i] for i in keep_g] + [f"lfw:{lfw_names[i]}" for i in keep_l],
        crop_paths=[paths[i] for i in keep_g]
        + [common.aligned_crop_path(str(lfw_files[i].relative_to(data))) for i in keep_l],
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
    groups = [f"crop:{path.parent.name}/{path.name}" if label >= 0 else f"person:{person}"
              for person, path, label in zip(pool.person, pool.crop_paths, labels, strict=True)]
    splits = np.array([split_for_group(g, seed=seed) for g in groups])
    return labels, splits, vips


def _at(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("threshold", "distractor_accuracy", "identification_accuracy", "total_accuracy", "kept_accuracy", "mean_f1")
    return {k: report.get(k) for k in keys}


def _test_summary(report, labels, predicted, confidence, n_classes, val_threshold, extra_thresholds=None) -> dict:
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
        out[f"at_{name}"] = {"threshold": threshold, "total_accuracy": at.total_accuracy,
                             "distractor_accuracy": at.distractor_accuracy,
                             "identification_accuracy": at.identification_accuracy,
                             "kept_accuracy": at.kept_accuracy}
    return out


def run_loss(pool: Pool, labels: np.ndarray, splits: np.ndarray, vips: list[str], loss: str, seed: int,
             mode: Literal["head", "finetune"], epochs: int | None = None) -> dict[str, Any]:
    from ml.train import TrainConfig, TrainData, train_classifier

    inputs: Any = pool.embeddings if mode == "head" else [str(p) for p in pool.crop_paths]
    data = TrainData(inputs=inputs, labels=labels, splits=splits, class_names=vips, sample_ids=np.arange(len(labels)))
    config = TrainConfig(mode=mode, loss=loss, seed=seed, noise_folds=0, epochs=epochs,
                         device=None if mode == "finetune" else "cpu")
    with tempfile.TemporaryDirectory(prefix="bench-openset-") as folder:
        result = train_classifier(config, data, out_dir=Path(folder))
    test = np.flatnonzero(splits == "test")
    samples = result["samples"]
    predicted = np.array([samples[str(i)]["predicted"] for i in test])
    confidence = np.array([samples[str(i)]["confidence"] for i in test])
    summary = _test_summary(result["metrics"]["test"], labels[test], predicted, confidence, len(vips),
                            result["operating_points"].get("max_total_accuracy"))
    calibration = result["calibration"]["test"]
    summary["ece"] = {stage: {group: calibration[stage].get(group, {}).get("ece") for group in ("all", "vip")}
                      for stage in ("before", "after")}
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
    summary = _test_summary(report, labels[test], test_pred, test_conf, n_classes,
                            val_report.at_max_total_accuracy.threshold,
                            {"sface_published": MATCH_THRESHOLDS[SFaceEmbedder.name]})
    summary["ece"] = None  # a cosine is not a probability
    summary["train_s"] = time.perf_counter() - started
    summary["device"] = "cpu"
    return summary


# --------------------------------------------------------------------------------------------
# Summary and tables
# --------------------------------------------------------------------------------------------
def _get(entry: dict[str, Any] | None, *path: str) -> Any:
    for key in path:
        if entry is None:
            return None
        entry = entry.get(key)
    return entry


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
    methods = [m for m in (*LOSS_ORDER, "nearest_face") if any(m in r["methods"] for r in runs)]
    return {method: {field: common.spread(_get(r["methods"].get(method), *path) for r in runs)
                     for field, path in FIELDS.items()} for method in methods}


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
    lines.append(common.md_table(["method", "distractor acc", "identification acc", "total acc", "kept acc"],
                                 [[LOSS_NAMES[m], f(s[m]["max_total.distractor"]), f(s[m]["max_total.identification"]),
                                   f(s[m]["max_total.total"]), f(s[m]["max_total.kept"])] for m in names]))
    lines += ["", "## At the threshold of maximum mean F1 (chosen on test)", ""]
    lines.append(common.md_table(["method", "mean F1", "distractor acc", "identification acc", "total acc", "kept acc"],
                                 [[LOSS_NAMES[m], f(s[m]["max_f1.mean_f1"]), f(s[m]["max_f1.distractor"]),
                                   f(s[m]["max_f1.identification"]), f(s[m]["max_f1.total"]), f(s[m]["max_f1.kept"])]
                                  for m in names]))
    lines += ["", "## Threshold-free and deployment numbers", "",
              "TPR95/99: identification / total accuracy at the threshold that accepts 95% / 99% of VIP faces. "
              "Val thr.: total (kept) accuracy on test at the max-total-accuracy threshold chosen on val. "
              "ECE over all test faces (a distractor is never correct) and over VIP faces, before → after "
              "temperature scaling; the nearest-face cosine is not a probability (no ECE). F1 AUC of the "
              "nearest face integrates over cosine thresholds in [0, 1].", ""]
    rows = []
    for m in names:
        ece_all = "—" if s[m]["ece_all.before"]["mean"] is None else f"{f(s[m]['ece_all.before'])} → {f(s[m]['ece_all.after'])}"
        ece_vip = "—" if s[m]["ece_vip.before"]["mean"] is None else f"{f(s[m]['ece_vip.before'])} → {f(s[m]['ece_vip.after'])}"
        rows.append([LOSS_NAMES[m], f(s[m]["f1_auc"]),
                     f"{f(s[m]['tpr95.identification'])} / {f(s[m]['tpr95.total'])}",
                     f"{f(s[m]['tpr99.identification'])} / {f(s[m]['tpr99.total'])}",
                     f"{f(s[m]['val_threshold.total'])} ({f(s[m]['val_threshold.kept'])})", ece_all, ece_vip,
                     f(s[m]["train_s"], 1)])
    lines.append(common.md_table(["method", "F1 AUC", "TPR95 id / total", "TPR99 id / total", "val thr. total (kept)",
                                  "ECE all", "ECE VIP", "train s"], rows))
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
    parser.add_argument("--lfw-people", type=int, help="LFW unknown people used as distractors (default 2000, quick 400)")
    parser.add_argument("--losses", nargs="+", choices=LOSS_ORDER, default=list(LOSS_ORDER))
    parser.add_argument("--mode", choices=("auto", "head", "finetune"), default="auto",
                        help="auto: finetune when a GPU is present, else head")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the mode's default, head 30, finetune 10)")
    parser.add_argument("--output-dir", type=Path, help="where openset.json / openset.md go (default bench/results/)")
    parser.add_argument("--regimes", nargs="+", choices=("glint24", "lfw158", "sweep", "lfw12", "lfw40", "lfw80",
                                                         "lfw158+glint24"),
                        help="run these regimes (bench/regimes.py) instead: openset_regimes.json / .md")
    args = parser.parse_args(argv)
    if args.regimes:
        return run_regimes(args)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    per_identity = args.per_identity or (80 if args.quick else None)
    lfw_people = args.lfw_people if args.lfw_people is not None else (400 if args.quick else 2000)
    mode: Literal["head", "finetune"] = args.mode if args.mode != "auto" else ("finetune" if torch.cuda.is_available() else "head")
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
        counts.append({"test_vip": int(np.sum(test & (labels >= 0))), "test_distractor": int(np.sum(test & (labels < 0))),
                       "test_distractor_people": len({p for p, t, lab in zip(pool.person, test, labels, strict=True) if t and lab < 0})})
        run: dict[str, Any] = {"seed": seed, "vips": vips, "counts": counts[-1], "methods": {}}
        for loss in args.losses:
            clock = time.perf_counter()
            run["methods"][loss] = run_loss(pool, labels, splits, vips, loss, seed, mode, args.epochs)
            common.log(f"seed {seed} {loss}: total acc {run['methods'][loss]['at_max_total_accuracy']['total_accuracy']:.3f}"
                       f" ({time.perf_counter() - clock:.0f} s)")
        run["methods"]["nearest_face"] = run_nearest_face(pool, labels, splits, len(vips))
        runs.append(run)
    results = {
        "benchmark": "openset",
        "machine": machine,
        "config": {"data": str(data), "quick": args.quick, "seeds": seeds, "vips": args.vips, "mode": mode,
                   "per_identity": per_identity, "lfw_people": int(np.sum(pool.source == "lfw")),
                   "glint_identities": len({p for p, s in zip(pool.person, pool.source, strict=True) if s == "glint24"}),
                   "samples": len(pool.person), "losses": args.losses,
                   "epochs": args.epochs,
                   "training": "ml.train.train_classifier, TrainConfig defaults for the mode, noise_folds=0"},
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



# --------------------------------------------------------------------------------------------
# Regimes (bench/regimes.py): glint24, the many-VIP LFW regime and the VIP-count sweep
# --------------------------------------------------------------------------------------------
REGIME_FARS = (0.001, 0.01)


def dir_at_far(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, far: float) -> dict[str, Any]:
    """Share of VIP faces identified right AND accepted at the threshold where a share ``far`` of the
    distractor faces (unseen people) is accepted (threshold set on these very faces: threshold-free)."""
    from ml.operating_point import threshold_for_far

    distractor = labels < 0
    threshold, _ = threshold_for_far(confidence[distractor], far, min_accepts=0, scale="identity")
    vip = ~distractor
    right = (predicted[vip] == labels[vip]) & (confidence[vip] >= threshold)
    return {"rate": float(right.mean()), "threshold": threshold,
            "false_accepts": int(np.sum(confidence[distractor] >= threshold)), "distractors": int(distractor.sum())}


def regime_metrics(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, n_classes: int,
                   val_thresholds: Mapping[str, float | None]) -> dict[str, Any]:
    """Test numbers of one method: DIR at each FAR, top-1, F1 AUC, max mean F1 / total accuracy (thesis),
    and at each val-chosen threshold the FAR measured on unseen test people, recall and mean F1."""
    from ml.metrics import evaluate_at_threshold, open_set_report

    report = open_set_report(labels, predicted, confidence, n_classes)
    vip = labels >= 0
    out: dict[str, Any] = {
        "dir_at_far": {f"{far:g}": dir_at_far(labels, predicted, confidence, far) for far in REGIME_FARS},
        "top1": float(np.mean(predicted[vip] == labels[vip])),
        "f1_auc": float(report.sweep.f1_auc),
        "max_mean_f1": float(report.at_max_mean_f1.mean_f1),
        "max_total_accuracy": float(report.at_max_total_accuracy.total_accuracy),
        "at_val_threshold": {},
    }
    for name, threshold in val_thresholds.items():
        if threshold is None:
            continue
        at = evaluate_at_threshold(labels, predicted, confidence, threshold, n_classes)
        far_measured = float(np.mean(confidence[~vip] >= threshold))
        out["at_val_threshold"][name] = {
            "threshold": threshold, "far_test": far_measured, "mean_f1": float(at.mean_f1),
            "recall": float(np.mean((predicted[vip] == labels[vip]) & (confidence[vip] >= threshold))),
        }
    return out


def regime_nearest_face(regime, labels: np.ndarray) -> tuple[dict[str, Any], float]:
    """The nearest train VIP face by cosine (no training); val thresholds by FAR on val distractors."""
    from ml.gallery import Gallery
    from ml.operating_point import threshold_for_far

    started = time.perf_counter()
    train = regime.splits == "train"
    gallery = Gallery.from_faces(regime.embeddings[train], labels[train], regime.n_classes)
    sims = gallery.similarities(regime.embeddings)
    predicted, confidence = sims.argmax(axis=1), sims.max(axis=1)
    val = np.flatnonzero((regime.splits == "val") & (labels < 0))
    thresholds = {f"far_{far:g}": threshold_for_far(confidence[val], far, scale="identity")[0] for far in REGIME_FARS}
    test = regime.splits == "test"
    return (regime_metrics(regime.labels[test], predicted[test], confidence[test], regime.n_classes, thresholds),
            time.perf_counter() - started)


def regime_trained(regime, labels: np.ndarray, **config: Any) -> tuple[dict[str, Any], float, RunResult]:
    """The product's training job on (possibly noisy) ``labels``; test metrics against the clean labels."""
    from ml.train import TrainConfig, TrainData, train_classifier

    started = time.perf_counter()
    data = TrainData(inputs=regime.embeddings, labels=labels, splits=regime.splits, class_names=regime.class_names,
                     sample_ids=np.arange(len(labels)))
    with tempfile.TemporaryDirectory(prefix="bench-openset-") as folder:
        result = train_classifier(TrainConfig(mode="head", device="cpu", noise_folds=0, **config), data,
                                  out_dir=Path(folder))
    test = np.flatnonzero(regime.splits == "test")
    samples = result["samples"]
    predicted = np.array([samples[str(i)]["predicted"] for i in test])
    confidence = np.array([samples[str(i)]["confidence"] for i in test])
    thresholds = {k: v for k, v in result["operating_points"].items() if k.startswith("far_")}
    metrics = regime_metrics(regime.labels[test], predicted, confidence, regime.n_classes, thresholds)
    return metrics, time.perf_counter() - started, result


REGIME_FIELDS = {
    "dir@0.1%": ("dir_at_far", "0.001", "rate"),
    "dir@1%": ("dir_at_far", "0.01", "rate"),
    "top1": ("top1",),
    "f1_auc": ("f1_auc",),
    "max_mean_f1": ("max_mean_f1",),
    "max_total_accuracy": ("max_total_accuracy",),
    "far_test@0.1%": ("at_val_threshold", "far_0.001", "far_test"),
    "far_test@1%": ("at_val_threshold", "far_0.01", "far_test"),
    "mean_f1@0.1%": ("at_val_threshold", "far_0.001", "mean_f1"),
    "recall@0.1%": ("at_val_threshold", "far_0.001", "recall"),
    "seconds": ("seconds",),
}


def run_regimes(args: argparse.Namespace) -> dict[str, Any]:
    from bench import regimes as rg

    data = common.shared_data_dir(args.data)
    common.configure_threads()
    machine = common.machine_info()
    started = time.perf_counter()
    seeds = args.seeds or ([0] if args.quick else [0, 1])
    names = rg.regime_names(args.regimes)
    pool = rg.load_pool(data, glint_per_identity=40 if args.quick else 120)
    losses = args.losses if args.losses != list(LOSS_ORDER) or not args.quick else ["me"]
    runs = []
    for name in names:
        for seed in seeds:
            regime = rg.make_regime(pool, name, seed=seed)
            run: dict[str, Any] = {"regime": name, "seed": seed, "counts": regime.counts(), "methods": {}}
            metrics, seconds = regime_nearest_face(regime, regime.labels)
            run["methods"]["nearest_face"] = {**metrics, "seconds": seconds}
            metrics, seconds, _ = regime_trained(regime, regime.labels)
            run["methods"]["facecurator"] = {**metrics, "seconds": seconds}
            for loss in (losses if name in ("glint24", "lfw158") else ["me"]):
                metrics, seconds, _ = regime_trained(regime, regime.labels, loss=loss, scorer="head")
                run["methods"][f"head_{loss}"] = {**metrics, "seconds": seconds}
            common.log(f"{name} seed {seed}: " + ", ".join(
                f"{m} {v['dir_at_far']['0.001']['rate']:.3f}/{v['dir_at_far']['0.01']['rate']:.3f}"
                for m, v in run["methods"].items()))
            runs.append(run)
    summary: dict[str, Any] = {}
    for name in names:
        mine = [r for r in runs if r["regime"] == name]
        methods = list(mine[0]["methods"])
        summary[name] = {
            "counts": {k: common.spread(r["counts"][k] for r in mine) for k in mine[0]["counts"]},
            "methods": {m: {f: common.spread(_get(r["methods"].get(m), *path) for r in mine)
                            for f, path in REGIME_FIELDS.items()} for m in methods},
        }
        fc, nf = summary[name]["methods"]["facecurator"], summary[name]["methods"]["nearest_face"]
        summary[name]["verdict_2a"] = all(
            all(a >= b - 1e-9 for a, b in zip(fc[f]["values"], nf[f]["values"], strict=True))
            for f in ("dir@0.1%", "dir@1%"))
    results = {"benchmark": "openset_regimes", "machine": machine,
               "config": {"data": str(data), "quick": args.quick, "seeds": seeds, "regimes": names, "losses": losses,
                          "fars": REGIME_FARS, "distractor_split": rg.DISTRACTOR_PROPORTIONS,
                          "glint_per_identity": 40 if args.quick else 120},
               "summary": summary, "runs": runs, "wall_s": time.perf_counter() - started}
    text = regimes_markdown(results)
    common.write_results("openset_regimes" + ("_quick" if args.quick else ""), results, text, out_dir=args.output_dir)
    print(text)
    return results


def regimes_markdown(results: dict[str, Any]) -> str:
    f = common.fmt
    cfg = results["config"]
    lines = [
        "# Open-set recognition by regime and VIP count",
        "",
        f"Machine: {common.machine_line(results['machine'])}. Seeds {cfg['seeds']}; mean ± std. "
        f"{'Quick run: indicative only. ' if cfg['quick'] else ''}Wall time {results['wall_s']:.0f} s.",
        "",
        "Regimes (bench/regimes.py): `glint24` = 12 glint24 VIPs, other glint24 people + LFW unknown people as "
        "distractors; `lfwN` = N lfw/known people (10-530 photos) as VIPs, LFW unknown people as distractors; "
        "`lfw158+glint24` = both sources (people in both merged). Distractor people split 50/25/25 by person: test "
        "distractors were never seen in training. **DIR@FAR** (headline, threshold-free): share of VIP test faces "
        "identified right AND accepted at the threshold where that share of unseen test people's faces is accepted. "
        "**FAR test**: false-accept rate measured on unseen test people at the threshold chosen on val distractor "
        "people for 0.1% / 1% (point 4: within 2x). Mean F1 / recall at the val 0.1% threshold. "
        "`facecurator` = the product's default (`ml.train.train_classifier`: VIP gallery scorer); `head_<loss>` = a "
        "trained head scoring (the thesis's losses); `nearest_face` = untrained nearest training face by cosine.",
        "",
    ]
    headers = ["regime", "VIPs", "test VIP / distr. faces", "method", "DIR@0.1%", "DIR@1%", "top-1", "F1 AUC",
               "max mean F1", "FAR test @0.1%", "FAR test @1%", "mean F1 @0.1%", "s"]
    rows = []
    for name, entry in results["summary"].items():
        c = entry["counts"]
        for method, m in entry["methods"].items():
            rows.append([name, f(c["vips"], 0), f"{f(c['test_vip'], 0)} / {f(c['test_distractor'], 0)}", method,
                         f(m["dir@0.1%"]), f(m["dir@1%"]), f(m["top1"]), f(m["f1_auc"]), f(m["max_mean_f1"]),
                         f(m["far_test@0.1%"], 4), f(m["far_test@1%"], 4), f(m["mean_f1@0.1%"]), f(m["seconds"], 1)])
    lines.append(common.md_table(headers, rows, align="llrlrrrrrrrrr"))
    lines += ["", "2(a) FaceCurator's default >= the nearest-face baseline at both FARs, every seed: "
              + ", ".join(f"{n} {'yes' if e['verdict_2a'] else 'NO'}" for n, e in results["summary"].items())]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
