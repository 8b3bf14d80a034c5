"""Seconds per 300-frame video for ingestion and tagging, by stage, on the CPU or a GPU.

For each video, the path ingestion runs (``webapp.media.services.video_process`` less the
database): ``ml.video.sample_frames`` decoded ahead in a background thread
(``ml.video.prefetched``), YuNet on batches of frames as ``FacePipeline.for_video`` runs it (640 px
until a small face shows, then ``FACECURATOR_VIDEO_MAX_SIDE``, 960; ``--fixed-side`` for 960 throughout),
alignment + quality, SFace on the batch's crops; then the tagging job's own work: one batched
``Classifier.predict`` of a calibrated model (trained here on glint24 embeddings, 24 VIP classes,
with LFW unknown people as distractors so that its threshold is placed on unknown faces) and ``ml.tagging.aggregate_video_tags``. Runtime and device as configured
(``--runtime``, ``--device``; ONNX Runtime on CUDA when present).

Recorded per video: end-to-end wall and CPU (process, all threads) seconds, frames/s and
faces/s; per stage the wall seconds the main thread spent in it (``decode_wait`` is time spent
waiting for the decoding thread, whose own CPU seconds are ``decode_cpu``); the machine's load
average before and after. Videos with fewer than 300 frames are scaled to 300 per frame.

Also measured: SFace throughput on glint24 crops (faces/s, the ">= 60 crops/s" target), the
runtimes side by side on the same frames (ONNX Runtime at 640/960/1920 px, OpenCV at 1920), the
"nothing computed twice" question (how alike the same face is in consecutive sampled frames,
i.e. what tracking could skip), and, with ``--videos-per-batch``, several videos decoded by
``--decode-workers`` threads with their frames batched together (the GPU worker's mode).

Writes ``bench/results/video.json`` and ``bench/results/video.md``.

    python bench/video.py [--quick] [--frames 300] [--videos obama_speech.mp4 ...] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path[0] = str(REPO)  # never let bench/*.py shadow a module
elif str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench import common, openset  # noqa: E402
from bench.video_report import TARGET_S, markdown  # noqa: E402
from bench.video_tracking import tracking_potential  # noqa: E402
from ml.alignment import align_face, quality_score  # noqa: E402
from ml.faces import FacePipeline, FaceResult, build_pipeline  # noqa: E402
from ml.images import load_image  # noqa: E402
from ml.splits import split_for_group  # noqa: E402
from ml.tagging import aggregate_video_tags  # noqa: E402
from ml.train import TrainConfig, TrainData, load_classifier, train_classifier  # noqa: E402
from ml.video import VideoEnd, prefetched, probe_video, sample_frames, sample_videos_with_ends  # noqa: E402

RESULTS = REPO / "bench" / "results"
# a newly active model's operating point: FACECURATOR_DEFAULT_FAR's default (webapp/settings.py), read
# as a user gets it without Django here
DEFAULT_FAR = 0.001
DEFAULT_VIDEOS = ["obama_speech.mp4", "biden_trump_debate_splitscreen.mp4", "crowd_walking_unknown_people.mp4"]
VIDEO_MAX_SIDE = 960  # webapp.settings.FACECURATOR_VIDEO_MAX_SIDE


class Clock:
    """Sums wall and CPU (process, all threads) seconds over the blocks it times."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": round(self.wall, 5), "cpu_s": round(self.cpu, 5)}


