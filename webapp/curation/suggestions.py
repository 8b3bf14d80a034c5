"""Merge and split suggestions from face embeddings: the evidence an admin sees side by side.

Arrays in, plain results out (no database here): :mod:`ml.clusters` finds the candidates, this
module adds what the product needs on top of it: the model's mutual confusion when a training
run is given, the gates that keep one person's ordinary variation (pose, age, a couple of
mislabelled faces) from being offered as a split, and per side a few typical faces to show.

Numbers on glint24 with SFace (40 faces per person, the 24 people): two halves of one person have
centroid cosine 0.85-0.99, two different people at most 0.47. A k = 2 split of one person has a
silhouette up to 0.41 (a couple of outliers) but its two centroids stay above cosine 0.6; a split
of two people under one name has a silhouette from 0.36 and centroids below 0.47. So a split is
suggested on both: silhouette >= ``min_separation`` and centroid cosine <= ``max_centroid_cosine``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ml.clusters import merge_candidates, split_candidate
from ml.index import l2_normalise

MERGE = "merge"
SPLIT = "split"


@dataclass(frozen=True)
class MergeSettings:
    min_score: float = 0.5  # mean of centroid cosine (floored at 0) and neighbour mixing (and confusion)
    k: int = 10  # neighbours per face for the mixing
    top: int = 200  # most suggestions kept
    examples: int = 6  # typical faces shown per side


@dataclass(frozen=True)
class SplitSettings:
    min_separation: float = 0.3  # cosine silhouette of the k = 2 split
    max_centroid_cosine: float = 0.55  # the two clusters' centroids must look like two people
    min_cluster: int = 3  # faces in the smaller cluster
    min_faces: int = 8  # identities with fewer faces are not examined
    top: int = 200
    examples: int = 6
    seed: int = 0


@dataclass(frozen=True)
class Found:
    """One suggestion before it is stored: ``identity``/``other`` as in IdentitySuggestion
    (merge: not yet oriented, the service picks which one to keep)."""

    kind: str
    identity: int
    other: int | None
    score: float
    evidence: dict = field(default_factory=dict)


def groups(identity_ids: np.ndarray) -> dict[int, np.ndarray]:
    """Row positions of each identity's faces, in one sort (not one scan per identity)."""
    order = np.argsort(identity_ids, kind="stable")
    values, starts = np.unique(identity_ids[order], return_index=True)
    return {int(v): part for v, part in zip(values, np.split(order, starts[1:]), strict=True)}


def typical_faces(vectors: np.ndarray, face_ids: np.ndarray, n: int) -> list[int]:
    """The ``n`` faces nearest their own centroid (the most representative ones), nearest first."""
    if len(face_ids) == 0:
        return []
    x = l2_normalise(vectors)
    centre = x.mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    order = np.argsort(-(x @ centre), kind="stable")[:n]
    return [int(face_ids[i]) for i in order]


def cohesion(vectors: np.ndarray) -> float:
    """Mean cosine of faces to their centroid (1 = all alike): how tight one side is."""
    x = l2_normalise(vectors)
    centre = x.mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    return float(np.mean(x @ centre))


def merge_suggestions(
    *,
    face_ids: np.ndarray,
    identity_ids: np.ndarray,
    vectors: np.ndarray,
    confusion: dict[tuple[int, int], float] | None = None,
    settings: MergeSettings = MergeSettings(),
) -> list[Found]:
    """Pairs of identities that look like one person, most likely first.

    ``score`` = mean of the centroid cosine (floored at 0) and the neighbour mixing
    (:func:`ml.clusters.merge_candidates`); when ``confusion`` (from a training run, see
    ``selectors.run_confusion``) has data on the pair, the mutual confusion is a third term:
    the mean of both directions' rates, each capped at 1. Pairs the run did not see keep the
    two-term score.
    """
    if len(np.unique(identity_ids)) < 2:
        return []
    # Widen the net when a run's confusion can lift a pair over the bar: (2s + c) / 3 >= min
    # needs s >= (3 min - 1) / 2.
    floor = settings.min_score if not confusion else max(0.0, (3 * settings.min_score - 1) / 2)
    candidates = merge_candidates(vectors, identity_ids, k=settings.k, min_score=floor, top=settings.top * 3)
    rows = groups(identity_ids)
    found = []
    for candidate in candidates:
        a, b = candidate.a, candidate.b
        evidence: dict = {
            "centroid_cosine": round(candidate.centroid_cosine, 4),
            "neighbour_mixing": round(candidate.neighbour_mixing, 4),
            "neighbours_k": settings.k,
        }
        score = candidate.score
        if confusion and ((a, b) in confusion or (b, a) in confusion):
            ab, ba = confusion.get((a, b), 0.0), confusion.get((b, a), 0.0)
            mutual = (min(ab, 1.0) + min(ba, 1.0)) / 2
            evidence["confusion"] = {"a_as_b": round(ab, 4), "b_as_a": round(ba, 4), "mutual": round(mutual, 4)}
            score = (2 * candidate.score + mutual) / 3
        if score < settings.min_score:
            continue
        sides = []
        for identity in (a, b):
            members = rows[identity]
            sides.append(
                {
                    "identity": int(identity),
                    "faces": len(members),
                    "cohesion": round(cohesion(vectors[members]), 4),
                    "examples": typical_faces(vectors[members], face_ids[members], settings.examples),
                }
            )
        evidence["sides"] = sides
        found.append(Found(kind=MERGE, identity=int(a), other=int(b), score=round(float(score), 4), evidence=evidence))
    found.sort(key=lambda f: (-f.score, f.identity, f.other))
    return found[: settings.top]


