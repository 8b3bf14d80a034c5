"""Identity merge and split suggestions from face embeddings.

* Merge: two identities that are one person (the same celebrity under two names, or one source id
  split in two) have nearly parallel centroids and their faces are each other's nearest
  neighbours about as often as if they carried one label.
* Split: an identity that is two people falls into two well-separated clusters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from ml.index import l2_normalise, nearest_neighbours


@dataclass(frozen=True)
class MergeCandidate:
    """Identities ``a`` and ``b`` that may be one person.

    ``centroid_cosine``: cosine between their mean directions. ``neighbour_mixing``: how often their
    faces have each other's faces among their k nearest neighbours, relative to how often they would
    if both were one identity (capped at 1). ``score`` = mean of the two (cosine floored at 0).
    """

    a: int
    b: int
    centroid_cosine: float
    neighbour_mixing: float
    score: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def merge_candidates(
    embeddings: ArrayLike, labels: ArrayLike, *, k: int = 10, min_score: float = 0.5, top: int = 20
) -> list[MergeCandidate]:
    """Pairs of identities (labels >= 0; negative labels are ignored) that look like one person, most likely first."""
    labels = np.asarray(labels, dtype=np.int64)
    keep = labels >= 0
    x, labels = l2_normalise(np.asarray(embeddings)[keep]), labels[keep]
    names, y = np.unique(labels, return_inverse=True)
    n_ids = len(names)
    if n_ids < 2:
        return []
    sizes = np.bincount(y, minlength=n_ids).astype(np.float64)
    sums = np.zeros((n_ids, x.shape[1]))
    np.add.at(sums, y, x)
    centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    cosine = centroids @ centroids.T

    neighbours, _ = nearest_neighbours(x, k)
    k_used = neighbours.shape[1]
    crossings = np.zeros((n_ids, n_ids))
    np.add.at(crossings, (np.repeat(y, k_used), y[neighbours].ravel()), 1)
    a, b = np.triu_indices(n_ids, k=1)
    observed = crossings[a, b] + crossings[b, a]
    # one identity: a face of a has n_b / (n_a + n_b - 1) of its neighbours in b, and vice versa
    expected = 2 * k_used * sizes[a] * sizes[b] / np.maximum(sizes[a] + sizes[b] - 1, 1)
    mixing = np.clip(observed / np.maximum(expected, 1e-12), 0.0, 1.0)
    score = (np.clip(cosine[a, b], 0.0, 1.0) + mixing) / 2
    order = np.argsort(-score, kind="stable")
    order = order[score[order] >= min_score][:top]
    return [
        MergeCandidate(
            a=int(names[a[i]]),
            b=int(names[b[i]]),
            centroid_cosine=float(cosine[a[i], b[i]]),
            neighbour_mixing=float(mixing[i]),
            score=float(score[i]),
        )
        for i in order
    ]


@dataclass(frozen=True)
class SplitCandidate:
    """An identity's faces split in two clusters (indices into the embeddings given).

    ``separation``: the cosine silhouette of the two-cluster split, in [-1, 1] (about 0.1 for one
    person's faces, clearly higher for two people). ``centroid_cosine``: between the two clusters.
    """

    label: int
    cluster_a: np.ndarray
    cluster_b: np.ndarray
    separation: float
    centroid_cosine: float

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "cluster_a": self.cluster_a.tolist(), "cluster_b": self.cluster_b.tolist()}


def split_candidate(
    embeddings: ArrayLike, *, label: int = -1, seed: int = 0, max_silhouette_samples: int = 2000
) -> SplitCandidate | None:
    """The best two-way split of one identity's faces (spherical k-means, k = 2), None under 4 faces.

    The larger cluster is ``cluster_a``. The silhouette is computed on at most
    ``max_silhouette_samples`` faces (sampled with ``seed``) to stay cheap for big identities.
    """
    x = l2_normalise(embeddings)
    if len(x) < 4:
        return None
    assignment = KMeans(n_clusters=2, n_init=4, random_state=seed).fit_predict(x)
    if np.bincount(assignment, minlength=2).min() == 0:
        return None
    if np.sum(assignment == 1) > np.sum(assignment == 0):
        assignment = 1 - assignment
    separation = silhouette_score(
        x, assignment, metric="cosine", sample_size=min(len(x), max_silhouette_samples), random_state=seed
    )
    means = np.stack([x[assignment == 0].mean(axis=0), x[assignment == 1].mean(axis=0)])
    means = means / np.linalg.norm(means, axis=1, keepdims=True)
    return SplitCandidate(
        label=label,
        cluster_a=np.flatnonzero(assignment == 0),
        cluster_b=np.flatnonzero(assignment == 1),
        separation=float(separation),
        centroid_cosine=float(means[0] @ means[1]),
    )


def split_candidates(
    embeddings: ArrayLike, labels: ArrayLike, *, min_separation: float = 0.2, seed: int = 0
) -> list[SplitCandidate]:
    """:func:`split_candidate` for every identity (labels >= 0), those separated by at least
    ``min_separation``, most separated first; cluster indices point into ``embeddings``."""
    x = np.asarray(embeddings)
    labels = np.asarray(labels, dtype=np.int64)
    found = []
    for label in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == label)
        candidate = split_candidate(x[members], label=int(label), seed=seed)
        if candidate is not None and candidate.separation >= min_separation:
            found.append(
                SplitCandidate(
                    label=candidate.label,
                    cluster_a=members[candidate.cluster_a],
                    cluster_b=members[candidate.cluster_b],
                    separation=candidate.separation,
                    centroid_cosine=candidate.centroid_cosine,
                )
            )
    return sorted(found, key=lambda c: -c.separation)
