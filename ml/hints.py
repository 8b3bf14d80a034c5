"""Which face of a photo shows the hinted identity: the best match to its reference embeddings,
or, for an identity without faces yet, the most prominent face."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

import numpy as np
from numpy.typing import ArrayLike

from ml.embedders import MATCH_THRESHOLDS, SFaceEmbedder, unit_rows
from ml.faces import FaceResult


def match_hint(
    faces: Sequence[FaceResult] | ArrayLike,
    reference: ArrayLike | None = None,
    *,
    threshold: float | None = None,
    boxes: ArrayLike | None = None,
    image_shape: Sequence[int] | None = None,
) -> int | None:
    """The index of the face that shows the hinted identity, or None.

    ``faces`` are :class:`FaceResult` s or an ``N x D`` array of their embeddings. With
    ``reference`` embeddings of the identity (``R x D``, or one centroid of ``D``), the face
    with the highest cosine to the reference centroid wins if that cosine reaches ``threshold``
    (default: the embedding model's ``MATCH_THRESHOLDS`` entry for FaceResults, SFace's for
    arrays); a hint never falls back to an unrecognised face. Without references (a new
    identity's first photo) the most prominent face wins: among faces at least 0.8 times the
    largest area, the one nearest the image centre (``image_shape``; largest if not given).
    ``boxes`` (``N x 4``, x y w h) are needed only when ``faces`` is an array and there are
    no references.
    """
    results = list(faces) if _is_result_list(faces) else None
    if results is not None:
        if not results:
            return None
        embeddings = np.stack([np.asarray(r.embedding, dtype=np.float32) for r in results])
        face_boxes: np.ndarray | None = np.array([r.box for r in results], dtype=np.float64)
        model = results[0].embedding_model
    else:
        embeddings = np.atleast_2d(np.asarray(faces, dtype=np.float32))
        if embeddings.size == 0:
            return None
        face_boxes = None if boxes is None else np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        model = SFaceEmbedder.name
    refs = None if reference is None else np.asarray(reference, dtype=np.float32)
    if refs is not None and refs.size:
        centroid = unit_rows(refs.reshape(-1, embeddings.shape[1]).mean(axis=0, keepdims=True))[0]
        cosines = unit_rows(embeddings) @ centroid
        best = int(np.argmax(cosines))
        limit = MATCH_THRESHOLDS.get(model, MATCH_THRESHOLDS[SFaceEmbedder.name]) if threshold is None else threshold
        return best if float(cosines[best]) >= limit else None
    if face_boxes is None:
        if embeddings.shape[0] == 1:
            return 0
        raise ValueError("without reference embeddings, match_hint needs the faces' boxes to pick the most prominent")
    return most_prominent_face(face_boxes, image_shape)


def most_prominent_face(boxes: ArrayLike, image_shape: Sequence[int] | None = None) -> int:
    """Among boxes (``N x 4``, x y w h) at least 0.8 times the largest area, the one whose
    centre is nearest the image centre; the largest when the image size is not known."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if b.shape[0] == 0:
        raise ValueError("no boxes")
    areas = b[:, 2] * b[:, 3]
    if image_shape is None:
        return int(np.argmax(areas))
    height, width = float(image_shape[0]), float(image_shape[1])
    candidates = np.flatnonzero(areas >= 0.8 * areas.max())
    centres = b[candidates, :2] + b[candidates, 2:] / 2.0
    distances = np.hypot(centres[:, 0] - width / 2.0, centres[:, 1] - height / 2.0)
    return int(candidates[np.argmin(distances)])


def _is_result_list(faces: object) -> TypeGuard[Sequence[FaceResult]]:
    if isinstance(faces, np.ndarray):
        return False
    items = list(faces) if isinstance(faces, Sequence) else None
    return items is not None and (not items or isinstance(items[0], FaceResult))
