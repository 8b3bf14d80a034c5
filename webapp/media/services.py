"""Writes on photos, videos and imported face folders: ingestion, in one place.

Every way faces come in (photo upload, face-folder import, video upload, the demo) runs through
the functions below, so they all behave alike:

- a file is checked (size, decodability, pixel count) and stored through Django's default
  storage *before* any row refers to it; if writing its rows fails, the stored files are deleted;
- exact duplicates (same bytes) are never imported twice: ``Photo.sha256``, ``Video.sha256`` and
  ``Face.content_sha256`` for imported crops;
- faces are detected and embedded in batches, and all rows of one source (a photo, a video, a
  batch of crops) are written with ``bulk_create`` in one transaction;
- near duplicates (perceptual hash within N bits, or embedding cosine above a threshold via the
  similarity index) point at the face they duplicate and adopt its group, so they share a split;
- each face's split is ``split_for_group(group_key)``: ``photo:<id>``, ``video:<id>``,
  ``crop:<sha256>``;
- a bad file gives a per-file error (``FileOutcome``) and the rest of the batch goes on.

The ``ml`` modules (OpenCV models, PyAV) are imported lazily: the web process only loads them
when it really processes media.
"""
from __future__ import annotations

import csv
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from webapp.core.exceptions import DomainError, InvalidTransition, NotFound, PayloadTooLarge
from webapp.core.models import Job
from webapp.core.services import job_send, job_start, text_without_paths
from webapp.faces.models import Face
from webapp.identities.models import Identity
from webapp.identities.services import identities_get_or_create, identity_require_active

from .models import Frame, Photo, ProcessingStatus, Video

logger = logging.getLogger(__name__)

Progress = Callable[[float, str], None]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
CROP_BATCH = 256  # crops embedded and written per transaction
VIDEO_BATCH = 8  # frames detected and embedded per pipeline call (at least the detector's own batch: 32 on a GPU)


# --------------------------------------------------------------------------------------------
# Per-file errors and outcomes
# --------------------------------------------------------------------------------------------
class IngestError(DomainError):
    """One file that cannot be ingested. ``code`` says why; the rest of a batch goes on."""

    def __init__(self, message: str, *, code: str = "invalid", extra: dict | None = None):
        super().__init__(message, extra=extra)
        self.code = code


class TooManyFiles(DomainError):
    """An upload request with more files than one request may carry (400)."""

    code = "too_many_files"


@dataclass
class FileOutcome:
    """What happened to one file of a batch: ``accepted``, ``imported``, ``duplicate`` or ``error``."""

    name: str
    status: str
    code: str = ""
    error: str = ""
    photo: int | None = None
    video: int | None = None
    face: int | None = None
    faces: int = 0

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status}
        for key in ("code", "error", "photo", "video", "face"):
            if getattr(self, key) not in ("", None):
                data[key] = getattr(self, key)
        if self.status == "imported" or self.faces:
            data["faces"] = self.faces
        return data

    @classmethod
    def failed(cls, name: str, exc: IngestError) -> FileOutcome:
        return cls(name=name, status="error", code=exc.code, error=exc.message,
                   photo=exc.extra.get("photo"), video=exc.extra.get("video"), face=exc.extra.get("face"))


def _summary(outcomes: list[FileOutcome], **extra: Any) -> dict[str, Any]:
    """A job result: counts by status, faces created, every per-file error (up to 1,000) and the
    first 500 other outcomes."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    errors = [o.as_dict() for o in outcomes if o.status == "error"]
    others = [o.as_dict() for o in outcomes if o.status != "error"]
    return {
        "files": len(outcomes), **{status: counts.get(status, 0) for status in ("imported", "duplicate", "error")},
        "faces_created": sum(o.faces for o in outcomes), **extra,
        "errors": errors[:1000], "outcomes": others[:500],
        **({"truncated": True} if len(errors) > 1000 or len(others) > 500 else {}),
    }


# --------------------------------------------------------------------------------------------
# Files: checks, hashing, storage writes that are undone on failure
# --------------------------------------------------------------------------------------------
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
    return TooManyFiles(f"At most {limit} files per upload request (setting FACECURATOR_MAX_UPLOAD_FILES); "
                        "send the others in another request.")


def _sha256_file(fileobj) -> str:
    digest = hashlib.sha256()
    fileobj.seek(0)
    for chunk in iter(lambda: fileobj.read(1 << 20), b""):
        digest.update(chunk)
    fileobj.seek(0)
    return digest.hexdigest()


class WrittenFiles:
    """Storage names written for rows not yet committed; ``discard()`` deletes them again."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def save(self, name: str, content) -> str:
        if isinstance(content, (bytes, bytearray)):
            content = ContentFile(bytes(content))
        stored = default_storage.save(name, content)
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
def _files_kept_only_on_success() -> Iterator[WrittenFiles]:
    written = WrittenFiles()
    try:
        yield written
    except BaseException:
        written.discard()
        raise


