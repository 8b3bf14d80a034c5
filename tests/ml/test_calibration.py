"""Temperature scaling and reliability curves."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.calibration import expected_calibration_error, fit_temperature, reliability_curve


def overconfident_logits(n: int = 4000, classes: int = 5, true_temperature: float = 3.0, seed: int = 0):
    """Labels drawn from softmax(z), but the model reports z * true_temperature: over-confident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=1.5, size=(n, classes))
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = (p.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return z * true_temperature, labels


def confidence_and_correct(logits: np.ndarray, labels: np.ndarray, temperature: float):
    probs = torch.softmax(torch.as_tensor(logits) / temperature, dim=1).numpy()
    return probs.max(axis=1), probs.argmax(axis=1) == labels


def test_fit_temperature_recovers_the_temperature_of_an_overconfident_model():
    logits, labels = overconfident_logits()
    assert fit_temperature(logits, labels) == pytest.approx(3.0, rel=0.1)


def test_temperature_scaling_lowers_the_ece_of_an_overconfident_model():
    logits, labels = overconfident_logits()
    temperature = fit_temperature(logits[:2000], labels[:2000])  # fit on "val", measure on "test"
    before = expected_calibration_error(*confidence_and_correct(logits[2000:], labels[2000:], 1.0))
    after = expected_calibration_error(*confidence_and_correct(logits[2000:], labels[2000:], temperature))
    assert before > 0.15 and after < 0.05


def test_a_target_of_minus_one_is_the_uniform_distribution():
    # Both rows have logits (ln 3, 0); a = 1/T, q = 3^a / (3^a + 1) = p(column 0).
    # Mean NLL = (-log q  - (log q + log(1 - q)) / 2) / 2, minimal where q = 3/4, i.e. a = 1: T = 1.
    logits = np.array([[np.log(3), 0.0], [np.log(3), 0.0]])
    assert fit_temperature(logits, [0, -1]) == pytest.approx(1.0, rel=1e-4)


def test_distractors_keep_the_temperature_finite_on_a_separable_validation_set():
    rng = np.random.default_rng(0)
    vip_logits = np.eye(4)[rng.integers(0, 4, 200)] * 5 + rng.normal(scale=0.5, size=(200, 4))
    vip_labels = vip_logits.argmax(axis=1)  # every VIP right: the VIP-only NLL falls all the way to T -> 0
    assert fit_temperature(vip_logits, vip_labels) < 0.25  # heads for 0 until the gradient vanishes
    distractor_logits = rng.normal(scale=2.0, size=(100, 4))
    logits = np.concatenate([vip_logits, distractor_logits])
    t = fit_temperature(logits, np.concatenate([vip_labels, np.full(100, -1)]))
    assert 0.5 < t < 5


def test_no_samples_means_temperature_one():
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=int)) == 1.0


def test_reliability_curve_bins_confidences_and_ece_weighs_gaps_by_bin_size():
    # bins of width 0.5: [0, .5) holds .2 and .4 (1 of 2 right), [.5, 1] holds .9 and 1.0 (both right)
    curve = reliability_curve([0.2, 0.4, 0.9, 1.0], [True, False, True, True], n_bins=2)
    assert curve.count.tolist() == [2, 2]
    np.testing.assert_allclose(curve.confidence, [0.3, 0.95])
    np.testing.assert_allclose(curve.accuracy, [0.5, 1.0])
    ece = expected_calibration_error([0.2, 0.4, 0.9, 1.0], [True, False, True, True], n_bins=2)
    assert ece == pytest.approx(0.5 * 0.2 + 0.5 * 0.05)


def test_empty_bins_are_none_in_the_json_form():
    curve = reliability_curve([0.95], [True], n_bins=3)
    assert curve.as_dict()["accuracy"][:2] == [None, None]
    assert expected_calibration_error([], [], n_bins=3) == 0.0
