"""The operating point is placed by the false-accept rate on distractor faces, says how sure it is,
and does not move far when one val label is wrong."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.operating_point import (
    clopper_pearson_interval,
    implied_precision,
    measurable_far,
    operating_point_for_far,
    threshold_for_far,
    wilson_interval,
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def test_wilson_interval_matches_the_textbook_value():
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4)
    assert high == pytest.approx(0.7634, abs=1e-4)


def test_clopper_pearson_upper_bound_for_no_success_is_the_rule_of_three_ish_value():
    low, high = clopper_pearson_interval(0, 100)
    assert low == 0.0
    assert high == pytest.approx(1 - 0.025 ** (1 / 100), rel=1e-6)  # exact for 0 successes: 0.0362


def test_implied_precision_is_recall_times_vip_share_over_everything_accepted():
    # R = 0.9, FAR = 0.01, 90% unknown: 0.9*0.1 / (0.9*0.1 + 0.01*0.9) = 0.09 / 0.099
    assert implied_precision(recall=0.9, far=0.01, unknown_share=0.9) == pytest.approx(0.09 / 0.099)
    # wrong-VIP accepts count against precision: A = 0.95
    assert implied_precision(recall=0.9, acceptance=0.95, far=0.01, unknown_share=0.9) == pytest.approx(
        0.09 / (0.095 + 0.009)
    )


def test_empirical_threshold_accepts_at_most_the_allowed_share_of_distractors():
    scores = np.random.default_rng(0).uniform(size=5000)
    threshold, method = threshold_for_far(scores, 0.01)
    assert method == "empirical"
    assert np.sum(scores >= threshold) == 50
    assert np.sum(scores >= np.nextafter(threshold, -np.inf)) == 51


def test_tail_extrapolated_threshold_holds_on_new_distractors_within_a_factor_two():
    # a distractor's score is its best match among many VIP faces: a maximum, Gumbel-distributed.
    # 400 val distractor faces hold 0.4 false accepts at 0.1%: each estimate is noisy, the median holds
    measured = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        threshold, method = threshold_for_far(_sigmoid(rng.gumbel(-3.0, 0.5, size=400)), 0.001)
        assert method == "tail"
        measured.append(np.mean(_sigmoid(rng.gumbel(-3.0, 0.5, size=200_000)) >= threshold))
    assert 0.0005 <= np.median(measured) <= 0.002


def test_one_vip_face_filed_as_a_distractor_hardly_moves_a_tail_threshold():
    rng = np.random.default_rng(2)
    distractors = _sigmoid(rng.normal(-3.0, 1.0, size=300))
    clean, _ = threshold_for_far(distractors, 0.001)
    polluted, _ = threshold_for_far(np.append(distractors, 0.9999), 0.001)
    assert abs(math.log(polluted / (1 - polluted)) - math.log(clean / (1 - clean))) < 0.25


def test_the_threshold_ignores_vip_labels_entirely():
    rng = np.random.default_rng(3)
    distractors = _sigmoid(rng.normal(-3.0, 1.0, size=500))
    vip = _sigmoid(rng.normal(2.0, 1.0, size=200))
    right = np.ones(200, dtype=bool)
    wrong = right.copy()
    wrong[:20] = False  # 10% of the val VIP labels wrong
    a = operating_point_for_far(far=0.01, distractor_confidence=distractors, vip_confidence=vip, vip_correct=right)
    b = operating_point_for_far(far=0.01, distractor_confidence=distractors, vip_confidence=vip, vip_correct=wrong)
    assert a.threshold == b.threshold
    assert b.recall < a.recall


def test_operating_point_reports_counts_intervals_and_implied_precision():
    rng = np.random.default_rng(4)
    distractors = _sigmoid(rng.normal(-3.0, 1.0, size=2000))
    vip = _sigmoid(rng.normal(2.0, 1.0, size=300))
    point = operating_point_for_far(
        far=0.01,
        distractor_confidence=distractors,
        vip_confidence=vip,
        vip_correct=np.ones(300, dtype=bool),
        unknown_share=0.8,
        distractor_groups=np.arange(2000) // 2,
    )
    assert point.method == "empirical"
    assert point.n_distractor_faces == 2000 and point.n_distractor_people == 1000 and point.n_vip_faces == 300
    assert point.far_interval[0] <= point.far_observed <= point.far_interval[1]
    assert point.recall_interval[0] <= point.recall <= point.recall_interval[1]
    expected = point.recall * 0.2 / (point.acceptance * 0.2 + 0.01 * 0.8)
    assert point.precision == pytest.approx(expected)
    assert point.precision_low <= point.precision
    assert point.as_dict()["far_interval"] == list(point.far_interval)
    assert "threshold" in point.summary()


def test_val_measures_a_rate_down_to_one_in_its_number_of_distractor_faces():
    assert measurable_far(0.001, 5000) == 0.001
    assert measurable_far(0.001, 1000) == 0.001
    assert measurable_far(0.001, 40) == pytest.approx(1 / 40)
    assert measurable_far(0.001, 10) == pytest.approx(0.1)
    assert measurable_far(0.001, 9) is None and measurable_far(0.001, 0) is None


def test_on_a_small_val_set_the_default_rate_is_placed_where_val_can_measure_it_and_says_so():
    # 40 unknown val faces cannot measure 1 in 1,000 (extrapolated that far, the threshold moves
    # towards 1 as the faces get fewer); at 1 in 40 it sits among the unknown faces' top scores
    rng = np.random.default_rng(5)
    distractors = _sigmoid(rng.normal(-3.0, 1.0, size=40))
    vip = _sigmoid(rng.normal(3.0, 1.0, size=60))
    extrapolated, _ = threshold_for_far(distractors, 0.001)

    point = operating_point_for_far(
        far=0.001, distractor_confidence=distractors, vip_confidence=vip, vip_correct=np.ones(60, dtype=bool)
    )

    assert point.far_target == 0.001 and point.far_used == pytest.approx(1 / 40)
    assert point.far_rule == "lowest_measurable"
    assert "val holds 40 unknown faces" in point.reason and "1,000" in point.reason
    assert point.threshold < extrapolated and point.far_observed <= 1 / 40  # never more val faces than the rate allows
    assert point.recall > 0.9
    assert point.reason in point.summary()


def test_a_rate_val_can_measure_is_used_as_asked_with_no_reason_given():
    rng = np.random.default_rng(6)
    point = operating_point_for_far(
        far=0.01,
        distractor_confidence=_sigmoid(rng.normal(-3.0, 1.0, size=300)),
        vip_confidence=[0.9],
        vip_correct=[True],
    )
    assert point.far_used == point.far_target == 0.01 and point.far_rule == "requested" and point.reason == ""


def test_fewer_than_ten_distractor_faces_measure_no_rate():
    with pytest.raises(ValueError, match="cannot measure a false-accept rate"):
        operating_point_for_far(far=0.001, distractor_confidence=[0.1] * 9, vip_confidence=[0.9], vip_correct=[True])


def test_no_distractor_face_is_a_clear_error():
    with pytest.raises(ValueError, match="no distractor"):
        threshold_for_far([], 0.01)


def test_a_threshold_placed_on_float32_confidences_rejects_the_face_it_was_placed_above():
    confidences = np.random.default_rng(1).uniform(size=5000).astype(np.float32)  # as models give them
    threshold, _ = threshold_for_far(confidences, 0.01)
    assert np.sum(confidences >= threshold) == 50  # compared in float32, as the tagging code does


def test_a_fitted_tail_threshold_accepts_no_float32_confidence_below_it():
    rng = np.random.default_rng(2)
    confidences = rng.beta(2, 8, size=400).astype(np.float32)  # too few for 0.1% empirically: the tail is fitted
    threshold, method = threshold_for_far(confidences, 0.001)
    assert method == "tail"
    assert float(np.float32(threshold)) == threshold  # a float32 number: float32 comparisons see it as it is
    just_below = np.nextafter(np.float32(threshold), np.float32(0.0))
    assert not np.any(np.array([just_below], dtype=np.float32) >= threshold)
