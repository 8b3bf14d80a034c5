"""Videos: storing an upload (probed container and codec), sampling its frames and detecting
their faces, and importing a video file from the server's disk."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, TypeVar

from django.conf import settings
from django.core.files.base import File
from django.db import IntegrityError, transaction

from webapp.core.exceptions import NotFound
from webapp.core.models import Job
from webapp.core.roles import Actor, recorded_user
from webapp.core.services import job_send, job_start, text_without_paths
from webapp.faces.models import Face

from ..models import Frame, ProcessingStatus, Video
from .duplicates import NearDuplicates
from .face_rows import FaceDraft, drafts_from_detections, faces_write, index_add
from .files import (
    WrittenFiles,
    file_sha256,
    files_kept_only_on_success,
    storage_delete_folder,
    stored_local_copy,
    upload_check_size,
)
from .outcomes import FileOutcome, IngestError, Progress, UploadResult, upload_refused, upload_stranded_job
from .pipeline import face_pipeline, jpeg_encode

if TYPE_CHECKING:
    from ml.faces import FaceResult
    from ml.video import SampledFrame, VideoInfo

T = TypeVar("T")

VIDEO_BATCH = 8  # frames detected and embedded per pipeline call (at least the detector's own batch: 32 on a GPU)


VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp"}


_WEBM_CODECS = {"vp8", "vp9", "av1"}


def _video_suffix(info: VideoInfo) -> str:
    """The suffix a stored video gets, from the container FFmpeg read (never the uploader's name):
    MP4/MOV/3GP as .mp4, Matroska as .webm when its video codec is one WebM allows, else .mkv."""
    demuxers = set(info.container.split(","))
    if "mp4" in demuxers:
        return ".mp4"
    if "matroska" in demuxers:
        return ".webm" if info.codec in _WEBM_CODECS else ".mkv"
    return {"avi": ".avi", "mpeg": ".mpg", "mpegts": ".ts", "asf": ".wmv", "flv": ".flv"}.get(info.container, ".video")


def _video_probe(path: str, name: str) -> VideoInfo:
    """Duration, fps, size, frame count and codec, or IngestError (corrupt, unsupported codec)."""
    from ml import video

    try:
        return video.probe_video(path)
    except video.VideoDecodeError as exc:
        raise IngestError(f"{name}: {exc}", code=getattr(exc, "code", "unsupported_video")) from exc


def video_store(*, name: str, fileobj: IO[bytes], user: Actor = None) -> Video:
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
            f"videos must be one of {', '.join(sorted(VIDEO_SUFFIXES))}.",
            code="unsupported_video",
        )
    sha256 = file_sha256(fileobj)
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
    with files_kept_only_on_success() as written:
        stored = written.save(f"videos/{sha256[:2]}/{sha256}{_video_suffix(info)}", File(fileobj))
        try:
            with transaction.atomic():
                return Video.objects.create(
                    file=stored,
                    original_name=name[:300],
                    sha256=sha256,
                    duration=info.duration,
                    fps=info.fps,
                    width=info.width,
                    height=info.height,
                    frame_count=info.frame_count,
                    codec=(info.codec or "")[:50],
                    uploaded_by=recorded_user(user),
                )
        except IntegrityError:
            other = Video.objects.filter(sha256=sha256).values_list("pk", flat=True).first()
            raise IngestError(
                f"{name}: already uploaded as video {other}.", code="duplicate", extra={"video": other}
            ) from None


def videos_upload(*, files: Iterable, user: Actor = None, start_jobs: bool = True) -> UploadResult:
    """Store uploaded videos, then start their processing (:func:`videos_start_processing`: a
    ``media.process_video`` job each, or ``media.process_videos`` jobs of up to
    ``FACECURATOR_VIDEOS_PER_BATCH`` videos).

    The result's ``job`` is the first video's job; every outcome names its video, and each
    video row links its job. As for photos, a file that fails unexpectedly is a per-file error,
    and a duplicate of a video whose job never ran is ``accepted`` again (code ``requeued``).
    """
    outcomes: list[FileOutcome] = []
    resent: list[tuple[int, Job]] = []  # (outcome position, job): jobs the broker never took, sent again
    to_start: list[tuple[int, Video]] = []
    for upload in files:
        name = getattr(upload, "name", "") or "upload"
        try:
            video = video_store(name=name, fileobj=upload, user=user)
        except IngestError as exc:
            outcome = FileOutcome.failed(name, exc)
            if exc.code == "duplicate":
                outcome.status = "duplicate"
                known = Video.objects.select_related("job").filter(pk=exc.extra["video"]).first()
                stranded, unsent = upload_stranded_job(known)
                if stranded and start_jobs:
                    assert known is not None  # only a stored video is stranded
                    outcome = FileOutcome(name=name, status="accepted", code="requeued", video=known.pk)
                    if unsent is not None:
                        job_send(job=unsent)
                        resent.append((len(outcomes), unsent))
                    else:
                        to_start.append((len(outcomes), known))
            outcomes.append(outcome)
            continue
        except Exception as exc:  # noqa: BLE001 - one file's failure must not strand the stored others
            outcomes.append(upload_refused(name, exc))
            continue
        if start_jobs:
            to_start.append((len(outcomes), video))
        outcomes.append(FileOutcome(name=name, status="accepted", video=video.pk))
    videos_start_processing(videos=[video for _, video in to_start], user=user)
    started = [(position, video.job) for position, video in to_start if video.job is not None]
    jobs = list({job.pk: job for _, job in sorted(resent + started, key=lambda pair: pair[0])}.values())
    return UploadResult(outcomes=outcomes, job=jobs[0] if jobs else None, jobs=jobs)


def video_start_processing(*, video: Video, user: Actor = None) -> Job:
    """Start one ``media.process_video`` job for one video."""
    with transaction.atomic():
        job = job_start(kind="media.process_video", params={"video_id": video.pk}, user=user)
        Video.objects.filter(pk=video.pk).update(job=job)
    video.job = job
    return job


def video_job_groups(items: Sequence[T]) -> list[list[T]]:
    """``items`` in groups of ``FACECURATOR_VIDEOS_PER_BATCH``: the videos one job processes."""
    size = max(1, int(settings.FACECURATOR_VIDEOS_PER_BATCH))
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def videos_start_processing(*, videos: Sequence[Video], user: Actor = None) -> list[Job]:
    """Start processing stored videos, one job per group of up to ``FACECURATOR_VIDEOS_PER_BATCH``:
    ``media.process_videos`` (``videos_process``) for several, ``media.process_video`` for a video
    alone (all of them when the setting is 1). Each video links the job that processes it."""
    jobs = []
    for group in video_job_groups(videos):
        if len(group) == 1:
            jobs.append(video_start_processing(video=group[0], user=user))
            continue
        ids = [video.pk for video in group]
        with transaction.atomic():
            job = job_start(kind="media.process_videos", params={"video_ids": ids}, user=user)
            Video.objects.filter(pk__in=ids).update(job=job)
        for video in group:
            video.job = job
        jobs.append(job)
    return jobs


class VideoRun:
    """One video being processed: its sampled frames stored as they come, the faces found on them
    kept as drafts, then its frames and faces written in one transaction, or its failure recorded
    with every file it stored deleted. :func:`video_process` runs one; ``videos_process`` several
    at once, their frames detected and embedded together."""

    def __init__(self, video: Video, *, wanted: int) -> None:
        self.video = video
        self.wanted = wanted
        self.expected = max(1, min(wanted, video.frame_count or wanted))
        self.pipeline = face_pipeline().for_video(settings.FACECURATOR_VIDEO_MAX_SIDE)
        # at least the detector's own batch (32 on a GPU); the chunks its switch to 960 is decided on
        self.frames_per_batch = max(VIDEO_BATCH, int(getattr(self.pipeline.detector, "batch_size", 0)))
        self.frame_rows: list[Frame] = []
        self.drafts: list[FaceDraft] = []
        self.processed = 0  # frames whose faces are in ``drafts``
        self.written = WrittenFiles()
        self.closed = False  # written, or its failure recorded

    @classmethod
    def begin(cls, *, video_id: int, frames: int | None = None) -> VideoRun | dict[str, Any]:
        """The run of a video about to be processed (marked processing; files left by a worker that
        died mid-way removed), or the result for a video already processed. NotFound when it is gone."""
        video = Video.objects.filter(pk=video_id).first()
        if video is None:
            raise NotFound(f"Video {video_id} no longer exists.")
        if video.status == ProcessingStatus.DONE:
            return {
                "video": video.pk,
                "status": "already processed",
                "frames": video.frames.count(),
                "faces_created": 0,
                "errors": [],
            }
        Video.objects.filter(pk=video.pk).update(status=ProcessingStatus.PROCESSING, error="")
        if not Frame.objects.filter(video=video).exists():
            for folder in (f"frames/{video.pk}", f"faces/{Face.Source.FRAME}/{video.pk}"):
                storage_delete_folder(folder)
        return cls(video, wanted=int(frames or settings.FACECURATOR_VIDEO_FRAMES))

    def local_copy(self) -> AbstractContextManager[str]:
        """A local file with the stored video's bytes, for the decoder."""
        return stored_local_copy(self.video.file.name, PurePosixPath(self.video.file.name).suffix or ".mp4")

    def decode_error(self, exc: Exception) -> IngestError:
        return IngestError(f"{self.video.original_name}: {exc}", code=getattr(exc, "code", "corrupt"))

    def store_frame(self, sample: SampledFrame) -> None:
        name = self.written.save(f"frames/{self.video.pk}/{sample.index:06d}.jpg", jpeg_encode(sample.image, 90))
        self.frame_rows.append(Frame(video=self.video, index=sample.index, timestamp=sample.timestamp, image=name))

    def stored_batches(self, samples: Iterable[SampledFrame]) -> Iterator[list[SampledFrame]]:
        """The sampled frames, each stored as it comes, in batches of ``frames_per_batch``."""
        batch: list[SampledFrame] = []
        for sample in samples:
            self.store_frame(sample)
            batch.append(sample)
            if len(batch) == self.frames_per_batch:
                yield batch
                batch = []
        if batch:
            yield batch

    def keep_faces(self, samples: list[SampledFrame], per_frame: list[list[FaceResult]]) -> None:
        for sample, results in zip(samples, per_frame, strict=True):
            self.drafts.extend(
                drafts_from_detections(
                    results=results,
                    group_key=self.video.group_key,
                    source=Face.Source.FRAME,
                    crop_prefix=f"{self.video.pk}/f{sample.index:06d}",
                    video_id=self.video.pk,
                    frame_index=sample.index,
                    source_path=f"{self.video.original_name}@{sample.timestamp:.2f}s",
                )
            )
        self.processed += len(samples)

    def write(self, *, dedupe: NearDuplicates) -> list[Face]:
        """Frames and faces in one transaction, the video done; IngestError when no frame decoded."""
        if not self.frame_rows:
            raise IngestError(f"{self.video.original_name}: no frame could be decoded.", code="corrupt")
        with transaction.atomic():
            created_frames = Frame.objects.bulk_create(self.frame_rows, batch_size=1000)
            by_index = {frame.index: frame.pk for frame in created_frames}
            faces = faces_write(drafts=self.drafts, written=self.written, frames=by_index, dedupe=dedupe)
            Video.objects.filter(pk=self.video.pk).update(status=ProcessingStatus.DONE, error="")
        self.closed = True
        return faces

    def failed(self, exc: IngestError) -> FileOutcome:
        """Record a failure of this video's own (its files deleted): failed with the error, or left
        pending when the disk was full, so that sending it again finishes it once there is room."""
        self._discard()
        status = ProcessingStatus.PENDING if exc.code == "storage_full" else ProcessingStatus.FAILED
        Video.objects.filter(pk=self.video.pk).update(status=status, error=exc.message)
        outcome = FileOutcome.failed(self.video.original_name, exc)
        outcome.video = self.video.pk
        return outcome

    def interrupted(self, exc: BaseException) -> None:
        """Record that the job stopped before this video was written (its files deleted): pending
        when cancelled, failed with the error otherwise."""
        from webapp.core.services import JobCancelled

        self._discard()
        if isinstance(exc, JobCancelled):
            status, error = ProcessingStatus.PENDING, "Processing was cancelled; start it again to finish."
        else:
            status, error = ProcessingStatus.FAILED, text_without_paths(f"{type(exc).__name__}: {exc}")[:500]
        Video.objects.filter(pk=self.video.pk).update(status=status, error=error)

    def _discard(self) -> None:
        self.closed = True
        self.drafts.clear()
        self.written.discard()

    def result(self, faces: list[Face]) -> dict[str, Any]:
        return {
            "video": self.video.pk,
            "frames": len(self.frame_rows),
            "faces_created": len(faces),
            "near_duplicates": sum(face.duplicate_of_id is not None for face in faces),
            "group_key": self.video.group_key,
            "splits": sorted({face.split for face in faces}),
            "errors": [],
        }


def video_process(
    *, video_id: int, progress: Progress | None = None, frames: int | None = None, dedupe: NearDuplicates | None = None
) -> dict[str, Any]:
    """Sample evenly spaced frames (``FACECURATOR_VIDEO_FRAMES``, fewer for short videos), store
    them as JPEGs, detect and embed faces on each, and write frames and faces in one transaction.

    All faces get the group ``video:<id>`` (unless they nearly duplicate an earlier face, whose
    group they adopt), so a video never straddles splits. A video already processed is left
    alone; a failure writes no row and deletes the files it stored; files left behind by a worker
    that died mid-way are removed before a new attempt.
    """
    from ml import video as ml_video

    run = VideoRun.begin(video_id=video_id, frames=frames)
    if not isinstance(run, VideoRun):
        return run
    dedupe = dedupe or NearDuplicates()
    try:
        with run.local_copy() as path:
            samples = ml_video.prefetched(ml_video.sample_frames(path, n=run.wanted))
            try:  # frames decoded ahead, next batch detected while the last one is embedded
                for batch, per_frame in run.pipeline.process_batches(run.stored_batches(samples), lambda s: s.image):
                    run.keep_faces(batch, per_frame)
                    if progress:
                        progress(
                            0.95 * len(run.frame_rows) / run.expected,
                            f"frame {len(run.frame_rows)}/{run.expected}: {len(run.drafts)} faces",
                        )
            except ml_video.VideoDecodeError as exc:
                raise run.decode_error(exc) from exc
        if progress:
            progress(0.96, f"writing {len(run.frame_rows)} frames and {len(run.drafts)} faces")
        faces = run.write(dedupe=dedupe)
    except IngestError as exc:
        return {"video": run.video.pk, "frames": 0, "faces_created": 0, "errors": [run.failed(exc).as_dict()]}
    except BaseException as exc:
        run.interrupted(exc)
        raise
    index_add([face.pk for face in faces])
    return run.result(faces)


def video_from_path(*, path: Path, user: Actor = None) -> Video | FileOutcome:
    """A video file on the server's disk stored as a video (or the video it duplicates), or why not."""
    try:
        with open(path, "rb") as handle:
            return video_store(name=path.name, fileobj=File(handle, name=path.name), user=user)
    except OSError as exc:
        return FileOutcome(name=path.name, status="error", code="unreadable", error=str(exc))
    except IngestError as exc:
        if exc.code != "duplicate":
            return FileOutcome.failed(path.name, exc)
        return Video.objects.get(pk=exc.extra["video"])


def video_import_path(
    *, path: Path, user: Actor = None, progress: Progress | None = None, frames: int | None = None
) -> dict[str, Any]:
    """Import one video file from the server's disk and process it here (CLI ``import_videos``)."""
    video = video_from_path(path=path, user=user)
    if isinstance(video, FileOutcome):
        return {"video": None, "faces_created": 0, "errors": [video.as_dict()]}
    return video_process(video_id=video.pk, progress=progress, frames=frames)
