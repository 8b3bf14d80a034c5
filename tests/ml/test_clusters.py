"""Merge and split suggestions on Gaussian identity clusters on the unit sphere."""

from __future__ import annotations

import numpy as np

from ml.clusters import merge_candidates, split_candidate, split_candidates
from ml.index import l2_normalise


def identities(sizes: list[int], *, dim: int = 32, spread: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Faces of len(sizes) people, each at cosine about 0.7 to its person's centre; label = person."""
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.normal(size=(len(sizes), dim)))
    person = np.repeat(np.arange(len(sizes)), sizes)
    return l2_normalise(centres[person] + spread * rng.normal(size=(len(person), dim)) / np.sqrt(dim)), person


def test_one_person_under_two_labels_is_the_top_merge_candidate():
    x, person = identities([60, 50, 50, 50, 50])
    labels = person.copy()
    labels[person == 0] = np.where(np.arange(60) < 40, 0, 9)  # person 0 filed as identities 0 and 9 (40 + 20 faces)
    candidates = merge_candidates(x, labels, min_score=0.0)
    assert (candidates[0].a, candidates[0].b) == (0, 9)
    assert candidates[0].neighbour_mixing > 0.8 and candidates[0].centroid_cosine > 0.95
    assert candidates[0].score > 0.8 > max(c.score for c in candidates[1:])
    assert [(c.a, c.b) for c in merge_candidates(x, labels)] == [(0, 9)]  # default min_score keeps only it


def test_distractors_with_negative_labels_are_not_merge_candidates():
    x, person = identities([30, 30, 30])
    labels = np.where(person == 2, -1, person)
    assert all(c.a >= 0 and c.b >= 0 for c in merge_candidates(x, labels, min_score=0.0))


def test_two_people_under_one_label_split_back_into_them():
    x, person = identities([40, 25], seed=1)
    candidate = split_candidate(x, label=3)
    assert candidate.label == 3
    assert set(candidate.cluster_a) == set(np.flatnonzero(person == 0))  # the larger cluster first
    assert set(candidate.cluster_b) == set(np.flatnonzero(person == 1))


def test_a_merged_identity_is_far_better_separated_than_a_single_person():
    x, person = identities([40, 25, 65], seed=2)
    labels = np.where(person == 1, 0, person)  # label 0 = people 0 and 1; label 2 = one person
    two = split_candidate(x[labels == 0])
    one = split_candidate(x[labels == 2])
    assert two.separation > 0.2 > one.separation
    found = split_candidates(x, labels)
    assert [c.label for c in found] == [0]
    assert set(found[0].cluster_b) == set(np.flatnonzero(person == 1))


def test_split_needs_at_least_four_faces():
    x, _ = identities([3])
    assert split_candidate(x) is None
