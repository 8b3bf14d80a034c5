"""The label-error probability (kNN and class-centroid posteriors averaged) ranks injected errors of
both directions first in one queue and hints at the true label."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

from ml.index import l2_normalise, nearest_neighbours
from ml.label_quality import (
    DEFAULT_K,
    LabelErrorScores,
    centroid_posterior,
    centroid_similarities,
    centroid_sums,
    not_vip_similarities,
    own_label_probability,
    score_label_errors,
)
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


def _burst_filed_under_another_vip(seed: int = 0):
    """Two VIPs of 40 faces each (cosine about 0.7 to their centre) and 40 one-photo distractors;
    three near-identical photos of VIP 0 (a burst) filed under VIP 1. Returns x, labels, burst rows."""
    rng = np.random.default_rng(seed)
    dim = 32
    centres = l2_normalise(rng.normal(size=(2 + 40, dim)))
    identity = np.concatenate([np.repeat([0, 1], 40), np.arange(2, 42)])
    x = l2_normalise(centres[identity] + rng.normal(size=(len(identity), dim)) / np.sqrt(dim))
    burst = l2_normalise(x[0] + 0.05 * rng.normal(size=(3, dim)) / np.sqrt(dim))
    labels = np.concatenate([np.where(identity < 2, identity, -1), [1, 1, 1]])
    return np.vstack([x, burst]), labels, np.arange(len(x), len(x) + 3)


def test_a_burst_of_one_vips_photos_filed_under_another_tops_the_queue():
    # the burst's photos are each other's nearest neighbours and vote for the wrong VIP; the centroid
    # posterior sees all of VIP 0's faces and that the burst sits by them, not by VIP 1's
    x, labels, burst = _burst_filed_under_another_vip()
    scores = score_label_errors(x, labels)
    assert set(burst) <= set(scores.order[:5])  # of 123 faces; a natural outlier may come first
    assert np.all(scores.margin[burst] > 0) and np.all(scores.suggested_label[burst] == 0)
    knn_alone = score_label_errors(x, labels, centroid_weight=0.0)
    assert np.all(knn_alone.margin[burst] < 0)  # by their neighbours alone they look right


def test_the_posterior_is_the_weighted_average_of_the_knn_and_the_centroid_posteriors():
    x, noisy, _, _ = noisy_sphere_set(4)
    knn = score_label_errors(x, noisy, centroid_weight=0.0)
    centroid = score_label_errors(x, noisy, centroid_weight=1.0)
    both = score_label_errors(x, noisy, centroid_weight=0.5)
    assert np.allclose(both.p_wrong, (knn.p_wrong + centroid.p_wrong) / 2)
    assert (both.temperature, both.background) == (knn.temperature, knn.background)
    assert both.centroid_weight == 0.5 and both.centroid_temperature == centroid.centroid_temperature


def test_the_knn_alone_is_the_weighted_vote_share():
    x, noisy, _, _ = noisy_sphere_set(5)
    scores = score_label_errors(x, noisy, centroid_weight=0.0, temperature=0.05, background=0.4)
    idx, sims = nearest_neighbours(x, DEFAULT_K)
    vip = noisy >= 0  # faces labelled not-a-VIP also weigh how close they are to VIPs' faces
    own = own_label_probability(noisy[idx], sims, noisy, temperature=0.05, background=0.4)
    assert np.allclose(1 - scores.p_wrong[vip], own[vip])


def test_a_face_is_left_out_of_its_own_vips_centroid():
    rng = np.random.default_rng(0)
    x = l2_normalise(rng.normal(size=(5, 8)))
    labels = np.array([0, 0, 1, 1, 1])
    sums, counts = centroid_sums(x, labels, 2)
    sims = centroid_similarities(x, labels, sums, counts)
    assert np.isclose(sims[0, 0], x[0] @ x[1])  # VIP 0 without face 0 is face 1
    rest = l2_normalise((x[3] + x[4])[None])[0]
    assert np.isclose(sims[2, 1], x[2] @ rest)
    assert np.isclose(sims[0, 1], x[0] @ l2_normalise(sums[1][None])[0])  # another VIP's: all its faces
    alone = centroid_similarities(x[:1], np.array([0]), *centroid_sums(x[:1], np.array([0]), 1))
    assert alone[0, 0] == -np.inf  # a VIP's only face has no centroid to be compared with
    p = centroid_posterior(sims, temperature=0.1, background=0.3)
    assert p.shape == (5, 3) and np.allclose(p.sum(axis=1), 1.0)


def test_a_face_is_compared_with_the_mean_of_the_faces_that_are_not_vips_left_out_of_it():
    rng = np.random.default_rng(0)
    x = l2_normalise(rng.normal(size=(6, 8)))
    labels = np.array([0, 0, -1, -1, -1, 1])
    sims = not_vip_similarities(x, labels)
    assert np.isclose(sims[0], x[0] @ l2_normalise((x[2] + x[3] + x[4])[None])[0])
    assert np.isclose(sims[2], x[2] @ l2_normalise((x[3] + x[4])[None])[0])  # itself left out
    assert not_vip_similarities(x[:2], np.array([0, -1]))[1] == 0.0  # no other not-VIP face


def test_an_unknown_face_filed_under_a_vip_is_suspected_more_when_it_looks_like_the_unknown_faces():
    """Two faces filed under VIP 0, equally far from its centroid: the one on the side where the
    faces that are not VIPs lie (what unknown people's photos share) is the likelier label error."""
    rng = np.random.default_rng(3)
    dim = 16
    axes = np.eye(dim)
    unknown_side, vip_side = axes[0], axes[1]
    unknowns = l2_normalise(unknown_side + 0.8 * rng.normal(size=(200, dim)) / np.sqrt(dim))
    vip = l2_normalise(vip_side + 0.3 * rng.normal(size=(40, dim)) / np.sqrt(dim))
    towards_unknowns = l2_normalise((vip_side + 1.2 * unknown_side)[None])
    away_from_them = l2_normalise((vip_side - 1.2 * unknown_side)[None])
    x = np.concatenate([unknowns, vip, towards_unknowns, away_from_them]).astype(np.float32)
    labels = np.concatenate([np.full(200, -1), np.zeros(42, dtype=np.int64)])
    scores = score_label_errors(x, labels, centroid_weight=1.0)
    assert scores.p_wrong[-2] > scores.p_wrong[-1] + 0.1
    assert scores.suggested_label[-2] == -1


def test_detector_non_faces_filed_under_vips_top_the_queue_though_they_look_like_each_other():
    """Non-faces (background crops the detector took for faces) resemble each other more than any
    person: their neighbours are other non-faces under other VIPs, so no single other label wins and
    only "matches no VIP as well as a typical unknown face does" gives them away. Faces share a
    direction (what makes them faces: an unknown face's cosine to a VIP's mean is about 0.3); the
    non-faces lie off it."""
    rng = np.random.default_rng(7)
    dim = 32
    face_direction = np.eye(dim)[0]
    centres = l2_normalise(0.6 * face_direction + l2_normalise(rng.normal(size=(8 + 150, dim))))
    person = np.concatenate([np.repeat(np.arange(8), 40), np.repeat(np.arange(8, 158), 3)])
    faces = l2_normalise(centres[person] + 0.8 * rng.normal(size=(len(person), dim)) / np.sqrt(dim))
    texture = l2_normalise(-0.3 * face_direction + l2_normalise(rng.normal(size=(1, dim))))
    non_faces = l2_normalise(texture + 0.5 * rng.normal(size=(24, dim)) / np.sqrt(dim))
    x = np.concatenate([faces, non_faces]).astype(np.float32)
    labels = np.concatenate([np.where(person < 8, person, -1), rng.integers(0, 8, 24)])
    scores = score_label_errors(x, labels)
    is_non_face = np.arange(len(x)) >= len(faces)
    assert np.all(scores.suggested_label[is_non_face] == -1)  # "not a VIP" is likelier than the VIP filed
    assert np.all(scores.margin[is_non_face] > 0)
    vip_face = (labels >= 0) & ~is_non_face
    assert scores.margin[is_non_face].min() > scores.margin[vip_face].max()  # ahead of every VIP's own faces
