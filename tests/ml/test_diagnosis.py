"""Per-class diagnosis and most confused identity pairs, on small hand-made confusion matrices."""

from __future__ import annotations

import numpy as np
import pytest

from ml.diagnosis import (
    LOW_PRECISION,
    LOW_PRECISION_AND_RECALL,
    LOW_RECALL,
    OK,
    confused_pairs,
    diagnose_classes,
    robust_z_scores,
)


def test_robust_z_scores_use_median_and_mad_so_one_outlier_does_not_hide_itself():
    z = robust_z_scores([0.9, 0.92, 0.94, 0.96, 0.98, 0.2])
    # median 0.93; absolute deviations .01 .01 .03 .03 .05 .73 -> MAD 0.03
    assert z[5] == pytest.approx((0.2 - 0.93) / (1.4826 * 0.03))
    assert abs(z[:5]).max() < 2


def test_robust_z_scores_fall_back_when_most_values_are_equal():
    assert robust_z_scores([1.0, 1.0, 1.0, 1.0]).tolist() == [0, 0, 0, 0]
    z = robust_z_scores([1.0, 1.0, 1.0, 0.0])  # MAD 0; mean absolute deviation 0.25
    assert z[3] == pytest.approx(-1 / (1.2533 * 0.25))


def test_classes_below_the_floors_get_the_matching_status():
    # rows = true (A, B, C, Distractor), columns = predicted (A, B, C, rejected)
    confusion = np.array(
        [
            [10, 0, 0, 0],  # A: all found
            [0, 5, 0, 5],  # B: half rejected -> recall 0.5
            [0, 0, 10, 0],  # C: all found ...
            [0, 0, 5, 20],  # ... but 5 distractors taken for C -> precision 10/15
        ]
    )
    result = {d.name: d for d in diagnose_classes(confusion, ["A", "B", "C"])}
    assert result["A"].status == OK
    assert result["B"].status == LOW_RECALL and result["B"].recall == pytest.approx(0.5)
    assert result["C"].status == LOW_PRECISION and result["C"].precision == pytest.approx(10 / 15)
    assert result["C"].reasons == ("precision 0.67 below 0.90",)


def test_a_class_far_below_the_others_is_flagged_even_above_the_floor():
    n = 8
    confusion = np.zeros((n + 1, n + 1), dtype=int)
    confusion[np.arange(n), np.arange(n)] = 100
    confusion[7, 7], confusion[7, n] = 82, 18  # recall 0.82 > floor 0.8, but every other class is at 1.0
    confusion[0, 0], confusion[0, n] = 99, 1
    result = diagnose_classes(confusion, [f"c{i}" for i in range(n)])
    assert [d.status for d in result] == [OK] * 7 + [LOW_RECALL]
    assert "far below the other classes" in result[7].reasons[0]


def test_both_low_and_unknown_values_flag_nothing_unknown():
    confusion = np.array(
        [
            [2, 0, 8],  # A: recall 0.2
            [0, 0, 0],  # B: no test samples, never predicted
            [8, 0, 2],  # distractors taken for A: precision 2/10
        ]
    )
    a, b = diagnose_classes(confusion, ["A", "B"])
    assert a.status == LOW_PRECISION_AND_RECALL
    assert b.status == OK and b.precision is None and b.recall is None


def test_confused_pairs_count_both_directions_most_confused_first():
    confusion = np.array(
        [
            [8, 2, 0, 0],
            [1, 9, 0, 0],
            [0, 4, 6, 0],
            [0, 0, 0, 5],
        ]
    )
    pairs = confused_pairs(confusion, ["A", "B", "C"])
    assert [(p.name_a, p.name_b, p.a_as_b, p.b_as_a) for p in pairs] == [("B", "C", 0, 4), ("A", "B", 2, 1)]
    assert pairs[0].rate == pytest.approx(4 / 20)
