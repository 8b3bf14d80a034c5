"""Face detectors: the :class:`FaceDetector` protocol, its :class:`Detection`, and YuNet and dlib's
HOG and CNN detectors behind it.

Images, boxes, landmarks, crops and embeddings follow the conventions in :mod:`ml.faces`."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import cv2
import numpy as np

from ml import inference, yunet
from ml.images import check_rgb
from ml.inference import DEFAULT_RUNTIME, DEFAULT_THREADS, check_runtime
from ml.model_files import DLIB_CNN_DETECTOR_MODEL, DLIB_LANDMARKS_68_MODEL, YUNET_MODEL, read_verified, verified_path


@dataclass(frozen=True, eq=False)
class Detection:
    """One face found in an image.

    ``box`` is ``(x, y, w, h)`` in source pixels; ``score`` is the detector's confidence (YuNet
    and dlib CNN: about 0..1; dlib HOG: an SVM margin, usually 0..3); ``landmarks`` is ``5 x 2``
    in ArcFace order (see :mod:`ml.faces`).
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2] / 2.0, self.box[1] + self.box[3] / 2.0)


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces and their five ArcFace landmarks in RGB images."""

    @property
    def name(self) -> str: ...

    def detect(self, image: np.ndarray) -> list[Detection]: ...

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]: ...


#: Smallest face, in pixels at the network's input, that YuNet finds reliably. Measured on the
#: photos and 40 LFW faces shrunk to a given face width: 12 px -> 17/50 found, 16 px -> 47/50,
#: 20 px and up -> 50/50.
YUNET_RELIABLE_FACE: Final = 20


#: Images whose short side is below this are upsampled first: a face filling a 32x32 image is
#: found 16/60 times at native size, 60/60 at 2x; 96 px and up 60/60.
YUNET_MIN_INPUT_SIDE: Final = 96


class YuNetDetector:
    """YuNet (2023mar, int8 weights), on ONNX Runtime (batched; CUDA when present) or OpenCV.

    The network runs at the image's own resolution, which finds faces down to
    ``YUNET_RELIABLE_FACE`` (20) pixels. The input is upsampled when ``min_face`` asks for faces
    smaller than that, or when the image itself is tiny, and downsampled only when its long side
    exceeds ``max_side`` (speed and memory; then faces smaller than
    ``20 * long_side / max_side`` pixels can be missed). Detections narrower or shorter than
    ``min_face`` source pixels are dropped.

    With ``runtime="onnxruntime"`` (the default), :meth:`detect_batch` runs images whose padded
    network input has the same size (every frame of a video) ``batch_size`` at a time, and
    decodes the outputs with :mod:`ml.yunet`, which does what ``cv2.FaceDetectorYN`` does;
    ``runtime="opencv"`` is ``cv2.FaceDetectorYN``, one image per call.
    """

    name: Final = "yunet-2023mar-int8bq"

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        *,
        min_face: int = 20,
        max_side: int = 1920,
        top_k: int = 5000,
        model_path: Path | None = None,
        model_sha256: str | None = None,
        runtime: str = DEFAULT_RUNTIME,
        device: str | None = None,
        threads: int = DEFAULT_THREADS,
        batch_size: int | None = None,
    ) -> None:
        if min_face < 1 or max_side < YUNET_MIN_INPUT_SIDE:
            raise ValueError(f"min_face must be >= 1 and max_side >= {YUNET_MIN_INPUT_SIDE}")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.min_face = int(min_face)
        self.max_side = int(max_side)
        self.top_k = int(top_k)
        self.runtime = check_runtime(runtime)
        data = read_verified(Path(model_path) if model_path else YUNET_MODEL.path(), model_sha256 or YUNET_MODEL.sha256)
        if self.runtime == "opencv":
            self.device = "cpu"
            self._net = cv2.FaceDetectorYN.create(
                "onnx",
                np.frombuffer(data, dtype=np.uint8),
                np.zeros(0, dtype=np.uint8),
                (320, 320),
                self.score_threshold,
                self.nms_threshold,
                self.top_k,
            )
        else:
            self._session = inference.create_session(
                inference.prepare_graph(data, dynamic_spatial=True), device=device, threads=threads
            )
            self._outputs = [output.name for output in self._session.get_outputs()]
            self.device = inference.session_device(self._session)
        # On the CPU a batch of frames costs no less per frame than one at a time (720p at 640 px:
        # 7-9 CPU ms either way; at 960, 22 at 1 and 27-31 at 8): batches are for the GPU.
        self.batch_size = int(batch_size or (32 if self.device == "cuda" else 1))

    def input_scale(self, height: int, width: int) -> float:
        """The factor the image is resized by before the network sees it."""
        scale = max(1.0, YUNET_RELIABLE_FACE / self.min_face, YUNET_MIN_INPUT_SIDE / max(1, min(height, width)))
        return min(scale, self.max_side / max(height, width))

    def network_input(self, image: np.ndarray) -> np.ndarray:
        """The BGR image the network sees (resized by :meth:`input_scale`), before padding."""
        height, width = image.shape[:2]
        scale = self.input_scale(height, width)
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        return bgr

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        arrays = [check_rgb(image) for image in images]
        inputs = [self.network_input(image) for image in arrays]
        if self.runtime == "opencv":
            rows = [self._opencv_rows(bgr) for bgr in inputs]
        else:
            rows = self._onnx_rows(inputs)
        return [
            self._detections(found, image.shape[:2], bgr.shape[:2])
            for found, image, bgr in zip(rows, arrays, inputs, strict=True)
        ]

    def _opencv_rows(self, bgr: np.ndarray) -> np.ndarray:
        self._net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = self._net.detect(bgr)
        return np.zeros((0, 15), np.float32) if rows is None else np.asarray(rows, dtype=np.float32)

    def _onnx_rows(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """OpenCV's rows for each input, images of one padded size ``batch_size`` at a time."""
        rows: list[np.ndarray] = [np.zeros((0, 15), np.float32)] * len(inputs)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, bgr in enumerate(inputs):
            by_size.setdefault(yunet.padded_size(*bgr.shape[:2]), []).append(i)
        for (padded_height, padded_width), indices in by_size.items():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                outputs = self._session.run(
                    None, {"input": yunet.blob([inputs[i] for i in chunk], padded_height, padded_width)}
                )
                found = yunet.postprocess(
                    dict(zip(self._outputs, outputs, strict=True)),
                    padded_height,
                    padded_width,
                    score_threshold=self.score_threshold,
                    nms_threshold=self.nms_threshold,
                    top_k=self.top_k,
                )
                for i, faces in zip(chunk, found, strict=True):
                    rows[i] = faces
        return rows

    def _detections(
        self, rows: np.ndarray, image_shape: tuple[int, ...], input_shape: tuple[int, ...]
    ) -> list[Detection]:
        height, width = image_shape[:2]
        sx, sy = width / input_shape[1], height / input_shape[0]
        found = []
        for row in rows:
            landmarks = row[4:14].reshape(5, 2) * np.array([sx, sy], dtype=np.float32)
            box = _clip_box(row[0] * sx, row[1] * sy, row[2] * sx, row[3] * sy, width, height)
            if min(box[2], box[3]) >= self.min_face:
                found.append(Detection(box=box, score=float(row[14]), landmarks=landmarks.astype(np.float32)))
        return _largest_first(found)