@contextmanager
def _local_copy(storage_name: str, suffix: str) -> Iterator[str]:
    """A local file with a stored file's bytes (PyAV needs a path; storage may be S3)."""
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    try:
        with handle, default_storage.open(storage_name, "rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                handle.write(chunk)
        yield handle.name
    finally:
        os.unlink(handle.name)


def _read_stored(storage_name: str) -> bytes:
    with default_storage.open(storage_name, "rb") as handle:
        return handle.read()


# --------------------------------------------------------------------------------------------
# Images and faces: thin adapters over ml/
# --------------------------------------------------------------------------------------------
def _image_decode(data: bytes, name: str) -> np.ndarray:
    """Decode an image (RGB uint8) or raise IngestError with a message a person can act on."""
    from ml import images

    try:
        return images.load_image(data, max_pixels=settings.FACECURATOR_MAX_IMAGE_PIXELS)
    except images.ImageDecodeError as exc:
        raise IngestError(f"{name}: {exc}", code=getattr(exc, "code", "corrupt")) from exc


def _image_probe(data: bytes, name: str):
    """Format and size from the header (no decoding), or IngestError like :func:`_image_decode`."""
    from ml import images

    try:
        return images.probe_image(data, max_pixels=settings.FACECURATOR_MAX_IMAGE_PIXELS)
    except images.ImageDecodeError as exc:
        raise IngestError(f"{name}: {exc}", code=getattr(exc, "code", "corrupt")) from exc


_PIPELINE = None


def face_pipeline():
    """The detector + embedder configured in settings, built once per process."""
    global _PIPELINE
    if _PIPELINE is None:
        from ml.faces import build_pipeline

        _PIPELINE = build_pipeline(
            detector=settings.FACECURATOR_FACE_DETECTOR,
            embedder=settings.FACECURATOR_FACE_EMBEDDER,
            crop_size=settings.FACECURATOR_CROP_SIZE,
            runtime=settings.FACECURATOR_FACE_RUNTIME,
            device=settings.FACECURATOR_FACE_DEVICE,
            threads=settings.FACECURATOR_FACE_THREADS,
        )
    return _PIPELINE


def _embedding_model_name() -> str:
    from webapp.faces.index import embedding_model

    return embedding_model()


def _jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    from ml.images import encode_jpeg

    return encode_jpeg(image, quality=quality)


def _phash(image: np.ndarray) -> int:
    """The crop's 64-bit perceptual hash, signed (what a BigIntegerField stores)."""
    from ml.hashing import perceptual_hash

    return int(perceptual_hash(image))


def face_split(group_key: str) -> str:
    """The split of a group, by the one split rule and the configured seed and proportions."""
    from ml.splits import split_for_group

    return split_for_group(
        group_key, seed=settings.FACECURATOR_SPLIT_SEED, proportions=tuple(settings.FACECURATOR_SPLIT_PROPORTIONS)
    )


# --------------------------------------------------------------------------------------------
# Face rows: drafts, near-duplicate linking, bulk writes
# --------------------------------------------------------------------------------------------
@dataclass
class FaceDraft:
    """A face about to be written; ``crop`` is the JPEG to store."""

    crop: bytes
    embedding: np.ndarray | None
    phash: int | None
    group_key: str
    source: str
    content_sha256: str = ""
    identity_id: int | None = None
    box: list | None = None
    landmarks: list | None = None
    detector_score: float | None = None
    quality: float | None = None
    photo_id: int | None = None
    frame_index: int | None = None  # a video face: which sampled frame (resolved to frame_id on write)
    video_id: int | None = None
    source_path: str = ""
    duplicate_of_id: int | None = None
    duplicate_of_draft: int | None = None  # an earlier draft of the same batch
    crop_name: str = "face.jpg"


class NearDuplicates:
    """Links each new face to an earlier face it nearly duplicates, and makes it adopt that group.

    A new face nearly duplicates an earlier one (already stored, or written earlier in this job,
    or earlier in the same batch) when either

    - their embeddings' cosine is at least ``FACECURATOR_NEAR_DUPLICATE_COSINE`` (searched in the
      similarity index), or
    - their perceptual hashes differ in at most ``FACECURATOR_NEAR_DUPLICATE_PHASH_BITS`` bits
      *and*, when both have embeddings, the embeddings agree it is the same person (cosine at
      least the embedder's match threshold). On aligned crops pHash alone is not enough: among
      2,668 glint24 crops, 2 of the 90 pairs within 4 bits were different people (Obama and
      Simon Cowell, cosine 0.17 and 0.20), while every pair at cosine >= 0.9 was the same person.

    A match points at the root of its chain (a face that duplicates nothing): chains stay one
    link long, and the whole family shares the root's group, hence its split.
    """

    MAX_HASH_CANDIDATES = 5

    def __init__(self, *, phash_bits: int | None = None, cosine: float | None = None,
                 same_person: float | None = None):
        from webapp.faces.index import embedding_match_threshold, index_load

        self.phash_bits = settings.FACECURATOR_NEAR_DUPLICATE_PHASH_BITS if phash_bits is None else phash_bits
        self.cosine = settings.FACECURATOR_NEAR_DUPLICATE_COSINE if cosine is None else cosine
        self.same_person = embedding_match_threshold() if same_person is None else same_person
        pairs = list(Face.objects.exclude(phash=None).values_list("id", "phash").iterator(chunk_size=10_000))
        self._hash_ids = np.array([pk for pk, _ in pairs], dtype=np.int64)
        self._hashes = np.array([h for _, h in pairs], dtype=np.int64).view(np.uint64)
        self._index = index_load()  # a private copy: faces of this job are added as they are written
        self._vectors: dict[int, np.ndarray | None] = {}
        self._root_group: dict[int, tuple[int, str]] = {}

    # -- matching ---------------------------------------------------------------------------
    def link(self, drafts: list[FaceDraft]) -> int:
        """Set ``duplicate_of`` (or ``duplicate_of_draft``) and the adopted ``group_key`` on each
        draft that nearly duplicates an earlier face; returns how many do."""
        if not drafts:
            return 0
        stored: list[list[int]] = [[] for _ in drafts]  # candidate stored face ids, best first
        earlier: list[list[int]] = [[] for _ in drafts]  # candidate earlier drafts of this batch
        hashes = np.array([d.phash if d.phash is not None else 0 for d in drafts], dtype=np.int64).view(np.uint64)
        hashed = [i for i, d in enumerate(drafts) if d.phash is not None]
        if self.phash_bits >= 0:
            for i in hashed:
                if self._hashes.size:
                    distances = np.bitwise_count(self._hashes ^ hashes[i])
                    close = np.flatnonzero(distances <= self.phash_bits)
                    close = close[np.argsort(distances[close], kind="stable")][: self.MAX_HASH_CANDIDATES]
                    stored[i] += [int(pk) for pk in self._hash_ids[close]]
                before = [j for j in hashed if j < i]
                if before:
                    distances = np.bitwise_count(hashes[before] ^ hashes[i])
                    earlier[i] += [before[k] for k in np.argsort(distances, kind="stable")
                                   if distances[k] <= self.phash_bits][: self.MAX_HASH_CANDIDATES]
        self._load_vectors({pk for ids in stored for pk in ids})
        matched_stored: list[int | None] = [None] * len(drafts)
        matched_earlier: list[int | None] = [None] * len(drafts)
        for i, draft in enumerate(drafts):
            matched_stored[i] = next((pk for pk in stored[i]
                                      if self._same_person(draft.embedding, self._vectors.get(pk))), None)
            if matched_stored[i] is None:
                matched_earlier[i] = next((j for j in earlier[i]
                                           if self._same_person(draft.embedding, drafts[j].embedding)), None)
        with_vectors = [i for i, d in enumerate(drafts) if d.embedding is not None]
        if with_vectors and self.cosine <= 1.0:
            vectors = np.stack([drafts[i].embedding for i in with_vectors]).astype(np.float32)
            if self._index is not None and len(self._index):
                ids, sims = self._index.search(vectors, 1)
                for row, i in enumerate(with_vectors):
                    if matched_stored[i] is None and matched_earlier[i] is None and sims.shape[1] \
                            and sims[row, 0] >= self.cosine:
                        matched_stored[i] = int(ids[row, 0])
            similarity = vectors @ vectors.T
            for row, i in enumerate(with_vectors):
                if matched_stored[i] is None and matched_earlier[i] is None and row:
                    best = int(np.argmax(similarity[row, :row]))
                    if similarity[row, best] >= self.cosine:
                        matched_earlier[i] = with_vectors[best]
        roots = self._roots({pk for pk in matched_stored if pk is not None})
        linked = 0
        for i, draft in enumerate(drafts):
            if matched_stored[i] is not None and matched_stored[i] in roots:
                draft.duplicate_of_id, draft.group_key = roots[matched_stored[i]]
                linked += 1
            elif matched_earlier[i] is not None:
                first = drafts[matched_earlier[i]]
                if first.duplicate_of_id is not None:
                    draft.duplicate_of_id = first.duplicate_of_id
                else:
                    draft.duplicate_of_draft = (first.duplicate_of_draft if first.duplicate_of_draft is not None
                                                else matched_earlier[i])
                draft.group_key = first.group_key
                linked += 1
        return linked

    def _same_person(self, a: np.ndarray | None, b: np.ndarray | None) -> bool:
        return a is None or b is None or float(np.dot(a, b)) >= self.same_person

    def _load_vectors(self, face_ids: set[int]) -> None:
        missing = [pk for pk in face_ids if pk not in self._vectors]
        if missing:
            rows = dict(Face.objects.filter(pk__in=missing).values_list("id", "embedding"))
            for pk in missing:
                blob = rows.get(pk)
                self._vectors[pk] = None if blob is None else np.frombuffer(bytes(blob), dtype=np.float32)

    def _roots(self, face_ids: set[int]) -> dict[int, tuple[int, str]]:
        """For each matched face: the root of its duplicate chain and that root's group (one query)."""
        missing = face_ids - set(self._root_group)
        if missing:
            rows = Face.objects.filter(pk__in=missing).values_list(
                "id", "group_key", "duplicate_of_id", "duplicate_of__group_key"
            )
            for pk, group_key, root_id, root_group in rows:
                self._root_group[pk] = (root_id, root_group) if root_id else (pk, group_key)
        return {pk: self._root_group[pk] for pk in face_ids if pk in self._root_group}

    # -- memory of what this job wrote --------------------------------------------------------
    def remember(self, faces: list[Face], drafts: list[FaceDraft]) -> None:
        """Make faces just written matchable by the rest of this job."""
        hashed = [(f.pk, d.phash) for f, d in zip(faces, drafts, strict=True) if d.phash is not None]
        if hashed:
            self._hash_ids = np.concatenate([self._hash_ids, np.array([p for p, _ in hashed], dtype=np.int64)])
            self._hashes = np.concatenate(
                [self._hashes, np.array([h for _, h in hashed], dtype=np.int64).view(np.uint64)]
            )
        vectors = [(f.pk, d.embedding) for f, d in zip(faces, drafts, strict=True) if d.embedding is not None]
        if vectors:
            if self._index is None:
                from webapp.faces.index import new_index

                self._index = new_index(len(vectors[0][1]))
            self._index.add(np.array([p for p, _ in vectors], dtype=np.int64),
                            np.stack([v for _, v in vectors]).astype(np.float32))
        for face, draft in zip(faces, drafts, strict=True):
            self._vectors[face.pk] = draft.embedding
            self._root_group[face.pk] = (
                (face.duplicate_of_id, face.group_key) if face.duplicate_of_id else (face.pk, face.group_key)
            )


def faces_write(*, drafts: list[FaceDraft], written: WrittenFiles, frames: dict[int, int] | None = None,
                dedupe: NearDuplicates | None = None) -> list[Face]:
    """Store the crops of ``drafts`` and insert their rows in bulk (call inside a transaction).

    Near duplicates are linked first (when ``dedupe`` is given); each face's split follows its
    (possibly adopted) group. ``frames`` maps a video frame index to its Frame id.
    """
    if not drafts:
        return []
    if dedupe is not None:
        dedupe.link(drafts)
    model = _embedding_model_name()
    faces = []
    for draft in drafts:
        name = written.save(f"faces/{draft.source}/{draft.crop_name}", draft.crop)
        faces.append(Face(
            crop=name, box=draft.box, landmarks=draft.landmarks, detector_score=draft.detector_score,
            quality=draft.quality, source=draft.source, photo_id=draft.photo_id,
            frame_id=frames[draft.frame_index] if frames is not None and draft.frame_index is not None else None,
            video_id=draft.video_id, source_path=draft.source_path[:500], content_sha256=draft.content_sha256,
            phash=draft.phash, group_key=draft.group_key, identity_id=draft.identity_id,
            status=Face.Status.UNVERIFIED, split=face_split(draft.group_key),
            embedding=draft.embedding.astype(np.float32).tobytes() if draft.embedding is not None else None,
            embedding_model=model if draft.embedding is not None else "",
            duplicate_of_id=draft.duplicate_of_id,
        ))
    created = Face.objects.bulk_create(faces, batch_size=1000)
    in_batch = []
    for face, draft in zip(created, drafts, strict=True):
        if draft.duplicate_of_draft is not None:
            face.duplicate_of_id = created[draft.duplicate_of_draft].pk
            in_batch.append(face)
    if in_batch:
        Face.objects.bulk_update(in_batch, ["duplicate_of"], batch_size=1000)
    if dedupe is not None:
        dedupe.remember(created, drafts)
    return created


def _drafts_from_detections(*, results, group_key: str, source: str, crop_prefix: str, **common) -> list[FaceDraft]:
    drafts = []
    for n, result in enumerate(results):
        crop = _jpeg(result.crop)
        drafts.append(FaceDraft(
            crop=crop, embedding=None if result.embedding is None else np.asarray(result.embedding, np.float32),
            phash=_phash(result.crop), group_key=group_key, source=source,
            content_sha256=hashlib.sha256(crop).hexdigest(),
            box=[round(float(v), 1) for v in result.box],
            landmarks=[[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(result.landmarks)],
            detector_score=float(result.score), quality=None if result.quality is None else float(result.quality),
            crop_name=f"{crop_prefix}-{n}.jpg", **common,
        ))
    return drafts


def _index_add(face_ids: list[int]) -> None:
    if face_ids:
        from webapp.faces.index import index_add_faces

        index_add_faces(face_ids=face_ids)


# --------------------------------------------------------------------------------------------
# Identities named by the user
# --------------------------------------------------------------------------------------------
def identity_lookup(*, ref: str | int | None) -> Identity | None:
    """An identity by id or exact name (None for none); merged identities are refused clearly."""
    if ref in (None, ""):
        return None
    text = str(ref).strip()
    identity = (Identity.objects.filter(pk=int(text)).first() if text.isdigit() else None) \
        or Identity.objects.filter(name=text).first()
    if identity is None:
        raise NotFound(f"No identity '{text}' (give its id or exact name).")
    return identity_require_active(identity)


def popularity_read_csv(*, path: str | Path) -> dict[str, int]:
    """``name,rank`` lines (a header line is allowed) → {name: rank}; 1 = most popular.

    Errors name the file and the line and column, never the file's content: the path may be
    anything an admin typed, and echoing what it holds would let the API read any file.
    """
    ranks: dict[str, int] = {}
    line_number = 0
    label = f"Popularity file '{Path(path).name}'"
    if not Path(path).is_file():
        raise InvalidTransition(f"{label} not found on the server.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for line_number, row in enumerate(csv.reader(handle), start=1):
                if not row or not row[0].strip() or row[0].startswith("#"):
                    continue
                if len(row) < 2:
                    raise InvalidTransition(f"{label}, line {line_number}: expected 'name,rank' (2 columns), "
                                            f"found {len(row)}.")
                name, rank = row[0].strip(), row[1].strip()
                if not rank.isdigit():
                    if line_number == 1:
                        continue  # header
                    raise InvalidTransition(f"{label}, line {line_number}, column 2: the rank must be a "
                                            "positive integer.")
                ranks[name] = int(rank)
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        where = f", near line {line_number + 1}" if isinstance(exc, (UnicodeDecodeError, csv.Error)) else ""
        raise InvalidTransition(f"{label}{where}: not a readable UTF-8 CSV file ({type(exc).__name__}).") from None
    return ranks


def identities_set_popularity(*, ranks: dict[str, int]) -> int:
    """Set ``popularity_rank`` (promotion order) for the named identities that exist; returns how many."""
    identities = list(Identity.objects.filter(name__in=list(ranks)))
    for identity in identities:
        identity.popularity_rank = ranks[identity.name]
    Identity.objects.bulk_update(identities, ["popularity_rank"], batch_size=1000)
    return len(identities)


# --------------------------------------------------------------------------------------------
# Photos
# --------------------------------------------------------------------------------------------
@dataclass
class UploadResult:
    outcomes: list[FileOutcome]
    job: Job | None = None
    jobs: list[Job] = field(default_factory=list)  # every job started or sent again (``job`` is the first)

    @property
    def accepted(self) -> int:
        return sum(o.status == "accepted" for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job.pk if self.job else None,
            "accepted": self.accepted,
            "duplicates": sum(o.status == "duplicate" for o in self.outcomes),
            "errors": sum(o.status == "error" for o in self.outcomes),
            "files": [o.as_dict() for o in self.outcomes],
        }


def photo_store(*, name: str, fileobj, identity: Identity | None = None, user=None) -> Photo:
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
    info = _image_probe(data, name)
    with _files_kept_only_on_success() as written:
        stored = written.save(f"photos/{sha256[:2]}/{sha256}{info.suffix}", data)
        try:
            with transaction.atomic():
                return Photo.objects.create(
                    image=stored, original_name=name[:300], sha256=sha256, width=info.width, height=info.height,
                    identity_hint=identity, uploaded_by=user if user and user.is_authenticated else None,
                )
        except IntegrityError:
            other = Photo.objects.filter(sha256=sha256).values_list("pk", flat=True).first()
            raise IngestError(f"{name}: already uploaded as photo {other}.", code="duplicate",
                              extra={"photo": other}) from None


def _stranded_job(row: Photo | Video | None) -> tuple[bool, Job | None]:
    """Whether a stored photo or video still waits for a job that will never run, and that job.

    Pending with a job that ended (failed, cancelled) before processing it, or with no job for
    longer than FACECURATOR_JOB_RESEND_AFTER_SECONDS (a fresh row gets its job in a moment): it
    needs a new job. Pending with a job the broker never took (queued, no task id): that job is
    sent again (sending a job twice is harmless). Anything else (processed, or a job that is
    queued or running) is a duplicate.
    """
    from datetime import timedelta

    from django.utils import timezone

    if row is None or row.status != ProcessingStatus.PENDING:
        return False, None
    job = row.job
    settled = row.created_at < timezone.now() - timedelta(seconds=float(settings.FACECURATOR_JOB_RESEND_AFTER_SECONDS))
    if (job is None and settled) or (job is not None and job.is_finished):
        return True, None
    if job is None:
        return False, None
    if job.state == Job.State.QUEUED and not job.celery_task_id and job.queue != "here":
        return True, job
    return False, None


def _upload_refused(name: str, exc: Exception) -> FileOutcome:
    """A file whose storing failed unexpectedly: a per-file error (logged), and the batch goes on."""
    logger.exception("upload of %r failed", name)
    return FileOutcome(name=name, status="error", code="internal",
                       error=f"{name}: could not be stored ({type(exc).__name__}, logged on the server).")


def photos_upload(*, files: Iterable, identity: Identity | None = None, user=None,
                  start_job: bool = True) -> UploadResult:
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
                known = Photo.objects.select_related("job").filter(pk=exc.extra.get("photo")).first()
                stranded, unsent = _stranded_job(known)
                if stranded and start_job:
                    outcome = FileOutcome(name=name, status="accepted", code="requeued", photo=known.pk)
                    if unsent is not None:
                        resend[unsent.pk] = unsent
                    else:
                        photos.append(known)
            outcomes.append(outcome)
            continue
        except Exception as exc:  # noqa: BLE001 - one file's failure must not strand the stored others
            outcomes.append(_upload_refused(name, exc))
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


def photos_start_processing(*, photos: list[Photo], user=None) -> Job:
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
            mean = np.stack([np.frombuffer(bytes(r), dtype=np.float32) for r in rows]).mean(axis=0)
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
    with its error and the others go on. New faces are added to the similarity index.
    """
    outcomes, face_ids = _photos_detect(photo_ids=photo_ids, progress=progress, dedupe=NearDuplicates())
    _index_add(face_ids)
    return _summary(outcomes)


def _photos_detect(*, photo_ids: list[int], dedupe: NearDuplicates, progress: Progress | None = None,
                   references: dict | None = None) -> tuple[list[FileOutcome], list[int]]:
    from ml.faces import match_hint

    pipeline = face_pipeline()
    references = {} if references is None else references
    photos = {p.pk: p for p in Photo.objects.filter(pk__in=photo_ids)}
    outcomes: list[FileOutcome] = []
    new_face_ids: list[int] = []
    for n, photo_id in enumerate(photo_ids):
        photo = photos.get(photo_id)
        if photo is None:
            outcomes.append(FileOutcome(name=f"photo {photo_id}", status="error", code="missing",
                                        error=f"photo {photo_id} no longer exists"))
            continue
        if progress:
            progress(n / max(len(photo_ids), 1), f"photo {n + 1}/{len(photo_ids)}: {photo.original_name}")
        if photo.status == ProcessingStatus.DONE:
            outcomes.append(FileOutcome(name=photo.original_name, status="duplicate", photo=photo.pk,
                                        error="already processed"))
            continue
        try:
            image = _image_decode(_read_stored(photo.image.name), photo.original_name)
            results = pipeline.process(image)
            if not results:
                raise IngestError(f"{photo.original_name}: no face found in this photo.", code="no_face")
            hinted = None
            if photo.identity_hint_id:
                hinted = match_hint(results, reference=_hint_reference(photo.identity_hint_id, references),
                                    image_shape=image.shape)
            drafts = _drafts_from_detections(
                results=results, group_key=photo.group_key, source=Face.Source.PHOTO,
                crop_prefix=f"photo{photo.pk}", photo_id=photo.pk, source_path=photo.original_name,
            )
            if hinted is not None:
                drafts[hinted].identity_id = photo.identity_hint_id
            with _files_kept_only_on_success() as written, transaction.atomic():
                faces = faces_write(drafts=drafts, written=written, dedupe=dedupe)
                Photo.objects.filter(pk=photo.pk).update(
                    status=ProcessingStatus.DONE, error="", width=image.shape[1], height=image.shape[0]
                )
        except IngestError as exc:
            Photo.objects.filter(pk=photo.pk).update(status=ProcessingStatus.FAILED, error=exc.message)
            outcome = FileOutcome.failed(photo.original_name, exc)
            outcome.photo = photo.pk
            outcomes.append(outcome)
            continue
        if hinted is not None:
            references.pop(photo.identity_hint_id, None)  # the new face refines the reference
        new_face_ids += [f.pk for f in faces]
        outcomes.append(FileOutcome(name=photo.original_name, status="imported", photo=photo.pk, faces=len(faces)))
    return outcomes, new_face_ids


# --------------------------------------------------------------------------------------------
# Videos
# --------------------------------------------------------------------------------------------
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}
_WEBM_CODECS = {"vp8", "vp9", "av1"}


def _video_suffix(info) -> str:
    """The suffix a stored video gets, from the container FFmpeg read (never the uploader's name):
    MP4/MOV/3GP as .mp4, Matroska as .webm when its video codec is one WebM allows, else .mkv."""
    demuxers = set(info.container.split(","))
    if "mp4" in demuxers:
        return ".mp4"
    if "matroska" in demuxers:
        return ".webm" if info.codec in _WEBM_CODECS else ".mkv"
    return {"avi": ".avi", "mpeg": ".mpg", "mpegts": ".ts", "asf": ".wmv", "flv": ".flv"}.get(info.container, ".video")


def _video_probe(path: str, name: str):
    """Duration, fps, size, frame count and codec, or IngestError (corrupt, unsupported codec)."""
    from ml import video

    try:
        return video.probe_video(path)
    except video.VideoDecodeError as exc:
        raise IngestError(f"{name}: {exc}", code=getattr(exc, "code", "unsupported_video")) from exc


def video_store(*, name: str, fileobj, user=None) -> Video:
    """Check one video (size, suffix, then a probe of its container and codec), store it, create its row.

    Only the suffixes in ``VIDEO_SUFFIXES`` are accepted, and only the containers in
    :data:`ml.video.VIDEO_DEMUXERS` are read (no playlist or concat list that would make FFmpeg
    read other files or URLs). The file is stored as ``videos/<sha[:2]>/<sha256>.<container>``;
    the uploader's name is kept as data (``original_name``).

    Raises IngestError: empty, too large, ``unsupported_video``, ``duplicate`` (``extra['video']``),
    or a video that cannot be decoded (corrupt, truncated, unsupported codec, not a video).
    """
    size = getattr(fileobj, "size", None)
    if size is None:
        fileobj.seek(0, os.SEEK_END)
        size = fileobj.tell()
        fileobj.seek(0)
    upload_check_size(name=name, size=size)
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise IngestError(
            f"{name}: {'no file suffix' if not suffix else f'{suffix} files are not accepted'}; "
            f"videos must be one of {', '.join(sorted(VIDEO_SUFFIXES))}.", code="unsupported_video",
        )
    sha256 = _sha256_file(fileobj)
    existing = Video.objects.filter(sha256=sha256).values_list("pk", flat=True).first()
    if existing:
        raise IngestError(f"{name}: already uploaded as video {existing}.", code="duplicate", extra={"video": existing})
    if hasattr(fileobj, "temporary_file_path"):  # a large upload Django already spooled to disk
        info = _video_probe(fileobj.temporary_file_path(), name)
    else:
        with tempfile.NamedTemporaryFile(suffix=suffix) as local:
            for chunk in iter(lambda: fileobj.read(1 << 20), b""):
                local.write(chunk)
            local.flush()
            info = _video_probe(local.name, name)
    fileobj.seek(0)
    with _files_kept_only_on_success() as written:
        stored = written.save(f"videos/{sha256[:2]}/{sha256}{_video_suffix(info)}", File(fileobj))
        try:
            with transaction.atomic():
                return Video.objects.create(
                    file=stored, original_name=name[:300], sha256=sha256, duration=info.duration, fps=info.fps,
                    width=info.width, height=info.height, frame_count=info.frame_count, codec=(info.codec or "")[:50],
                    uploaded_by=user if user and user.is_authenticated else None,
                )
        except IntegrityError:
            other = Video.objects.filter(sha256=sha256).values_list("pk", flat=True).first()
            raise IngestError(f"{name}: already uploaded as video {other}.", code="duplicate",
                              extra={"video": other}) from None


def videos_upload(*, files: Iterable, user=None, start_jobs: bool = True) -> UploadResult:
    """Store uploaded videos; each accepted one gets its own ``media.process_video`` job.

    The result's ``job`` is the first video's job; every outcome names its video, and each
    video row links its job. As for photos, a file that fails unexpectedly is a per-file error,
    and a duplicate of a video whose job never ran is ``accepted`` again (code ``requeued``).
    """
    outcomes: list[FileOutcome] = []
    jobs: list[Job] = []
    for upload in files:
        name = getattr(upload, "name", "") or "upload"
        try:
            video = video_store(name=name, fileobj=upload, user=user)
        except IngestError as exc:
            outcome = FileOutcome.failed(name, exc)
            if exc.code == "duplicate":
                outcome.status = "duplicate"
                known = Video.objects.select_related("job").filter(pk=exc.extra.get("video")).first()
                stranded, unsent = _stranded_job(known)
                if stranded and start_jobs:
                    outcome = FileOutcome(name=name, status="accepted", code="requeued", video=known.pk)
                    if unsent is not None:
                        job_send(job=unsent)
                        jobs.append(unsent)
                    else:
                        jobs.append(video_start_processing(video=known, user=user))
            outcomes.append(outcome)
            continue
        except Exception as exc:  # noqa: BLE001 - one file's failure must not strand the stored others
            outcomes.append(_upload_refused(name, exc))
            continue
        outcome = FileOutcome(name=name, status="accepted", video=video.pk)
        if start_jobs:
            jobs.append(video_start_processing(video=video, user=user))
        outcomes.append(outcome)
    return UploadResult(outcomes=outcomes, job=jobs[0] if jobs else None, jobs=jobs)


def video_start_processing(*, video: Video, user=None) -> Job:
    with transaction.atomic():
        job = job_start(kind="media.process_video", params={"video_id": video.pk}, user=user)
        Video.objects.filter(pk=video.pk).update(job=job)
    return job


def video_process(*, video_id: int, progress: Progress | None = None, frames: int | None = None,
                  dedupe: NearDuplicates | None = None) -> dict[str, Any]:
    """Sample evenly spaced frames (``FACECURATOR_VIDEO_FRAMES``, fewer for short videos), store
    them as JPEGs, detect and embed faces on each, and write frames and faces in one transaction.

    All faces get the group ``video:<id>`` (unless they nearly duplicate an earlier face, whose
    group they adopt), so a video never straddles splits. A video already processed is left
    alone; a failure writes no row and deletes the files it stored; files left behind by a worker
    that died mid-way are removed before a new attempt.
    """
    from ml import video as ml_video
    from webapp.core.services import JobCancelled

    video = Video.objects.filter(pk=video_id).first()
    if video is None:
        raise NotFound(f"Video {video_id} no longer exists.")
    if video.status == ProcessingStatus.DONE:
        return {"video": video.pk, "status": "already processed", "frames": video.frames.count(),
                "faces_created": 0, "errors": []}
    wanted = int(frames or settings.FACECURATOR_VIDEO_FRAMES)
    Video.objects.filter(pk=video.pk).update(status=ProcessingStatus.PROCESSING, error="")
    if not Frame.objects.filter(video=video).exists():
        for folder in (f"frames/{video.pk}", f"faces/{Face.Source.FRAME}/{video.pk}"):
            _storage_delete_folder(folder)
    pipeline = face_pipeline().with_max_side(settings.FACECURATOR_VIDEO_MAX_SIDE)
    frames_per_batch = max(VIDEO_BATCH, int(getattr(pipeline.detector, "batch_size", 0)))
    dedupe = dedupe or NearDuplicates()
    expected = max(1, min(wanted, video.frame_count or wanted))
    frame_rows: list[Frame] = []
    drafts: list[FaceDraft] = []

    def detect(batch: list) -> None:
        for sample, results in zip(batch, pipeline.process_batch([s.image for s in batch]), strict=True):
            drafts.extend(_drafts_from_detections(
                results=results, group_key=video.group_key, source=Face.Source.FRAME,
                crop_prefix=f"{video.pk}/f{sample.index:06d}", video_id=video.pk, frame_index=sample.index,
                source_path=f"{video.original_name}@{sample.timestamp:.2f}s",
            ))
        if progress:
            progress(0.95 * len(frame_rows) / expected, f"frame {len(frame_rows)}/{expected}: {len(drafts)} faces")

    try:
        with _files_kept_only_on_success() as written:
            with _local_copy(video.file.name, PurePosixPath(video.file.name).suffix or ".mp4") as path:
                batch: list = []
                try:
                    for sample in ml_video.prefetched(ml_video.sample_frames(path, n=wanted)):
                        name = written.save(f"frames/{video.pk}/{sample.index:06d}.jpg", _jpeg(sample.image, 90))
                        frame_rows.append(Frame(video=video, index=sample.index, timestamp=sample.timestamp,
                                                image=name))
                        batch.append(sample)
                        if len(batch) == frames_per_batch:
                            detect(batch)
                            batch = []
                    detect(batch)
                except ml_video.VideoDecodeError as exc:
                    raise IngestError(f"{video.original_name}: {exc}", code=exc.code) from exc
            if not frame_rows:
                raise IngestError(f"{video.original_name}: no frame could be decoded.", code="corrupt")
            if progress:
                progress(0.96, f"writing {len(frame_rows)} frames and {len(drafts)} faces")
            with transaction.atomic():
                created_frames = Frame.objects.bulk_create(frame_rows, batch_size=1000)
                by_index = {frame.index: frame.pk for frame in created_frames}
                faces = faces_write(drafts=drafts, written=written, frames=by_index, dedupe=dedupe)
                Video.objects.filter(pk=video.pk).update(status=ProcessingStatus.DONE, error="")
    except IngestError as exc:
        Video.objects.filter(pk=video.pk).update(status=ProcessingStatus.FAILED, error=exc.message)
        outcome = FileOutcome.failed(video.original_name, exc)
        outcome.video = video.pk
        return {"video": video.pk, "frames": 0, "faces_created": 0, "errors": [outcome.as_dict()]}
    except JobCancelled:
        Video.objects.filter(pk=video.pk).update(status=ProcessingStatus.PENDING,
                                                 error="Processing was cancelled; start it again to finish.")
        raise
    except BaseException as exc:
        Video.objects.filter(pk=video.pk).update(status=ProcessingStatus.FAILED,
                                                 error=text_without_paths(f"{type(exc).__name__}: {exc}")[:500])
        raise
    _index_add([face.pk for face in faces])
    return {"video": video.pk, "frames": len(frame_rows), "faces_created": len(faces),
            "near_duplicates": sum(face.duplicate_of_id is not None for face in faces),
            "group_key": video.group_key, "splits": sorted({face.split for face in faces}), "errors": []}


def _storage_delete_folder(folder: str) -> None:
    """Delete every file below ``folder`` in storage (leftovers of an interrupted attempt)."""
    from webapp.core.storage import storage_listdir

    dirs, files = storage_listdir(folder)  # not exists(): an object store has no folders
    for name in files:
        default_storage.delete(f"{folder}/{name}")
    for name in dirs:
        _storage_delete_folder(f"{folder}/{name}")


# --------------------------------------------------------------------------------------------
# Face folders: root/<identity name>/<image>
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FolderEntry:
    identity: str | None  # None: a file directly under the root
    path: Path
    relative: str


def folder_scan(*, root: str | Path, identities: Iterable[str] | None = None,
                limit_per_identity: int | None = None) -> list[FolderEntry]:
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
        files = sorted((p for p in child.rglob("*") if p.is_file() and not p.name.startswith(".")),
                       key=lambda p: p.relative_to(child).as_posix())
        for path in files[:limit_per_identity]:
            entries.append(FolderEntry(child.name, path, path.relative_to(root).as_posix()))
    return entries


def faces_import_folder(*, root: str | Path, cropped: bool = False, role: str = Identity.Role.CANDIDATE,
                        popularity: dict[str, int] | None = None, user=None, progress: Progress | None = None,
                        identities: Iterable[str] | None = None,
                        limit_per_identity: int | None = None, confined: bool = False) -> dict[str, Any]:
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
        escaped = [FileOutcome(name=e.relative, status="error", code="outside_import_roots",
                               error=f"{e.relative}: links to a file outside the import folder; not read.")
                   for e, ok in zip(entries, keep, strict=True) if not ok]
        entries = [e for e, ok in zip(entries, keep, strict=True) if ok]
    names = sorted({e.identity for e in entries if e.identity})
    before = set(Identity.objects.filter(name__in=names).values_list("name", flat=True))
    by_name = identities_get_or_create(names=names, role=role)
    ranked = identities_set_popularity(ranks=popularity) if popularity else 0
    outcomes = escaped + [FileOutcome(name=e.relative, status="error", code="no_identity_folder",
                                      error=f"{e.relative}: not inside an identity folder (root/<identity name>/<image>).")
                          for e in entries if e.identity is None]
    entries = [e for e in entries if e.identity is not None]
    dedupe = NearDuplicates()
    if cropped:
        more, face_ids = _crops_import(entries=entries, by_name=by_name, dedupe=dedupe, progress=progress)
    else:
        more, face_ids = _images_import(entries=entries, by_name=by_name, dedupe=dedupe, user=user,
                                        progress=progress)
    outcomes += more
    if progress:
        progress(0.99, "updating the similarity index")
    _index_add(face_ids)
    return _summary(outcomes, root=str(root), cropped=cropped, identities=len(names),
                    identities_created=len(set(names) - before), popularity_ranks_set=ranked)


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


def faces_import_start(*, root: str, cropped: bool = False, role: str = Identity.Role.CANDIDATE,
                       popularity_csv: str | None = None, user=None) -> Job:
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


def faces_import_confined(*, params: dict[str, Any], user=None, progress: Progress | None = None) -> dict[str, Any]:
    """The ``media.import_faces`` job: the import :func:`faces_import_start` queued, its paths
    checked against the import roots again (the roots may have changed since it was queued)."""
    root = import_path_check(path=params["root"], kind="folder")
    popularity_csv = params.get("popularity_csv")
    popularity = (popularity_read_csv(path=import_path_check(path=popularity_csv, kind="file"))
                  if popularity_csv else None)
    return faces_import_folder(root=root, cropped=bool(params.get("cropped")),
                               role=params.get("role", Identity.Role.CANDIDATE), popularity=popularity,
                               user=user, progress=progress, confined=True)


def _crops_import(*, entries: list[FolderEntry], by_name: dict[str, Identity], dedupe: NearDuplicates,
                  progress: Progress | None) -> tuple[list[FileOutcome], list[int]]:
    """Aligned crops: hash, skip known ones, decode, embed in batches, write each batch in one transaction."""
    import cv2

    size = int(settings.FACECURATOR_CROP_SIZE)
    outcomes: list[FileOutcome] = []
    face_ids: list[int] = []
    seen: dict[str, str] = {}
    for start in range(0, len(entries), CROP_BATCH):
        batch = entries[start:start + CROP_BATCH]
        loaded: list[tuple[FolderEntry, bytes, str]] = []
        for entry in batch:
            try:
                data = entry.path.read_bytes()
                upload_check_size(name=entry.relative, size=len(data))
            except OSError as exc:
                outcomes.append(FileOutcome(name=entry.relative, status="error", code="unreadable",
                                            error=f"{entry.relative}: {exc.strerror or exc}"))
                continue
            except IngestError as exc:
                outcomes.append(FileOutcome.failed(entry.relative, exc))
                continue
            loaded.append((entry, data, hashlib.sha256(data).hexdigest()))
        known = dict(Face.objects.filter(content_sha256__in=[sha for _, _, sha in loaded], source=Face.Source.CROP)
                     .values_list("content_sha256", "id"))
        crops, drafts = [], []
        for entry, data, sha in loaded:
            if sha in known or sha in seen:
                where = f"face {known[sha]}" if sha in known else seen[sha]
                outcomes.append(FileOutcome(name=entry.relative, status="duplicate", face=known.get(sha),
                                            error=f"same bytes as {where}"))
                continue
            try:
                image = _image_decode(data, entry.relative)
            except IngestError as exc:
                outcomes.append(FileOutcome.failed(entry.relative, exc))
                continue
            seen[sha] = entry.relative
            reencode = image.shape[:2] != (size, size) or not data.startswith(b"\xff\xd8")
            if image.shape[:2] != (size, size):
                image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            crops.append(image)
            drafts.append(FaceDraft(
                crop=_jpeg(image) if reencode else data, embedding=None, phash=_phash(image),
                group_key=f"crop:{sha}", source=Face.Source.CROP, content_sha256=sha,
                identity_id=by_name[entry.identity].pk, source_path=entry.relative,
                crop_name=f"{sha[:2]}/{sha[:16]}.jpg",
            ))
        if drafts:
            vectors = np.asarray(face_pipeline().embed_crops(crops), dtype=np.float32)
            for draft, vector in zip(drafts, vectors, strict=True):
                draft.embedding = vector
            faces, drafts_written, raced = _crops_write(drafts=drafts, dedupe=dedupe)
            face_ids += [f.pk for f in faces]
            outcomes += [FileOutcome(name=d.source_path, status="imported", face=f.pk, faces=1)
                         for d, f in zip(drafts_written, faces, strict=True)]
            outcomes += [FileOutcome(name=d.source_path, status="duplicate", face=raced[d.content_sha256],
                                     error=f"same bytes as face {raced[d.content_sha256]} (imported meanwhile)")
                         for d in drafts if d.content_sha256 in raced]
        if progress:
            done = min(start + CROP_BATCH, len(entries))
            progress(0.98 * done / max(len(entries), 1), f"{done}/{len(entries)} crops")
    return outcomes, face_ids


def _crops_write(*, drafts: list[FaceDraft], dedupe: NearDuplicates
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
            with _files_kept_only_on_success() as written, transaction.atomic():
                return faces_write(drafts=drafts, written=written, dedupe=dedupe), drafts, raced
        except IntegrityError:
            stored = dict(Face.objects.filter(content_sha256__in=[d.content_sha256 for d in drafts],
                                              source=Face.Source.CROP).values_list("content_sha256", "id"))
            if not stored:
                raise  # some other constraint: a real error
            raced.update(stored)
            drafts = [d for d in drafts if d.content_sha256 not in stored]
            for draft in drafts:  # near-duplicate links pointed into the old batch: find them again
                draft.duplicate_of_id = draft.duplicate_of_draft = None
                draft.group_key = f"crop:{draft.content_sha256}"
    return [], [], raced


def _images_import(*, entries: list[FolderEntry], by_name: dict[str, Identity], dedupe: NearDuplicates,
                   user, progress: Progress | None) -> tuple[list[FileOutcome], list[int]]:
    """Uncropped images: each becomes a photo hinted with its folder's identity, then detection."""
    outcomes: list[FileOutcome] = []
    face_ids: list[int] = []
    references: dict = {}
    batch = 64
    for start in range(0, len(entries), batch):
        to_process: list[int] = []
        for entry in entries[start:start + batch]:
            try:
                with open(entry.path, "rb") as handle:
                    photo = photo_store(name=entry.relative, fileobj=File(handle, name=entry.relative),
                                        identity=by_name[entry.identity], user=user)
            except OSError as exc:
                outcomes.append(FileOutcome(name=entry.relative, status="error", code="unreadable",
                                            error=f"{entry.relative}: {exc.strerror or exc}"))
                continue
            except IngestError as exc:
                pending = exc.code == "duplicate" and Photo.objects.filter(
                    pk=exc.extra.get("photo"), status=ProcessingStatus.PENDING).exists()
                if pending:  # stored by a run that stopped before detection: finish it now
                    to_process.append(exc.extra["photo"])
                    continue
                outcome = FileOutcome.failed(entry.relative, exc)
                if exc.code == "duplicate":
                    outcome.status = "duplicate"
                outcomes.append(outcome)
                continue
            to_process.append(photo.pk)
        more, ids = _photos_detect(photo_ids=to_process, dedupe=dedupe, references=references)
        outcomes += more
        face_ids += ids
        if progress:
            done = min(start + batch, len(entries))
            progress(0.98 * done / max(len(entries), 1), f"{done}/{len(entries)} images")
    return outcomes, face_ids


# --------------------------------------------------------------------------------------------
# Running ingestion in this process (management commands) and the demo data set
# --------------------------------------------------------------------------------------------
def job_run_here(*, kind: str, params: dict, handler: Callable, user=None,
                 echo: Callable[[str], None] | None = None) -> Job:
    """Run an ingestion handler in this process, recorded on a Job row exactly like a worker run.

    Management commands use this so an import from the shell shows in the jobs list with its
    progress and per-file result, without needing a worker. ``echo`` also prints the progress.
    """
    from webapp.core.services import job_execute

    job = Job.objects.create(kind=kind, queue="here", params=params,
                             created_by=user if user and getattr(user, "is_authenticated", False) else None)

    def run(job_row, progress):
        if echo is None:
            return handler(job_row, progress)
        last = {"message": ""}

        def both(fraction: float, message: str = "") -> None:
            progress(fraction, message)
            if message and message != last["message"] and (fraction >= 0.99 or _every_tenth(fraction, last)):
                echo(f"  {fraction:5.0%}  {message}")
            last["message"] = message

        return handler(job_row, both)

    job_execute(job.pk, run)
    job.refresh_from_db()
    return job


def _every_tenth(fraction: float, last: dict) -> bool:
    step = int(fraction * 10)
    if step != last.get("step"):
        last["step"] = step
        return True
    return False


def _demo_overlap_people(data_dir: Path) -> set[str]:
    path = data_dir / "identity_overlap.csv"
    if not path.exists():
        return set()
    with open(path, newline="", encoding="utf-8") as handle:
        return {row["person"].strip() for row in csv.DictReader(handle) if row.get("person")}


def demo_import(*, data_dir: str | Path, quick: bool = False, per_identity: int | None = None, user=None,
                echo: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Import the demo data set through the same services users run; idempotent.

    - ``glint24/``: aligned crops of 24 identities (candidates; popularity = descending image count);
    - ``lfw/known/``: 158 people as candidates (detected, hinted by folder), ranked after glint24;
    - ``lfw/unknown/``: a few hundred photos of unknown people (no identity), leaving out everyone
      in ``identity_overlap.csv`` so nobody becomes a distractor of themselves;
    - ``photos/`` (no hint) and ``videos/``.

    ``quick``: a small subset of each (a few identities, a handful of images, one short video
    sampled at 30 frames) for tests and smoke runs. ``per_identity`` caps the images imported per
    identity (glint24 and LFW known people), so a demo is up in minutes on a CPU.
    """
    data_dir = Path(data_dir)
    summary: dict[str, Any] = {"data": str(data_dir), "quick": quick, "jobs": {}}

    def record(step: str, job: Job) -> None:
        result = job.result or {}
        summary["jobs"][step] = {"job": job.pk, "state": job.state, "faces_created": result.get("faces_created", 0),
                                 "errors": len(result.get("errors", [])), "message": job.message}
        echo(f"{step}: {job.state}, {result.get('faces_created', 0)} faces, "
             f"{len(result.get('errors', []))} per-file errors (job {job.pk})")

    glint = data_dir / "glint24"
    ranks: dict[str, int] = {}
    if glint.is_dir():
        counts = {d.name: sum(1 for p in d.iterdir() if p.is_file()) for d in glint.iterdir() if d.is_dir()}
        order = sorted(counts, key=lambda name: (-counts[name], name))
        ranks = {name: rank for rank, name in enumerate(order, start=1)}
        subset = sorted(counts, key=lambda name: counts[name])[:3] if quick else None
        cap = 6 if quick else per_identity
        params = {"root": str(glint), "cropped": True, "role": "candidate", "demo": True}
        echo(f"glint24: {sum(min(counts[n], cap or counts[n]) for n in (subset or counts))} aligned "
             f"crops of {len(subset or counts)} identities")
        record("glint24", job_run_here(kind="media.import_faces", params=params, user=user, echo=echo,
                                       handler=lambda job, progress: faces_import_folder(
                                           root=glint, cropped=True, role=Identity.Role.CANDIDATE, popularity=ranks,
                                           identities=subset, limit_per_identity=cap,
                                           user=user, progress=progress)))
    known = data_dir / "lfw" / "known"
    if known.is_dir():
        counts = {d.name: sum(1 for p in d.iterdir() if p.is_file()) for d in known.iterdir() if d.is_dir()}
        order = sorted(counts, key=lambda name: (-counts[name], name))
        lfw_ranks = {name: len(ranks) + rank for rank, name in enumerate(order, start=1) if name not in ranks}
        subset = order[-2:] if quick else None
        cap = 3 if quick else per_identity
        echo(f"lfw/known: {sum(min(counts[n], cap or counts[n]) for n in (subset or counts))} photos "
             f"of {len(subset or counts)} people")
        record("lfw_known", job_run_here(kind="media.import_faces", params={"root": str(known), "demo": True},
                                         user=user, echo=echo,
                                         handler=lambda job, progress: faces_import_folder(
                                             root=known, cropped=False, role=Identity.Role.CANDIDATE,
                                             popularity=lfw_ranks, identities=subset,
                                             limit_per_identity=cap, user=user, progress=progress)))
    unknown = data_dir / "lfw" / "unknown"
    if unknown.is_dir():
        overlap = _demo_overlap_people(data_dir)
        people = sorted(d.name for d in unknown.iterdir() if d.is_dir() and d.name not in overlap)
        wanted = 6 if quick else 300
        step = max(1, len(people) // wanted)
        paths = [sorted(p for p in (unknown / name).iterdir() if p.is_file())[0] for name in people[::step][:wanted]]
        echo(f"lfw/unknown: {len(paths)} photos of unknown people ({len(overlap)} overlap people left out)")
        record("lfw_unknown", job_run_here(kind="media.process_photos", params={"root": str(unknown), "demo": True},
                                           user=user, echo=echo,
                                           handler=lambda job, progress: photos_import_paths(
                                               paths=paths, root=data_dir, user=user, progress=progress)))
    photos_dir = data_dir / "photos"
    if photos_dir.is_dir():
        paths = sorted(p for p in photos_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[: 2 if quick else None]
        echo(f"photos: {len(paths)}")
        record("photos", job_run_here(kind="media.process_photos", params={"root": str(photos_dir), "demo": True},
                                      user=user, echo=echo,
                                      handler=lambda job, progress: photos_import_paths(
                                          paths=paths, root=data_dir, user=user, progress=progress)))
    videos_dir = data_dir / "videos"
    if videos_dir.is_dir():
        paths = sorted(p for p in videos_dir.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
        if quick:
            paths = [p for p in paths if p.name == "obama_whcd_podium_b.mp4"] or paths[:1]
        for path in paths:
            echo(f"video {path.name}")
            record(f"video {path.name}", job_run_here(
                kind="media.process_video", params={"path": str(path), "demo": True}, user=user, echo=echo,
                handler=lambda job, progress, path=path: video_import_path(
                    path=path, user=user, progress=progress, frames=30 if quick else None)))
    summary["totals"] = ingest_totals()
    return summary


def photos_import_paths(*, paths: list[Path], root: Path | None = None, identity: Identity | None = None,
                        user=None, progress: Progress | None = None) -> dict[str, Any]:
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
            pending = exc.code == "duplicate" and Photo.objects.filter(
                pk=exc.extra.get("photo"), status=ProcessingStatus.PENDING).exists()
            if pending:
                stored.append(exc.extra["photo"])
                continue
            outcome = FileOutcome.failed(name, exc)
            if exc.code == "duplicate":
                outcome.status = "duplicate"
            outcomes.append(outcome)
    more, face_ids = _photos_detect(photo_ids=stored, dedupe=NearDuplicates(), progress=progress)
    _index_add(face_ids)
    return _summary(outcomes + more)


def video_import_path(*, path: Path, user=None, progress: Progress | None = None,
                      frames: int | None = None) -> dict[str, Any]:
    """Import one video file from the server's disk and process it here (CLI ``import_videos``)."""
    try:
        with open(path, "rb") as handle:
            video = video_store(name=path.name, fileobj=File(handle, name=path.name), user=user)
    except OSError as exc:
        return {"video": None, "faces_created": 0,
                "errors": [{"name": path.name, "status": "error", "code": "unreadable", "error": str(exc)}]}
    except IngestError as exc:
        if exc.code != "duplicate":
            return {"video": None, "faces_created": 0, "errors": [FileOutcome.failed(path.name, exc).as_dict()]}
        video = Video.objects.get(pk=exc.extra["video"])
    return video_process(video_id=video.pk, progress=progress, frames=frames)


def ingest_totals() -> dict[str, Any]:
    """Counts for a summary: identities, faces by source, near duplicates, photos, videos, frames."""
    from django.db.models import Count

    by_source = dict(Face.objects.order_by().values_list("source").annotate(n=Count("id")))
    return {
        "identities": Identity.objects.count(),
        "faces": sum(by_source.values()), "faces_by_source": by_source,
        "unknown_faces": Face.objects.filter(identity__isnull=True).count(),
        "near_duplicates": Face.objects.filter(duplicate_of__isnull=False).count(),
        "photos": Photo.objects.count(), "videos": Video.objects.count(), "frames": Frame.objects.count(),
    }
