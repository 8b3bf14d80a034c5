"""Media storage for several hosts: every file goes through Django's storage API.

Local by default (:class:`MediaFileSystemStorage` under MEDIA_ROOT: Django's FileSystemStorage, but
a file appears under its name whole or not at all, so a full disk leaves no truncated file); with
``MEDIA_STORAGE=s3`` any
S3-compatible store (AWS S3, MinIO, Ceph, ...) through django-storages, with
:class:`MediaS3Storage` as the backend:

- ``url()`` stays ``/media/<name>``: every media link goes through the login- and role-checked
  view (:func:`webapp.core.web.media_file`), which streams the object from the store. The store
  needs to be reachable from the web and worker hosts only, never from browsers.
- ``open(name, "rb")`` streams: nothing is downloaded before the first byte is needed, ``seek``
  is free and the next read asks the store for that byte range. django-storages' own ``S3File``
  downloads the whole object into memory first (``AWS_S3_MAX_MEMORY_SIZE`` 0), which a
  multi-gigabyte export download must not do.

Code that needs a local file (PyAV for a video, ``torch.load`` for a model) copies the stored
bytes to a temporary file, or asks :func:`webapp.core.artifacts.artifact_local_path` for a
versioned artefact; nothing opens a path under MEDIA_ROOT directly.
"""

from __future__ import annotations

import errno
import io
import os
import uuid
from contextlib import suppress
from typing import IO, Any, cast

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, default_storage
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

# link(2) refused by the file system (some network and FUSE mounts): rename into a free name instead.
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


PARTIAL_PREFIX = ".partial-"


def is_partial_name(name: str) -> bool:
    """Whether a stored file's name is one of :class:`MediaFileSystemStorage`'s unfinished writes
    (``.partial-`` and 32 hex digits), which a process killed mid-write leaves behind."""
    base = name.rsplit("/", 1)[-1]
    random = base.removeprefix(PARTIAL_PREFIX)
    return base.startswith(PARTIAL_PREFIX) and len(random) == 32 and all(c in "0123456789abcdef" for c in random)


class MediaFileSystemStorage(FileSystemStorage):
    """The local media folder, where a file appears whole or not at all.

    Django's FileSystemStorage writes straight into the final name, so a disk that fills up (or a
    process killed) in the middle of a write leaves a truncated file under a name a row may point
    to. Here a file is written to a hidden ``.partial-<random>`` file in its folder and linked to
    its name only once complete, never over an existing file (a taken name gets another one, as
    in Django). A failed write (``OSError`` ENOSPC for a full disk, EDQUOT over quota) removes its
    partial file and raises. A complete local file on the same file system (an export's staged
    file, a large upload's temporary file) is linked in without a copy. A process killed while
    writing leaves only a ``.partial-*`` file that no row names: the orphan sweep removes it.
    """

    def _save(self, name, content):
        directory = os.path.dirname(self.path(name))
        if self.directory_permissions_mode is not None:
            # Django's own helper (a 5.2 security release); django-stubs 5.2.9 predates it.
            from django.utils._os import safe_makedirs  # type: ignore[attr-defined]

            safe_makedirs(directory, self.directory_permissions_mode, exist_ok=True)
        else:
            os.makedirs(directory, exist_ok=True)
        complete = self._same_file_system_file(content, directory)
        partial = complete or self._write_partial(content, directory)
        try:
            name = self._link_into_place(partial, name)
        finally:
            with suppress(FileNotFoundError):
                os.unlink(partial)  # a moved file's old name, or the partial file
        if self.file_permissions_mode is not None:
            os.chmod(self.path(name), self.file_permissions_mode)
        return str(name).replace("\\", "/")

    @staticmethod
    def _same_file_system_file(content, directory: str) -> str | None:
        path = getattr(content, "temporary_file_path", None)
        if path is None:
            return None
        path = path()
        return path if os.stat(path).st_dev == os.stat(directory).st_dev else None

    @staticmethod
    def _write_partial(content, directory: str) -> str:
        partial = os.path.join(directory, f"{PARTIAL_PREFIX}{uuid.uuid4().hex}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in content.chunks():
                    handle.write(chunk if isinstance(chunk, bytes) else chunk.encode())
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(partial)
            raise
        return partial

    def _link_into_place(self, partial: str, name: str) -> str:
        while True:
            target = self.path(name)
            try:
                os.link(partial, target)
                return name
            except FileExistsError:
                name = self.get_available_name(name)
            except OSError as exc:
                if exc.errno not in _NO_HARD_LINKS:
                    raise
                if os.path.lexists(target):
                    name = self.get_available_name(name)
                    continue
                os.rename(partial, target)
                return name


class S3ObjectReader(io.RawIOBase):
    """A read-only, seekable file over one S3 object, read by ranged GETs as it is consumed."""

    def __init__(self, obj, size: int):
        super().__init__()
        self._obj, self._size, self._pos = obj, int(size), 0
        self._body: Any = None  # the open ranged GET's streaming body, if any

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self._pos:
            self._drop_body()
        self._pos = target
        return target

    def read(self, size: int | None = -1) -> bytes:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if self._pos >= self._size or size == 0:
            return b""
        if self._body is None:
            self._body = self._obj.get(Range=f"bytes={self._pos}-")["Body"]
        data = self._body.read(None if size is None or size < 0 else size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None

    def close(self) -> None:
        self._drop_body()
        super().close()


class MediaS3Storage(S3Storage):
    """django-storages' S3 backend with app-relative URLs and streaming reads (see the module docstring)."""

    def url(self, name, parameters=None, expire=None, http_method=None) -> str:
        return f"{settings.MEDIA_URL}{filepath_to_uri(clean_name(name))}"

    def presigned_url(self, name: str, *, expire: int | None = None) -> str:
        """A time-limited direct link to the object on the store (for clients that can reach it)."""
        return super().url(name, expire=expire)

    def _open(self, name, mode="rb"):
        if mode.replace("b", "") != "r":
            return super()._open(name, mode)
        key = self._normalize_name(clean_name(name))
        obj = self.bucket.Object(key)
        try:
            obj.load()
        except ClientError as err:
            if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                raise FileNotFoundError(f"File does not exist: {name}") from err
            raise
        # typeshed's RawIOBase is not an IO[bytes]; File needs only read, seek, tell and close, which it has.
        return File(cast(IO[bytes], S3ObjectReader(obj, obj.content_length)), name=name)


def storage_listdir(name: str, *, storage: Storage | None = None) -> tuple[list[str], list[str]]:
    """``(folders, files)`` directly below ``name``; empty when there is nothing there.

    Object stores have no folders: ``exists("index")`` is false on S3 even when ``index/…``
    objects exist, so "is the folder there?" must be asked by listing, never with ``exists``.
    """
    storage = storage or default_storage
    try:
        return storage.listdir(name)
    except FileNotFoundError:
        return [], []
