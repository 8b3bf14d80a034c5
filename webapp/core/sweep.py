"""The orphaned-media sweep: files in media storage that no row refers to, removed after a grace period.

Files are written before the rows that name them (``media.services.files.WrittenFiles``) and deleted
when a write fails, but a process killed in between, a deleted row (``Face``, ``Photo``... a
FileField never deletes its file) or an interrupted export build leaves files nobody refers to.
:func:`media_sweep` lists the folders rows point into, through the storage API (local folder or
S3 bucket alike), and deletes each file that

- no row refers to (photos, videos, frames, face crops and thumbnails, trained models, export
  files, published artefacts), checked 1,000 names per query and field, and
- was last modified more than the grace period ago (FACECURATOR_SWEEP_GRACE_HOURS, 24 h), so a
  file whose row is still being written is never taken.

Only the folders below are swept for orphans: ``imports/`` (the default import root), the
similarity index (its writer removes old versions itself) and anything else in storage are left
alone, except for the unfinished writes of the local media folder (``.partial-<random>``, see
:class:`webapp.core.storage.MediaFileSystemStorage`): a process killed mid-write leaves one in
whatever folder it wrote to, so stale ones are removed everywhere under MEDIA_ROOT, by the same
grace period and in the same report. (Object stores write whole objects and leave none.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone

from .storage import is_partial_name, storage_listdir

logger = logging.getLogger(__name__)

SWEPT_FOLDERS = ("photos", "videos", "frames", "faces", "thumbs", "models", "exports")
BATCH = 1000
REPORTED_PATHS = 1000


def _reference_fields() -> list[tuple[Any, str]]:
    """Every (model, field) that names a stored file: the FileFields of every installed model, and
    the text fields a model lists in ``stored_file_fields`` (names it wrote through the storage API).

    Read from the app registry, so the sweep (in ``core``, below every app that stores files) knows
    each app's files without importing it."""
    found: list[tuple[Any, str]] = []
    for model in apps.get_models():
        names = [f.name for f in model._meta.get_fields() if isinstance(f, models.FileField)]
        found += [(model, name) for name in [*names, *getattr(model, "stored_file_fields", ())]]
    return found


def _stored_files(folder: str) -> Iterator[str]:
    folders, files = storage_listdir(folder)
    for name in sorted(files):
        yield f"{folder}/{name}"
    for sub in sorted(folders):
        yield from _stored_files(f"{folder}/{sub}")


def _partial_files_elsewhere() -> Iterator[str]:
    """The unfinished writes of the local media folder outside SWEPT_FOLDERS (where the orphan
    sweep finds them already); nothing on storage without a local path, which leaves none."""
    try:
        default_storage.path("")
    except NotImplementedError:
        return
    folders, files = storage_listdir("")
    yield from (name for name in sorted(files) if is_partial_name(name))
    for folder in sorted(set(folders) - set(SWEPT_FOLDERS)):
        yield from (name for name in _stored_files(folder) if is_partial_name(name))


def _referenced(names: list[str]) -> set[str]:
    found: set[str] = set()
    for model, field in _reference_fields():
        found.update(model.objects.filter(**{f"{field}__in": names}).values_list(field, flat=True))
    return found


def media_sweep(
    *, grace_hours: float | None = None, dry_run: bool = False, progress: Callable[[float, str], None] | None = None
) -> dict[str, Any]:
    """Delete (or with ``dry_run`` only list) the stored files no row refers to, older than the grace.

    Returns ``{"removed": n, "bytes": total, "paths": [first 1,000], "checked": files seen,
    "kept_recent": unreferenced files still within the grace period, "dry_run", "grace_hours"}``.
    """
    grace = float(settings.FACECURATOR_SWEEP_GRACE_HOURS if grace_hours is None else grace_hours)
    cutoff = timezone.now() - timedelta(hours=grace)
    report: dict[str, Any] = {
        "removed": 0,
        "bytes": 0,
        "paths": [],
        "checked": 0,
        "kept_recent": 0,
        "dry_run": dry_run,
        "grace_hours": grace,
    }

    def sweep(batch: list[str]) -> None:
        referenced = _referenced(batch)
        for name in batch:
            if name in referenced:
                continue
            try:
                if default_storage.get_modified_time(name) > cutoff:
                    report["kept_recent"] += 1
                    continue
                size = default_storage.size(name)
                if not dry_run:
                    default_storage.delete(name)
            except FileNotFoundError:
                continue  # removed meanwhile
            report["removed"] += 1
            report["bytes"] += size
            if len(report["paths"]) < REPORTED_PATHS:
                report["paths"].append(name)
            logger.info("media sweep: %s %s (%d bytes)", "would remove" if dry_run else "removed", name, size)

    steps = [(f"{folder}/", _stored_files(folder)) for folder in SWEPT_FOLDERS]
    steps.append(("unfinished writes elsewhere", _partial_files_elsewhere()))
    for index, (where, names) in enumerate(steps):
        if progress:
            progress(index / len(steps), f"{where}: {report['removed']} orphaned files so far")
        batch: list[str] = []
        for name in names:
            report["checked"] += 1
            batch.append(name)
            if len(batch) == BATCH:
                sweep(batch)
                batch = []
        sweep(batch)
    if report["removed"] > len(report["paths"]):
        report["truncated"] = True
    return report
