"""Benchmark of dataset exports: freeze a version of N faces, build every format, faces per second.

Runs in a throwaway database (created and dropped here, on the configured DATABASE_URL server, or
a temporary SQLite file) with a temporary media folder. It synthesises N face rows (VIPs in
chunks, candidates, unknown people; a few excluded) whose crops point at a few hundred real
glint24 crops, then times ``version_freeze`` and ``build_run`` for each format in this process
(the same code the Celery jobs run). Peak resident memory is sampled during each phase: with
streaming it stays flat as N grows (try ``--faces 10000 100000``).

Writes ``bench/results/export.json`` and ``bench/results/export.md``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/facecurator python bench/export.py --faces 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from bench import common  # noqa: E402

RESULTS = REPO / "bench" / "results" / "export.json"
FORMATS = ("jsonl", "csv", "parquet", "webdataset", "imagefolder")


class PeakMemory:
    """Samples this process's resident set size while a phase runs; reports start and peak (MiB)."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak, self.start = interval, 0, 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * resource.getpagesize()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = self.rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())

    def as_dict(self) -> dict[str, float]:
        mib = 1024 * 1024
        return {
            "rss_start_mib": round(self.start / mib, 1),
            "rss_peak_mib": round(self.peak / mib, 1),
            "rss_growth_mib": round((self.peak - self.start) / mib, 1),
        }


def synthesise(faces: int, data: Path, log: Callable[[str], object]) -> dict[str, Any]:
    """N face rows over 200 VIPs (10 chunks), 300 candidates and unknown people, crops from glint24."""
    import hashlib

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from ml.splits import split_for_group
    from webapp.faces.models import Face
    from webapp.identities.models import Identity

    crops = []
    for folder in sorted((data / "glint24").iterdir()):
        for path in sorted(folder.glob("*.jpg"))[:12]:
            crops.append(
                default_storage.save(
                    f"faces/bench/{folder.name.replace(' ', '_')}-{path.name}", ContentFile(path.read_bytes())
                )
            )
    vips = Identity.objects.bulk_create(
        Identity(name=f"VIP {i:03d}", role=Identity.Role.VIP, chunk=i // 20 + 1, popularity_rank=i + 1)
        for i in range(200)
    )
    candidates = Identity.objects.bulk_create(
        Identity(name=f"Candidate {i:03d}", role=Identity.Role.CANDIDATE, popularity_rank=201 + i) for i in range(300)
    )
    batch, created = [], 0
    for i in range(faces):
        bucket = i % 10
        identity = vips[i % 200] if bucket < 7 else candidates[i % 300] if bucket < 9 else None
        status = Face.Status.EXCLUDED if i % 50 == 0 else Face.Status.VERIFIED
        group = f"crop:{hashlib.sha1(str(i).encode()).hexdigest()}"
        batch.append(
            Face(
                crop=crops[i % len(crops)],
                source=Face.Source.CROP,
                source_path=f"bench/{i}.jpg",
                group_key=group,
                split=split_for_group(group),
                identity=identity,
                status=status,
                box=[0, 0, 112, 112],
                landmarks=[[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]],
            )
        )
        if len(batch) == 5000:
            Face.objects.bulk_create(batch)
            created += len(batch)
            batch = []
            log(f"\r{created} faces written")
    Face.objects.bulk_create(batch)
    log("\n")
    return {"faces": faces, "distinct_crop_files": len(crops), "vips": 200, "candidates": 300}


def run_size(faces: int, formats: list[str], data: Path, log: Callable[[str], object]) -> dict[str, Any]:
    from webapp.exports import services
    from webapp.exports.models import DatasetVersion, ExportBuild
    from webapp.faces.models import Face
    from webapp.identities.models import Identity

    DatasetVersion.objects.all().delete()
    Face.objects.all().delete()
    Identity.objects.all().delete()
    started = time.perf_counter()
    dataset = synthesise(faces, data, log)
    result: dict[str, Any] = {"dataset": dataset, "synthesise_s": round(time.perf_counter() - started, 2), "phases": {}}

    def progress(fraction: float, message: str) -> None:
        if sys.stderr.isatty():  # progress lines only on a terminal
            log(f"\r  {fraction:6.1%} {message:50.50}")

    with PeakMemory() as memory:
        t0, c0 = time.perf_counter(), time.process_time()
        version = services.version_create(filters={"distractors": True}, name="bench", start_job=False)
        services.version_freeze(version_id=version.pk, progress=progress)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    log("\n")
    version.refresh_from_db()
    result["version_faces"] = version.face_count
    result["phases"]["freeze"] = {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "faces_per_s": round(version.face_count / wall),
        **memory.as_dict(),
    }
    for format in formats:
        build, _ = services.build_request(version=version, format=format, start_job=False)
        with PeakMemory() as memory:
            t0, c0 = time.perf_counter(), time.process_time()
            services.build_run(build_id=build.pk, progress=progress)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        log("\n")
        build = ExportBuild.objects.get(pk=build.pk)
        assert build.state == ExportBuild.State.READY, build.error
        result["phases"][format] = {
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "faces_per_s": round(version.face_count / wall),
            "files": build.files.count(),
            "bytes": build.total_bytes,
            **memory.as_dict(),
        }
        log(f"{format}: {result['phases'][format]}\n")
    return result


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# Export benchmark ({results['machine']['database']}, {results['machine']['cpus']} CPUs, "
        f"load {results['machine']['load_average_before_after']})",
        "",
    ]
    for size in results["runs"]:
        lines += [
            f"## {size['version_faces']:,} faces in the version ({size['dataset']['faces']:,} rows)",
            "",
            "| phase | faces/s | wall s | CPU s | output MiB | RSS growth MiB |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, phase in size["phases"].items():
            mib = f"{phase['bytes'] / 2**20:,.0f}" if "bytes" in phase else "—"
            lines.append(
                f"| {name} | {phase['faces_per_s']:,} | {phase['wall_s']} | {phase['cpu_s']} | {mib} | "
                f"{phase['rss_growth_mib']} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, nargs="+", default=[100_000], help="one or more sizes, run in turn")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--quick", action="store_true", help="10,000 faces")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.faces = [10_000]
    data = common.shared_data_dir()
    if not (data / "glint24").is_dir():
        raise SystemExit(f"real face data not found at {data} (set FACECURATOR_SHARED_DATA)")
    log = sys.stderr.write
    load_before = os.getloadavg()
    with common.scratch_django("export"):
        from django.db import connection

        runs = [run_size(n, args.formats, data, log) for n in args.faces]
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "database": connection.vendor,
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "note": "In-process (the code the Celery jobs run). Crops are a few hundred real files read many times "
        "(page cache): the numbers measure the export code, not a cold disk.",
        "runs": runs,
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
