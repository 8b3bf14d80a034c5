"""Alignment and quality of a detected face: the ArcFace 5-point similarity-transform crop and a
quality score from the face's size and the crop's sharpness.

Images, boxes, landmarks, crops and embeddings follow the conventions in :mod:`ml.faces`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import cv2
import numpy as np
from numpy.typing import ArrayLike

from ml.images import check_rgb

#: ArcFace / insightface 5-point template for a 112 x 112 crop (image left eye, right eye, nose
#: tip, left mouth corner, right mouth corner).
ARCFACE_TEMPLATE_112: Final = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_transform(source: ArrayLike, target: ArrayLike) -> np.ndarray:
    """The 2x3 least-squares similarity transform (rotation, uniform scale, translation)
    mapping ``source`` points onto ``target`` points (Umeyama 1991, as in insightface)."""
    src = np.asarray(source, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(target, dtype=np.float64).reshape(-1, 2)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    u, s, vt = np.linalg.svd(dst_c.T @ src_c / len(src))
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    variance = src_c.var(axis=0).sum()
    scale = float((s * d).sum() / variance) if variance > 1e-12 else 1.0
    translation = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, translation[:, None]])


def align_face(image: np.ndarray, landmarks: ArrayLike, size: int = 112) -> np.ndarray:
    """The ``size x size`` ArcFace-aligned crop of the face whose five landmarks are given.

    Bilinear warp with black outside the image, exactly as insightface's ``norm_crop`` made the
    crops SFace was trained on (and glint24's).
    """
    image = check_rgb(image)
    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE_112 * (size / 112.0))
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


#: Variance of the Laplacian at which the sharpness term is 0.5 (measured on 112 px grey crops:
#: glint24 median 659, 5th percentile 95; Gaussian blur 5x5 -> median 50; a 32 px face
#: upscaled to 112 -> 25, a 20 px face -> 10).
SHARPNESS_HALF: Final = 100.0


#: Face box side (pixels) at which the size term reaches 0, and 1 (a 112 crop of a face whose
#: box is 80 px wide is made at or above native resolution).
FACE_SIDE_ZERO: Final = 16.0


FACE_SIDE_FULL: Final = 80.0


def quality_score(image_crop: np.ndarray, box: Sequence[float]) -> float:
    """Face quality in [0, 1] from its size in the source and the sharpness of its crop.

    ``size = clip(log(side / 16) / log(80 / 16), 0, 1)`` with ``side = min(w, h)`` of ``box``;
    ``sharpness = v / (v + 100)`` with ``v`` the variance of the Laplacian of the crop, in grey,
    resized to 112 x 112 so the number does not depend on the crop size;
    ``quality = sqrt(size * sharpness)`` (geometric mean: either one near zero sinks it).
    """
    side = float(min(box[2], box[3]))
    size_term = float(
        np.clip(np.log(max(side, 1e-6) / FACE_SIDE_ZERO) / np.log(FACE_SIDE_FULL / FACE_SIDE_ZERO), 0.0, 1.0)
    )
    crop = np.asarray(image_crop)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    if grey.shape[:2] != (112, 112):
        grey = cv2.resize(grey, (112, 112), interpolation=cv2.INTER_AREA if grey.shape[0] > 112 else cv2.INTER_LINEAR)
    variance = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    sharpness = variance / (variance + SHARPNESS_HALF)
    return float(np.sqrt(size_term * sharpness))
