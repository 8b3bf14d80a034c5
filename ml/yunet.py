"""YuNet's output decoding, as OpenCV's ``FaceDetectorYN`` does it, in numpy and for a batch.

YuNet (2023mar) is an anchor-free detector with three heads, at strides 8, 16 and 32 of an input
padded (bottom and right, with zeros) to a multiple of 32. Each cell ``(row r, column c)`` of a
head gives a class score, an objectness score, a box ``(dx, dy, log w, log h)`` and five
landmarks ``(dx, dy)``, all in units of the stride. :func:`decode` turns them into OpenCV's rows

    x1, y1, w, h, (x, y) * 5 landmarks, score

with ``score = sqrt(clip(cls, 0, 1) * clip(obj, 0, 1))``, ``cx = (c + dx) * s``,
``w = exp(log w) * s``, ``x1 = cx - w / 2``, landmark ``x = (c + dx) * s``, in float32, and
keeps cells scoring at least the threshold; :func:`nms` is ``cv::dnn::NMSBoxes`` on those boxes
truncated to integers, as OpenCV calls it (a candidate is kept when its IoU with every face kept
before it, in descending score order, is at most the threshold). Written after
``opencv/modules/objdetect/src/face_detect.cpp`` (4.14) and checked against it on real photos and
video frames (tests/ml/test_faces.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

STRIDES: Final = (8, 16, 32)
#: The network's input is padded to a multiple of this.
DIVISOR: Final = 32
#: Output names, per stride, in the order the model lists them.
HEADS: Final = ("cls", "obj", "bbox", "kps")


def padded_size(height: int, width: int) -> tuple[int, int]:
    """The input size the network sees: both sides rounded up to a multiple of 32."""
    return (((height - 1) // DIVISOR + 1) * DIVISOR, ((width - 1) // DIVISOR + 1) * DIVISOR)


def decode(
    outputs: dict[str, np.ndarray], padded_height: int, padded_width: int, score_threshold: float
) -> list[np.ndarray]:
    """Candidate faces per image of the batch: ``K x 15`` float32 rows (see the module docstring),
    in OpenCV's order (stride 8, 16, 32, each row by row), before NMS.

    ``outputs`` maps the model's output names (``cls_8`` ... ``kps_32``) to ``N x cells x k``.
    """
    batch = next(iter(outputs.values())).shape[0]
    per_image: list[list[np.ndarray]] = [[] for _ in range(batch)]
    for stride in STRIDES:
        rows, cols = padded_height // stride, padded_width // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(batch, rows * cols), 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(batch, rows * cols), 0.0, 1.0)
        scores = np.sqrt(cls * obj).astype(np.float32)
        bbox = outputs[f"bbox_{stride}"].reshape(batch, rows * cols, 4)
        kps = outputs[f"kps_{stride}"].reshape(batch, rows * cols, 10)
        s = np.float32(stride)
        for i in range(batch):
            cells = np.flatnonzero(scores[i] >= score_threshold)
            if not len(cells):
                continue
            c = (cells % cols).astype(np.float32)[:, None]
            r = (cells // cols).astype(np.float32)[:, None]
            b = bbox[i, cells].astype(np.float32)
            cx, cy = (c[:, 0] + b[:, 0]) * s, (r[:, 0] + b[:, 1]) * s
            w, h = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
            k = kps[i, cells].astype(np.float32).reshape(-1, 5, 2)
            landmarks = np.stack([(k[:, :, 0] + c) * s, (k[:, :, 1] + r) * s], axis=2).reshape(-1, 10)
            per_image[i].append(
                np.column_stack([cx - w / 2, cy - h / 2, w, h, landmarks, scores[i, cells]]).astype(np.float32)
            )
    return [np.concatenate(parts) if parts else np.zeros((0, 15), np.float32) for parts in per_image]


def nms(faces: np.ndarray, score_threshold: float, nms_threshold: float, top_k: int) -> np.ndarray:
    """The rows of ``faces`` (``K x 15``) that ``cv::dnn::NMSBoxes`` keeps, best score first.

    As in OpenCV, a single candidate is returned as is; with several, boxes are truncated to
    integers, only scores strictly above ``score_threshold`` take part, the ``top_k`` best
    (stable order on ties) are visited, and IoU is computed on the integer boxes.
    """
    if len(faces) <= 1:
        return faces
    boxes = np.trunc(faces[:, :4]).astype(np.int64)
    scores = faces[:, 14]
    order = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > score_threshold]
    if top_k > 0:
        order = order[:top_k]
    x0, y0, w, h = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = w * h
    kept: list[int] = []
    for i in order:
        if kept:
            k = np.array(kept)
            iw = np.minimum(x0[i] + w[i], x0[k] + w[k]) - np.maximum(x0[i], x0[k])
            ih = np.minimum(y0[i] + h[i], y0[k] + h[k]) - np.maximum(y0[i], y0[k])
            inter = np.where((iw > 0) & (ih > 0), iw * ih, 0)
            union = area[i] + area[k] - inter
            iou = np.where(area[i] + area[k] > 0, inter / np.maximum(union, 1), 1.0)
            if (iou > nms_threshold).any():
                continue
        kept.append(i)
    return faces[kept]


def postprocess(
    outputs: dict[str, np.ndarray],
    padded_height: int,
    padded_width: int,
    *,
    score_threshold: float,
    nms_threshold: float,
    top_k: int,
) -> list[np.ndarray]:
    """:func:`decode` then :func:`nms`, per image: what ``FaceDetectorYN.detect`` returns."""
    return [
        nms(faces, score_threshold, nms_threshold, top_k)
        for faces in decode(outputs, padded_height, padded_width, score_threshold)
    ]


def blob(images: Sequence[np.ndarray], padded_height: int, padded_width: int) -> np.ndarray:
    """``N x 3 x H x W`` float32 of same-size BGR uint8 images, padded with zeros at the bottom
    and right (``blobFromImage`` of OpenCV's padded image: no scaling, no mean)."""
    height, width = images[0].shape[:2]
    out = np.zeros((len(images), 3, padded_height, padded_width), dtype=np.float32)
    for i, image in enumerate(images):
        out[i, :, :height, :width] = image.transpose(2, 0, 1)
    return out
