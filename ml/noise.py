"""Label-noise scores for a training set: which labels to review first.

Two directions, each scored only among its own samples:

* ``vip_mislabelled`` - a face labelled as VIP c that is probably someone else (another VIP or a
  distractor) or not a face at all;
* ``distractor_is_vip`` - a face labelled distractor that is probably one of the VIPs (and which).

Every score is "higher = more suspicious". Each is one function; :func:`combined_rank`
rank-averages them and :func:`score_label_noise` assembles the per-sample report. Labels: 0..C-1
for VIPs, -1 for distractors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from ml.index import l2_normalise, nearest_neighbours

VIP_MISLABELLED = "vip_mislabelled"
DISTRACTOR_IS_VIP = "distractor_is_vip"


def training_loss_score(loss_history: ArrayLike, *, warmup_epochs: int) -> np.ndarray:
    """Mean per-sample training loss over the epochs after warm-up (``loss_history`` is epochs x N).

    Detects samples the model keeps failing to fit while it learns the clean majority: a wrong
    VIP label stays expensive (high cross-entropy), and with ME a distractor the model insists on
    recognising keeps a low-entropy prediction (a high -H term). Early epochs are skipped because
    everything is expensive before the model has learned anything; when training is shorter than
    the warm-up, the last epoch is used. NaN where the loss does not use the sample (CE and ArcFace
    ignore distractors).
    """
    history = np.asarray(loss_history, dtype=np.float64)
    return _finite_mean(history[min(warmup_epochs, len(history) - 1) :])


def _finite_mean(values: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite entries; NaN where a column has none (no warnings)."""
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def cross_fit(
    labels: ArrayLike, fit_and_score: Callable[[np.ndarray, np.ndarray], np.ndarray], *, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Out-of-sample scores by k-fold cross-fitting.

    Splits the samples into ``folds`` folds stratified by label (shuffled with ``seed``) and, for
    each, calls ``fit_and_score(fit_indices, held_out_indices)``, which trains on the other folds and
    returns one score per held-out sample (e.g. its loss). A model never scores a sample it was
    trained on, so memorised wrong labels cannot hide: this detects the same faces as
    :func:`training_loss_score`, more reliably, at ``folds`` times the training cost.
    """
    labels = np.asarray(labels)
    n = len(labels)
    order = np.random.default_rng(seed).permutation(n)
    order = order[np.argsort(labels[order], kind="stable")]  # grouped by label, shuffled within
    fold_of = np.empty(n, dtype=np.int64)
    fold_of[order] = np.arange(n) % folds
    scores = np.full(n, np.nan)
    for fold in range(folds):
        held_out = np.flatnonzero(fold_of == fold)
        if held_out.size:
            scores[held_out] = fit_and_score(np.flatnonzero(fold_of != fold), held_out)
    return scores


def _votes(neighbour_labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts per row of each label among the neighbours; column 0 = distractor, c + 1 = VIP c."""
    n = len(neighbour_labels)
    counts = np.zeros((n, n_classes + 1), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n), neighbour_labels.shape[1]), neighbour_labels.ravel() + 1), 1)
    return counts


def neighbour_disagreement(embeddings: ArrayLike, labels: ArrayLike, *, k: int = 10) -> np.ndarray:
    """Share of a face's ``k`` nearest other faces (cosine, via :mod:`ml.index`) whose label differs from its own.

    Detects faces sitting among another identity's faces: a VIP face whose neighbours are other
    people, a distractor face surrounded by one VIP's faces. Robust to the model (it only needs
    embeddings), weaker for tiny classes with fewer than ``k`` members.
    """
    labels = np.asarray(labels, dtype=np.int64)
    neighbours, _ = nearest_neighbours(embeddings, k)
    if neighbours.shape[1] == 0:
        return np.zeros(len(labels))
    return (labels[neighbours] != labels[:, None]).mean(axis=1)


def neighbour_vote(embeddings: ArrayLike, labels: ArrayLike, n_classes: int, *, k: int = 10) -> np.ndarray:
    """The label a face's ``k`` nearest other faces most often carry, other than its own (-1 = distractor,
    -2 when every neighbour agrees with it). For a distractor only VIP labels are counted: "which VIP"."""
    labels = np.asarray(labels, dtype=np.int64)
    neighbours, _ = nearest_neighbours(embeddings, k)
    counts = _votes(labels[neighbours], n_classes)
    counts[np.arange(len(labels)), labels + 1] = 0  # never suggest the label it already has
    best = counts.argmax(axis=1)
    return np.where(counts.max(axis=1) > 0, best - 1, -2)


