"""Versioned artefacts: model files and the similarity index, shared by every host through media storage.

An artefact is a stored file whose name carries its version and is never overwritten:
``models/run-<run id>/model-<token>.pt`` (one per training run; the active run is in the
database) and ``index/faces-<version>.faiss`` (the newest version is an :class:`Artifact` row).
A worker asks the database which version is current each time it needs one (one cheap query),
and :func:`artifact_local_path` gives it a local file with that version's bytes:

- with local storage (one host, or a shared file system) the stored file itself;
- with an object store, a copy in the artefact cache (FACECURATOR_ARTIFACT_CACHE, default
  ``var/cache/artifacts``), downloaded once: written to a temporary name, then renamed, so a
  process never sees half a file (several worker processes on one host share the cache safely).
  The cache keeps the FACECURATOR_ARTIFACT_CACHE_KEEP (default 3) most recently used files of
  each kind (``models/``, ``index/``); older ones are deleted.

Since a name never changes content, a cached file never goes stale: a new version is a new name.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, transaction

from .models import Artifact

logger = logging.getLogger(__name__)

PART_SUFFIX = ".part"
STALE_PART_SECONDS = 3600  # a partial download older than this was left by a killed process


def artifact_cache_dir() -> Path:
    configured = settings.FACECURATOR_ARTIFACT_CACHE
    return Path(configured) if configured else Path(settings.VAR_DIR) / "cache" / "artifacts"


def artifact_cache_keep() -> int:
    return max(1, int(settings.FACECURATOR_ARTIFACT_CACHE_KEEP))


def _relative(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or not path.parts:
        raise SuspiciousFileOperation(f"'{name}' is not a storage name inside the media storage.")
    return path


def artifact_local_path(name: str, *, storage: Storage | None = None) -> Path:
    """A local file holding the stored artefact ``name`` (raises FileNotFoundError when it is not stored).

    Call it each time the artefact is needed: a cached copy costs one ``stat``. Names must be
    versioned (never rewritten with other bytes): a cached copy is never checked again.
    """
    storage = storage or default_storage
    relative = _relative(name)
    try:
        local = Path(storage.path(name))
    except NotImplementedError:
        pass
    else:
        if not local.is_file():
            raise FileNotFoundError(f"Artefact {name} is not in storage.")
        return local
    target = artifact_cache_dir().joinpath(*relative.parts)
    if target.is_file():
        os.utime(target)  # most recently used: last to be evicted
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}{PART_SUFFIX}")
    started = time.perf_counter()
    try:
        with storage.open(name, "rb") as source, open(partial, "wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    logger.info("artefact %s cached in %.1f s (%d bytes)", name, time.perf_counter() - started, target.stat().st_size)
    _evict(kind_dir=artifact_cache_dir() / relative.parts[0], keep=artifact_cache_keep(), protect=target)
    return target


def _evict(*, kind_dir: Path, keep: int, protect: Path) -> None:
    """Keep the ``keep`` most recently used files below ``kind_dir``; drop stale partial downloads."""
    files, now = [], time.time()
    for path in kind_dir.rglob("*"):
        try:
            if not path.is_file():
                continue
            mtime = path.stat().st_mtime
        except FileNotFoundError:  # another process evicted it meanwhile
            continue
        if path.name.endswith(PART_SUFFIX):
            if now - mtime > STALE_PART_SECONDS:
                path.unlink(missing_ok=True)
            continue
        files.append((mtime, path))
    files.sort(reverse=True)
    for _mtime, path in files[keep:]:
        if path != protect:
            path.unlink(missing_ok=True)
            logger.info("artefact cache: evicted %s", path)


def artifact_cached_names() -> list[str]:
    """Storage names currently in this host's cache (for diagnostics and tests)."""
    root = artifact_cache_dir()
    if not root.is_dir():
        return []
    return sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and not p.name.endswith(PART_SUFFIX)
    )


# --- Which version is current: rows in the database ------------------------------------------


def artifact_publish(*, kind: str, version: int, name: str, meta: dict | None = None) -> Artifact:
    """Record a stored file as version ``version`` of ``kind`` (call after the file is complete).

    Inside the writer's transaction, readers on every host see the new version when it commits.
    Publishing the same version twice (a rerun) replaces the row.
    """
    try:
        with transaction.atomic():
            return Artifact.objects.create(kind=kind, version=version, name=name, meta=meta or {})
    except IntegrityError:
        Artifact.objects.filter(kind=kind, version=version).update(name=name, meta=meta or {})
        return Artifact.objects.get(kind=kind, version=version)


def artifact_latest(*, kind: str) -> Artifact | None:
    """The newest published version of ``kind`` (None when none was published)."""
    return Artifact.objects.filter(kind=kind).order_by("-version").first()


def artifact_forget(*, kind: str, below: int) -> int:
    """Drop the rows of versions older than ``below`` (their files were deleted)."""
    deleted, _ = Artifact.objects.filter(kind=kind, version__lt=below).delete()
    return deleted
