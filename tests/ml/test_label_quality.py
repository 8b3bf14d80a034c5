"""The kNN label-error probability ranks injected errors of both directions first in one queue and
hints at the true label."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

from ml.index import l2_normalise
from ml.label_quality import LabelErrorScores, own_label_probability, score_label_errors
from tests.ml.test_noise import noisy_sphere_set


def test_own_label_probability_is_the_weighted_vote_share_with_a_background_vote():
    labels = np.array([[0, 0, -1]])
    sims = np.array([[1.0, 1.0, 1.0]])  # weights exp(0) = 1 each; background at 1.0 also weighs 1
    p = own_label_probability(labels, sims, np.array([0]), temperature=0.1, background=1.0)
    assert p[0] == 2 / 4  # two of four votes (3 neighbours + background)
    p_not_vip = own_label_probability(labels, sims, np.array([-1]), temperature=0.1, background=1.0)
    assert p_not_vip[0] == 2 / 4  # the distractor neighbour and the background


def test_injected_errors_of_both_directions_top_the_merged_queue():
    x, noisy, true, flipped = noisy_sphere_set(0)
    scores = score_label_errors(x, noisy)
    assert average_precision_score(flipped, scores.p_wrong) > 0.9
    first = scores.order[: 2 * flipped.sum()]
    assert flipped[first].sum() >= 0.95 * flipped.sum()
    found_directions = set(scores.direction[first[flipped[first]]])
    assert found_directions == {"vip_mislabelled", "distractor_is_vip"}


def test_probabilities_are_probabilities_and_the_queue_is_sorted_by_them():
    x, noisy, _, _ = noisy_sphere_set(1)
    scores = score_label_errors(x, noisy)
    assert np.all((scores.p_wrong >= 0) & (scores.p_wrong <= 1))
    assert np.all(np.diff(scores.margin[scores.order]) <= 0)
    assert np.allclose(scores.margin, scores.suggested_probability - (1 - scores.p_wrong))
    assert np.all(scores.suggested_label != noisy)
    assert set(scores.worth_a_look(0.5)) == set(np.flatnonzero((scores.p_wrong >= 0.5) | (scores.margin > 0)))


def test_the_hint_names_the_true_vip_of_a_relabelled_face():
    x, noisy, true, flipped = noisy_sphere_set(2)
    scores = score_label_errors(x, noisy)
    vip_swapped = flipped & (true >= 0)
    assert np.mean(scores.suggested_label[vip_swapped] == true[vip_swapped]) > 0.9


def test_an_approximate_index_gives_the_same_queue_head():
    x, noisy, _, flipped = noisy_sphere_set(0)
    exact = score_label_errors(x, noisy)
    approx = score_label_errors(x, noisy, exact_up_to=100, temperature=exact.temperature, background=exact.background)
    n = int(flipped.sum())
    overlap = len(set(exact.order[:n]) & set(approx.order[:n])) / n
    assert overlap > 0.85


def test_a_face_like_nobody_labelled_as_a_vip_is_probably_wrong():
    rng = np.random.default_rng(0)
    centre = l2_normalise(rng.normal(size=(1, 16)))
    vip = l2_normalise(centre + 0.1 * rng.normal(size=(30, 16)))
    stranger = l2_normalise(rng.normal(size=(1, 16)))
    x = np.vstack([vip, stranger])
    labels = np.zeros(31, dtype=np.int64)
    scores = score_label_errors(x, labels, temperature=0.05, background=0.5)
    assert scores.order[0] == 30
    assert scores.suggested_label[30] == -1


def test_scores_stored_per_face_give_back_the_same_queue():
    # a training run stores p_wrong, the hint and its probability per face; the queue is rebuilt from them
    x, noisy, _, _ = noisy_sphere_set(3)
    scores = score_label_errors(x, noisy)
    stored = [
        {"p_wrong": float(p), "suggested_label": int(s), "suggested_probability": float(q)}
        for p, s, q in zip(scores.p_wrong, scores.suggested_label, scores.suggested_probability, strict=True)
    ]

    again = LabelErrorScores.from_parts(
        labels=noisy,
        p_wrong=[s["p_wrong"] for s in stored],
        suggested_label=[s["suggested_label"] for s in stored],
        suggested_probability=[s["suggested_probability"] for s in stored],
        temperature=scores.temperature,
        background=scores.background,
    )

    assert np.array_equal(again.order, scores.order) and np.array_equal(again.direction, scores.direction)
    assert np.allclose(again.margin, scores.margin)
    assert np.array_equal(again.worth_a_look(), scores.worth_a_look())
