"""Video probing and evenly spaced frame sampling with PyAV (FFmpeg).

:func:`sample_frames` gives ``n`` frames spread evenly over a video (all of them when it has
fewer), as RGB arrays with their frame index and timestamp. Short and medium videos are
decoded once, front to back, and only the wanted frames are converted to RGB; when the wanted
frames are far apart (long videos), it seeks to the keyframe before each one instead.

:func:`prefetched` runs any frame iterator in a background thread, a bounded queue ahead of its
consumer, so decoding overlaps detection and embedding (FFmpeg and ONNX Runtime both release
the GIL); :func:`sample_videos` decodes several videos at once, ``workers`` threads, for a GPU
worker that batches the frames of several videos (:func:`sample_videos_with_ends` also marks
where each video ends, and lets the others go on when one cannot be decoded).

Anything that stops a video from being read raises :class:`VideoDecodeError` with a ``code``:
``empty``, ``not_a_video``, ``no_video_stream``, ``unsupported_codec`` or ``corrupt`` (which
includes truncated files). Decoding errors can surface during iteration, after some frames
were yielded: a caller that stores frames should treat the whole video as failed.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import av
import numpy as np

T = TypeVar("T")

#: Seek instead of decoding everything when wanted frames are at least this many seconds apart.
#: A seek costs decoding from the keyframe before the target (keyframes are typically 1-10 s
#: apart), sequential decoding costs the whole gap; 720p H.264 decodes at ~1,500 frames/s on 2
#: cores. With 300 frames, videos longer than 25 minutes are sampled by seeking.
SEEK_WHEN_GAP_SECONDS: Final = 5.0

#: The only demuxers a video is read with (FFmpeg's names). Containers that point at other files
#: or URLs (HLS and DASH playlists, ffconcat, image sequences, SDP/RTSP) never open: a playlist
#: uploaded as ``x.m3u8`` would otherwise make FFmpeg read local files or fetch URLs on our side.
#: FFmpeg refuses any other demuxer while probing (``format_whitelist``), reads through the
#: ``file`` protocol only (``protocol_whitelist``), and the demuxer it picked is checked again.
VIDEO_DEMUXERS: Final = (
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "3g2",
    "mj2",
    "matroska",
    "webm",
    "avi",
    "mpeg",
    "mpegts",
    "asf",
    "flv",
)
_OPEN_OPTIONS: Final = {"format_whitelist": ",".join(VIDEO_DEMUXERS), "protocol_whitelist": "file"}


class VideoDecodeError(ValueError):
    """A video that cannot be read, with a machine-readable ``code`` and a human message."""

    EMPTY: Final = "empty"
    NOT_A_VIDEO: Final = "not_a_video"
    NO_VIDEO_STREAM: Final = "no_video_stream"
    UNSUPPORTED_CODEC: Final = "unsupported_codec"
    CORRUPT: Final = "corrupt"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the first video stream (``frame_count`` estimated from
    duration x fps when the container does not store it)."""

    duration: float
    fps: float
    width: int
    height: int
    frame_count: int
    codec: str
    container: str = ""  # the demuxer FFmpeg read it with, e.g. "mov,mp4,m4a,3gp,3g2,mj2"


@dataclass(frozen=True, eq=False)
class SampledFrame:
    """A decoded frame: its 0-based index in presentation order, its time in seconds from the
    start of the stream, and its pixels (``H x W x 3`` uint8 RGB, display orientation)."""

    index: int
    timestamp: float
    image: np.ndarray


def probe_video(path: str | Path) -> VideoInfo:
    """Read the container header and check that the first video frame decodes."""
    with _open(path) as container:
        stream = _video_stream(container)
        info = _info(container, stream)
        try:
            first = next(iter(container.decode(stream)))
        except StopIteration:
            raise VideoDecodeError(VideoDecodeError.CORRUPT, "the video stream holds no decodable frame.") from None
        except av.FFmpegError as exc:
            raise _decode_error(exc) from exc
        if _quarter_turns(first) % 2:  # a portrait phone video: report the size it is shown at
            info = VideoInfo(**{**info.__dict__, "width": info.height, "height": info.width})
        return info


