"""Writes on dataset versions: create and freeze a version, build its formats into stored files.

- A version is created from a filter (checked, and refused when no face matches), then frozen
  by a job: the matching faces are streamed in id order (one query, one snapshot) into
  ``VersionFace`` rows (bulk_create in batches) together with the content hash and the per-class
  counts. Frozen rows are never
  updated: relabelling a face later changes the next version, not this one.
- A build writes one format of a ready version into a local staging folder, then saves each
  finished file through ``default_storage`` under its final name (a rename on the local file
  system, an upload on S3), and only then records the ``ExportFile`` rows. A reader never sees a
  half-written file, and a failed build leaves no file behind.
- One build per (version, format, shard size): asking again while it is queued or running
  returns the running build and its job; asking after it is ready returns the files.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from ml.splits import SPLITS
from webapp.core.exceptions import Conflict, DomainError
from webapp.core.roles import Actor, recorded_user
from webapp.core.services import job_start
from webapp.identities.models import Identity

from . import selectors
from .filters import ExportFilter, InvalidFilter, export_filter_parse
from .formats import WRITERS, BuildContext
from .layout import DISTRACTOR_LABEL, FROZEN_COLUMNS, RowHasher, class_folders, safe_component
from .models import DatasetVersion, ExportBuild, ExportFile, VersionFace

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

FREEZE_BATCH = 2000  # VersionFace rows per bulk_create
DEFAULT_SHARD_SIZE = 1000
MAX_SHARD_SIZE = 100_000
FREEZE_KIND = "exports.freeze_version"
BUILD_KIND = "exports.build"


class EmptySelection(DomainError):
    code = "empty_selection"


class VersionNotReady(Conflict):
    code = "version_not_ready"


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------
def version_create(
    *, filters: Mapping[str, Any], name: str = "", user: Actor = None, start_job: bool = True
) -> DatasetVersion:
    """Check a filter and create a version from it; its faces are frozen by an ``exports.freeze_version`` job.

    Refused (400) when a filter field is unknown or wrong, and when no face matches.
    """
    export_filter = export_filter_parse(data=filters)
    if not selectors.faces_matching(export_filter=export_filter).exists():
        raise EmptySelection("No faces match this filter.", extra={"filters": export_filter.as_dict()})
    with transaction.atomic():
        version = DatasetVersion.objects.create(
            name=(name or "")[:200], filters=export_filter.as_dict(), created_by=recorded_user(user)
        )
        if start_job:
            version.job = job_start(kind=FREEZE_KIND, params={"version": version.pk}, user=user)
            version.save(update_fields=["job"])
    return version


def _normalised(value: Any, depth: int) -> Any:
    """Boxes ([x, y, w, h]) and landmarks ([[x, y], ...]) as floats, so the hash reads the same after storage."""
    if value is None:
        return None
    try:
        if depth == 1:
            return [float(v) for v in value]
        return [[float(v) for v in point] for point in value]
    except (TypeError, ValueError):
        return value


class _Folders:
    """Class folder names for the VIPs of a version: computed up front, unique; a VIP that appears
    only while streaming (relabelled in between) still gets a unique folder."""

    def __init__(self, identities: list[tuple[int, str]]):
        self.by_identity = class_folders(identities)
        self.used = {folder.casefold() for folder in self.by_identity.values()} | {DISTRACTOR_LABEL}

    def get(self, identity_id: int, name: str) -> str:
        if identity_id not in self.by_identity:
            folder = safe_component(name, fallback=f"identity-{identity_id}")
            if folder.casefold() in self.used:
                folder = f"{folder}-{identity_id}"
            while folder.casefold() in self.used:
                folder = f"{folder}-{identity_id}"
            self.by_identity[identity_id] = folder
            self.used.add(folder.casefold())
        return self.by_identity[identity_id]


def _frozen_rows(*, export_filter: ExportFilter) -> Iterator[dict[str, Any]]:
    """The faces a filter selects now, as frozen rows, in face-id order (one streaming query)."""
    faces = selectors.faces_matching(export_filter=export_filter).order_by("id")
    vip_ids = faces.filter(identity__role=Identity.Role.VIP).values("identity_id").distinct()
    folders = _Folders(list(Identity.objects.filter(pk__in=vip_ids).values_list("id", "name")))
    columns = (
        "id",
        "identity_id",
        "identity__name",
        "identity__role",
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
    for face in faces.values(*columns).iterator(chunk_size=selectors.ROW_CHUNK):
        identity_id, role = face["identity_id"], face["identity__role"] or "unknown"
        if role == Identity.Role.VIP:
            label, label_key = face["identity__name"], folders.get(identity_id, face["identity__name"])
        else:
            label = label_key = DISTRACTOR_LABEL
        yield {
            "face_id": face["id"],
            "label": label,
            "label_key": label_key,
            "identity_id": identity_id,
            "identity_name": face["identity__name"] or "",
            "role": role,
            "status": face["status"],
            "split": face["split"],
            "source": face["source"],
            "source_path": face["source_path"] or "",
            "photo_id": face["photo_id"],
            "frame_id": face["frame_id"],
            "video_id": face["video_id"],
            "group_key": face["group_key"] or "",
            "box": _normalised(face["box"], 1),
            "landmarks": _normalised(face["landmarks"], 2),
            "crop": face["crop"],
        }


def _class_counts(per_class: dict[str, dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    classes = sorted(per_class)
    counts = []
    for index, key in enumerate(classes):
        entry = per_class[key]
        counts.append(
            {
                "class_index": index,
                "label_key": key,
                "label": entry["label"],
                "identity_id": entry["identity_id"],
                "role": "distractor" if key == DISTRACTOR_LABEL else "vip",
                **{split: entry["splits"].get(split, 0) for split in SPLITS},
                "total": sum(entry["splits"].values()),
            }
        )
    return classes, counts


def version_freeze(*, version_id: int, progress: Progress | None = None) -> dict[str, Any]:
    """Freeze a version's faces: VersionFace rows in batches, content hash, counts. Idempotent.

    The faces are read by one streaming query, so the labels come from one consistent snapshot
    (on PostgreSQL a server-side cursor) however long the freeze takes. Rows are written in
    batches, each committed, so the job's progress shows live; the version only turns ``ready``
    once every row is in, and a failure (or a cancel) deletes the rows written so far. A rerun
    after a lost worker starts clean.
    """
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().get(pk=version_id)
        if version.state == DatasetVersion.State.READY:
            return _version_summary(version)
        VersionFace.objects.filter(version=version).delete()
    try:
        export_filter = export_filter_parse(data=version.filters)
        total = selectors.faces_matching(export_filter=export_filter).count()
        per_class: dict[str, dict[str, Any]] = {}  # label key: label, identity, faces per split
        hasher, batch, done = RowHasher(), [], 0
        for row in _frozen_rows(export_filter=export_filter):
            hasher.add(row)
            entry = per_class.setdefault(
                row["label_key"],
                {
                    "label": row["label"],
                    "identity_id": row["identity_id"] if row["role"] == "vip" else None,
                    "splits": {},
                },
            )
            entry["splits"][row["split"]] = entry["splits"].get(row["split"], 0) + 1
            batch.append(VersionFace(version=version, **row))
            if len(batch) >= FREEZE_BATCH:
                VersionFace.objects.bulk_create(batch)
                done += len(batch)
                batch = []
                if progress:
                    progress(0.99 * done / max(total, done, 1), f"{done}/{total} faces frozen")
        VersionFace.objects.bulk_create(batch)
        done += len(batch)
        if done == 0:
            raise EmptySelection("No faces match this filter any more.")
        classes, counts = _class_counts(per_class)
        version.state = DatasetVersion.State.READY
        version.face_count, version.class_count = done, len(classes)
        version.classes, version.counts, version.content_hash = classes, counts, hasher.hexdigest()
        version.frozen_at, version.error = timezone.now(), ""
        version.save()
    except BaseException as exc:
        VersionFace.objects.filter(version_id=version_id).delete()
        DatasetVersion.objects.filter(pk=version_id).update(
            state=DatasetVersion.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    return _version_summary(version)


def _version_summary(version: DatasetVersion) -> dict[str, Any]:
    return {
        "version": version.pk,
        "faces": version.face_count,
        "classes": version.class_count,
        "content_hash": version.content_hash,
    }


def version_content_hash(*, version: DatasetVersion) -> str:
    """Recompute a version's content hash from its stored rows (equals ``content_hash`` unless tampered)."""
    hasher = RowHasher()
    for row in selectors.version_rows(version=version):
        hasher.add({column: row[column] for column in FROZEN_COLUMNS})
    return hasher.hexdigest()


