"""From per-face predictions in a video's frames to identity tags for the whole video.

A wrong tag is worse than a missing one, so the rule asks for repeated evidence: an identity is
tagged only when faces predicted as it, each above the operating threshold, appear in at least
``min_frames`` distinct frames. One frame counts once per identity however many faces in it are
predicted as that identity (a person is not in a frame twice). The video-level confidence is the
``min_frames``-th best per-frame confidence: the weakest piece of the evidence that was required.

Raising the threshold only removes accepted faces, so it can never add a tag (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from ml.metrics import apply_threshold


@dataclass(frozen=True)
class VideoTag:
    label: int
    confidence: float
    frames: list[int] = field(default_factory=list)  # frame indices that support the tag, best first
    faces: list[int] = field(default_factory=list)  # face ids (or positions) behind those frames
    frame_confidences: list[float] = field(default_factory=list)


def aggregate_video_tags(
    *,
    frame_indices: ArrayLike,
    predicted: ArrayLike,
    confidence: ArrayLike,
    threshold: float,
    min_frames: int = 3,
    face_ids: ArrayLike | None = None,
) -> list[VideoTag]:
    """Tags for one video from its faces' predicted VIP labels and calibrated confidences.

    ``frame_indices``, ``predicted`` and ``confidence`` are aligned per face. Returns the tags,
    most confident first.
    """
    if min_frames < 1:
        raise ValueError("min_frames must be at least 1")
    frames = np.asarray(frame_indices, dtype=np.int64)
    confidence = np.asarray(confidence, dtype=np.float64)
    decided = apply_threshold(predicted, confidence, threshold)
    ids = np.arange(len(frames)) if face_ids is None else np.asarray(face_ids, dtype=np.int64)
    tags: list[VideoTag] = []
    for label in np.unique(decided[decided >= 0]):
        mine = np.flatnonzero(decided == label)
        # Best face per frame: sort by confidence descending, keep the first face of each frame.
        mine = mine[np.argsort(-confidence[mine], kind="stable")]
        _, first = np.unique(frames[mine], return_index=True)
        best = mine[np.sort(first)]
        best = best[np.argsort(-confidence[best], kind="stable")]
        if len(best) < min_frames:
            continue
        tags.append(
            VideoTag(
                label=int(label),
                confidence=float(confidence[best[min_frames - 1]]),
                frames=[int(f) for f in frames[best]],
                faces=[int(i) for i in ids[best]],
                frame_confidences=[float(c) for c in confidence[best]],
            )
        )
    return sorted(tags, key=lambda tag: (-tag.confidence, tag.label))