def sample_frames(
    path: str | Path, n: int = 300, *, seek_when_gap_seconds: float = SEEK_WHEN_GAP_SECONDS
) -> Iterator[SampledFrame]:
    """``min(n, frame_count)`` frames evenly spaced over the video, in order.

    Frame ``k`` of ``n`` is the one at the middle of the ``k``-th of ``n`` equal slices
    (index ``floor((k + 0.5) * frame_count / n)``), so the first and last frames (often black
    or a fade) are skipped and the spacing is even. When the container's frame count is wrong
    (missing or too high), fewer frames may come out; never more than the video has.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    with _open(path) as container:
        stream = _video_stream(container)
        info = _info(container, stream)
        total = max(info.frame_count, 1)
        count = min(n, total)
        wanted = [int((k + 0.5) * total / count) for k in range(count)]
        gap_seconds = (total / count) / info.fps if info.fps > 0 else 0.0
        declared = int(stream.frames or 0)
        try:
            if gap_seconds >= seek_when_gap_seconds:
                yield from _by_seeking(container, stream, wanted, info.fps, declared)
            else:
                yield from _sequentially(container, stream, wanted, declared)
        except av.FFmpegError as exc:
            raise _decode_error(exc) from exc


def _sequentially(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, wanted: list[int], declared: int
) -> Iterator[SampledFrame]:
    # Frame threading is ~1.5x faster but swallows the decoder's error at a truncation, so the
    # end of the stream is checked against the container's frame count instead (_check_end).
    stream.thread_type = "AUTO"
    targets = iter(wanted)
    target = next(targets, None)
    start = _start_seconds(stream)
    decoded = 0
    for index, frame in enumerate(container.decode(stream)):
        decoded = index + 1
        if target is None:
            return
        if index == target:
            yield SampledFrame(index=index, timestamp=_seconds(frame, start, index, stream), image=_rgb(frame))
            target = next(targets, None)
    if target is not None:
        _check_end(decoded, declared)


def _check_end(decoded: int, declared: int) -> None:
    """The stream ended before a wanted frame: an error when the container declared (rather
    than we estimated) clearly more frames, that is more than 2 frames and 1% more."""
    if declared and declared - decoded > max(2, declared // 100):
        raise VideoDecodeError(
            VideoDecodeError.CORRUPT,
            f"the video stops after {decoded} of the {declared} frames its container declares (truncated or corrupt).",
        )


def _by_seeking(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    wanted: list[int],
    fps: float,
    declared: int,
) -> Iterator[SampledFrame]:
    stream.thread_type = "AUTO"
    start = _start_seconds(stream)
    time_base = float(stream.time_base) if stream.time_base else 1.0 / 90000
    for target in wanted:
        target_seconds = start + target / fps
        container.seek(int(target_seconds / time_base), backward=True, any_frame=False, stream=stream)
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            seconds = frame.pts * time_base
            if seconds + 0.5 / fps >= target_seconds:
                index = round((seconds - start) * fps)
                yield SampledFrame(index=index, timestamp=seconds - start, image=_rgb(frame))
                break
        else:  # the stream ended before the target time
            _check_end(target, declared)
            return


def _open(path: str | Path) -> av.container.InputContainer:
    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(str(file))
    if file.stat().st_size == 0:
        raise VideoDecodeError(VideoDecodeError.EMPTY, "the file is empty (0 bytes).")
    try:
        container = av.open(str(file), mode="r", container_options=dict(_OPEN_OPTIONS))
    except av.FFmpegError as exc:
        raise VideoDecodeError(
            VideoDecodeError.NOT_A_VIDEO,
            f"not a video file in a container we read, or an unreadable one ({exc.strerror or exc}).",
        ) from exc
    if not set(container.format.name.split(",")) <= set(VIDEO_DEMUXERS):
        container.close()
        raise VideoDecodeError(VideoDecodeError.NOT_A_VIDEO, f"{container.format.name} files are not read as videos.")
    return container


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise VideoDecodeError(VideoDecodeError.NO_VIDEO_STREAM, "the file has no video stream (audio only?).")
    stream = container.streams.video[0]
    if stream.codec_context is None or not stream.codec_context.name:
        raise VideoDecodeError(
            VideoDecodeError.UNSUPPORTED_CODEC, "the video codec is not supported by this FFmpeg build."
        )
    return stream


def _info(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    frames = int(stream.frames or 0)
    if frames <= 0 and duration > 0 and fps > 0:
        frames = int(math.floor(duration * fps))
    width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    if width <= 0 or height <= 0:
        raise VideoDecodeError(VideoDecodeError.CORRUPT, "the video stream has no frame size.")
    return VideoInfo(
        duration=duration,
        fps=fps,
        width=width,
        height=height,
        frame_count=frames,
        codec=stream.codec_context.name,
        container=container.format.name,
    )


def _start_seconds(stream: av.video.stream.VideoStream) -> float:
    if stream.start_time is None or not stream.time_base:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _seconds(frame: av.VideoFrame, start: float, index: int, stream: av.video.stream.VideoStream) -> float:
    if frame.time is not None:
        return float(frame.time) - start
    rate = stream.average_rate or stream.guessed_rate
    return index / float(rate) if rate else 0.0


def _rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB pixels, turned upright when the stream carries a display rotation (phone videos)."""
    image = frame.to_ndarray(format="rgb24")
    quarter_turns = _quarter_turns(frame)
    if quarter_turns:
        image = np.ascontiguousarray(np.rot90(image, k=quarter_turns))
    return image


