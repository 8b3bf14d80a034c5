"""Seconds per 300-frame video for tagging, by stage: decode, detect, embed, classify (+ aggregate).

For each video: ``ml.video.sample_frames`` (decode incl. RGB conversion; every frame up to the
last sample is decoded, only the sampled ones converted), YuNet detection per sampled frame,
alignment + quality + SFace embedding per face (what ingestion stores on Face rows), then the
tagging job's own work: one batched ``Classifier.predict`` of a calibrated head (trained here on
glint24 embeddings, 24 VIP classes, ME loss) and ``ml.tagging.aggregate_video_tags``.

Wall-clock and CPU seconds are both recorded (the machine may be shared: CPU time is what the
work costs, wall time what it took now), with the load average before and after. Videos with
fewer than 300 frames are sampled whole; ``per_300_frames`` scales their per-frame costs to 300
(decoding too when the video was sampled whole; otherwise decoding already covered every frame).
Detection at smaller input sizes (``max_side``) is timed on the same frames, for comparison.

Writes ``bench/results/video.json`` and ``bench/results/video.md``.

    python bench/video.py [--quick] [--frames 300] [--videos obama_speech.mp4 ...]
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
from bench import common  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ml.faces import SFaceEmbedder, YuNetDetector, align_face, quality_score  # noqa: E402
from ml.images import load_image  # noqa: E402
from ml.tagging import aggregate_video_tags  # noqa: E402
from ml.train import TrainConfig, TrainData, load_classifier, train_classifier  # noqa: E402
from ml.video import probe_video, sample_frames  # noqa: E402

RESULTS = REPO / "bench" / "results"
DEFAULT_VIDEOS = ["obama_speech.mp4", "biden_trump_debate_splitscreen.mp4", "crowd_walking_unknown_people.mp4"]
TARGET_S = 86400 / 15000  # one worker keeping up with 15,000 videos a day


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


def train_head(data: Path, per_identity: int, embedder: SFaceEmbedder, out_dir: Path) -> tuple[Any, float, list[str]]:
    """A calibrated head on glint24 embeddings (every identity a VIP); returns it, the embedding time and names."""
    folders = sorted(p for p in (data / "glint24").iterdir() if p.is_dir())
    started = time.perf_counter()
    vectors, labels, splits = [], [], []
    for label, folder in enumerate(folders):
        crops = [load_image(f) for f in sorted(folder.glob("*.jpg"))[:per_identity]]
        vectors.append(embedder.embed_aligned(crops))
        n = len(crops)
        labels += [label] * n
        splits += (["val", "test"] + ["train"] * n)[:n] if n < 5 else ["val"] * (n // 5) + ["test"] * (n // 10) + \
            ["train"] * (n - n // 5 - n // 10)
    embed_s = time.perf_counter() - started
    inputs = np.concatenate(vectors)
    train = TrainData(inputs=inputs, labels=np.array(labels), splits=np.array(splits),
                      class_names=[f.name for f in folders], sample_ids=np.arange(len(labels)))
    train_classifier(TrainConfig(mode="head", epochs=30, noise_folds=0, device="cpu"), train, out_dir=out_dir)
    return load_classifier(out_dir / "model.pt", device="cpu"), embed_s, [f.name for f in folders]


def bench_video(path: Path, frames: int, detector: YuNetDetector, embedder: SFaceEmbedder, classifier: Any,
                names: list[str], *, threshold: float, min_frames: int, compare_sides: list[int]) -> dict[str, Any]:
    info = probe_video(path)
    decode, detect, embed, classify, aggregate = Clock(), Clock(), Clock(), Clock(), Clock()
    sampled: list[np.ndarray] = []
    n_frames = last_index = 0
    frame_ids: list[int] = []
    vectors: list[np.ndarray] = []
    iterator = iter(sample_frames(path, n=frames))
    while True:
        with decode:
            sample = next(iterator, None)
        if sample is None:
            break
        with detect:
            found = detector.detect(sample.image)
        with embed:
            crops = [align_face(sample.image, d.landmarks, 112) for d in found]
            [quality_score(c, d.box) for c, d in zip(crops, found)]
            if crops:
                vectors.append(embedder.embed_aligned(crops))
        frame_ids += [sample.index] * len(found)
        n_frames += 1
        last_index = sample.index
        if len(sampled) < 24:
            sampled.append(sample.image)
    inputs = np.concatenate(vectors) if vectors else np.zeros((0, 128), np.float32)
    with classify:
        prediction = classifier.predict(inputs)
    with aggregate:
        tags = aggregate_video_tags(frame_indices=frame_ids, predicted=prediction.labels,
                                    confidence=prediction.confidence, threshold=threshold, min_frames=min_frames)
    stages = {"decode": decode, "detect": detect, "embed": embed, "classify": classify, "aggregate": aggregate}
    total_wall = sum(c.wall for c in stages.values())
    total_cpu = sum(c.cpu for c in stages.values())
    # Per sampled frame costs scale to 300 samples; decoding scales only when the video was sampled whole
    # (otherwise every frame up to the last sample was decoded, whatever the number of samples).
    scale = 300 / max(n_frames, 1)
    decode_scale = scale if n_frames >= info.frame_count else 1.0
    per_300 = {name: {"wall_s": round(clock.wall * (decode_scale if name == "decode" else scale), 5),
                      "cpu_s": round(clock.cpu * (decode_scale if name == "decode" else scale), 5)}
               for name, clock in stages.items()}
    per_300["total"] = {key: round(sum(row[key] for row in per_300.values()), 5) for key in ("wall_s", "cpu_s")}
    result: dict[str, Any] = {
        "video": path.name, "width": info.width, "height": info.height, "fps": round(info.fps, 2),
        "frames_in_video": info.frame_count, "frames_sampled": n_frames, "faces": int(len(inputs)),
        "frames_decoded": last_index + 1,
        "stages": {name: clock.as_dict() for name, clock in stages.items()},
        "total": {"wall_s": round(total_wall, 3), "cpu_s": round(total_cpu, 3)},
        "per_300_frames": per_300,
        "tags": [{"name": names[t.label], "confidence": round(t.confidence, 3), "frames": len(t.frames)} for t in tags],
    }
    comparisons = {}
    for side in compare_sides:
        smaller = YuNetDetector(max_side=side)
        clock = Clock()
        faces = 0
        with clock:
            for image in sampled:
                faces += len(smaller.detect(image))
        comparisons[f"max_side_{side}"] = {"ms_per_frame_wall": round(1000 * clock.wall / max(len(sampled), 1), 1),
                                           "ms_per_frame_cpu": round(1000 * clock.cpu / max(len(sampled), 1), 1),
                                           "faces": faces, "frames": len(sampled)}
    default = Clock()
    faces = 0
    with default:
        for image in sampled:
            faces += len(detector.detect(image))
    comparisons["default"] = {"ms_per_frame_wall": round(1000 * default.wall / max(len(sampled), 1), 1),
                              "ms_per_frame_cpu": round(1000 * default.cpu / max(len(sampled), 1), 1),
                              "faces": faces, "frames": len(sampled)}
    result["detect_input_size"] = comparisons
    return result


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        "# Video tagging throughput",
        "",
        f"Device: {machine['device']} ({machine['cpu_model']}, {machine['cpus']} logical CPUs, torch on "
        f"{machine['torch_device']}); load average {machine['load_average_before_after'][0]} before, "
        f"{machine['load_average_before_after'][1]} after (a shared machine: wall time is inflated, CPU time is "
        f"what the work costs).",
        "",
        "Per 300 sampled frames (videos with fewer frames scaled up per frame), wall / CPU; decode, detect and "
        "embed in seconds (ingestion, once per video), classify and aggregate in milliseconds (the tagging job):",
        "",
        "| video | size | faces per 300 frames | decode s | detect s | embed s | classify ms | aggregate ms | total s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["videos"]:
        per = row["per_300_frames"]
        cells = [f"{per[s]['wall_s']:.2f} / {per[s]['cpu_s']:.2f}" for s in ("decode", "detect", "embed")]
        cells += [f"{1000 * per[s]['wall_s']:.1f} / {1000 * per[s]['cpu_s']:.1f}" for s in ("classify", "aggregate")]
        cells.append(f"{per['total']['wall_s']:.2f} / {per['total']['cpu_s']:.2f}")
        faces = round(row["faces"] * 300 / max(row["frames_sampled"], 1))
        lines.append(f"| {row['video']} | {row['width']}x{row['height']} | {faces} | " + " | ".join(cells) + " |")
    lines += ["", f"Target: < {TARGET_S:.2f} s per video for one worker to keep up with 15,000 videos a day.", ""]
    lines += ["Detection per frame by YuNet input size (ms, wall / CPU; faces found on the same frames):", ""]
    lines += ["| video | " + " | ".join(results["videos"][0]["detect_input_size"]) + " |",
              "|---|" + "---|" * len(results["videos"][0]["detect_input_size"])]
    for row in results["videos"]:
        lines.append(f"| {row['video']} | " + " | ".join(
            f"{v['ms_per_frame_wall']:.0f} / {v['ms_per_frame_cpu']:.0f} ({v['faces']})"
            for v in row["detect_input_size"].values()) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one video, 60 frames, a smaller head")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--videos", nargs="*", default=None)
    parser.add_argument("--output", type=Path, default=RESULTS / "video.json")
    args = parser.parse_args(argv)
    data = common.shared_data_dir()
    if not (data / "README.md").exists():
        raise SystemExit(f"real face data not found at {data} (set FACECURATOR_SHARED_DATA)")
    videos = args.videos or (DEFAULT_VIDEOS[:1] if args.quick else DEFAULT_VIDEOS)
    frames = 60 if args.quick and args.frames == 300 else args.frames
    load_before = os.getloadavg()
    detector, embedder = YuNetDetector(), SFaceEmbedder()
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        classifier, glint_embed_s, names = train_head(data, 8 if args.quick else 20, embedder, Path(folder))
    classifier.predict(np.zeros((4, 128), np.float32))  # warm-up: the tagging worker keeps the model loaded
    threshold = classifier.thresholds.get("precision_0.95") or classifier.thresholds.get("max_mean_f1") or 0.5
    rows = [bench_video(data / "videos" / name, frames, detector, embedder, classifier, names, threshold=threshold,
                        min_frames=3, compare_sides=[] if args.quick else [640, 960]) for name in videos]
    cuda = torch.cuda.is_available()
    results: dict[str, Any] = {
        "machine": {
            "device": f"GPU {torch.cuda.get_device_name(0)}" if cuda else "CPU only (no GPU on this machine)",
            "cpu_model": cpu_model(), "cpus": os.cpu_count(), "torch_device": "cuda" if cuda else "cpu",
            "torch_threads": torch.get_num_threads(), "opencv_threads": cv2.getNumThreads(),
            "opencv": cv2.__version__, "torch": torch.__version__, "python": platform.python_version(),
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "settings": {"frames": frames, "threshold": round(float(threshold), 4), "min_frames": 3,
                     "classifier": "head, ME loss, 24 glint24 VIPs, calibrated", "detector": "YuNet 2023mar int8",
                     "embedder": "SFace 2021dec int8", "glint24_embed_s": round(glint_embed_s, 2)},
        "target_s_per_video": round(TARGET_S, 3),
        "videos": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_suffix(".json.tmp")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(partial, args.output)
    args.output.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
