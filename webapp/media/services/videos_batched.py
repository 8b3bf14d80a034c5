"""Several videos in one job (``media.process_videos``, for GPU workers): decoded at once in
background threads, their frames detected and embedded in batches that span videos, each video
stored exactly as :func:`~.videos.video_process` stores it. Which videos share a job:
:func:`~.videos.videos_start_processing` (``FACECURATOR_VIDEOS_PER_BATCH``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from webapp.core.exceptions import NotFound
from webapp.core.models import Job
from webapp.core.roles import Actor

from ..models import Video
from .duplicates import NearDuplicates
from .face_rows import index_add
from .outcomes import FileOutcome, IngestError, Progress, outcomes_summary
from .pipeline import face_pipeline
from .runs import job_run_here
from .videos import VideoRun, video_from_path, video_import_path, video_job_groups

if TYPE_CHECKING:
    from ml.detectors import FaceDetector
    from ml.video import SampledFrame, VideoEnd

logger = logging.getLogger(__name__)

#: Videos decoded at once by one job, each in its own thread (FFmpeg threads within each video
#: too): what keeps a GPU fed (a 720p video decodes at about 1,500 frames/s on 2 cores).
DECODE_THREADS = 2

#: Chunks of frames (``VideoRun.frames_per_batch`` each: 8 on a CPU, 32 on a GPU) detected and
#: embedded together in one step: about one of each video being decoded.
STEP_CHUNKS = DECODE_THREADS

Item = tuple[VideoRun, "SampledFrame"]  # a sampled frame and the run of its video


def videos_process(
    *, video_ids: list[int], progress: Progress | None = None, frames: int | None = None
) -> dict[str, Any]:
    """Process several videos in one pass, each as :func:`~.videos.video_process` would: the same
    frames, faces and rows, the same status and error on each video, one transaction per video,
    written as soon as its last frame is done (the job ``media.process_videos``).

    The videos are decoded ``DECODE_THREADS`` at a time; their frames go through the face
    pipeline in steps of whole per-video chunks (the chunks ``video_process`` detects, so that
    each video switches to 960 px where it would alone), one chunk of each video that has one
    ready: a network batch holds frames of several videos, and a step's faces are embedded in one
    call. Near duplicates are looked up across the job, as if the videos came one after the other.

    A video that cannot be read, decoded or stored fails alone (its files deleted, its error on its
    row and in the result) and the others go on. A failure of the batch itself (the pipeline, the
    database) or a cancel ends every video not yet written as ``video_process`` would end it; the
    videos already written stay done, so running the job again processes only the others.
    """
    outcomes, totals = _videos_process(video_ids=video_ids, progress=progress, frames=frames)
    return outcomes_summary(outcomes, **totals)


def _videos_process(
    *, video_ids: list[int], progress: Progress | None, frames: int | None
) -> tuple[list[FileOutcome], dict[str, int]]:
    batch = _VideosTogether(progress=progress)
    for video_id in dict.fromkeys(video_ids):
        try:
            begun = VideoRun.begin(video_id=video_id, frames=frames)
        except NotFound as exc:
            batch.outcomes.append(
                FileOutcome(name=f"video {video_id}", status="error", code="missing", error=exc.message)
            )
            continue
        if isinstance(begun, VideoRun):
            batch.runs.append(begun)
        else:
            name = Video.objects.filter(pk=video_id).values_list("original_name", flat=True).first() or ""
            batch.outcomes.append(FileOutcome(name=name, status="duplicate", video=video_id, error="already processed"))
    try:
        if batch.runs:
            batch.process()
    except BaseException as exc:
        for run in batch.runs:
            if not run.closed:
                run.interrupted(exc)
        raise
    finally:
        index_add(batch.face_ids)
    return batch.outcomes, batch.totals


class _VideosTogether:
    """The runs of one ``media.process_videos`` job, their outcomes and totals."""

    def __init__(self, *, progress: Progress | None) -> None:
        self.progress = progress
        self.runs: list[VideoRun] = []
        self.outcomes: list[FileOutcome] = []
        self.totals = {"frames": 0, "near_duplicates": 0}
        self.face_ids: list[int] = []
        self.decoding: list[VideoRun] = []  # the runs whose file is decoded, by video number
        self.decoded: set[VideoRun] = set()  # the runs whose every frame came
        self.dedupe: NearDuplicates | None = None

    def process(self) -> None:
        from ml import video as ml_video

        self.dedupe = NearDuplicates()
        with ExitStack() as stack:
            paths = []
            for run in self.runs:
                try:
                    paths.append(stack.enter_context(run.local_copy()))
                except OSError as exc:
                    reason = exc.strerror or type(exc).__name__
                    message = f"{run.video.original_name}: the stored file cannot be read ({reason})."
                    self.fail(run, IngestError(message, code="unreadable"))
                    continue
                self.decoding.append(run)
            events = stack.enter_context(
                closing(ml_video.sample_videos_with_ends(paths, n=self.runs[0].wanted, workers=DECODE_THREADS))
            )
            expected = sum(run.expected for run in self.runs)
            for step, per_chunk in face_pipeline().process_steps(self.steps(events), image=lambda item: item[1].image):
                for (_, chunk), per_frame in zip(step, per_chunk, strict=True):
                    for (run, sample), results in zip(chunk, per_frame, strict=True):
                        if not run.closed:  # a video that failed meanwhile keeps nothing
                            run.keep_faces([sample], [results])
                self.finish_complete()
                if self.progress:
                    done = sum(run.processed for run in self.runs)
                    written = sum(outcome.status == "imported" for outcome in self.outcomes)
                    self.progress(0.97 * done / expected, f"frame {done}/{expected}, {written} videos written")
            self.finish_complete()

    def steps(
        self, events: Iterable[tuple[int, SampledFrame | VideoEnd]]
    ) -> Iterator[list[tuple[FaceDetector, list[Item]]]]:
        """Each video's frames, stored as they come, in the chunks ``video_process`` would detect
        (``frames_per_batch`` frames), each chunk with its video's detector; a step holds every
        ready chunk once they make ``STEP_CHUNKS`` chunks' worth of frames, the rest at the end."""
        from ml.video import VideoEnd

        filling: dict[VideoRun, list[Item]] = {}
        ready: list[tuple[VideoRun, list[Item]]] = []
        enough = STEP_CHUNKS * max(run.frames_per_batch for run in self.runs)

        def failed(run: VideoRun, exc: IngestError) -> None:
            ready[:] = [(other, chunk) for other, chunk in ready if other is not run]
            filling.pop(run, None)
            self.fail(run, exc)

        for number, item in events:
            run = self.decoding[number]
            if run.closed:
                continue
            if isinstance(item, VideoEnd):
                if item.error is not None:
                    failed(run, _decode_failure(run, item.error))
                    continue
                self.decoded.add(run)
                if filling.get(run):
                    ready.append((run, filling.pop(run)))
            else:
                try:
                    run.store_frame(item)
                except IngestError as exc:  # the disk is full
                    failed(run, exc)
                    continue
                filling.setdefault(run, []).append((run, item))
                if len(filling[run]) == run.frames_per_batch:
                    ready.append((run, filling.pop(run)))
            if sum(len(chunk) for _, chunk in ready) >= enough:
                yield [(run.pipeline.detector, chunk) for run, chunk in ready]
                ready.clear()
        if ready:
            yield [(run.pipeline.detector, chunk) for run, chunk in ready]

    def finish_complete(self) -> None:
        """Write every video whose frames all came and were processed."""
        for run in self.decoding:
            if run in self.decoded and not run.closed and run.processed == len(run.frame_rows):
                self.finish(run)

    def finish(self, run: VideoRun) -> None:
        assert self.dedupe is not None  # made by process()
        try:
            faces = run.write(dedupe=self.dedupe)
        except IngestError as exc:
            self.fail(run, exc)
            return
        result = run.result(faces)
        self.totals["frames"] += result["frames"]
        self.totals["near_duplicates"] += result["near_duplicates"]
        self.face_ids += [face.pk for face in faces]
        self.outcomes.append(
            FileOutcome(name=run.video.original_name, status="imported", video=run.video.pk, faces=len(faces))
        )

    def fail(self, run: VideoRun, exc: IngestError) -> None:
        self.outcomes.append(run.failed(exc))