def _quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that show the frame upright (FFmpeg's display matrix,
    as its command-line tool's autorotate applies it)."""
    return round((getattr(frame, "rotation", 0) or 0) / 90) % 4


def _decode_error(exc: av.FFmpegError) -> VideoDecodeError:
    if isinstance(exc, av.error.DecoderNotFoundError | av.error.PatchWelcomeError):
        return VideoDecodeError(VideoDecodeError.UNSUPPORTED_CODEC, f"the video codec is not supported ({exc}).")
    return VideoDecodeError(VideoDecodeError.CORRUPT, f"the video data is corrupt or truncated ({exc}).")


# --------------------------------------------------------------------------------------------
# Decoding ahead of the consumer
# --------------------------------------------------------------------------------------------

_DONE: Final = object()


def _put(buffer: queue.Queue[object], stop: threading.Event, item: object) -> bool:
    """Put ``item`` once there is room; False (not put) when ``stop`` is set meanwhile."""
    while not stop.is_set():
        try:
            buffer.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def prefetched(items: Iterable[T], depth: int = 32) -> Iterator[T]:
    """The items of ``items``, produced by a background thread at most ``depth`` ahead.

    An exception raised while producing is raised here, where the item would have come, after
    the items produced before it. Closing this generator (or leaving a loop over it) stops the
    thread at its next item.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        return _put(buffer, stop, item)

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            put(exc)

    thread = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


@dataclass(frozen=True)
class VideoEnd:
    """The end of one video's frames in :func:`sample_videos_with_ends`: ``error`` is what stopped
    its decoding (a :class:`VideoDecodeError`, or anything else its thread raised), None when every
    frame it has came out."""

    error: BaseException | None = None


def sample_videos_with_ends(
    paths: Sequence[str | Path], n: int = 300, *, workers: int = 2, depth: int = 64
) -> Generator[tuple[int, SampledFrame | VideoEnd], None, None]:
    """``(video number, frame)`` for every frame :func:`sample_frames` gives of each video, then
    ``(video number, VideoEnd)`` after its last one; the videos decoded ``workers`` at a time in
    background threads, each video's frames in order, the videos' interleaved as they are decoded.

    A video that cannot be decoded ends with its error (after the frames it gave: a caller that
    stores frames should drop them) and the others go on. Closing this generator (or leaving a
    loop over it) stops the threads at their next frame."""
    buffer: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    pending = list(enumerate(paths))[::-1]
    lock = threading.Lock()
    stop = threading.Event()

    def put(item: object) -> bool:
        return _put(buffer, stop, item)

    def work() -> None:
        while not stop.is_set():
            with lock:
                if not pending:
                    break
                number, path = pending.pop()
            end = VideoEnd()
            try:
                for frame in sample_frames(path, n=n):
                    if not put((number, frame)):
                        return
            except BaseException as exc:  # noqa: BLE001 - this video's end, handed to the consumer
                end = VideoEnd(exc)
            if not put((number, end)):
                return
        put(_DONE)

    threads = [
        threading.Thread(target=work, name=f"video-decode-{i}", daemon=True)
        for i in range(max(1, min(workers, len(paths))))
    ]
    for thread in threads:
        thread.start()
    finished = 0
    try:
        while finished < len(threads):
            item = buffer.get()
            if item is _DONE:
                finished += 1
            else:
                yield item  # type: ignore[misc]
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)


def sample_videos(
    paths: Sequence[str | Path], n: int = 300, *, workers: int = 2, depth: int = 64
) -> Iterator[tuple[int, SampledFrame]]:
    """``(video number, frame)`` for every frame :func:`sample_frames` gives of each video, the
    videos decoded ``workers`` at a time in background threads; each video's frames come in
    order, the videos' frames interleaved as they are decoded. A decoding error is raised here
    as :class:`VideoDecodeError` with the failing video's number in ``video_index``, and the
    decoding stops (:func:`sample_videos_with_ends` lets the other videos go on)."""
    with closing(sample_videos_with_ends(paths, n, workers=workers, depth=depth)) as items:
        for number, item in items:
            if isinstance(item, SampledFrame):
                yield number, item
            elif item.error is not None:
                item.error.video_index = number  # type: ignore[attr-defined]
                raise item.error
