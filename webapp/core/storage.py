"""Media storage for several hosts: every file goes through Django's storage API.

Local by default (``FileSystemStorage`` under MEDIA_ROOT); with ``MEDIA_STORAGE=s3`` any
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

import io
from typing import IO, Any, cast

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.utils.encoding import filepath_to_uri
from storages.backends.s3 import S3Storage
from storages.utils import clean_name


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