# --------------------------------------------------------------------------------------------
# Builds
# --------------------------------------------------------------------------------------------
def _check_format(format: str, shard_size: int | None) -> int:
    if format not in ExportBuild.Format.values:
        raise InvalidFilter(
            "format", f"Unknown format '{format}'; expected one of: {', '.join(ExportBuild.Format.values)}."
        )
    if format != ExportBuild.Format.WEBDATASET:
        if shard_size:
            raise InvalidFilter("shard_size", "'shard_size' applies to the webdataset format only.")
        return 0
    shard_size = DEFAULT_SHARD_SIZE if shard_size is None else shard_size
    if not isinstance(shard_size, int) or isinstance(shard_size, bool) or not 1 <= shard_size <= MAX_SHARD_SIZE:
        raise InvalidFilter("shard_size", f"'shard_size' must be a whole number from 1 to {MAX_SHARD_SIZE}.")
    return shard_size


def build_request(
    *, version: DatasetVersion, format: str, shard_size: int | None = None, user: Actor = None, start_job: bool = True
) -> tuple[ExportBuild, bool]:
    """Ask for one format of a version; returns (build, started).

    Concurrent or repeated requests never build twice: a queued or running build is returned as it
    is (with its job), a ready one with its files. A failed build, or one whose job is gone, is
    started again.
    """
    shard_size = _check_format(format, shard_size)
    if version.state != DatasetVersion.State.READY:
        why = (
            "its faces are not frozen yet; wait for its job"
            if version.state == DatasetVersion.State.PENDING
            else f"its freeze failed ({version.error[:200]}); create a new version"
        )
        raise VersionNotReady(f"Dataset version {version.pk} is {version.state}: {why}.", extra={"job": version.job_id})
    with transaction.atomic():
        build, created = ExportBuild.objects.get_or_create(
            version=version, format=format, shard_size=shard_size, defaults={"created_by": recorded_user(user)}
        )
        build = ExportBuild.objects.select_for_update(of=("self",)).select_related("job").get(pk=build.pk)
        if build.state == ExportBuild.State.READY:
            return build, False
        alive = build.job is not None and not build.job.is_finished  # job-less: a command run that died
        if not created and build.state in (ExportBuild.State.QUEUED, ExportBuild.State.RUNNING) and alive:
            return build, False
        build.state, build.error, build.finished_at = ExportBuild.State.QUEUED, "", None
        build.job = job_start(kind=BUILD_KIND, params={"build": build.pk}, user=user) if start_job else None
        build.save(update_fields=["state", "error", "finished_at", "job"])
    return build, True


