"""Photos: storing an upload, starting and running face detection on it, and importing image
files from the server's disk."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.core.files.base import File
from django.db import IntegrityError, transaction

from webapp.core.models import Job
from webapp.core.roles import Actor, recorded_user
from webapp.core.services import job_send, job_start
from webapp.faces.models import Face, embedding_array
from webapp.identities.models import Identity

from ..models import Photo, ProcessingStatus
from .duplicates import NearDuplicates
from .face_rows import drafts_from_detections, faces_write, index_add
from .files import files_kept_only_on_success, stored_read, upload_check_size
from .outcomes import (
    FileOutcome,
    IngestError,
    Progress,
    UploadResult,
    outcomes_summary,
    upload_refused,
    upload_stranded_job,
)
from .pipeline import face_pipeline, image_decode, image_probe

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


def photo_store(*, name: str, fileobj: IO[bytes], identity: Identity | None = None, user: Actor = None) -> Photo:
    """Check one image file, store it, and create its Photo row (pending face detection).

    The image is probed, not decoded (:func:`ml.images.probe_image`: header, pixel count, PNG
    checksums), so an empty, non-image, unsupported, oversized (decompression bomb) or broken
    PNG file is refused in the upload's answer and nothing of it is stored, at about 1% of the
    cost of decoding it in the web process; a JPEG truncated inside its pixels fails in the
    detection job instead. The file is stored as ``photos/<sha[:2]>/<sha256>.<detected format>``:
    its name and type come from its content, never from the uploader, whose file name is kept
    as data (``original_name``). Raises IngestError with ``code`` ``duplicate``
    (``extra['photo']``) for bytes seen before.
    """
    size = getattr(fileobj, "size", None)
    if size is not None:
        upload_check_size(name=name, size=size)  # before reading a huge file into memory
    fileobj.seek(0)
    data = fileobj.read()
    upload_check_size(name=name, size=len(data))
    sha256 = hashlib.sha256(data).hexdigest()
    existing = Photo.objects.filter(sha256=sha256).values_list("pk", flat=True).first()
    if existing:
        raise IngestError(f"{name}: already uploaded as photo {existing}.", code="duplicate", extra={"photo": existing})
    info = image_probe(data, name)
    with files_kept_only_on_success() as written:
        stored = written.save(f"photos/{sha256[:2]}/{sha256}{info.suffix}", data)
        try:
            with transaction.atomic():
                return Photo.objects.create(
                    image=stored,
                    original_name=name[:300],
                    sha256=sha256,
                    width=info.width,
                    height=info.height,
                    identity_hint=identity,
                    uploaded_by=recorded_user(user),
                )
        except IntegrityError:
            other = Photo.objects.filter(sha256=sha256).values_list("pk", flat=True).first()
            raise IngestError(
                f"{name}: already uploaded as photo {other}.", code="duplicate", extra={"photo": other}
            ) from None


def photos_upload(
    *, files: Iterable, identity: Identity | None = None, user: Actor = None, start_job: bool = True
) -> UploadResult:
    """Store uploaded photos and start one face-detection job (``media.process_photos``) for them.

    ``files`` are Django UploadedFiles (or any file objects with ``name``); each gets an outcome:
    ``accepted`` (stored, detection queued), ``duplicate`` or ``error``. Nothing is stored for a
    file that fails its checks, and a file that fails in any other way is a per-file error too:
    the others go on. A duplicate of a photo still pending because its job never ran (the broker
    was down, the job failed or was cancelled) is ``accepted`` again with code ``requeued``: it
    joins the new job, or its unsent job is sent again.
    """
    outcomes: list[FileOutcome] = []
    photos: list[Photo] = []
    resend: dict[int, Job] = {}
    for upload in files:
        name = getattr(upload, "name", "") or "upload"
        try:
            photo = photo_store(name=name, fileobj=upload, identity=identity, user=user)
        except IngestError as exc:
            outcome = FileOutcome.failed(name, exc)
            if exc.code == "duplicate":
                outcome.status = "duplicate"
                known = Photo.objects.select_related("job").filter(pk=exc.extra["photo"]).first()
                stranded, unsent = upload_stranded_job(known)
                if stranded and start_job:
                    assert known is not None  # only a stored photo is stranded
                    outcome = FileOutcome(name=name, status="accepted", code="requeued", photo=known.pk)
                    if unsent is not None:
                        resend[unsent.pk] = unsent
                    else:
                        photos.append(known)
            outcomes.append(outcome)
            continue
        except Exception as exc:  # noqa: BLE001 - one file's failure must not strand the stored others
            outcomes.append(upload_refused(name, exc))
            continue
        photos.append(photo)
        outcomes.append(FileOutcome(name=name, status="accepted", photo=photo.pk))
    jobs = []
    if photos and start_job:
        jobs.append(photos_start_processing(photos=photos, user=user))
    for job in resend.values():
        job_send(job=job)
        jobs.append(job)
    return UploadResult(outcomes=outcomes, job=jobs[0] if jobs else None, jobs=jobs)


def photos_start_processing(*, photos: list[Photo], user: Actor = None) -> Job:
    with transaction.atomic():
        job = job_start(kind="media.process_photos", params={"photo_ids": [p.pk for p in photos]}, user=user)
        Photo.objects.filter(pk__in=[p.pk for p in photos]).update(job=job)
    return job


def _hint_reference(identity_id: int, cache: dict[int, np.ndarray | None]) -> np.ndarray | None:
    """The mean embedding of an identity's faces (up to 200 of them), or None when it has none."""
    if identity_id not in cache:
        rows = list(
            Face.objects.filter(identity_id=identity_id, embedding__isnull=False)
            .exclude(status__in=[Face.Status.NOT_A_FACE, Face.Status.EXCLUDED])
            .order_by("-status", "id")  # "verified" sorts before "unverified": verified faces first
            .values_list("embedding", flat=True)[:200]
        )
        if rows:
            mean = np.stack([embedding_array(r) for r in rows]).mean(axis=0)
            cache[identity_id] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        else:
            cache[identity_id] = None
    return cache[identity_id]