def class_prototypes(embeddings: ArrayLike, labels: ArrayLike, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Per VIP class the sum of its unit embeddings and its size (the mean direction is the prototype)."""
    x = l2_normalise(embeddings).astype(np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    vip = labels >= 0
    sums = np.zeros((n_classes, x.shape[1]))
    np.add.at(sums, labels[vip], x[vip])
    return sums, np.bincount(labels[vip], minlength=n_classes)


def prototype_cosines(embeddings: ArrayLike, labels: ArrayLike, n_classes: int) -> np.ndarray:
    """Cosine of each face to each VIP class prototype (N x C); a VIP face's own class prototype leaves
    the face out (so a face cannot vouch for itself). NaN for a prototype with no other member."""
    x = l2_normalise(embeddings).astype(np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    sums, _ = class_prototypes(x, labels, n_classes)
    dots = x @ sums.T
    squared_norms = np.broadcast_to((sums**2).sum(axis=1), dots.shape).copy()
    vip = np.flatnonzero(labels >= 0)
    own = labels[vip]
    self_dot = (x[vip] ** 2).sum(axis=1)
    # |s - x|^2 = |s|^2 - 2 x.s + |x|^2 and x.(s - x) = x.s - |x|^2
    squared_norms[vip, own] += self_dot - 2 * dots[vip, own]
    dots[vip, own] -= self_dot
    norms = np.sqrt(np.clip(squared_norms, 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 1e-9, dots / norms, np.nan)


def prototype_distance(embeddings: ArrayLike, labels: ArrayLike, n_classes: int) -> np.ndarray:
    """Cosine distance from a VIP face to its own class prototype (the class's mean direction without it);
    for a distractor face, closeness ``1 - distance`` to the nearest VIP prototype.

    Detects faces far from the rest of their identity (someone else, a sketch, a non-face) and
    distractors that look like a VIP. Cheap and model-free, but one prototype per class assumes a
    single mode (a class merged from two people shows up in :mod:`ml.clusters` instead).
    """
    labels = np.asarray(labels, dtype=np.int64)
    cos = prototype_cosines(embeddings, labels, n_classes)
    vip = labels >= 0
    rows = np.arange(len(labels))
    own = cos[rows, np.where(vip, labels, 0)]
    nearest_vip = np.nan_to_num(cos, nan=-np.inf).max(axis=1, initial=-np.inf)
    return np.where(vip, 1.0 - own, np.where(np.isfinite(nearest_vip), nearest_vip, np.nan))


def combined_rank(scores: list[np.ndarray]) -> np.ndarray:
    """Rank-average of several "higher = more suspicious" scores, in [0, 1] (1 = top of every score).

    Each score is turned into its normalised rank (ties share the average rank) so scales do not
    matter; a sample's combined score averages the ranks of the scores available for it (NaN = not
    available). Apply it within one direction.
    """
    if not scores:
        raise ValueError("combined_rank needs at least one score")
    n = len(scores[0])
    ranks = np.full((len(scores), n), np.nan)
    for row, score in enumerate(scores):
        score = np.asarray(score, dtype=np.float64)
        present = np.isfinite(score)
        if present.sum() == 1:
            ranks[row, present] = 1.0
        elif present.any():
            ranks[row, present] = (rankdata(score[present]) - 1) / (present.sum() - 1)
    return np.nan_to_num(_finite_mean(ranks), nan=0.0)


@dataclass(frozen=True)
class NoiseScores:
    """Per-sample noise report, aligned with the input samples.

    ``direction``: VIP_MISLABELLED for VIP-labelled samples, DISTRACTOR_IS_VIP for distractors.
    ``combined``: :func:`combined_rank` within the direction. ``rank``: 1 = the most suspicious
    sample of its direction. ``suggested_label``: the likely true label (a VIP, -1 = not a VIP;
    for distractors always a VIP). ``components``: each score, NaN where unavailable.
    """

    direction: np.ndarray
    combined: np.ndarray
    rank: np.ndarray
    suggested_label: np.ndarray
    components: dict[str, np.ndarray] = field(default_factory=dict)


def score_label_noise(
    labels: ArrayLike,
    n_classes: int,
    *,
    embeddings: ArrayLike | None = None,
    training_loss: ArrayLike | None = None,
    out_of_sample_loss: ArrayLike | None = None,
    k: int = 10,
) -> NoiseScores:
    """All available noise scores for a labelled set, combined per direction.

    ``embeddings`` enable neighbour disagreement and prototype distance (and the suggestions);
    ``training_loss`` is :func:`training_loss_score`'s output, ``out_of_sample_loss`` :func:`cross_fit`'s.
    """
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    components: dict[str, np.ndarray] = {}
    if training_loss is not None:
        components["training_loss"] = np.asarray(training_loss, dtype=np.float64)
    if out_of_sample_loss is not None:
        components["out_of_sample_loss"] = np.asarray(out_of_sample_loss, dtype=np.float64)
    suggested = np.full(n, -2, dtype=np.int64)
    if embeddings is not None:
        components["neighbour_disagreement"] = neighbour_disagreement(embeddings, labels, k=k)
        components["prototype_distance"] = prototype_distance(embeddings, labels, n_classes)
        suggested = _suggestions(embeddings, labels, n_classes, k=k)
    if not components:
        raise ValueError("no score to compute: pass embeddings, training_loss or out_of_sample_loss")

    vip = labels >= 0
    combined = np.zeros(n)
    rank = np.zeros(n, dtype=np.int64)
    for members in (np.flatnonzero(vip), np.flatnonzero(~vip)):
        if members.size:
            combined[members] = combined_rank([score[members] for score in components.values()])
            rank[members[np.argsort(-combined[members], kind="stable")]] = np.arange(1, members.size + 1)
    direction = np.where(vip, VIP_MISLABELLED, DISTRACTOR_IS_VIP)
    return NoiseScores(
        direction=direction, combined=combined, rank=rank, suggested_label=suggested, components=components
    )


def _suggestions(embeddings: ArrayLike, labels: np.ndarray, n_classes: int, *, k: int) -> np.ndarray:
    """The neighbours' vote (:func:`neighbour_vote`); where the neighbours all agree with the label, the
    nearest other VIP prototype (-1 when there is none, e.g. a single VIP class)."""
    voted = neighbour_vote(embeddings, labels, n_classes, k=k)
    cos = np.nan_to_num(prototype_cosines(embeddings, labels, n_classes), nan=-np.inf)
    vip = np.flatnonzero(labels >= 0)
    cos[vip, labels[vip]] = -np.inf  # someone else: never its own class
    nearest_other = np.argmax(cos, axis=1) if n_classes else np.zeros(len(labels), dtype=np.int64)
    has_other = np.isfinite(cos).any(axis=1) if n_classes else np.zeros(len(labels), dtype=bool)
    return np.where(voted != -2, voted, np.where(has_other, nearest_other, -1))