def train_head(
    data: Path, per_identity: int, lfw_people: int, embedder: Any, out_dir: Path
) -> tuple[Any, float, list[str], dict[str, Any]]:
    """A calibrated model on glint24 embeddings (every identity a VIP) with ``lfw_people`` LFW unknown
    people as distractors (label -1, split by person, as ``bench/openset.py`` draws them: the
    operating points are placed on unknown val faces, as in the product); returns it, the glint24
    embedding time, the VIP names and the run's counts and operating points."""
    folders = sorted(p for p in (data / "glint24").iterdir() if p.is_dir())
    started = time.perf_counter()
    vectors, labels, splits = [], [], []
    for label, folder in enumerate(folders):
        crops = [load_image(f) for f in sorted(folder.glob("*.jpg"))[:per_identity]]
        vectors.append(embedder.embed_aligned(crops))
        n = len(crops)
        labels += [label] * n
        splits += (
            (["val", "test"] + ["train"] * n)[:n]
            if n < 5
            else ["val"] * (n // 5) + ["test"] * (n // 10) + ["train"] * (n - n // 5 - n // 10)
        )
    embed_s = time.perf_counter() - started
    unknown = openset.load_pool(data, 1, lfw_people)  # the bench's cached LFW embeddings (overlap people dropped)
    lfw = np.flatnonzero(unknown.source == "lfw")
    vectors.append(unknown.embeddings[lfw])
    labels += [-1] * len(lfw)
    splits += [split_for_group(f"person:{unknown.person[i]}", seed=0) for i in lfw]
    train = TrainData(
        inputs=np.concatenate(vectors),
        labels=np.array(labels),
        splits=np.array(splits),
        class_names=[f.name for f in folders],
        sample_ids=np.arange(len(labels)),
    )
    result = train_classifier(TrainConfig(mode="head", epochs=30, noise_folds=0, device="cpu"), train, out_dir=out_dir)
    run = {
        "counts": result["counts"],
        "operating_points": result["operating_points"],
        "operating_points_reason": result["operating_points_reason"],
        "scorer": result["scorer"],
    }
    return load_classifier(out_dir / "model.pt", device="cpu"), embed_s, [f.name for f in folders], run


def _faces_of_batch(
    pipeline: FacePipeline, images: list[np.ndarray], clocks: dict[str, Clock]
) -> list[list[FaceResult]]:
    """``FacePipeline.process_batch``, timed by stage (detect, align + quality, embed)."""
    with clocks["detect"]:
        detections = pipeline.detector.detect_batch(images)
    with clocks["align"]:
        crops = [
            [align_face(image, d.landmarks, pipeline.crop_size) for d in found]
            for image, found in zip(images, detections, strict=True)
        ]
        qualities = [
            [quality_score(c, d.box) for c, d in zip(per, found, strict=True)]
            for per, found in zip(crops, detections, strict=True)
        ]
    with clocks["embed"]:
        vectors = pipeline.embed_crops([c for per in crops for c in per])
    out, row = [], 0
    for found, per, quality in zip(detections, crops, qualities, strict=True):
        out.append(
            [
                FaceResult(
                    box=d.box,
                    score=d.score,
                    landmarks=d.landmarks,
                    crop=c,
                    quality=q,
                    embedding=vectors[row + k],
                    embedding_model=pipeline.model_name,
                )
                for k, (d, c, q) in enumerate(zip(found, per, quality, strict=True))
            ]
        )
        row += len(found)
    return out


class _TimedDecode:
    """Wraps ``sample_frames`` so the decoding thread's own CPU time is known."""

    def __init__(self, path: Path, frames: int) -> None:
        self.path, self.frames, self.cpu = path, frames, 0.0

    def __iter__(self):
        start = time.thread_time()
        try:
            yield from sample_frames(self.path, n=self.frames)
        finally:
            self.cpu = time.thread_time() - start


def bench_video(
    path: Path,
    frames: int,
    pipeline: FacePipeline,
    classifier: Any,
    names: list[str],
    *,
    threshold: float,
    min_frames: int,
    batch: int,
    adaptive: bool,
) -> dict[str, Any]:
    info = probe_video(path)
    pipeline = pipeline.for_video(VIDEO_MAX_SIDE) if adaptive else pipeline.with_max_side(VIDEO_MAX_SIDE)
    clocks = {name: Clock() for name in ("decode_wait", "detect", "align", "embed", "classify", "aggregate")}
    per_frame: list[list[FaceResult]] = []
    frame_ids: list[int] = []
    n_frames = 0
    decoder = _TimedDecode(path, frames)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    iterator = iter(prefetched(decoder))
    pending: list[Any] = []
    done = False
    while not done:
        with clocks["decode_wait"]:
            sample = next(iterator, None)
        if sample is not None:
            pending.append(sample)
        done = sample is None
        if pending and (done or len(pending) == batch):
            results = _faces_of_batch(pipeline, [s.image for s in pending], clocks)
            for s, faces in zip(pending, results, strict=True):
                per_frame.append(faces)
                frame_ids += [s.index] * len(faces)
            n_frames += len(pending)
            pending = []
    vectors = [f.embedding for faces in per_frame for f in faces]
    inputs = np.stack(vectors) if vectors else np.zeros((0, 128), np.float32)
    with clocks["classify"]:
        prediction = classifier.predict(inputs)
    with clocks["aggregate"]:
        tags = aggregate_video_tags(
            frame_indices=frame_ids,
            predicted=prediction.labels,
            confidence=prediction.confidence,
            threshold=threshold,
            min_frames=min_frames,
        )
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    scale = 300 / max(n_frames, 1)
    result: dict[str, Any] = {
        "video": path.name,
        "width": info.width,
        "height": info.height,
        "fps": round(info.fps, 2),
        "frames_in_video": info.frame_count,
        "frames_sampled": n_frames,
        "faces": int(len(inputs)),
        "detected_at_max_side": int(getattr(pipeline.detector, "max_side", 0)),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "decode_cpu_s": round(decoder.cpu, 3),
        "frames_per_s": round(n_frames / wall, 1),
        "faces_per_s": round(len(inputs) / wall, 1),
        "stages_wall_s": {name: round(clock.wall, 4) for name, clock in clocks.items()},
        "stages_cpu_s": {name: round(clock.cpu, 4) for name, clock in clocks.items()},
        "per_300_frames": {"wall_s": round(wall * scale, 2), "cpu_s": round(cpu * scale, 2)},
        "tags": [{"name": names[t.label], "confidence": round(t.confidence, 3), "frames": len(t.frames)} for t in tags],
        "tracking": tracking_potential(per_frame),
    }
    return result


def overlapped(path: Path, frames: int, pipeline: FacePipeline, *, batch: int, adaptive: bool) -> dict[str, Any]:
    """The same video through ``FacePipeline.process_batches`` (what ingestion runs: the next batch
    detected while the last one is embedded), wall and CPU seconds per 300 frames."""
    video = pipeline.for_video(VIDEO_MAX_SIDE) if adaptive else pipeline.with_max_side(VIDEO_MAX_SIDE)

    def batches() -> Any:
        pending: list[Any] = []
        for sample in prefetched(sample_frames(path, n=frames)):
            pending.append(sample)
            if len(pending) == batch:
                yield pending
                pending = []
        if pending:
            yield pending

    clock, n_frames, faces = Clock(), 0, 0
    with clock:
        for done, per_frame in video.process_batches(batches(), lambda s: s.image):
            n_frames += len(done)
            faces += sum(map(len, per_frame))
    scale = 300 / max(n_frames, 1)
    return {
        "frames": n_frames,
        "faces": faces,
        **clock.as_dict(),
        "per_300_frames": {"wall_s": round(clock.wall * scale, 2), "cpu_s": round(clock.cpu * scale, 2)},
    }


def compare_runtimes(path: Path, pipeline: FacePipeline, opencv: FacePipeline | None, frames: int) -> dict[str, Any]:
    """Detection per frame on the same frames: ONNX Runtime at several input caps, OpenCV at 1920."""
    images = [f.image for f in sample_frames(path, n=frames)]
    rows: dict[str, Any] = {}
    candidates = [(f"onnxruntime_{side}", pipeline.with_max_side(side)) for side in (640, 960, 1920)]
    candidates.insert(2, ("onnxruntime_video", pipeline.for_video(VIDEO_MAX_SIDE)))
    if opencv is not None:
        candidates.append(("opencv_1920", opencv))
    for label, candidate in candidates:
        clock = Clock()
        with clock:
            found = candidate.detector.detect_batch(images)
        rows[label] = {
            "ms_per_frame_wall": round(1000 * clock.wall / len(images), 1),
            "ms_per_frame_cpu": round(1000 * clock.cpu / len(images), 1),
            "faces": sum(map(len, found)),
            "frames": len(images),
        }
    return rows


def embed_throughput(data: Path, embedder: Any, count: int) -> dict[str, Any]:
    """SFace on glint24's aligned crops (already decoded): faces/s at the embedder's batch size."""
    folders = sorted(p for p in (data / "glint24").iterdir() if p.is_dir())
    crops = [load_image(f) for folder in folders for f in sorted(folder.glob("*.jpg"))[: max(1, count // len(folders))]]
    embedder.embed_aligned(crops[:4])  # warm-up
    clock = Clock()
    with clock:
        embedder.embed_aligned(crops)
    return {
        "faces": len(crops),
        "batch_size": embedder.batch_size,
        **clock.as_dict(),
        "faces_per_s": round(len(crops) / clock.wall, 1),
        "cpu_ms_per_face": round(1000 * clock.cpu / len(crops), 2),
    }


def bench_many(paths: list[Path], frames: int, pipeline: FacePipeline, *, workers: int, batch: int) -> dict[str, Any]:
    """Several videos at once as a ``media.process_videos`` job runs them (less the storage):
    ``workers`` decoding threads, each video's frames in chunks of ``batch`` with its own
    ``for_video`` detector, ``workers`` chunks' worth of frames detected and embedded per step
    (``FacePipeline.process_steps``)."""
    clock = Clock()
    detectors = [pipeline.for_video(VIDEO_MAX_SIDE).detector for _ in paths]

    def steps() -> Any:
        filling: dict[int, list[np.ndarray]] = {}
        ready: list[tuple[Any, list[np.ndarray]]] = []
        for number, item in sample_videos_with_ends(paths, n=frames, workers=workers):
            if isinstance(item, VideoEnd):
                if item.error is not None:
                    raise item.error
                if filling.get(number):
                    ready.append((detectors[number], filling.pop(number)))
            else:
                filling.setdefault(number, []).append(item.image)
                if len(filling[number]) == batch:
                    ready.append((detectors[number], filling.pop(number)))
            if sum(len(chunk) for _, chunk in ready) >= workers * batch:
                yield ready[:]
                ready.clear()
        if ready:
            yield ready

    n_frames = faces = 0
    with clock:
        for step, per_chunk in pipeline.process_steps(steps()):
            n_frames += sum(len(chunk) for _, chunk in step)
            faces += sum(len(found) for per_frame in per_chunk for found in per_frame)
    return {
        "videos": len(paths),
        "decode_workers": workers,
        "batch_frames": batch,
        "frames": n_frames,
        "faces": faces,
        **clock.as_dict(),
        "seconds_per_video": round(clock.wall / len(paths), 3),
        "frames_per_s": round(n_frames / clock.wall, 1),
        "faces_per_s": round(faces / clock.wall, 1),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one video, 60 frames, a smaller head")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--videos", nargs="*", default=None)
    parser.add_argument("--runtime", default="onnxruntime", choices=["onnxruntime", "opencv"])
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per network (0: one per core)")
    parser.add_argument(
        "--batch-frames", type=int, default=None, help="frames per detection batch (default 8 CPU, 32 GPU)"
    )
    parser.add_argument(
        "--videos-per-batch",
        type=int,
        default=0,
        help="also run this many copies of the videos at once, frames batched together (GPU mode)",
    )
    parser.add_argument("--decode-workers", type=int, default=2)
    parser.add_argument(
        "--fixed-side", action="store_true", help="detect every frame at max side 960 (before: 640 until small faces)"
    )
    parser.add_argument("--compare-frames", type=int, default=24, help="frames for the runtime comparison (0: skip)")
    parser.add_argument("--output", type=Path, default=RESULTS / "video.json")
    args = parser.parse_args(argv)
    data = common.shared_data_dir()
    if not (data / "README.md").exists():
        raise SystemExit(f"real face data not found at {data} (set FACECURATOR_SHARED_DATA)")
    videos = args.videos or (DEFAULT_VIDEOS[:1] if args.quick else DEFAULT_VIDEOS)
    frames = 60 if args.quick and args.frames == 300 else args.frames
    load_before = os.getloadavg()
    full = build_pipeline(runtime=args.runtime, device=args.device, threads=args.threads)
    pipeline = full.with_max_side(VIDEO_MAX_SIDE)
    face_device = getattr(pipeline.embedder, "device", "cpu")
    batch = args.batch_frames or (32 if face_device == "cuda" else 8)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        classifier, glint_embed_s, names, run = train_head(
            data, 8 if args.quick else 20, 400 if args.quick else 2000, pipeline.embedder, Path(folder)
        )
    classifier.predict(np.zeros((4, 128), np.float32))  # warm-up: the tagging worker keeps the model loaded
    # the product's default operating point: the false-tag rate FACECURATOR_DEFAULT_FAR (0.1%) on val's unknown faces
    threshold = classifier.thresholds.get(f"far_{DEFAULT_FAR:g}") or classifier.thresholds.get("max_mean_f1") or 0.5
    pipeline.process_batch([np.zeros((720, 1280, 3), np.uint8)])  # warm-up (session allocations)
    rows = [
        bench_video(
            data / "videos" / name,
            frames,
            full,
            classifier,
            names,
            threshold=threshold,
            min_frames=3,
            batch=batch,
            adaptive=not args.fixed_side,
        )
        for name in videos
    ]
    for row in rows:
        row["overlapped"] = overlapped(
            data / "videos" / row["video"], frames, full, batch=batch, adaptive=not args.fixed_side
        )
    opencv = build_pipeline(runtime="opencv") if args.compare_frames and args.runtime != "opencv" else None
    for row in rows:
        row["runtimes"] = (
            compare_runtimes(data / "videos" / row["video"], full, opencv, args.compare_frames)
            if args.compare_frames
            else {}
        )
    results: dict[str, Any] = {
        "machine": {
            "device": f"GPU {torch.cuda.get_device_name(0)}"
            if torch.cuda.is_available()
            else "CPU only (no GPU on this machine)",
            "cpu_model": cpu_model(),
            "cpus": os.cpu_count(),
            "opencv_threads": cv2.getNumThreads(),
            "opencv": cv2.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "onnxruntime": _onnxruntime_version(),
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "settings": {
            "frames": frames,
            "threshold": round(float(threshold), 4),
            "min_frames": 3,
            "runtime": args.runtime,
            "face_device": face_device,
            "threads": args.threads,
            "batch_frames": batch,
            "video_max_side": VIDEO_MAX_SIDE,
            "adaptive_side": not args.fixed_side,
            "classifier": f"the default model (scorer: {run['scorer']['name']}), 24 glint24 VIPs, LFW unknown people "
            f"as distractors, calibrated; threshold for a {DEFAULT_FAR:.1%} false-tag rate on val's unknown faces",
            "scorer": run["scorer"],
            "training_counts": run["counts"],
            "operating_points": run["operating_points"],
            "operating_points_reason": run["operating_points_reason"],
            "detector": "YuNet 2023mar int8bq",
            "embedder": "SFace 2021dec int8bq",
            "glint24_embed_s": round(glint_embed_s, 2),
        },
        "target_s_per_video": round(TARGET_S, 3),
        "videos": rows,
        "embed_throughput": embed_throughput(data, pipeline.embedder, 240 if args.quick else 960),
    }
    if args.videos_per_batch:
        paths = [data / "videos" / name for name in videos] * args.videos_per_batch
        results["many"] = bench_many(paths, frames, pipeline, workers=args.decode_workers, batch=batch)
    results["machine"]["load_average_before_after"][1] = round(os.getloadavg()[0], 2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_suffix(".json.tmp")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(partial, args.output)
    args.output.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return results


def _onnxruntime_version() -> str | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


if __name__ == "__main__":
    main()
