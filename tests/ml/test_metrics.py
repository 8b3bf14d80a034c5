"""Open-set metrics against numbers computed by hand on six samples.

Samples (true label, top VIP prediction, confidence), two VIP classes, -1 = distractor:
    s1 (0, 0, .9)  s2 (0, 1, .6)  s3 (1, 1, .8)  s4 (1, 1, .4)  s5 (-1, 0, .7)  s6 (-1, 1, .3)
"""

from __future__ import annotations

import numpy as np
import pytest

from ml.metrics import (
    apply_threshold,
    confusion_matrix,
    evaluate_at_threshold,
    is_rejected,
    open_set_report,
    threshold_for_precision,
    threshold_for_vip_acceptance,
    threshold_sweep,
)

LABELS = np.array([0, 0, 1, 1, -1, -1])
PREDICTED = np.array([0, 1, 1, 1, 0, 1])
CONFIDENCE = np.array([0.9, 0.6, 0.8, 0.4, 0.7, 0.3])
C = 2


def test_a_prediction_below_the_threshold_is_rejected_and_one_at_it_is_kept():
    assert is_rejected(np.array([0.49, 0.5, 0.51]), 0.5).tolist() == [True, False, False]
    assert apply_threshold(PREDICTED, CONFIDENCE, 0.5).tolist() == [0, 1, 1, -1, 0, -1]


def test_confusion_matrix_has_a_distractor_row_and_column_last():
    decided = apply_threshold(PREDICTED, CONFIDENCE, 0.5)
    assert confusion_matrix(LABELS, decided, C).tolist() == [
        [1, 1, 0],
        [0, 1, 1],
        [1, 0, 1],
    ]


def test_metrics_at_one_threshold_match_hand_computed_values():
    result = evaluate_at_threshold(LABELS, PREDICTED, CONFIDENCE, 0.5, C)
    assert result.identification_accuracy == pytest.approx(2 / 4)
    assert result.distractor_accuracy == pytest.approx(1 / 2)
    assert result.total_accuracy == pytest.approx(3 / 6)
    assert result.kept_accuracy == pytest.approx(2 / 4)
    assert result.vip_acceptance == pytest.approx(3 / 4)
    assert result.mean_f1 == pytest.approx(0.5)
    # per class, then Distractor: right / predicted, right / support
    np.testing.assert_allclose(result.per_class.precision, [1 / 2, 1 / 2, 1 / 2])
    np.testing.assert_allclose(result.per_class.recall, [1 / 2, 1 / 2, 1 / 2])
    assert result.per_class.support.tolist() == [2, 2, 2]


def test_a_reports_confusion_lists_its_non_zero_cells_by_true_row_and_decided_column():
    # at 0.5: s1 0->0, s2 0->1, s3 1->1, s4 1->rejected, s5 distractor->0, s6 distractor->rejected
    cells = evaluate_at_threshold(LABELS, PREDICTED, CONFIDENCE, 0.5, C).as_dict(["Ada", "Bo"])["confusion"]["cells"]
    assert sorted(cells) == [[0, 0, 1], [0, 1, 1], [1, 1, 1], [1, 2, 1], [2, 0, 1], [2, 2, 1]]


SWEEP_EXPECTED = {
    # threshold: (identification, distractor, total, kept, vip acceptance, mean F1)
    0.3: (3 / 4, 0, 3 / 6, 3 / 6, 1, (1 / 2 + 2 / 3) / 2),
    0.4: (3 / 4, 1 / 2, 4 / 6, 3 / 5, 1, (1 / 2 + 4 / 5) / 2),
    0.6: (2 / 4, 1 / 2, 3 / 6, 2 / 4, 3 / 4, 1 / 2),
    0.7: (2 / 4, 1 / 2, 3 / 6, 2 / 3, 2 / 4, (1 / 2 + 2 / 3) / 2),
    0.8: (2 / 4, 1, 4 / 6, 1, 2 / 4, 2 / 3),
    0.9: (1 / 4, 1, 3 / 6, 1, 1 / 4, 1 / 3),
}


def test_sweep_covers_every_distinct_confidence_and_a_reject_all_threshold():
    sweep = threshold_sweep(LABELS, PREDICTED, CONFIDENCE, C)
    np.testing.assert_allclose(sweep.thresholds[:-1], sorted(SWEEP_EXPECTED))
    assert sweep.thresholds[-1] > 0.9
    for i, (threshold, expected) in enumerate(sorted(SWEEP_EXPECTED.items())):
        got = (
            sweep.identification_accuracy[i],
            sweep.distractor_accuracy[i],
            sweep.total_accuracy[i],
            sweep.kept_accuracy[i],
            sweep.vip_acceptance[i],
            sweep.mean_f1[i],
        )
        np.testing.assert_allclose(got, expected, err_msg=f"threshold {threshold}")
    # reject everything: no VIP identified, every distractor rejected, kept accuracy undefined
    assert sweep.identification_accuracy[-1] == 0 and sweep.distractor_accuracy[-1] == 1
    assert sweep.total_accuracy[-1] == pytest.approx(2 / 6)
    assert np.isnan(sweep.kept_accuracy[-1]) and sweep.mean_f1[-1] == 0


