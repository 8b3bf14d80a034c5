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


def test_samples_without_a_true_column_are_left_out_of_the_fit():
    logits, labels = overconfident_logits(n=1000)
    with_distractors = np.concatenate([labels, np.full(500, -1)])
    noisy_logits = np.concatenate([logits, np.random.default_rng(1).normal(scale=20, size=(500, 5))])
    assert fit_temperature(noisy_logits, with_distractors) == pytest.approx(fit_temperature(logits, labels), rel=1e-4)
    assert fit_temperature(logits[:3], [-1, -1, -1]) == 1.0


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
