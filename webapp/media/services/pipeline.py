"""Thin adapters over ml/ for ingestion: image decoding and probing, the configured face
pipeline (built once per process), crop JPEGs and hashes, and a group's split.

The ``ml`` modules (OpenCV models, PyAV) are imported lazily: the web process only loads them
when it really processes media."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from django.conf import settings

if TYPE_CHECKING:
    from ml.faces import FacePipeline
    from ml.images import ImageInfo

from .outcomes import IngestError


def image_decode(data: bytes, name: str) -> np.ndarray:
    """Decode an image (RGB uint8) or raise IngestError with a message a person can act on."""
    from ml import images

    try:
        return images.load_image(data, max_pixels=settings.FACECURATOR_MAX_IMAGE_PIXELS)
    except images.ImageDecodeError as exc:
        raise IngestError(f"{name}: {exc}", code=getattr(exc, "code", "corrupt")) from exc


def image_probe(data: bytes, name: str) -> ImageInfo:
    """Format and size from the header (no decoding), or IngestError like :func:`image_decode`."""
    from ml import images

    try:
        return images.probe_image(data, max_pixels=settings.FACECURATOR_MAX_IMAGE_PIXELS)
    except images.ImageDecodeError as exc:
        raise IngestError(f"{name}: {exc}", code=getattr(exc, "code", "corrupt")) from exc


_PIPELINE = None


def face_pipeline() -> FacePipeline:
    """The detector + embedder configured in settings, built once per process."""
    global _PIPELINE
    if _PIPELINE is None:
        from ml.faces import build_pipeline

        _PIPELINE = build_pipeline(
            detector=settings.FACECURATOR_FACE_DETECTOR,
            embedder=settings.FACECURATOR_FACE_EMBEDDER,
            crop_size=settings.FACECURATOR_CROP_SIZE,
            runtime=settings.FACECURATOR_FACE_RUNTIME,
            device=settings.FACECURATOR_FACE_DEVICE,
            threads=settings.FACECURATOR_FACE_THREADS,
        )
    return _PIPELINE


def jpeg_encode(image: np.ndarray, quality: int = 92) -> bytes:
    from ml.images import encode_jpeg

    return encode_jpeg(image, quality=quality)


def crop_phash(image: np.ndarray) -> int:
    """The crop's 64-bit perceptual hash, signed (what a BigIntegerField stores)."""
    from ml.hashing import perceptual_hash

    return int(perceptual_hash(image))


def face_split(group_key: str) -> str:
    """The split of a group, by the one split rule and the configured seed and proportions."""
    from ml.splits import split_for_group

    return split_for_group(
        group_key, seed=settings.FACECURATOR_SPLIT_SEED, proportions=settings.FACECURATOR_SPLIT_PROPORTIONS
    )