class _StagedFile(File):
    """A finished local file: FileSystemStorage moves it into place (one rename), others upload it."""

    def __init__(self, path: Path):
        super().__init__(path.open("rb"), name=path.name)
        self._path = path

    def temporary_file_path(self) -> str:
        return str(self._path)


@contextmanager
def _staging_folder() -> Iterator[Path]:
    """Where a build writes: beside the final files when the storage is a local folder (so saving
    is one atomic rename on the same file system), a temporary folder otherwise (S3: an upload)."""
    try:
        root = Path(default_storage.path("exports/.staging"))
    except NotImplementedError:  # storage without local paths
        folder = Path(tempfile.mkdtemp(prefix="facecurator-export-"))
    else:
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="build-", dir=root))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _sha256_and_size(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _read_crop(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


def version_meta(*, version: DatasetVersion) -> dict[str, Any]:
    """What ``version.json`` says about a version."""
    return {
        "version": version.pk,
        "name": version.name,
        "filters": version.filters,
        "content_hash": version.content_hash,
        "faces": version.face_count,
        "classes": version.classes,
        "counts": version.counts,
        "distractor_label": DISTRACTOR_LABEL,
        "frozen_at": version.frozen_at.isoformat() if version.frozen_at else None,
    }


def build_run(*, build_id: int, progress: Progress | None = None) -> dict[str, Any]:
    """Write a build's files and store them. Idempotent: a ready build is left as it is."""
    build = ExportBuild.objects.select_related("version").get(pk=build_id)
    if build.state == ExportBuild.State.READY:
        return _build_summary(build)
    ExportBuild.objects.filter(pk=build.pk).exclude(state=ExportBuild.State.READY).update(
        state=ExportBuild.State.RUNNING, error=""
    )
    version = build.version
    # An unguessable folder per attempt: attempts never collide, and stored names are not predictable.
    prefix = (
        f"exports/v{version.pk}/{build.format}{f'-{build.shard_size}' if build.shard_size else ''}/{uuid.uuid4().hex}"
    )
    stored: list[str] = []
    try:
        with _staging_folder() as folder:
            ctx = BuildContext(
                meta={**version_meta(version=version), "format": build.format},
                classes=list(version.classes),
                face_count=version.face_count,
                out_dir=folder,
                read_image=_read_crop,
                progress=progress,
                shard_size=build.shard_size,
                timestamp=version.frozen_at.timestamp() if version.frozen_at else 315532800.0,
            )
            outputs = WRITERS[build.format](selectors.version_rows(version=version), ctx)
            if progress:
                progress(0.96, "storing files")
            files = []
            for output in outputs:
                sha256, size = _sha256_and_size(output.path)
                staged = _StagedFile(output.path)
                try:
                    name = default_storage.save(f"{prefix}/{output.name}", staged, max_length=500)
                finally:
                    staged.close()
                stored.append(name)
                files.append(
                    ExportFile(
                        build=build,
                        name=output.name,
                        storage_name=name,
                        size=size,
                        sha256=sha256,
                        content_type=output.content_type,
                    )
                )
        with transaction.atomic():
            won = ExportBuild.objects.select_for_update().get(pk=build.pk).state != ExportBuild.State.READY
            if won:  # else a concurrent run of this build finished first: keep its files, drop ours
                ExportFile.objects.filter(build=build).delete()
                ExportFile.objects.bulk_create(files)
                ExportBuild.objects.filter(pk=build.pk).update(
                    state=ExportBuild.State.READY,
                    total_bytes=sum(f.size for f in files),
                    finished_at=timezone.now(),
                    error="",
                )
        if not won:
            _delete_stored(stored)
    except BaseException as exc:
        _delete_stored(stored)
        ExportBuild.objects.filter(pk=build.pk).exclude(state=ExportBuild.State.READY).update(
            state=ExportBuild.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    build.refresh_from_db()
    return _build_summary(build)


def _delete_stored(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # noqa: BLE001 - cleanup must not hide the build's own error
            logger.warning("could not delete %s after a failed build", name)


def _build_summary(build: ExportBuild) -> dict[str, Any]:
    files = list(build.files.order_by("name").values("name", "size", "sha256"))
    return {
        "build": build.pk,
        "version": build.version_id,
        "format": build.format,
        "faces": build.version.face_count,
        "bytes": sum(f["size"] for f in files),
        "files": files,
    }
