"""Micro-benchmark of the face ingest pipeline on this machine's CPU.

Measures
* embedding throughput on already-aligned glint24 crops (faces/s; SFace, and dlib for comparison),
* detection time per 1280x720 frame (YuNet; dlib HOG for comparison),
* the 300-frame sampling of ``obama_speech.mp4`` end to end, split into decode (incl. RGB
  conversion), detect, and align + quality + embed.

Writes ``bench/results/ingest_pipeline.json``. Timings are wall-clock medians or totals; the
load average before and after is recorded because the machine may be shared.

    python bench/ingest_pipeline.py [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ml.alignment import align_face, quality_score  # noqa: E402
from ml.detectors import DlibHogDetector, YuNetDetector  # noqa: E402
from ml.embedders import DlibEmbedder, SFaceEmbedder  # noqa: E402
from ml.faces import FacePipeline  # noqa: E402
from ml.images import load_image  # noqa: E402
from ml.video import sample_frames  # noqa: E402

RESULTS = REPO / "bench" / "results" / "ingest_pipeline.json"


def shared_data_dir() -> Path:
    configured = os.environ.get("FACECURATOR_SHARED_DATA")
    return Path(configured) if configured else REPO.parent / "shared" / "data"


def glint_crops(data: Path, count: int) -> list[np.ndarray]:
    """``count`` crops spread over the 24 identities."""
    folders = sorted((data / "glint24").iterdir())
    per = max(1, count // len(folders) + 1)
    crops = [load_image(f) for folder in folders for f in sorted(folder.glob("*.jpg"))[:per]]
    return crops[:count]


class Clock:
    """Wall-clock and process CPU seconds (all threads) spent inside ``with`` blocks, summed.
    CPU seconds hardly change when other processes share the cores; wall seconds do."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


def embed_throughput(embedder: Any, crops: list[np.ndarray], batch: int = 32) -> dict[str, float]:
    embedder.embed_aligned(crops[:2])  # warm-up
    clock = Clock()
    for start in range(0, len(crops), batch):
        with clock:
            embedder.embed_aligned(crops[start : start + batch])
    return {
        "faces": len(crops),
        "wall_s": round(clock.wall, 3),
        "cpu_s": round(clock.cpu, 3),
        "faces_per_s": round(len(crops) / clock.wall, 1),
        "ms_cpu_per_face": round(1000 * clock.cpu / len(crops), 1),
    }


def detect_ms(detector: Any, frames: list[np.ndarray]) -> dict[str, float]:
    detector.detect(frames[0])  # warm-up
    walls, cpus = [], []
    for frame in frames:
        clock = Clock()
        with clock:
            detector.detect(frame)
        walls.append(clock.wall * 1000)
        cpus.append(clock.cpu * 1000)
    return {
        "frames": len(frames),
        "median_ms": round(statistics.median(walls), 1),
        "min_ms": round(min(walls), 1),
        "median_cpu_ms": round(statistics.median(cpus), 1),
    }


def video_300(pipeline: FacePipeline, path: Path, n: int) -> dict[str, Any]:
    """One pass over ``sample_frames`` with the time of each stage summed separately."""
    decode, detect, embed = Clock(), Clock(), Clock()
    frames = faces = 0
    iterator = iter(sample_frames(path, n=n))
    while True:
        with decode:
            sample = next(iterator, None)
        if sample is None:
            break
        frames += 1
        with detect:
            found = pipeline.detector.detect(sample.image)
        with embed:
            crops = [align_face(sample.image, d.landmarks, pipeline.crop_size) for d in found]
            [quality_score(c, d.box) for c, d in zip(crops, found, strict=True)]
            pipeline.embed_crops(crops)
        faces += len(found)
    stages = {"decode": decode, "detect": detect, "align_quality_embed": embed}
    total_wall = sum(c.wall for c in stages.values())
    return {
        "video": path.name,
        "frames": frames,
        "faces": faces,
        **{f"{name}_s": round(c.wall, 2) for name, c in stages.items()},
        **{f"{name}_cpu_s": round(c.cpu, 2) for name, c in stages.items()},
        "total_s": round(total_wall, 2),
        "total_cpu_s": round(sum(c.cpu for c in stages.values()), 2),
        "frames_per_s": round(frames / total_wall, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer faces and frames, no dlib")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if not (data / "README.md").exists():
        raise SystemExit(f"real face data not found at {data} (set FACECURATOR_SHARED_DATA)")
    video = data / "videos" / "obama_speech.mp4"
    load_before = os.getloadavg()

    crops = glint_crops(data, 96 if args.quick else 480)
    with av.open(str(video)) as container:
        first_40 = itertools.islice(container.decode(video=0), 40)
        frames_720p = [f.to_ndarray(format="rgb24") for i, f in enumerate(first_40) if i % 4 == 0]

    sface, yunet = SFaceEmbedder(), YuNetDetector()
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "opencv_threads": cv2.getNumThreads(),
            "python": platform.python_version(),
            "opencv": cv2.__version__,
            "pyav": av.__version__,
            "processor": platform.processor() or platform.machine(),
        },
        "embed_aligned_glint24": {"sface": embed_throughput(sface, crops)},
        "detect_720p_frame": {"yunet": detect_ms(yunet, frames_720p)},
        "video_300_frames": video_300(FacePipeline(yunet, sface), video, n=300),
    }
    if not args.quick:
        results["embed_aligned_glint24"]["dlib"] = embed_throughput(DlibEmbedder(), crops[:96])
        results["detect_720p_frame"]["dlib_hog_upsample0"] = detect_ms(DlibHogDetector(upsample=0), frames_720p[:4])
        results["detect_720p_frame"]["dlib_hog_upsample1"] = detect_ms(DlibHogDetector(upsample=1), frames_720p[:3])
    results["machine"]["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]

    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_suffix(".json.tmp")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    os.replace(partial, args.output)
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
