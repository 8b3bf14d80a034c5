"""A run whose val set holds VIP faces only (no face of an unknown person): what the user gets.

Nothing in val says how unknown people score, so nothing there can place the threshold; before,
the gallery's probability map ran off (every confidence 1.0 in float32), every operating point
was that float's maximum, and every unknown face was tagged. Now each val VIP face also stands in
for someone none of the other VIPs is, and the run says so.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.gallery import MAX_SCALE, Gallery, fit_probability_map
from ml.index import l2_normalise
from ml.train import TrainConfig, TrainData, load_classifier, train_classifier

BELOW_ONE = float(np.nextafter(np.float32(1.0), np.float32(0.0)))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def people(rng: np.random.Generator, centres: np.ndarray, per_person: int) -> np.ndarray:
    """Faces of each person at cosine about 0.7 to their centre."""
    who = np.repeat(np.arange(len(centres)), per_person)
    return l2_normalise(centres[who] + rng.normal(size=(len(who), centres.shape[1])) / np.sqrt(centres.shape[1]))


def vips_only(seed: int = 0, classes: int = 12, per_class: int = 20, dim: int = 32):
    """A VIP-only run's data (split as bench/video.py splits glint24) and 40 unknown people's faces."""
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.normal(size=(classes + 40, dim)))
    splits = ["val"] * (per_class // 5) + ["test"] * (per_class // 10)
    splits += ["train"] * (per_class - len(splits))
    data = TrainData(
        inputs=people(rng, centres[:classes], per_class),
        labels=np.repeat(np.arange(classes), per_class),
        splits=np.array(splits * classes),
        class_names=[f"VIP {i}" for i in range(classes)],
        sample_ids=np.arange(classes * per_class),
    )
    return data, people(rng, centres[classes:], 5)


def test_a_run_without_unknown_val_faces_still_rejects_unknown_people_and_says_why(tmp_path):
    data, unknown = vips_only()
    result = train_classifier(TrainConfig(mode="head", epochs=5, noise_folds=0, device="cpu"), data, out_dir=tmp_path)
    classifier = load_classifier(tmp_path / "model.pt")
    unknown_confidence = classifier.predict(unknown).confidence
    test = data.splits == "test"
    vip = classifier.predict(data.inputs[test])
    points = result["operating_points"]
    assert set(points) >= {"max_mean_f1", "precision_0.95", "precision_0.99"}
    assert all(t is not None and t < BELOW_ONE for t in points.values())  # no threshold at the float's maximum
    assert np.max(unknown_confidence) < BELOW_ONE  # confidences are not saturated
    for name in ("max_mean_f1", "precision_0.95", "precision_0.99"):  # unknown faces are not all accepted (before: all)
        assert np.mean(unknown_confidence >= points[name]) <= 0.25, name
    recognised = (vip.confidence >= points["precision_0.95"]) & (vip.labels == data.labels[test])
    assert np.mean(recognised) > 0.5  # ... while VIP faces are still tagged
    assert "no faces of unknown people" in result["operating_points_reason"]
    assert result["operating_points_by_far"] == {}  # no false-tag rate is claimed as measured
    assert result["scorer"]["name"] == "gallery"  # nothing to fuse the head on: the gallery alone, and why
    assert "0 faces of unknown people" in result["scorer"]["reason"]


def test_a_run_with_unknown_val_faces_gives_no_such_reason(tmp_path):
    data, unknown = vips_only()
    val = np.flatnonzero(data.splits == "val")[:1]
    labels = data.labels.copy()
    labels[val] = -1
    mixed = TrainData(data.inputs, labels, data.splits, data.class_names, data.sample_ids)
    result = train_classifier(TrainConfig(mode="head", epochs=5, noise_folds=0, device="cpu"), mixed, out_dir=tmp_path)
    assert result["operating_points_reason"] == ""


def test_the_probability_map_fitted_on_vip_faces_alone_stays_finite_and_keeps_unknown_faces_low():
    data, unknown = vips_only(seed=3)
    train = data.splits == "train"
    gallery = Gallery.from_faces(data.inputs[train], data.labels[train], len(data.class_names))
    val = data.splits == "val"
    gallery.scale, gallery.bias = fit_probability_map(gallery.similarities(data.inputs[val]), data.labels[val])
    assert gallery.scale < MAX_SCALE and -1.0 < gallery.bias < 1.0  # not run off to the cap
    vip_confidence = gallery.confidence(gallery.similarities(data.inputs[~train]).max(axis=1))
    unknown_confidence = gallery.confidence(gallery.similarities(unknown).max(axis=1))
    assert np.median(unknown_confidence) < 0.1 < 0.9 < np.median(vip_confidence)


def test_a_head_scored_run_without_unknown_val_faces_says_its_thresholds_saw_no_unknown_person(tmp_path):
    data, _ = vips_only()
    config = TrainConfig(mode="head", epochs=5, noise_folds=0, device="cpu", scorer="head")
    result = train_classifier(config, data, out_dir=tmp_path)
    assert "chosen on VIP faces alone" in result["operating_points_reason"]