def test_sweep_agrees_with_the_single_threshold_evaluation_on_random_data():
    rng = np.random.default_rng(0)
    labels = rng.integers(-1, 5, 300)
    predicted = np.where(rng.random(300) < 0.7, np.maximum(labels, 0), rng.integers(0, 5, 300))
    confidence = rng.random(300).round(2)  # ties on purpose
    sweep = threshold_sweep(labels, predicted, confidence, 5)
    for i in range(0, len(sweep.thresholds), 7):
        single = evaluate_at_threshold(labels, predicted, confidence, sweep.thresholds[i], 5)
        assert sweep.total_accuracy[i] == pytest.approx(single.total_accuracy)
        assert sweep.mean_f1[i] == pytest.approx(single.mean_f1)
        assert sweep.kept_accuracy[i] == pytest.approx(single.kept_accuracy, nan_ok=True)


@pytest.mark.parametrize("block", [7, 60, 2_000_000])  # counts held at once: many small blocks, or one
def test_the_sweeps_mean_f1_is_the_same_whatever_block_of_thresholds_it_is_counted_in(monkeypatch, block):
    import ml.metrics

    rng = np.random.default_rng(1)
    labels = rng.integers(-1, 6, 400)
    predicted = np.where(rng.random(400) < 0.6, np.maximum(labels, 0), rng.integers(0, 6, 400))
    confidence = rng.random(400).round(2)  # ties on purpose
    monkeypatch.setattr(ml.metrics, "SWEEP_BLOCK", block)

    sweep = threshold_sweep(labels, predicted, confidence, 6)

    expected = [evaluate_at_threshold(labels, predicted, confidence, t, 6).mean_f1 for t in sweep.thresholds]
    assert sweep.mean_f1 == pytest.approx(expected)


def test_f1_auc_integrates_the_mean_f1_step_function_over_zero_to_one():
    sweep = threshold_sweep(LABELS, PREDICTED, CONFIDENCE, C)
    by_hand = (
        0.3 * (1 / 2 + 2 / 3) / 2
        + 0.1 * (1 / 2 + 4 / 5) / 2
        + 0.2 * 1 / 2
        + 0.1 * (1 / 2 + 2 / 3) / 2
        + 0.1 * 2 / 3
        + 0.1 * 1 / 3
        + 0.1 * 0
    )
    assert sweep.f1_auc == pytest.approx(by_hand)


def test_operating_point_is_the_lowest_threshold_reaching_the_precision_target():
    sweep = threshold_sweep(LABELS, PREDICTED, CONFIDENCE, C)
    assert threshold_for_precision(sweep, 0.6) == pytest.approx(0.4)
    assert threshold_for_precision(sweep, 0.9) == pytest.approx(0.8)
    assert threshold_for_precision(sweep, 1.01) is None


def test_accuracy_at_vip_acceptance_uses_the_highest_threshold_keeping_that_share_of_vips():
    sweep = threshold_sweep(LABELS, PREDICTED, CONFIDENCE, C)
    assert threshold_for_vip_acceptance(sweep, 0.95) == pytest.approx(0.4)
    assert threshold_for_vip_acceptance(sweep, 0.75) == pytest.approx(0.6)


def test_report_picks_max_total_accuracy_at_its_lowest_threshold_and_max_mean_f1():
    report = open_set_report(LABELS, PREDICTED, CONFIDENCE, C)
    assert report.at_max_total_accuracy.threshold == pytest.approx(0.4)
    assert report.at_max_total_accuracy.total_accuracy == pytest.approx(4 / 6)
    assert report.at_max_mean_f1.threshold == pytest.approx(0.8)
    assert report.at_max_mean_f1.mean_f1 == pytest.approx(2 / 3)
    assert report.at_vip_acceptance[0.95].identification_accuracy == pytest.approx(3 / 4)
    as_dict = report.as_dict(["Ada", "Bo"])
    assert as_dict["at_max_mean_f1"]["per_class"][-1]["name"] == "Distractor"
    assert as_dict["sweep"]["kept_accuracy"][-1] is None
