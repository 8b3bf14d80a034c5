"""How an export is laid out: class folder names, file paths inside archives, the row digest.

One place for every name that ends up on somebody's disk. Identity names can hold any character
(slashes, dots, ``..``, control characters, any script); a class folder name is derived from the
name so that it is always one safe path component, never starts with a dot or an underscore
(``_`` is reserved for ``DISTRACTOR_LABEL``), and is unique within a version.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

DISTRACTOR_LABEL = "_distractor"
MAX_FOLDER_CHARS = 100
_UNSAFE = re.compile(r"[^\w.\-]+", re.UNICODE)  # \w: letters and digits of any script, and _
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}

# The columns a version freezes, in the order the content hash reads them.
FROZEN_COLUMNS = (
    "face_id",
    "label",
    "label_key",
    "identity_id",
    "identity_name",
    "role",
    "status",
    "split",
    "source",
    "source_path",
    "photo_id",
    "frame_id",
    "video_id",
    "group_key",
    "box",
    "landmarks",
    "crop",
)


def safe_component(name: str, *, fallback: str) -> str:
    """One safe path component from any text: NFC, runs of unsafe characters become ``_``.

    Leading dots, underscores and dashes are dropped (no hidden files, no ``.``/``..``, no clash
    with reserved names); trailing dots are dropped (Windows); Windows device names get a suffix.
    An empty result gives ``fallback``.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = _UNSAFE.sub("_", text.strip())
    text = text.lstrip("._-").rstrip(". ")[:MAX_FOLDER_CHARS].rstrip(". ")
    if not text:
        return fallback
    if text.split(".")[0].lower() in _WINDOWS_RESERVED:
        text = f"{text}_"
    return text


def class_folders(identities: Iterable[tuple[int, str]]) -> dict[int, str]:
    """A folder name per identity id, unique: a clash (``A/B`` and ``A_B``) appends ``-<id>`` to both."""
    proposed = {
        identity_id: safe_component(name, fallback=f"identity-{identity_id}") for identity_id, name in identities
    }
    seen: dict[str, int] = {}
    for folder in proposed.values():
        seen[folder.casefold()] = seen.get(folder.casefold(), 0) + 1  # case-insensitive file systems
    return {
        identity_id: (f"{folder}-{identity_id}" if seen[folder.casefold()] > 1 else folder)
        for identity_id, folder in proposed.items()
    }


def image_path(*, split: str, label_key: str, face_id: int) -> str:
    """Where a face's image sits in the ImageFolder layout: ``split/class/face.jpg``."""
    return f"{split}/{label_key}/{face_id}.jpg"


def sample_key(face_id: int) -> str:
    """A WebDataset sample key (no dots: WebDataset splits keys from extensions at the first dot)."""
    return f"{face_id:09d}"


def row_digest_line(row: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one frozen row; the version's content hash is SHA-256 over these,
    one per line, sorted by face id."""
    values = [row[column] for column in FROZEN_COLUMNS]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode() + b"\n"


class RowHasher:
    """Streams rows (sorted by face id) into the version's content hash."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._last: int | None = None

    def add(self, row: Mapping[str, Any]) -> None:
        if self._last is not None and row["face_id"] <= self._last:
            raise ValueError("rows must come sorted by face id, each once")
        self._last = row["face_id"]
        self._digest.update(row_digest_line(row))

    def hexdigest(self) -> str:
        return self._digest.hexdigest()
