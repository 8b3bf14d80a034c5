"""What tracking could skip in the video benchmark (``bench/video.py``): how often the same face shows up
in consecutive sampled frames (boxes overlapping at IoU > 0.5) and how alike its embeddings are."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ml.faces import FaceResult


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1e-9)


def tracking_potential(per_frame: list[list[FaceResult]]) -> dict[str, Any]:
    """What tracking faces between consecutive sampled frames could skip, measured: faces that
    overlap a face of the previous frame (IoU > 0.5), their embeddings' cosine to it, and the
    frames whose every face is such a continuation (a detector that only tracked could skip them)."""
    cosines, continued, frames_all_continued = [], 0, 0
    total = sum(map(len, per_frame))
    for previous, current in itertools.pairwise(per_frame):
        matched = 0
        for face in current:
            best = max(previous, key=lambda p: _iou(p.box, face.box), default=None)
            if best is not None and _iou(best.box, face.box) > 0.5:
                matched += 1
                cosines.append(float(np.dot(best.embedding, face.embedding)))
        continued += matched
        frames_all_continued += bool(current) and matched == len(current)
    c = np.array(cosines) if cosines else np.zeros(1)
    return {
        "faces": total,
        "continued_faces": continued,
        "frames_all_faces_continued": frames_all_continued,
        "frames": len(per_frame),
        "cosine_to_previous_median": round(float(np.median(c)), 4),
        "cosine_to_previous_p10": round(float(np.percentile(c, 10)), 4),
        "share_at_least_0999": round(float((c >= 0.999).mean()), 4) if cosines else 0.0,
        "share_at_least_097": round(float((c >= 0.97).mean()), 4) if cosines else 0.0,
    }
