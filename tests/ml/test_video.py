"""ml.video: probing, evenly spaced frame sampling and clear errors, on the real clips and on
small videos written here with PyAV."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from ml.video import (
    VideoDecodeError,
    VideoEnd,
    prefetched,
    probe_video,
    sample_frames,
    sample_videos,
    sample_videos_with_ends,
)


def write_video(path: Path, frames: int, *, fps: int = 25, size: tuple[int, int] = (64, 48), rotation: int = 0) -> Path:
    """A small MPEG-4 video whose frame ``i`` is uniformly grey at level ``4 * i``, with a red
    left half (to tell RGB from BGR and to see rotations)."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"qscale": "2"}
        if rotation:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            pixels = np.full((height, width, 3), 4 * i, dtype=np.uint8)
            pixels[:, : width // 2] = (200, 0, 0)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def videos(shared_data: Path) -> Path:
    return shared_data / "videos"


def test_probe_reads_size_fps_frame_count_and_codec_of_a_real_clip(videos: Path):
    info = probe_video(videos / "obama_speech.mp4")
    assert (info.width, info.height, info.frame_count, info.codec) == (1280, 720, 1021, "h264")
    assert info.fps == pytest.approx(30.0)
    assert info.duration == pytest.approx(34.0, abs=0.1)


def test_300_frames_of_a_1021_frame_video_are_exactly_300_evenly_spaced(videos: Path):
    frames = list(sample_frames(videos / "obama_speech.mp4", n=300))

    assert len(frames) == 300
    indices = np.array([f.index for f in frames])
    timestamps = np.array([f.timestamp for f in frames])
    assert (np.diff(indices) > 0).all() and indices[0] >= 0 and indices[-1] < 1021
    step = 34.03 / 300
    assert np.abs(np.diff(timestamps) - step).max() <= 1 / 30 + 1e-6  # within one frame of even
    assert timestamps[0] < step and timestamps[-1] > 34.03 - step
    assert frames[0].image.shape == (720, 1280, 3) and frames[0].image.dtype == np.uint8


@pytest.mark.parametrize("name, frame_count", [("obama_whcd_podium_b.mp4", 153), ("hamilton_short.mp4", 275)])
def test_a_video_with_fewer_frames_than_asked_gives_each_of_its_frames_once(videos: Path, name: str, frame_count: int):
    frames = list(sample_frames(videos / name, n=300))
    assert [f.index for f in frames] == list(range(frame_count))


def test_sampled_frames_carry_the_content_of_their_index_in_rgb(tmp_path: Path):
    path = write_video(tmp_path / "ramp.mp4", frames=50)

    frames = list(sample_frames(path, n=10))

    assert [f.index for f in frames] == [2, 7, 12, 17, 22, 27, 32, 37, 42, 47]
    for frame in frames:
        assert frame.timestamp == pytest.approx(frame.index / 25, abs=1e-6)
        right_half = frame.image[:, 40:].astype(float)
        assert right_half.mean() == pytest.approx(4 * frame.index, abs=3)
        red = frame.image[:, :24].reshape(-1, 3).mean(axis=0)
        assert red[0] > 150 and red[2] < 50  # channel 0 is red: RGB, not BGR


def test_seeking_for_far_apart_frames_gives_the_same_frames_as_decoding_through(videos: Path):
    path = videos / "obama_speech.mp4"
    through = list(sample_frames(path, n=6))
    seeking = list(sample_frames(path, n=6, seek_when_gap_seconds=0.1))

    assert [f.index for f in seeking] == [f.index for f in through]
    assert [f.timestamp for f in seeking] == pytest.approx([f.timestamp for f in through], abs=1e-6)
    for a, b in zip(seeking, through, strict=True):
        np.testing.assert_array_equal(a.image, b.image)


def test_a_phone_video_with_a_display_rotation_comes_out_upright(tmp_path: Path):
    path = write_video(tmp_path / "portrait.mp4", frames=5, size=(64, 32), rotation=90)

    info = probe_video(path)
    frame = next(iter(sample_frames(path, n=1)))

    assert (info.width, info.height) == (32, 64)
    assert frame.image.shape == (64, 32, 3)
    # stored with red on the left; a quarter turn counter-clockwise puts it at the bottom
    assert frame.image[40:, :, 0].mean() > 150 and frame.image[:24, :, 0].mean() < 100


def test_an_empty_file_is_refused_as_empty(tmp_path: Path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoDecodeError) as error:
        probe_video(path)
    assert error.value.code == "empty"


def test_a_text_file_is_refused_as_not_a_video(tmp_path: Path):
    path = tmp_path / "notes.mp4"
    path.write_bytes(b"this is not a video\n" * 100)
    with pytest.raises(VideoDecodeError) as error:
        list(sample_frames(path, n=5))
    assert error.value.code == "not_a_video"


def test_an_audio_only_file_is_refused_for_having_no_video_stream(tmp_path: Path):
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    with pytest.raises(VideoDecodeError) as error:
        probe_video(path)
    assert error.value.code == "no_video_stream"


@pytest.mark.parametrize("n, seek_when_gap_seconds", [(300, 5.0), (5, 0.1)], ids=["decoding-through", "seeking"])
def test_a_truncated_real_video_raises_corrupt_while_sampling(
    videos: Path, tmp_path: Path, n: int, seek_when_gap_seconds: float
):
    data = (videos / "obama_whcd_podium_b.mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(VideoDecodeError) as error:
        list(sample_frames(path, n=n, seek_when_gap_seconds=seek_when_gap_seconds))
    assert error.value.code == "corrupt"


def test_a_missing_file_raises_file_not_found(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        probe_video(tmp_path / "absent.mp4")


@pytest.mark.parametrize("name", ["list.m3u8", "list.mp4"])
def test_a_playlist_pointing_at_a_local_file_is_refused_and_that_file_never_read(tmp_path: Path, name: str):
    target = write_video(tmp_path / "secret.mp4", 10)  # a file of the server's, readable by FFmpeg
    playlist = tmp_path / name
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\nfile://{target}\n#EXT-X-ENDLIST\n")
    for read in (probe_video, lambda path: list(sample_frames(path, n=3))):
        with pytest.raises(VideoDecodeError) as error:
            read(playlist)
        assert error.value.code == "not_a_video"


def test_an_ffconcat_list_is_refused_even_when_named_like_a_video(tmp_path: Path):
    write_video(tmp_path / "other.mp4", 10)
    listing = tmp_path / "list.mp4"
    listing.write_text("ffconcat version 1.0\nfile other.mp4\n")
    with pytest.raises(VideoDecodeError) as error:
        probe_video(listing)
    assert error.value.code == "not_a_video"


def test_probing_names_the_container_ffmpeg_read(tmp_path: Path):
    assert probe_video(write_video(tmp_path / "clip.avi", 10)).container == "avi"
    assert probe_video(write_video(tmp_path / "clip.mp4", 10)).container.startswith("mov,mp4")


# ---------------------------------------------------------------------------------------------
# Decoding ahead of detection
# ---------------------------------------------------------------------------------------------


def test_prefetched_frames_are_the_same_frames_in_the_same_order(tmp_path: Path):
    video = write_video(tmp_path / "grey.mp4", 40)
    direct = list(sample_frames(video, n=10))
    ahead = list(prefetched(sample_frames(video, n=10), depth=3))
    assert [f.index for f in ahead] == [f.index for f in direct]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(ahead, direct, strict=True))


def test_a_decoding_error_in_the_prefetch_thread_is_raised_to_the_consumer_after_the_good_frames(
    videos: Path, tmp_path: Path
):
    data = (videos / "obama_whcd_podium_b.mp4").read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    received = []
    with pytest.raises(VideoDecodeError) as caught:
        for frame in prefetched(sample_frames(truncated, n=300), depth=4):
            received.append(frame.index)
    assert caught.value.code == VideoDecodeError.CORRUPT and len(received) > 0


def test_leaving_a_prefetched_loop_early_stops_the_decoding_thread(tmp_path: Path):
    import threading

    video = write_video(tmp_path / "grey.mp4", 60)
    frames = prefetched(sample_frames(video, n=60), depth=2)
    next(frames)
    frames.close()
    assert not any(t.name == "frame-prefetch" and t.is_alive() for t in threading.enumerate())


def test_several_videos_decoded_at_once_give_each_videos_frames_in_order(tmp_path: Path):
    first, second = write_video(tmp_path / "a.mp4", 30), write_video(tmp_path / "b.mp4", 20, size=(32, 32))
    by_video: dict[int, list[int]] = {0: [], 1: []}
    for number, frame in sample_videos([first, second], n=10, workers=2):
        by_video[number].append(frame.index)
        assert frame.image.shape[:2] == ((48, 64) if number == 0 else (32, 32))
    assert by_video[0] == [f.index for f in sample_frames(first, n=10)]
    assert by_video[1] == [f.index for f in sample_frames(second, n=10)]


def test_a_broken_video_among_several_names_its_number(tmp_path: Path):
    good, empty = write_video(tmp_path / "a.mp4", 10), tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoDecodeError) as caught:
        list(sample_videos([good, empty], n=5, workers=1))
    assert caught.value.code == VideoDecodeError.EMPTY and caught.value.video_index == 1


def test_with_ends_a_broken_video_ends_alone_with_its_error_and_the_others_give_every_frame(
    videos: Path, tmp_path: Path
):
    data = (videos / "obama_whcd_podium_b.mp4").read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    first, last = write_video(tmp_path / "a.mp4", 30), write_video(tmp_path / "b.mp4", 20, size=(32, 32))
    frames: dict[int, list[int]] = {0: [], 1: [], 2: []}
    ends: dict[int, VideoEnd] = {}
    for number, item in sample_videos_with_ends([first, truncated, last], n=300, workers=2, depth=4):
        if isinstance(item, VideoEnd):
            assert number not in ends
            ends[number] = item
        else:
            assert number not in ends  # nothing of a video after its end
            frames[number].append(item.index)
    assert ends[0].error is None and ends[2].error is None
    assert isinstance(ends[1].error, VideoDecodeError) and ends[1].error.code == VideoDecodeError.CORRUPT
    assert frames[0] == list(range(30)) and frames[2] == list(range(20))


def test_leaving_a_loop_over_several_videos_early_stops_the_decoding_threads(tmp_path: Path):
    import threading

    paths = [write_video(tmp_path / f"{name}.mp4", 60) for name in "abc"]
    items = sample_videos_with_ends(paths, n=60, workers=2, depth=2)
    next(items)
    items.close()
    assert not any(t.name.startswith("video-decode") and t.is_alive() for t in threading.enumerate())