#: A face narrower than this at the network's input is "small": twice what YuNet finds reliably,
#: so where faces this small show, smaller ones (that a lower resolution would miss) may too.
SMALL_FACE_AT_INPUT: Final = 2 * YUNET_RELIABLE_FACE


#: :class:`VideoYuNet`'s first input cap. On the shared clips, 300 sampled frames each: 8.6 vs 22.6
#: CPU ms per 720p frame against 960, the same 300 faces on ``obama_speech`` and 153 on
#: ``obama_whcd_podium_b``; alone it would lose faces where small ones show (257 of 297 on
#: ``biden_whitehouse_podium``, 661 of 799 on the 1080p crowd), which is what the switch is for.
VIDEO_FIRST_SIDE: Final = 640


class VideoYuNet:
    """YuNet for the frames of one video: at ``first_side`` (640) until a face smaller than
    ``SMALL_FACE_AT_INPUT`` (40) pixels at the network's input shows, then at ``max_side`` (960)
    for the rest of the video, the batch that showed it detected again.

    A video of large faces (a speaker) is detected at a third of the cost; one with small faces
    (a crowd, people behind a podium) gets the resolution that finds them from the first batch
    where one appears. On the shared clips this finds the same faces per frame as ``max_side``
    throughout (tests/ml/test_faces.py). What it can miss: faces too small to be found at
    ``first_side`` at all (under 20 px there, 40 px in a 720p frame) in a video whose every
    other face is large. Frames of several videos batched together (a GPU worker) should use
    a plain :class:`YuNetDetector` at ``max_side``: the switch is per video.
    """

    def __init__(self, detector: YuNetDetector, *, max_side: int, first_side: int = VIDEO_FIRST_SIDE) -> None:
        self.fine = copy.copy(detector)
        self.fine.max_side = int(max_side)
        self.coarse = copy.copy(detector)
        self.coarse.max_side = min(int(first_side), int(max_side))
        self.current = self.coarse
        self.name = detector.name

    @property
    def max_side(self) -> int:
        """The input cap in use now."""
        return self.current.max_side

    @property
    def batch_size(self) -> int:
        return self.current.batch_size

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces at the cap in use; a batch that shows small faces at 640 switches this video to
        ``max_side`` and is detected again there (:func:`detect_batches` on this one batch)."""
        return detect_batches([(self, images)])[0]

    def _sees_more(self, image: np.ndarray) -> bool:
        """Whether ``max_side`` shows the network this image larger than ``first_side`` does
        (not for frames already smaller than ``first_side``)."""
        height, width = image.shape[:2]
        return self.fine.input_scale(height, width) > self.coarse.input_scale(height, width)

    def _shows_small_faces(self, images: Sequence[np.ndarray], found: list[list[Detection]]) -> bool:
        for image, detections in zip(images, found, strict=True):
            scale = self.coarse.input_scale(*image.shape[:2])
            if any(min(d.box[2], d.box[3]) * scale < SMALL_FACE_AT_INPUT for d in detections):
                return True
        return False


def detect_batches(batches: Sequence[tuple[FaceDetector, Sequence[np.ndarray]]]) -> list[list[list[Detection]]]:
    """``[detector.detect_batch(images) for detector, images in batches]``: the same detections,
    but the images of every batch whose detector runs the same network at the same settings go
    to it in one call, so a GPU batch holds frames of several videos.

    A :class:`VideoYuNet` decides its switch to ``max_side`` on each of its batches as it does
    alone: first every batch at its video's cap in use, then the batches that showed small faces
    at 640 again at ``max_side``, together. A detector given several batches has them detected
    in turn (its second batch after the first one's switch), as successive calls would. The
    VideoYuNets of one pipeline (``FacePipeline.for_video``) share its networks.
    """
    found: list[list[list[Detection]]] = [[] for _ in batches]
    rounds: list[list[int]] = []  # round k: the k-th batch of each detector
    seen: dict[int, int] = {}
    for i, (detector, _) in enumerate(batches):
        k = seen[id(detector)] = seen.get(id(detector), -1) + 1
        if k == len(rounds):
            rounds.append([])
        rounds[k].append(i)
    for members in rounds:
        _detect_together([(i, _cap_in_use(batches[i][0]), batches[i][1]) for i in members], found)
        again: list[tuple[int, FaceDetector, Sequence[np.ndarray]]] = []
        for i in members:
            detector, images = batches[i]
            if (
                isinstance(detector, VideoYuNet)
                and detector.current is detector.coarse
                and detector._shows_small_faces(images, found[i])
            ):
                detector.current = detector.fine
                if any(detector._sees_more(image) for image in images):
                    again.append((i, detector.fine, images))
        _detect_together(again, found)
    return found


def _cap_in_use(detector: FaceDetector) -> FaceDetector:
    return detector.current if isinstance(detector, VideoYuNet) else detector


def _detect_together(
    batches: list[tuple[int, FaceDetector, Sequence[np.ndarray]]], found: list[list[list[Detection]]]
) -> None:
    """``found[i] = detector.detect_batch(images)`` for each ``(i, detector, images)``, one call
    for all the images of detectors that find the same faces (:func:`_same_detections`)."""
    groups: dict[tuple[object, ...], list[tuple[int, FaceDetector, Sequence[np.ndarray]]]] = {}
    for batch in batches:
        groups.setdefault(_same_detections(batch[1]), []).append(batch)
    for members in groups.values():
        detections = members[0][1].detect_batch([image for _, _, images in members for image in images])
        start = 0
        for i, _, images in members:
            found[i] = detections[start : start + len(images)]
            start += len(images)


def _same_detections(detector: FaceDetector) -> tuple[object, ...]:
    """Equal for detectors that find the same faces in an image: YuNets on one network (copies of
    one detector share it) with the same settings; any other detector only equals itself."""
    if isinstance(detector, YuNetDetector):
        network = detector._net if detector.runtime == "opencv" else detector._session
        return (
            id(network),
            detector.max_side,
            detector.min_face,
            detector.score_threshold,
            detector.nms_threshold,
            detector.top_k,
            detector.batch_size,
        )
    return (id(detector),)


def _dlib_five_points(shape: object) -> np.ndarray:
    """ArcFace's five points from dlib's 68: eye centres (36-41, 42-47), nose tip (30), mouth
    corners (48, 54). All in image left-to-right order, as the template expects."""
    points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)  # type: ignore[attr-defined]
    return np.stack(
        [
            points[36:42].mean(axis=0),
            points[42:48].mean(axis=0),
            points[30],
            points[48],
            points[54],
        ]
    ).astype(np.float32)


class _DlibDetectorBase:
    """Shared part of the dlib detectors: rectangles -> 68 landmarks -> ArcFace five points."""

    def __init__(self, *, min_face: int, landmarks_path: Path | None) -> None:
        import dlib

        self.min_face = int(min_face)
        self._landmarks = dlib.shape_predictor(str(verified_path(DLIB_LANDMARKS_68_MODEL, landmarks_path, None)))

    def _detections(self, image: np.ndarray, rects_scores: list[tuple[object, float]]) -> list[Detection]:
        height, width = image.shape[:2]
        found = []
        for rect, score in rects_scores:
            box = _clip_box(rect.left(), rect.top(), rect.width(), rect.height(), width, height)  # type: ignore[attr-defined]
            if min(box[2], box[3]) < self.min_face:
                continue
            landmarks = _dlib_five_points(self._landmarks(image, rect))
            found.append(Detection(box=box, score=float(score), landmarks=landmarks))
        return _largest_first(found)


class DlibHogDetector(_DlibDetectorBase):
    """dlib's HOG + linear SVM frontal detector; ``upsample`` doublings of the image first
    (1 finds faces down to about 40 px). ArcFace landmarks come from dlib's 68-point model."""

    name: Final = "dlib-hog"

    def __init__(self, upsample: int = 1, *, min_face: int = 20, landmarks_path: Path | None = None) -> None:
        import dlib

        super().__init__(min_face=min_face, landmarks_path=landmarks_path)
        self.upsample = int(upsample)
        self._detector = dlib.get_frontal_face_detector()

    def detect(self, image: np.ndarray) -> list[Detection]:
        image = check_rgb(image)
        rects, scores, _ = self._detector.run(image, self.upsample, 0.0)
        return self._detections(image, list(zip(rects, scores, strict=True)))

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """One image after another: the HOG detector has no batch mode."""
        return [self.detect(image) for image in images]


class DlibCnnDetector(_DlibDetectorBase):
    """dlib's MMOD CNN detector; more robust to pose than HOG but slow on a CPU (about 2 s for
    a 700x500 photo at ``upsample=0``, 11 s at 1, on 2 cores). Batched over same-size images."""

    name: Final = "dlib-cnn-mmod"

    def __init__(
        self,
        upsample: int = 1,
        *,
        min_face: int = 20,
        batch_size: int = 8,
        model_path: Path | None = None,
        landmarks_path: Path | None = None,
    ) -> None:
        import dlib

        super().__init__(min_face=min_face, landmarks_path=landmarks_path)
        self.upsample = int(upsample)
        self.batch_size = int(batch_size)
        self._detector = dlib.cnn_face_detection_model_v1(str(verified_path(DLIB_CNN_DETECTOR_MODEL, model_path, None)))

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        arrays = [check_rgb(image) for image in images]
        results: list[list[Detection]] = [[] for _ in arrays]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, array in enumerate(arrays):
            by_shape.setdefault(array.shape, []).append(i)
        for indices in by_shape.values():  # dlib batches only images of one size
            outputs = self._detector([arrays[i] for i in indices], self.upsample, batch_size=self.batch_size)
            for i, found in zip(indices, outputs, strict=True):
                results[i] = self._detections(arrays[i], [(d.rect, d.confidence) for d in found])
        return results


def _clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0 = min(max(float(x), 0.0), float(width)), min(max(float(y), 0.0), float(height))
    x1, y1 = min(max(float(x + w), 0.0), float(width)), min(max(float(y + h), 0.0), float(height))
    return (x0, y0, x1 - x0, y1 - y0)


def _largest_first(found: list[Detection]) -> list[Detection]:
    return sorted(found, key=lambda d: (-d.area, -d.score))