def photos_process(*, photo_ids: list[int], progress: Progress | None = None) -> dict[str, Any]:
    """Detect and embed the faces of stored photos; one transaction per photo (the job
    ``media.process_photos``).

    A photo with an identity hint proposes the one face that best matches the hint (labelled with
    it, unverified); its other faces are unknown people. A photo already processed is skipped, so
    running this twice changes nothing. An unreadable photo or one with no face is marked failed
    with its error and the others go on; one whose faces did not fit on a full disk stays pending. New faces are added to the similarity index.
    """
    outcomes, face_ids = photos_detect(photo_ids=photo_ids, progress=progress, dedupe=NearDuplicates())
    index_add(face_ids)
    return outcomes_summary(outcomes)


def photos_detect(
    *, photo_ids: list[int], dedupe: NearDuplicates, progress: Progress | None = None, references: dict | None = None
) -> tuple[list[FileOutcome], list[int]]:
    from ml.hints import match_hint

    pipeline = face_pipeline()
    references = {} if references is None else references
    photos = {p.pk: p for p in Photo.objects.filter(pk__in=photo_ids)}
    outcomes: list[FileOutcome] = []
    new_face_ids: list[int] = []
    for n, photo_id in enumerate(photo_ids):
        photo = photos.get(photo_id)
        if photo is None:
            outcomes.append(
                FileOutcome(
                    name=f"photo {photo_id}", status="error", code="missing", error=f"photo {photo_id} no longer exists"
                )
            )
            continue
        if progress:
            progress(n / max(len(photo_ids), 1), f"photo {n + 1}/{len(photo_ids)}: {photo.original_name}")
        if photo.status == ProcessingStatus.DONE:
            outcomes.append(
                FileOutcome(name=photo.original_name, status="duplicate", photo=photo.pk, error="already processed")
            )
            continue
        try:
            image = image_decode(stored_read(photo.image.name), photo.original_name)
            results = pipeline.process(image)
            if not results:
                raise IngestError(f"{photo.original_name}: no face found in this photo.", code="no_face")
            hinted = None
            if photo.identity_hint_id:
                hinted = match_hint(
                    results, reference=_hint_reference(photo.identity_hint_id, references), image_shape=image.shape
                )
            drafts = drafts_from_detections(
                results=results,
                group_key=photo.group_key,
                source=Face.Source.PHOTO,
                crop_prefix=f"photo{photo.pk}",
                photo_id=photo.pk,
                source_path=photo.original_name,
            )
            if hinted is not None:
                drafts[hinted].identity_id = photo.identity_hint_id
            with files_kept_only_on_success() as written, transaction.atomic():
                faces = faces_write(drafts=drafts, written=written, dedupe=dedupe)
                Photo.objects.filter(pk=photo.pk).update(
                    status=ProcessingStatus.DONE, error="", width=image.shape[1], height=image.shape[0]
                )
        except IngestError as exc:
            # A full disk is no fault of the photo: it stays pending (with the reason), so sending it
            # again, or rerunning an import, detects it once there is room.
            failed = ProcessingStatus.PENDING if exc.code == "storage_full" else ProcessingStatus.FAILED
            Photo.objects.filter(pk=photo.pk).update(status=failed, error=exc.message)
            outcome = FileOutcome.failed(photo.original_name, exc)
            outcome.photo = photo.pk
            outcomes.append(outcome)
            continue
        if hinted is not None:
            references.pop(photo.identity_hint_id, None)  # the new face refines the reference
        new_face_ids += [f.pk for f in faces]
        outcomes.append(FileOutcome(name=photo.original_name, status="imported", photo=photo.pk, faces=len(faces)))
    return outcomes, new_face_ids


def photos_import_paths(
    *,
    paths: list[Path],
    root: Path | None = None,
    identity: Identity | None = None,
    user: Actor = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Import image files from the server's disk as photos (CLI ``import_photos``), detecting faces here."""
    outcomes: list[FileOutcome] = []
    stored: list[int] = []
    for path in paths:
        name = path.relative_to(root).as_posix() if root and path.is_relative_to(root) else path.name
        try:
            with open(path, "rb") as handle:
                stored.append(photo_store(name=name, fileobj=File(handle, name=name), identity=identity, user=user).pk)
        except OSError as exc:
            outcomes.append(FileOutcome(name=name, status="error", code="unreadable", error=f"{name}: {exc}"))
        except IngestError as exc:
            pending = (
                exc.code == "duplicate"
                and Photo.objects.filter(pk=exc.extra["photo"], status=ProcessingStatus.PENDING).exists()
            )
            if pending:
                stored.append(exc.extra["photo"])
                continue
            outcome = FileOutcome.failed(name, exc)
            if exc.code == "duplicate":
                outcome.status = "duplicate"
            outcomes.append(outcome)
    more, face_ids = photos_detect(photo_ids=stored, dedupe=NearDuplicates(), progress=progress)
    index_add(face_ids)
    return outcomes_summary(outcomes + more)
