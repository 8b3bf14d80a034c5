"""Face rows: drafts from detections, their bulk write (crops stored first, near duplicates
linked, split from the group) and their addition to the similarity index."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from webapp.faces.models import Face

from .duplicates import NearDuplicates
from .files import WrittenFiles

if TYPE_CHECKING:
    from ml.faces import FaceResult
from .pipeline import crop_phash, face_split, jpeg_encode


@dataclass
class FaceDraft:
    """A face about to be written; ``crop`` is the JPEG to store."""

    crop: bytes
    embedding: np.ndarray | None
    phash: int | None
    group_key: str
    source: str
    content_sha256: str = ""
    identity_id: int | None = None
    box: list | None = None
    landmarks: list | None = None
    detector_score: float | None = None
    quality: float | None = None
    photo_id: int | None = None
    frame_index: int | None = None  # a video face: which sampled frame (resolved to frame_id on write)
    video_id: int | None = None
    source_path: str = ""
    duplicate_of_id: int | None = None
    duplicate_of_draft: int | None = None  # an earlier draft of the same batch
    crop_name: str = "face.jpg"


def _embedding_model_name() -> str:
    from webapp.faces.index import embedding_model

    return embedding_model()


def faces_write(
    *,
    drafts: list[FaceDraft],
    written: WrittenFiles,
    frames: dict[int, int] | None = None,
    dedupe: NearDuplicates | None = None,
) -> list[Face]:
    """Store the crops of ``drafts`` and insert their rows in bulk (call inside a transaction).

    Near duplicates are linked first (when ``dedupe`` is given); each face's split follows its
    (possibly adopted) group. ``frames`` maps a video frame index to its Frame id.
    """
    if not drafts:
        return []
    if dedupe is not None:
        dedupe.link(drafts)
    model = _embedding_model_name()
    faces = []
    for draft in drafts:
        name = written.save(f"faces/{draft.source}/{draft.crop_name}", draft.crop)
        faces.append(
            Face(
                crop=name,
                box=draft.box,
                landmarks=draft.landmarks,
                detector_score=draft.detector_score,
                quality=draft.quality,
                source=draft.source,
                photo_id=draft.photo_id,
                frame_id=frames[draft.frame_index] if frames is not None and draft.frame_index is not None else None,
                video_id=draft.video_id,
                source_path=draft.source_path[:500],
                content_sha256=draft.content_sha256,
                phash=draft.phash,
                group_key=draft.group_key,
                identity_id=draft.identity_id,
                status=Face.Status.UNVERIFIED,
                split=face_split(draft.group_key),
                embedding=draft.embedding.astype(np.float32).tobytes() if draft.embedding is not None else None,
                embedding_model=model if draft.embedding is not None else "",
                duplicate_of_id=draft.duplicate_of_id,
            )
        )
    created = Face.objects.bulk_create(faces, batch_size=1000)
    in_batch = []
    for face, draft in zip(created, drafts, strict=True):
        if draft.duplicate_of_draft is not None:
            face.duplicate_of_id = created[draft.duplicate_of_draft].pk
            in_batch.append(face)
    if in_batch:
        Face.objects.bulk_update(in_batch, ["duplicate_of"], batch_size=1000)
    if dedupe is not None:
        dedupe.remember(created, drafts)
    return created


def drafts_from_detections(
    *, results: Iterable[FaceResult], group_key: str, source: str, crop_prefix: str, **common: Any
) -> list[FaceDraft]:
    drafts = []
    for n, result in enumerate(results):
        crop = jpeg_encode(result.crop)
        drafts.append(
            FaceDraft(
                crop=crop,
                embedding=None if result.embedding is None else np.asarray(result.embedding, np.float32),
                phash=crop_phash(result.crop),
                group_key=group_key,
                source=source,
                content_sha256=hashlib.sha256(crop).hexdigest(),
                box=[round(float(v), 1) for v in result.box],
                landmarks=[[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(result.landmarks)],
                detector_score=float(result.score),
                quality=None if result.quality is None else float(result.quality),
                crop_name=f"{crop_prefix}-{n}.jpg",
                **common,
            )
        )
    return drafts


def index_add(face_ids: list[int]) -> None:
    if face_ids:
        from webapp.faces.index import index_add_faces

        index_add_faces(face_ids=face_ids)
