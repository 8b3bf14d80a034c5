"""Face folders (``root/<identity name>/<image>``): scanning, the import roots an API import may
read, and importing aligned crops or photos with their folder's identity."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import File
from django.db import IntegrityError, transaction

from webapp.core.exceptions import DomainError, InvalidTransition
from webapp.core.models import Job
from webapp.core.roles import Actor
from webapp.core.services import job_start
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.identities.services import identities_get_or_create

from ..models import Photo, ProcessingStatus
from .duplicates import NearDuplicates
from .face_rows import FaceDraft, faces_write, index_add
from .files import StorageFull, files_kept_only_on_success, upload_check_size
from .identity_names import identities_set_popularity, popularity_read_csv
from .outcomes import FileOutcome, IngestError, Progress, outcomes_summary
from .photos import photo_store, photos_detect
from .pipeline import crop_phash, face_pipeline, image_decode, jpeg_encode

CROP_BATCH = 256  # crops embedded and written per transaction


@dataclass(frozen=True)
class FolderEntry:
    identity: str | None  # None: a file directly under the root
    path: Path
    relative: str


def folder_scan(
    *, root: str | Path, identities: Iterable[str] | None = None, limit_per_identity: int | None = None
) -> list[FolderEntry]:
    """The files of a face folder, identity by identity, in a stable order (hidden files skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise InvalidTransition(f"{root} is not a folder on the server.")
    wanted = set(identities) if identities is not None else None
    entries: list[FolderEntry] = []
    for child in sorted(root.iterdir(), key=lambda p: p.name):
        if child.name.startswith("."):
            continue
        if child.is_file():
            entries.append(FolderEntry(None, child, child.name))
            continue
        if not child.is_dir() or (wanted is not None and child.name not in wanted):
            continue
        files = sorted(
            (p for p in child.rglob("*") if p.is_file() and not p.name.startswith(".")),
            key=lambda p: p.relative_to(child).as_posix(),
        )
        for path in files[:limit_per_identity]:
            entries.append(FolderEntry(child.name, path, path.relative_to(root).as_posix()))
    return entries


def faces_import_folder(
    *,
    root: str | Path,
    cropped: bool = False,
    role: str = Identity.Role.CANDIDATE,
    popularity: dict[str, int] | None = None,
    user: Actor = None,
    progress: Progress | None = None,
    identities: Iterable[str] | None = None,
    limit_per_identity: int | None = None,
    confined: bool = False,
) -> dict[str, Any]:
    """Import ``root/<identity name>/<image>``: identities by folder name, one face per image.

    ``cropped``: the images are already aligned face crops (e.g. glint24): they are embedded
    without re-detection, each its own group ``crop:<sha256>``. Otherwise each image is imported
    as a photo with the folder's identity as hint (detection, the hinted face labelled, other
    faces unknown). New identities get ``role``; ``popularity`` ({name: rank}) sets promotion
    order. Re-running is idempotent: files already imported (same content hash) are skipped.
    ``confined`` (imports asked for over the API): a file whose real path is outside ``root`` (a
    symlink out) is not read and gets a per-file error.
    """
    entries = folder_scan(root=root, identities=identities, limit_per_identity=limit_per_identity)
    escaped: list[FileOutcome] = []
    if confined:
        real_root = Path(os.path.realpath(root))
        keep = [_inside(Path(os.path.realpath(e.path)), real_root) for e in entries]
        escaped = [
            FileOutcome(
                name=e.relative,
                status="error",
                code="outside_import_roots",
                error=f"{e.relative}: links to a file outside the import folder; not read.",
            )
            for e, ok in zip(entries, keep, strict=True)
            if not ok
        ]
        entries = [e for e, ok in zip(entries, keep, strict=True) if ok]
    names = sorted({e.identity for e in entries if e.identity})
    before = set(Identity.objects.filter(name__in=names).values_list("name", flat=True))
    by_name = identities_get_or_create(names=names, role=role)
    ranked = identities_set_popularity(ranks=popularity) if popularity else 0
    outcomes = escaped + [
        FileOutcome(
            name=e.relative,
            status="error",
            code="no_identity_folder",
            error=f"{e.relative}: not inside an identity folder (root/<identity name>/<image>).",
        )
        for e in entries
        if e.identity is None
    ]
    entries = [e for e in entries if e.identity is not None]
    dedupe = NearDuplicates()
    if cropped:
        more, face_ids = _crops_import(entries=entries, by_name=by_name, dedupe=dedupe, progress=progress)
    else:
        more, face_ids = _images_import(entries=entries, by_name=by_name, dedupe=dedupe, user=user, progress=progress)
    outcomes += more
    if progress:
        progress(0.99, "updating the similarity index")
    index_add(face_ids)
    return outcomes_summary(
        outcomes,
        root=str(root),
        cropped=cropped,
        identities=len(names),
        identities_created=len(set(names) - before),
        popularity_ranks_set=ranked,
    )


class OutsideImportRoots(DomainError):
    """A server path an API import may not read: outside every folder of FACECURATOR_IMPORT_ROOTS."""

    code = "outside_import_roots"


def import_roots() -> list[Path]:
    """The folders API imports may read (setting FACECURATOR_IMPORT_ROOTS), as real paths."""
    return [Path(os.path.realpath(root)) for root in settings.FACECURATOR_IMPORT_ROOTS if str(root).strip()]


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def import_path_check(*, path: str | Path, kind: str = "folder") -> Path:
    """The real path of a server ``path`` an API import may read, or a 400 that says why not.

    The path must be absolute and, once every symlink is resolved, lie inside one of the import
    roots (so ``/etc``, ``/proc/self/environ`` or a link inside a root that points out are
    refused); then it must be a folder (``kind="folder"``) or a regular file (``kind="file"``).
    Whether a path outside the roots exists is never told.
    """
    given = str(path)
    if not Path(given).is_absolute():
        raise InvalidTransition(f"'{given}': give an absolute path on the server.")
    real = Path(os.path.realpath(given))
    roots = import_roots()
    if not any(_inside(real, root) for root in roots):
        allowed = ", ".join(str(root) for root in roots) or "none configured"
        raise OutsideImportRoots(
            f"'{given}' is outside the folders imports may read ({allowed}; setting FACECURATOR_IMPORT_ROOTS). "
            "Copy the files into one of them."
        )
    if kind == "folder" and not real.is_dir():
        raise InvalidTransition(f"'{given}' is not a folder on the server.")
    if kind == "file" and not real.is_file():
        raise InvalidTransition(f"'{given}' is not a file on the server.")
    return real


def faces_import_start(
    *,
    root: str,
    cropped: bool = False,
    role: str = Identity.Role.CANDIDATE,
    popularity_csv: str | None = None,
    user: Actor = None,
) -> Job:
    """Check a server-side face folder (and popularity CSV) and start ``media.import_faces`` on it.

    Both paths must lie inside the import roots (:func:`import_path_check`); the worker checks
    them again before reading, and skips files linked from outside the folder.
    """
    folder = import_path_check(path=root, kind="folder")
    if role not in Identity.Role.values:
        raise InvalidTransition(f"Unknown role '{role}'; expected vip or candidate.")
    popularity = str(import_path_check(path=popularity_csv, kind="file")) if popularity_csv else ""
    if popularity:
        popularity_read_csv(path=popularity)  # refuse a malformed file now, not in the job
    params = {"root": str(folder), "cropped": cropped, "role": role, "popularity_csv": popularity}
    return job_start(kind="media.import_faces", params=params, user=user)


def faces_import_confined(
    *, params: dict[str, Any], user: Actor = None, progress: Progress | None = None
) -> dict[str, Any]:
    """The ``media.import_faces`` job: the import :func:`faces_import_start` queued, its paths
    checked against the import roots again (the roots may have changed since it was queued)."""
    root = import_path_check(path=params["root"], kind="folder")
    popularity_csv = params.get("popularity_csv")
    popularity = (
        popularity_read_csv(path=import_path_check(path=popularity_csv, kind="file")) if popularity_csv else None
    )
    return faces_import_folder(
        root=root,
        cropped=bool(params.get("cropped")),
        role=params.get("role", Identity.Role.CANDIDATE),
        popularity=popularity,
        user=user,
        progress=progress,
        confined=True,
    )


def _identity_folder(entry: FolderEntry) -> str:
    """The identity folder of an entry that has one (the importers get only those)."""
    if entry.identity is None:
        raise ValueError(f"{entry.relative} is not inside an identity folder")
    return entry.identity


def _crops_import(
    *, entries: list[FolderEntry], by_name: dict[str, Identity], dedupe: NearDuplicates, progress: Progress | None
) -> tuple[list[FileOutcome], list[int]]:
    """Aligned crops: hash, skip known ones, decode, embed in batches, write each batch in one transaction."""
    import cv2

    size = int(settings.FACECURATOR_CROP_SIZE)
    outcomes: list[FileOutcome] = []
    face_ids: list[int] = []
    seen: dict[str, str] = {}
    for start in range(0, len(entries), CROP_BATCH):
        batch = entries[start : start + CROP_BATCH]
        loaded: list[tuple[FolderEntry, bytes, str]] = []
        for entry in batch:
            try:
                data = entry.path.read_bytes()
                upload_check_size(name=entry.relative, size=len(data))
            except OSError as exc:
                outcomes.append(
                    FileOutcome(
                        name=entry.relative,
                        status="error",
                        code="unreadable",
                        error=f"{entry.relative}: {exc.strerror or exc}",
                    )
                )
                continue
            except IngestError as exc:
                outcomes.append(FileOutcome.failed(entry.relative, exc))
                continue
            loaded.append((entry, data, hashlib.sha256(data).hexdigest()))
        known = dict(
            Face.objects.filter(content_sha256__in=[sha for _, _, sha in loaded], source=Face.Source.CROP).values_list(
                "content_sha256", "id"
            )
        )
        crops, drafts = [], []
        for entry, data, sha in loaded:
            if sha in known or sha in seen:
                where = f"face {known[sha]}" if sha in known else seen[sha]
                outcomes.append(
                    FileOutcome(
                        name=entry.relative, status="duplicate", face=known.get(sha), error=f"same bytes as {where}"
                    )
                )
                continue
            try:
                image = image_decode(data, entry.relative)
            except IngestError as exc:
                outcomes.append(FileOutcome.failed(entry.relative, exc))
                continue
            seen[sha] = entry.relative
            reencode = image.shape[:2] != (size, size) or not data.startswith(b"\xff\xd8")
            if image.shape[:2] != (size, size):
                image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            crops.append(image)
            drafts.append(
                FaceDraft(
                    crop=jpeg_encode(image) if reencode else data,
                    embedding=None,
                    phash=crop_phash(image),
                    group_key=f"crop:{sha}",
                    source=Face.Source.CROP,
                    content_sha256=sha,
                    identity_id=by_name[_identity_folder(entry)].pk,
                    source_path=entry.relative,
                    crop_name=f"{sha[:2]}/{sha[:16]}.jpg",
                )
            )
        if drafts:
            vectors = np.asarray(face_pipeline().embed_crops(crops), dtype=np.float32)
            for draft, vector in zip(drafts, vectors, strict=True):
                draft.embedding = vector
            try:
                faces, drafts_written, raced = _crops_write(drafts=drafts, dedupe=dedupe)
            except StorageFull as exc:  # the batch is rolled back, its stored crops deleted: each file says so
                outcomes += [FileOutcome.failed(d.source_path, exc) for d in drafts]
                for draft in drafts:
                    seen.pop(draft.content_sha256, None)
                faces, drafts_written, raced = [], [], {}
            face_ids += [f.pk for f in faces]
            outcomes += [
                FileOutcome(name=d.source_path, status="imported", face=f.pk, faces=1)
                for d, f in zip(drafts_written, faces, strict=True)
            ]
            outcomes += [
                FileOutcome(
                    name=d.source_path,
                    status="duplicate",
                    face=raced[d.content_sha256],
                    error=f"same bytes as face {raced[d.content_sha256]} (imported meanwhile)",
                )
                for d in drafts
                if d.content_sha256 in raced
            ]
        if progress:
            done = min(start + CROP_BATCH, len(entries))
            progress(0.98 * done / max(len(entries), 1), f"{done}/{len(entries)} crops")
    return outcomes, face_ids


def _crops_write(
    *, drafts: list[FaceDraft], dedupe: NearDuplicates
) -> tuple[list[Face], list[FaceDraft], dict[str, int]]:
    """Write a batch of crop drafts in one transaction; returns the faces, the drafts they came
    from, and {sha256: face id} of crops another import stored since this one checked.

    Such a crop is what the unique constraint on a crop's ``content_sha256`` refuses (two
    imports of one file at once): the batch is rolled back (its files deleted) and written again
    without it, and it is reported as the duplicate it is, never as a failure.
    """
    raced: dict[str, int] = {}
    while drafts:
        try:
            with files_kept_only_on_success() as written, transaction.atomic():
                return faces_write(drafts=drafts, written=written, dedupe=dedupe), drafts, raced
        except IntegrityError:
            stored = dict(
                Face.objects.filter(
                    content_sha256__in=[d.content_sha256 for d in drafts], source=Face.Source.CROP
                ).values_list("content_sha256", "id")
            )
            if not stored:
                raise  # some other constraint: a real error
            raced.update(stored)
            drafts = [d for d in drafts if d.content_sha256 not in stored]
            for draft in drafts:  # near-duplicate links pointed into the old batch: find them again
                draft.duplicate_of_id = draft.duplicate_of_draft = None
                draft.group_key = f"crop:{draft.content_sha256}"
    return [], [], raced


def _images_import(
    *,
    entries: list[FolderEntry],
    by_name: dict[str, Identity],
    dedupe: NearDuplicates,
    user: Actor,
    progress: Progress | None,
) -> tuple[list[FileOutcome], list[int]]:
    """Uncropped images: each becomes a photo hinted with its folder's identity, then detection."""
    outcomes: list[FileOutcome] = []
    face_ids: list[int] = []
    references: dict = {}
    batch = 64
    for start in range(0, len(entries), batch):
        to_process: list[int] = []
        for entry in entries[start : start + batch]:
            try:
                with open(entry.path, "rb") as handle:
                    photo = photo_store(
                        name=entry.relative,
                        fileobj=File(handle, name=entry.relative),
                        identity=by_name[_identity_folder(entry)],
                        user=user,
                    )
            except OSError as exc:
                outcomes.append(
                    FileOutcome(
                        name=entry.relative,
                        status="error",
                        code="unreadable",
                        error=f"{entry.relative}: {exc.strerror or exc}",
                    )
                )
                continue
            except IngestError as exc:
                pending = (
                    exc.code == "duplicate"
                    and Photo.objects.filter(pk=exc.extra["photo"], status=ProcessingStatus.PENDING).exists()
                )
                if pending:  # stored by a run that stopped before detection: finish it now
                    to_process.append(exc.extra["photo"])
                    continue
                outcome = FileOutcome.failed(entry.relative, exc)
                if exc.code == "duplicate":
                    outcome.status = "duplicate"
                outcomes.append(outcome)
                continue
            to_process.append(photo.pk)
        more, ids = photos_detect(photo_ids=to_process, dedupe=dedupe, references=references)
        outcomes += more
        face_ids += ids
        if progress:
            done = min(start + batch, len(entries))
            progress(0.98 * done / max(len(entries), 1), f"{done}/{len(entries)} images")
    return outcomes, face_ids