def split_suggestion(
    *, identity: int, face_ids: np.ndarray, vectors: np.ndarray, settings: SplitSettings = SplitSettings()
) -> Found | None:
    """A suggestion to split one identity in two, or None when its faces do not fall into two people.

    ``score`` is the cosine silhouette of the k = 2 spherical k-means split; the evidence also
    holds the cosine between the two clusters' centroids, each cluster's cohesion and a
    between/within distance ratio ((1 - centroid cosine) / (1 - mean cohesion)). ``sides[0]`` is the larger cluster (the faces that stay), ``sides[1]``
    the smaller one (the faces to move), each with every face id and a few typical faces.
    """
    if len(face_ids) < max(settings.min_faces, 4):
        return None
    candidate = split_candidate(vectors, label=identity, seed=settings.seed)
    if candidate is None:
        return None
    smaller = min(len(candidate.cluster_a), len(candidate.cluster_b))
    if (
        candidate.separation < settings.min_separation
        or candidate.centroid_cosine > settings.max_centroid_cosine
        or smaller < settings.min_cluster
    ):
        return None
    sides = []
    cohesions = []
    for cluster in (candidate.cluster_a, candidate.cluster_b):
        tight = cohesion(vectors[cluster])
        cohesions.append(tight)
        sides.append(
            {
                "identity": int(identity),
                "faces": len(cluster),
                "cohesion": round(tight, 4),
                "face_ids": sorted(int(face_ids[i]) for i in cluster),
                "examples": typical_faces(vectors[cluster], face_ids[cluster], settings.examples),
            }
        )
    # between-cluster distance over within-cluster distance (cosine distances): ~0.3-1 for one person, 2-4 for two
    ratio = (1.0 - candidate.centroid_cosine) / max(1.0 - float(np.mean(cohesions)), 1e-12)
    evidence = {
        "silhouette": round(candidate.separation, 4),
        "centroid_cosine": round(candidate.centroid_cosine, 4),
        "between_within_ratio": round(ratio, 4),
        "faces": len(face_ids),
        "sides": sides,
    }
    return Found(
        kind=SPLIT, identity=int(identity), other=None, score=round(candidate.separation, 4), evidence=evidence
    )


def split_suggestions(
    *,
    face_ids: np.ndarray,
    identity_ids: np.ndarray,
    vectors: np.ndarray,
    settings: SplitSettings = SplitSettings(),
    progress=None,
) -> list[Found]:
    """:func:`split_suggestion` for every identity, best separated first."""
    found = []
    rows = groups(identity_ids)
    for position, (identity, members) in enumerate(rows.items()):
        suggestion = split_suggestion(
            identity=int(identity), face_ids=face_ids[members], vectors=vectors[members], settings=settings
        )
        if suggestion is not None:
            found.append(suggestion)
        if progress is not None:
            progress((position + 1) / len(rows))
    found.sort(key=lambda f: (-f.score, f.identity))
    return found[: settings.top]


def split_extend(
    found: Found, *, sample_ids: np.ndarray, sample_vectors: np.ndarray, face_ids: np.ndarray, vectors: np.ndarray
) -> Found:
    """A split found on a sample of an identity's faces, extended to all of them: each face joins the
    cluster whose centroid (from the sample) is nearer. Examples and the scores stay the sample's;
    ``evidence["examined"]`` says how many faces the clustering saw."""
    position = {int(pk): i for i, pk in enumerate(sample_ids)}
    centres = np.stack(
        [
            l2_normalise(sample_vectors[[position[pk] for pk in side["face_ids"]]]).mean(axis=0)
            for side in found.evidence["sides"]
        ]
    )
    centres = l2_normalise(centres)
    x = l2_normalise(vectors)
    assignment = np.argmax(x @ centres.T, axis=1)
    sides = []
    for k, side in enumerate(found.evidence["sides"]):
        members = assignment == k
        sides.append(
            {
                **side,
                "faces": int(members.sum()),
                "cohesion": round(cohesion(x[members]), 4) if members.any() else 0.0,
                "face_ids": sorted(int(pk) for pk in face_ids[members]),
            }
        )
    evidence = {**found.evidence, "sides": sides, "faces": len(face_ids), "examined": len(sample_ids)}
    return Found(kind=found.kind, identity=found.identity, other=found.other, score=found.score, evidence=evidence)
