"""Face embedders: the :class:`FaceEmbedder` protocol, SFace and dlib's ResNet behind it, and each
model's same-person threshold.

Images, boxes, landmarks, crops and embeddings follow the conventions in :mod:`ml.faces`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol, runtime_checkable

import cv2
import numpy as np

from ml import inference
from ml.images import check_rgb
from ml.inference import DEFAULT_RUNTIME, DEFAULT_THREADS, check_runtime
from ml.model_files import DLIB_RESNET_MODEL, SFACE_MODEL, read_verified, verified_path


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
        threads: int = DEFAULT_THREADS,
        batch_size: int | None = None,
    ) -> None:
        self.runtime = check_runtime(runtime)
        data = read_verified(Path(model_path) if model_path else SFACE_MODEL.path(), model_sha256 or SFACE_MODEL.sha256)
        if self.runtime == "opencv":
            self.device = "cpu"
            self._net = cv2.FaceRecognizerSF.create(
                "onnx", np.frombuffer(data, dtype=np.uint8), np.zeros(0, dtype=np.uint8)
            )
        else:
            self._session = inference.create_session(
                inference.prepare_graph(data, dynamic_spatial=False), device=device, threads=threads
            )
            self.device = inference.session_device(self._session)
        # CPU ms per face on one thread by batch: 14.7 (1), 14.3 (4), 15.0 (8), 18.5 (16).
        self.batch_size = int(batch_size or (512 if self.device == "cuda" else 4))
        self.match_threshold = MATCH_THRESHOLDS[self.name]

    def embed_aligned(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        rgb = [_resize_square(check_rgb(crop), self.input_size) for crop in crops]
        if self.runtime == "opencv":
            rows = np.zeros((len(rgb), self.embedding_dim), dtype=np.float32)
            for i, crop in enumerate(rgb):
                rows[i] = self._net.feature(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)).reshape(-1)
            return unit_rows(rows)
        batch = np.stack(rgb).transpose(0, 3, 1, 2).astype(np.float32)
        return unit_rows(inference.run_batched(self._session, batch, max_batch=self.batch_size)[0])


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

        self._model = dlib.face_recognition_model_v1(str(verified_path(DLIB_RESNET_MODEL, model_path, None)))
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
        return cv2.warpAffine(
            crop, matrix, (_DLIB_CHIP_SIZE, _DLIB_CHIP_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )

    def embed_aligned(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        chips = [self.chip_from_aligned(check_rgb(crop)) for crop in crops]
        return unit_rows(np.array(self._model.compute_face_descriptor(chips), dtype=np.float32))


def _resize_square(crop: np.ndarray, size: int) -> np.ndarray:
    if crop.shape[0] == size and crop.shape[1] == size:
        return crop
    interpolation = cv2.INTER_AREA if crop.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def unit_rows(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.ascontiguousarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)
