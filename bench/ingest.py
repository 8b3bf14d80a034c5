"""Benchmark of ingestion end to end: the services the import jobs run, with the database and storage.

Measures, in a throwaway database (created and dropped here on the configured DATABASE_URL server,
or a temporary SQLite file) with a temporary media folder:

* folder import of aligned crops (glint24, ``--cropped``): faces/s, including hashing, decoding,
  SFace embedding, pHash, near-duplicate search, crop files written through storage, bulk inserts
  and the index update; and the idempotent re-run (files/s, nothing written);
* folder import of uncropped photos (lfw/known): faces/s with YuNet detection, as photos hinted
  with their folder's identity;
* one video sampled into 300 frames (``obama_speech.mp4``, 1280x720): seconds per video, frames
  stored as JPEG, faces detected and embedded on each.

SQL statements are counted per phase: they grow with batches and files, not with faces.
Writes ``bench/results/ingest.json`` and ``bench/results/ingest.md``. ``bench/ingest_pipeline.py``
times the bare ml/ pieces (decode, detect, embed) without Django.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/facecurator python bench/ingest.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench import common  # noqa: E402

RESULTS = REPO / "bench" / "results" / "ingest.json"


def timed(
    log: Callable[[str], object], label: str, run: Callable[[Callable[..., None]], Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``run(progress)``; returns its result and wall/CPU seconds and the SQL statement count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def progress(fraction: float, message: str = "") -> None:
        if sys.stderr.isatty():  # progress lines only on a terminal
            log(f"\r  {label}: {fraction:6.1%} {message:60.60}")

    with CaptureQueriesContext(connection) as queries:
        t0, c0 = time.perf_counter(), time.process_time()
        result = run(progress)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    log("\n")
    return result, {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "sql_statements": len(queries)}


def bench_crops(data: Path, crops: int, log: Callable[[str], object]) -> dict[str, Any]:
    from webapp.media import services

    per_identity = math.ceil(crops / 24)
    result, timing = timed(
        log,
        "crops",
        lambda progress: services.faces_import_folder(
            root=data / "glint24", cropped=True, limit_per_identity=per_identity, progress=progress
        ),
    )
    again, again_timing = timed(
        log,
        "crops re-run",
        lambda progress: services.faces_import_folder(
            root=data / "glint24", cropped=True, limit_per_identity=per_identity, progress=progress
        ),
    )
    assert again["faces_created"] == 0
    return {
        "files": result["files"],
        "faces": result["faces_created"],
        **timing,
        "faces_per_s": round(result["faces_created"] / timing["wall_s"], 1),
        "near_duplicates_linked": _near_duplicates(),
        "sql_per_1000_faces": round(1000 * timing["sql_statements"] / max(result["faces_created"], 1), 1),
        "rerun": {
            **again_timing,
            "files_per_s": round(again["files"] / again_timing["wall_s"], 1),
            "duplicates": again["duplicate"],
        },
    }


def bench_photos(data: Path, photos: int, log: Callable[[str], object]) -> dict[str, Any]:
    from webapp.media import services

    known = data / "lfw" / "known"
    people = sorted(d.name for d in known.iterdir() if d.is_dir())
    per_person = 4
    subset = people[: math.ceil(photos / per_person)]
    result, timing = timed(
        log,
        "photos",
        lambda progress: services.faces_import_folder(
            root=known, cropped=False, identities=subset, limit_per_identity=per_person, progress=progress
        ),
    )
    return {
        "files": result["files"],
        "faces": result["faces_created"],
        "errors": result["error"],
        **timing,
        "faces_per_s": round(result["faces_created"] / timing["wall_s"], 1),
        "photos_per_s": round(result["imported"] / timing["wall_s"], 1),
    }


def bench_video(data: Path, name: str, frames: int, log: Callable[[str], object]) -> dict[str, Any]:
    from webapp.media import services

    result, timing = timed(
        log,
        name,
        lambda progress: services.video_import_path(path=data / "videos" / name, progress=progress, frames=frames),
    )
    assert not result["errors"], result["errors"]
    return {
        "video": name,
        "frames": result["frames"],
        "faces": result["faces_created"],
        **timing,
        "seconds_per_frame": round(timing["wall_s"] / result["frames"], 3),
        "frames_per_s": round(result["frames"] / timing["wall_s"], 1),
        "faces_per_s": round(result["faces_created"] / timing["wall_s"], 1),
        "seconds_per_300_frames": round(300 * timing["wall_s"] / result["frames"], 1),
    }


def _near_duplicates() -> int:
    from webapp.faces.models import Face

    return Face.objects.filter(duplicate_of__isnull=False).count()


def _ms(phase: dict[str, Any]) -> float:
    return round(1000 * phase["cpu_s"] / max(phase["faces"], 1), 1)


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    crops, photos, video = results["crops"], results["photos"], results["video"]
    return "\n".join(
        [
            f"# Ingestion benchmark ({machine['database']}, {machine['cpus']} CPUs, faces on "
            f"{machine['faces']['runtime']} / {machine['faces']['device']}, load average "
            f"{machine['load_average_before_after'][0]} before, {machine['load_average_before_after'][1]} after)",
            "",
            "| phase | items | faces | wall s | CPU s | faces/s | CPU ms/face | SQL statements |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
            f"| folder import, aligned crops (glint24) | {crops['files']} files | {crops['faces']} | {crops['wall_s']} | "
            f"{crops['cpu_s']} | {crops['faces_per_s']} | {_ms(crops)} | {crops['sql_statements']} |",
            f"| same folder again (idempotent) | {crops['files']} files | 0 | {crops['rerun']['wall_s']} | "
            f"{crops['rerun']['cpu_s']} | — | — | {crops['rerun']['sql_statements']} |",
            f"| folder import, photos with detection (lfw) | {photos['files']} files | {photos['faces']} | "
            f"{photos['wall_s']} | {photos['cpu_s']} | {photos['faces_per_s']} | {_ms(photos)} | {photos['sql_statements']} |",
            f"| video {video['video']} | {video['frames']} frames | {video['faces']} | {video['wall_s']} | "
            f"{video['cpu_s']} | {round(video['faces'] / video['wall_s'], 1)} | {_ms(video)} | {video['sql_statements']} |",
            "",
            f"Seconds per 300-frame video: **{video['seconds_per_300_frames']}** "
            f"({video['seconds_per_frame']} s per frame, {video['frames_per_s']} frames/s, video frames detected at max "
            f"side 640 until a small face shows, then {machine['faces']['video_max_side']}; "
            f"{machine['faces'].get('threads', 0) or 'one per core'} CPU thread(s) per network). Folder import of aligned crops: "
            f"**{crops['faces_per_s']} faces/s**; of photos with detection: **{photos['faces_per_s']} faces/s**.",
            "Wall times depend on the machine's load (above); CPU ms per face does much less.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=2400, help="aligned crops to import (spread over 24 identities)")
    parser.add_argument("--photos", type=int, default=200, help="uncropped LFW photos to import")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="240 crops, 40 photos, and the 5 s obama_whcd_podium_b.mp4 (153 frames) as the video",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    video, frames = "obama_speech.mp4", 300
    if args.quick:
        args.crops, args.photos, video = 240, 40, "obama_whcd_podium_b.mp4"
    data = common.shared_data_dir()
    if not (data / "glint24").is_dir():
        raise SystemExit(f"real face data not found at {data} (set FACECURATOR_SHARED_DATA)")
    log = sys.stderr.write
    load_before = os.getloadavg()
    with common.scratch_django("ingest"):
        from django.conf import settings as django_settings
        from django.db import connection

        from webapp.media.services import face_pipeline

        pipeline = face_pipeline()  # load the models before timing
        face_runtime = {
            "runtime": django_settings.FACECURATOR_FACE_RUNTIME,
            "device": getattr(pipeline.embedder, "device", "cpu"),
            "video_max_side": django_settings.FACECURATOR_VIDEO_MAX_SIDE,
            "threads": django_settings.FACECURATOR_FACE_THREADS,
        }
        results: dict[str, Any] = {
            "crops": bench_crops(data, args.crops, log),
            "photos": bench_photos(data, args.photos, log),
            "video": bench_video(data, video, frames, log),
        }
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "database": connection.vendor,
            "faces": face_runtime,
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "note": "In-process: the service code the import jobs run, with the database and local-disk storage. "
        "The machine may be shared: see the load average.",
        **results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for path, text in (
        (args.output, json.dumps(results, indent=2) + "\n"),
        (args.output.with_suffix(".md"), markdown(results)),
    ):
        partial = path.with_suffix(path.suffix + ".tmp")
        partial.write_text(text)
        os.replace(partial, path)
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