def _decode_failure(run: VideoRun, error: BaseException) -> IngestError:
    from ml.video import VideoDecodeError

    if isinstance(error, VideoDecodeError):
        return run.decode_error(error)
    logger.error("decoding video %s failed", run.video.pk, exc_info=error)
    return IngestError(
        f"{run.video.original_name}: could not be decoded ({type(error).__name__}, logged on the server).",
        code="internal",
    )


def videos_import_paths(
    *, paths: list[Path], user: Actor = None, progress: Progress | None = None, frames: int | None = None
) -> dict[str, Any]:
    """Import video files from the server's disk and process them here together
    (:func:`videos_process`): the CLI ``import_videos`` and the demo, ``FACECURATOR_VIDEOS_PER_BATCH``
    at a time. A file already imported is processed if it was not yet."""
    outcomes: list[FileOutcome] = []
    video_ids: list[int] = []
    for path in paths:
        stored = video_from_path(path=path, user=user)
        if isinstance(stored, Video):
            video_ids.append(stored.pk)
        else:
            outcomes.append(stored)
    more, totals = _videos_process(video_ids=video_ids, progress=progress, frames=frames)
    return outcomes_summary(outcomes + more, **totals)


def videos_import_here(
    *,
    paths: list[Path],
    user: Actor = None,
    frames: int | None = None,
    params: dict | None = None,
    echo: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, Job]]:
    """Import video files from the server's disk in this process (the CLI ``import_videos``, the
    demo), ``FACECURATOR_VIDEOS_PER_BATCH`` at a time, each group on a Job row as a worker's run
    would be (:func:`~.runs.job_run_here`): ``media.process_video`` for a video alone,
    ``media.process_videos`` for several. Yields each group's label and finished job."""
    for group in video_job_groups(paths):
        label = f"video {group[0].name}" if len(group) == 1 else f"videos {', '.join(p.name for p in group)}"
        if echo:
            echo(label)
        if len(group) == 1:
            job = job_run_here(
                kind="media.process_video",
                params={"path": str(group[0]), **(params or {})},
                user=user,
                echo=echo,
                handler=lambda job, progress, path=group[0]: video_import_path(
                    path=path, user=user, progress=progress, frames=frames
                ),
            )
        else:
            job = job_run_here(
                kind="media.process_videos",
                params={"paths": [str(path) for path in group], **(params or {})},
                user=user,
                echo=echo,
                handler=lambda job, progress, group=group: videos_import_paths(
                    paths=group, user=user, progress=progress, frames=frames
                ),
            )
        yield label, job
