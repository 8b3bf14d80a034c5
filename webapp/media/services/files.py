"""Files in storage: upload size checks, content hashes, writes that are undone when their rows
are not, and reading stored files back."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage

from webapp.core.exceptions import PayloadTooLarge

from .outcomes import IngestError, TooManyFiles

logger = logging.getLogger(__name__)


def upload_max_bytes() -> int:
    return int(settings.FACECURATOR_MAX_UPLOAD_MB) * 1024 * 1024


def upload_check_size(*, name: str, size: int) -> None:
    """Refuse an empty file or one above ``FACECURATOR_MAX_UPLOAD_MB``."""
    if size == 0:
        raise IngestError(f"{name}: the file is empty (0 bytes).", code="empty")
    if size > upload_max_bytes():
        raise IngestError(
            f"{name}: {size / 1024 / 1024:.1f} MB is above the upload limit of "
            f"{settings.FACECURATOR_MAX_UPLOAD_MB} MB (setting FACECURATOR_MAX_UPLOAD_MB).",
            code="too_large",
        )


def upload_check_request(*, content_length: int) -> None:
    """Refuse a whole upload request above ``FACECURATOR_MAX_UPLOAD_REQUEST_MB`` (413), before reading it."""
    limit = int(settings.FACECURATOR_MAX_UPLOAD_REQUEST_MB)
    if content_length > limit * 1024 * 1024:
        raise PayloadTooLarge(
            f"This upload is {content_length / 1024 / 1024:.1f} MB, above the limit of {limit} MB per request "
            "(setting FACECURATOR_MAX_UPLOAD_REQUEST_MB); send the files in several requests."
        )


def upload_too_many_files() -> TooManyFiles:
    """The error for a request carrying more than ``DATA_UPLOAD_MAX_NUMBER_FILES`` files (400)."""
    limit = int(settings.DATA_UPLOAD_MAX_NUMBER_FILES)
    return TooManyFiles(
        f"At most {limit} files per upload request (setting FACECURATOR_MAX_UPLOAD_FILES); "
        "send the others in another request."
    )


def file_sha256(fileobj: IO[bytes]) -> str:
    digest = hashlib.sha256()
    fileobj.seek(0)
    for chunk in iter(lambda: fileobj.read(1 << 20), b""):
        digest.update(chunk)
    fileobj.seek(0)
    return digest.hexdigest()


class StorageFull(IngestError):
    """The media storage had no room for a file (disk full, or over quota): nothing of it is kept,
    and whatever the file belonged to (its rows, the rest of its batch) is rolled back."""

    NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})

    def __init__(self, exc: OSError):
        super().__init__(
            f"not stored: the media storage is full ({exc.strerror or 'no space left'}); nothing of "
            "this file was kept. Free some space (or ask an admin to), then send it again.",
            code="storage_full",
        )


class WrittenFiles:
    """Storage names written for rows not yet committed; ``discard()`` deletes them again.

    A write the storage has no room for raises :class:`StorageFull` (a per-file error); the local
    storage leaves no partial file behind (:class:`webapp.core.storage.MediaFileSystemStorage`).
    """

    def __init__(self) -> None:
        self.names: list[str] = []

    def save(self, name: str, content: bytes | bytearray | File) -> str:
        if isinstance(content, (bytes, bytearray)):
            content = ContentFile(bytes(content))
        try:
            stored = default_storage.save(name, content)
        except OSError as exc:
            if exc.errno in StorageFull.NO_SPACE:
                logger.error("media storage full: %s not stored (%s)", name, exc.strerror)
                raise StorageFull(exc) from exc
            raise
        self.names.append(stored)
        return stored

    def discard(self) -> None:
        for name in self.names:
            try:
                default_storage.delete(name)
            except Exception:  # noqa: BLE001 - cleanup must not hide the original error
                logger.warning("could not delete %s after a failed import", name)
        self.names.clear()


@contextmanager
def files_kept_only_on_success() -> Iterator[WrittenFiles]:
    written = WrittenFiles()
    try:
        yield written
    except BaseException:
        written.discard()
        raise


@contextmanager
def stored_local_copy(storage_name: str, suffix: str) -> Iterator[str]:
    """A local file with a stored file's bytes (PyAV needs a path; storage may be S3)."""
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    try:
        with handle, default_storage.open(storage_name, "rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                handle.write(chunk)
        yield handle.name
    finally:
        os.unlink(handle.name)


def stored_read(storage_name: str) -> bytes:
    with default_storage.open(storage_name, "rb") as handle:
        return handle.read()


def storage_delete_folder(folder: str) -> None:
    """Delete every file below ``folder`` in storage (leftovers of an interrupted attempt)."""
    from webapp.core.storage import storage_listdir

    dirs, files = storage_listdir(folder)  # not exists(): an object store has no folders
    for name in files:
        default_storage.delete(f"{folder}/{name}")
    for name in dirs:
        storage_delete_folder(f"{folder}/{name}")
