"""Each loss against numbers computed by hand on one- or two-sample tensors.

Handy values: logits (ln 3, 0, 0) give p = (3/5, 1/5, 1/5); logits (0, 0, 0) give p = 1/3 each.
"""

from __future__ import annotations

import math

import pytest
import torch

from ml.losses import (
    LOSSES,
    arcface,
    cross_entropy,
    distractor_class_cross_entropy,
    entropy,
    get_loss,
    maximum_entropy,
    threshold_logits,
    threshold_softmax,
    vip_probabilities,
    zero_logit,
)

LN3 = math.log(3)


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def y(values: list[int]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


def test_ce_averages_over_vip_samples_and_ignores_distractors():
    logits = t([[LN3, 0, 0], [0, 0, 0], [5, -5, 0]])
    loss = cross_entropy(logits, y([0, 2, -1]))
    assert loss.item() == pytest.approx((math.log(5 / 3) + LN3) / 2, rel=1e-5)
    per_sample = cross_entropy(logits, y([0, 2, -1]), reduction="none")
    assert math.isnan(per_sample[2].item())


def test_ce_on_a_batch_of_only_distractors_is_zero_but_still_differentiable():
    logits = t([[1, 2]]).requires_grad_()
    loss = cross_entropy(logits, y([-1]))
    loss.backward()
    assert loss.item() == 0 and logits.grad is not None


def test_dce_treats_distractors_as_an_extra_last_class():
    logits = t([[LN3, 0, 0], [0, 0, LN3]])  # C = 2 VIP classes + the distractor column
    assert distractor_class_cross_entropy(logits, y([0, -1])).item() == pytest.approx(math.log(5 / 3), rel=1e-5)


def test_zlog_adds_the_mean_squared_logit_of_distractors():
    logits = t([[LN3, 0, 0], [1, -1, 2]])
    expected = (math.log(5 / 3) + (1 + 1 + 4) / 3) / 2
    assert zero_logit(logits, y([0, -1])).item() == pytest.approx(expected, rel=1e-5)


def test_me_subtracts_the_entropy_of_distractor_predictions():
    logits = t([[LN3, 0, 0], [LN3, 0, 0]])
    h = -(0.6 * math.log(0.6) + 2 * 0.2 * math.log(0.2))
    assert entropy(logits)[0].item() == pytest.approx(h, rel=1e-5)
    assert maximum_entropy(logits, y([0, -1])).item() == pytest.approx((math.log(5 / 3) - h) / 2, rel=1e-5)


def test_me_distractor_term_is_smallest_for_a_flat_prediction():
    flat = maximum_entropy(t([[0, 0, 0]]), y([-1])).item()
    peaked = maximum_entropy(t([[4, 0, 0]]), y([-1])).item()
    assert flat == pytest.approx(-LN3, rel=1e-5) and peaked > flat


def test_arcface_adds_the_angular_margin_to_the_target_and_ignores_distractors():
    # cos = 0.5 is theta = pi/3; with m = pi/6 the target becomes cos(pi/2) = 0; s = 2
    cosines = t([[0.5, 0.5], [0.9, 0.1]])
    loss = arcface(cosines, y([0, -1]), s=2.0, m=math.pi / 6)
    assert loss.item() == pytest.approx(math.log(1 + math.e), rel=1e-5)  # logits (0, 1), target 0


def test_arcface_target_logit_keeps_falling_past_pi_minus_m():
    cosines = torch.stack([torch.linspace(-1, 1, 101), torch.zeros(101)], dim=1)
    per_sample = arcface(cosines, torch.zeros(101, dtype=torch.int64), s=8.0, m=0.5, reduction="none")
    assert (per_sample.diff() < 0).all()  # higher cosine to the target, lower loss, everywhere


def test_threshold_softmax_appends_the_fixed_logit_s_cos_m_and_trains_distractors_towards_it():
    # s = 2, m = pi/3: threshold logit 2 cos(pi/3) = 1; cos (0.5, 0) gives logits (1, 0, 1)
    cosines = t([[0.5, 0.0]])
    assert threshold_logits(cosines, 2.0, math.pi / 3)[0].tolist() == pytest.approx([1.0, 0.0, 1.0])
    as_vip = threshold_softmax(cosines, y([0]), s=2.0, m=math.pi / 3).item()
    as_distractor = threshold_softmax(cosines, y([-1]), s=2.0, m=math.pi / 3).item()
    assert as_vip == pytest.approx(math.log((2 * math.e + 1) / math.e), rel=1e-5)
    assert as_distractor == pytest.approx(as_vip, rel=1e-5)
    far = threshold_softmax(t([[-1.0, -1.0]]), y([-1]), s=2.0, m=math.pi / 3).item()  # logits (-2, -2, 1)
    assert far == pytest.approx(math.log(1 + 2 * math.exp(-3)), rel=1e-5)


def test_registry_names_every_loss_and_what_the_model_must_emit():
    assert set(LOSSES) == {"ce", "dce", "zlog", "me", "arcface", "tsoftmax"}
    assert get_loss("dce").extra_outputs == 1 and get_loss("dce").reject_column
    assert get_loss("tsoftmax").cosine and get_loss("tsoftmax").reject_column
    assert get_loss("arcface").cosine and not get_loss("arcface").reject_column
    with pytest.raises(ValueError):
        get_loss("nope")


def test_registry_compute_matches_the_loss_function():
    cosines = t([[0.5, 0.5]])
    spec = get_loss("arcface")
    assert spec.compute(cosines, y([0]), s=2.0, m=math.pi / 6).item() == pytest.approx(math.log(1 + math.e), rel=1e-5)
    assert spec.logits(cosines, s=2.0, m=0.3)[0].tolist() == pytest.approx([1.0, 1.0])


def test_vip_probabilities_without_reject_column_are_the_tempered_softmax():
    probs, confidence = vip_probabilities(t([[2 * LN3, 0]]), 2.0, reject_column=False)
    assert probs[0].tolist() == pytest.approx([0.75, 0.25])
    assert confidence.tolist() == pytest.approx([0.75])


def test_vip_probabilities_with_reject_column_drop_it_after_it_competed():
    probs, confidence = vip_probabilities(t([[0, 0, math.log(2)]]), 1.0, reject_column=True)
    assert probs[0].tolist() == pytest.approx([0.25, 0.25])
    assert confidence.tolist() == pytest.approx([0.25])


def test_calibration_targets_send_distractors_to_the_reject_column_or_leave_them_out():
    labels = y([1, -1])
    assert get_loss("dce").calibration_targets(labels, n_classes=3).tolist() == [1, 3]
    assert get_loss("me").calibration_targets(labels, n_classes=3).tolist() == [1, -1]
