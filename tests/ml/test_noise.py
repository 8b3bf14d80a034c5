"""Label-noise scores find injected label errors far above their base rate.

Synthetic embeddings with known structure: VIP identities and distractor identities are Gaussian
clusters on the unit sphere. Errors are injected in both directions: VIP faces relabelled as
another VIP, distractor faces labelled as a VIP, and VIP faces labelled as distractors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.index import l2_normalise
from ml.noise import (
    DISTRACTOR_IS_VIP,
    VIP_MISLABELLED,
    combined_rank,
    cross_fit,
    neighbour_disagreement,
    prototype_distance,
    score_label_noise,
    training_loss_score,
)

N_CLASSES = 6


def noisy_sphere_set(seed: int = 0, dim: int = 32, per_class: int = 60, spread: float = 1.0):
    """(embeddings, noisy labels, true labels, flipped mask).

    6 VIPs x 60 faces and 60 distractor identities x 4 faces, each face at cosine about 0.7 to its
    identity's centre (like real face embeddings); 18 VIP -> other VIP flips, 10 distractor -> VIP
    and 10 VIP -> distractor.
    """
    rng = np.random.default_rng(seed)
    centres = l2_normalise(rng.normal(size=(N_CLASSES + 60, dim)))
    identity = np.concatenate(
        [np.repeat(np.arange(N_CLASSES), per_class), np.repeat(np.arange(N_CLASSES, N_CLASSES + 60), 4)]
    )
    x = l2_normalise(centres[identity] + spread * rng.normal(size=(len(identity), dim)) / np.sqrt(dim))
    true = np.where(identity < N_CLASSES, identity, -1)
    noisy = true.copy()
    vip, distractor = np.flatnonzero(true >= 0), np.flatnonzero(true < 0)
    to_other_vip, to_distractor = np.split(rng.choice(vip, 28, replace=False), [18])
    noisy[to_other_vip] = (true[to_other_vip] + rng.integers(1, N_CLASSES, 18)) % N_CLASSES
    noisy[to_distractor] = -1
    distractor_to_vip = rng.choice(distractor, 10, replace=False)
    noisy[distractor_to_vip] = rng.integers(0, N_CLASSES, 10)
    return x, noisy, true, noisy != true


def precision_at_flips(score: np.ndarray, flipped: np.ndarray, members: np.ndarray) -> float:
    """Share of injected errors among the top-n scores of ``members`` (n = number of errors there)."""
    n = int(flipped[members].sum())
    top = members[np.argsort(-score[members], kind="stable")[:n]]
    return float(flipped[top].mean())


def test_neighbour_disagreement_is_the_share_of_neighbours_with_another_label():
    x = l2_normalise([[1, 0], [0.99, 0.1], [0.98, -0.1], [0, 1]])
    score = neighbour_disagreement(x, [0, 0, 1, 1], k=2)
    np.testing.assert_allclose(score, [0.5, 0.5, 1.0, 1.0])


def test_prototype_distance_leaves_the_face_out_of_its_own_prototype():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    score = prototype_distance(x, [0, 0, 0, -1], n_classes=1)
    # face 0: prototype of faces 1, 2 is (1, 1)/sqrt2 -> distance 1 - 1/sqrt2; face 2: prototype (1, 0) -> 1
    np.testing.assert_allclose(score[:3], [1 - 1 / np.sqrt(2), 1 - 1 / np.sqrt(2), 1.0])
    # the distractor: closeness to the full prototype (2, 1)/sqrt5
    np.testing.assert_allclose(score[3], (2 * 0.6 + 0.8) / np.sqrt(5))


def test_training_loss_score_averages_epochs_after_warm_up_and_keeps_unused_samples_nan():
    history = np.array([[9.0, 9.0, np.nan], [1.0, 3.0, np.nan], [3.0, 5.0, np.nan]])
    np.testing.assert_allclose(training_loss_score(history, warmup_epochs=1), [2.0, 4.0, np.nan])
    np.testing.assert_allclose(training_loss_score(history, warmup_epochs=5), [3.0, 5.0, np.nan])


def test_combined_rank_averages_normalised_ranks_and_skips_missing_scores():
    np.testing.assert_allclose(combined_rank([np.array([1.0, 2, 3]), np.array([30.0, 20, 10])]), [0.5, 0.5, 0.5])
    np.testing.assert_allclose(combined_rank([np.array([1.0, 2, 3]), np.array([np.nan, 5, 4])]), [0.0, 0.75, 0.5])


def test_cross_fit_scores_every_sample_once_from_a_fit_that_never_saw_it():
    labels = np.repeat([-1, 0, 1], 10)
    seen_in_fit: list[set[int]] = []

    def fit_and_score(fit: np.ndarray, held_out: np.ndarray) -> np.ndarray:
        assert not set(fit) & set(held_out)
        assert set(labels[fit]) == {-1, 0, 1}  # stratified: every label in every fit
        seen_in_fit.append(set(held_out))
        return held_out.astype(float)

    scores = cross_fit(labels, fit_and_score, folds=5, seed=0)
    np.testing.assert_array_equal(scores, np.arange(30))
    assert len(seen_in_fit) == 5 and all(len(s) == 6 for s in seen_in_fit)


@pytest.mark.parametrize("score_name", ["neighbour_disagreement", "prototype_distance"])
def test_each_embedding_score_ranks_injected_vip_errors_far_above_base_rate(score_name):
    x, noisy, _, flipped = noisy_sphere_set()
    report = score_label_noise(noisy, N_CLASSES, embeddings=x)
    vip = np.flatnonzero(noisy >= 0)
    base_rate = flipped[vip].mean()
    assert base_rate < 0.1
    assert precision_at_flips(report.components[score_name], flipped, vip) >= 0.8


def test_combined_rank_puts_injected_errors_at_the_top_in_both_directions():
    x, noisy, true, flipped = noisy_sphere_set(seed=1)
    report = score_label_noise(noisy, N_CLASSES, embeddings=x)
    for direction in (VIP_MISLABELLED, DISTRACTOR_IS_VIP):
        members = np.flatnonzero(report.direction == direction)
        assert precision_at_flips(report.combined, flipped, members) >= 0.8, direction
        n_errors = int(flipped[members].sum())
        assert set(report.rank[members]) == set(range(1, members.size + 1))
        assert flipped[members[report.rank[members] <= n_errors]].mean() >= 0.8


def test_suggested_label_names_the_true_identity_of_flagged_faces():
    x, noisy, true, flipped = noisy_sphere_set(seed=2)
    report = score_label_noise(noisy, N_CLASSES, embeddings=x)
    vip_swapped = flipped & (true >= 0) & (noisy >= 0)
    hidden_vips = flipped & (true >= 0) & (noisy < 0)
    assert (report.suggested_label[vip_swapped] == true[vip_swapped]).mean() >= 0.9
    assert (report.suggested_label[hidden_vips] == true[hidden_vips]).mean() >= 0.9
    assert (report.suggested_label[report.direction == DISTRACTOR_IS_VIP] >= 0).all()


def glint24_embeddings(shared_data: Path, identities: int, per_identity: int) -> tuple[np.ndarray, np.ndarray]:
    """SFace embeddings of the first ``per_identity`` crops of the first ``identities`` glint24 people."""
    faces = pytest.importorskip("ml.faces", reason="ml.faces (the face pipeline) is not available")
    from PIL import Image

    try:
        embedder = faces.SFaceEmbedder()
    except faces.ModelFileError as error:
        pytest.skip(f"the SFace model is not available: {error}")
    folders = sorted(p for p in (shared_data / "glint24").iterdir() if p.is_dir())
    folders = [f for f in folders if len(list(f.glob("*.jpg"))) >= per_identity][:identities]
    paths = [
        (label, path) for label, folder in enumerate(folders) for path in sorted(folder.glob("*.jpg"))[:per_identity]
    ]
    crops = [np.asarray(Image.open(path).convert("RGB")) for _, path in paths]
    return embedder.embed_aligned(crops), np.array([label for label, _ in paths])


def test_injected_flips_on_real_glint24_faces_rank_far_above_base_rate(shared_data):
    x, labels = glint24_embeddings(shared_data, identities=6, per_identity=20)
    rng = np.random.default_rng(0)
    noisy = labels.copy()
    flips = rng.choice(len(labels), 8, replace=False)
    noisy[flips] = (labels[flips] + rng.integers(1, 6, 8)) % 6
    report = score_label_noise(noisy, 6, embeddings=x)
    flipped = noisy != labels
    assert flipped.mean() < 0.07
    assert precision_at_flips(report.combined, flipped, np.arange(len(labels))) >= 0.6
